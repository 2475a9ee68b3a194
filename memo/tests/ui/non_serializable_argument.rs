use std::sync::LazyLock;

use memo::mem::MemStore;
use memo::{Memoizer, memoize};

static MEMO: LazyLock<Memoizer> = LazyLock::new(|| Memoizer::new(MemStore::new()));

struct Connection;

#[memoize(MEMO)]
fn query(conn: &Connection, sql: &str) -> Vec<String> {
    let _ = conn;
    vec![sql.to_owned()]
}

fn main() {}
