use std::sync::LazyLock;

use memo::mem::MemStore;
use memo::{Memoizer, memoize};

static MEMO: LazyLock<Memoizer> = LazyLock::new(|| Memoizer::new(MemStore::new()));

#[derive(Debug)]
struct Failed;

#[memoize(MEMO, strict)]
fn load(id: u32) -> Result<u32, Failed> {
    Ok(id)
}

fn main() {}
