use std::sync::LazyLock;

use memo::mem::MemStore;
use memo::{Memoizer, memoize};

static MEMO: LazyLock<Memoizer> = LazyLock::new(|| Memoizer::new(MemStore::new()));

struct Point;

impl Point {
    #[memoize(MEMO)]
    fn origin(scale: u8) -> u8 {
        scale
    }
}

fn main() {}
