use std::sync::LazyLock;

use memo::mem::MemStore;
use memo::{Memoizer, memoize};

static MEMO: LazyLock<Memoizer> = LazyLock::new(|| Memoizer::new(MemStore::new()));

struct Client {
    base: String,
}

impl Client {
    #[memoize(MEMO)]
    fn fetch(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

fn main() {}
