use std::sync::LazyLock;

use memo::mem::MemStore;
use memo::{Memoizer, memoize};

static MEMO: LazyLock<Memoizer> = LazyLock::new(|| Memoizer::new(MemStore::new()));

struct Connection;

#[memoize(MEMO)]
async fn connect(url: String) -> Connection {
    let _ = url;
    Connection
}

fn main() {}
