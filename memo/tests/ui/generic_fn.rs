use std::sync::LazyLock;

use memo::mem::MemStore;
use memo::{Memoizer, memoize};

static MEMO: LazyLock<Memoizer> = LazyLock::new(|| Memoizer::new(MemStore::new()));

#[memoize(MEMO)]
fn parse<T: std::str::FromStr>(text: &str) -> Option<T> {
    text.parse().ok()
}

fn main() {}
