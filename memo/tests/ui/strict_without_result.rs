use std::sync::LazyLock;

use memo::mem::MemStore;
use memo::{Memoizer, memoize};

static MEMO: LazyLock<Memoizer> = LazyLock::new(|| Memoizer::new(MemStore::new()));

#[memoize(MEMO, strict)]
fn adder(a: i64, b: i64) -> i64 {
    a + b
}

fn main() {}
