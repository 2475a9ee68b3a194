use std::sync::LazyLock;

use memo::mem::MemStore;
use memo::{Memoizer, memoize};

static MEMO: LazyLock<Memoizer> = LazyLock::new(|| Memoizer::new(MemStore::new()));

#[memoize(MEMO)]
async fn fetch<T: serde::Serialize>(item: T) -> u32 {
    let _ = item;
    1
}

fn main() {}
