use std::sync::LazyLock;

use memo::mem::MemStore;
use memo::{Memoizer, memoize};

static MEMO: LazyLock<Memoizer> = LazyLock::new(|| Memoizer::new(MemStore::new()));

#[memoize(MEMO)]
fn fetch(url: String) -> impl std::future::Future<Output = String> {
    async move { url }
}

fn main() {}
