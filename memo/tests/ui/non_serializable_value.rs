use std::sync::LazyLock;

use memo::mem::MemStore;
use memo::{Memoizer, memoize};

static MEMO: LazyLock<Memoizer> = LazyLock::new(|| Memoizer::new(MemStore::new()));

struct Rows(Vec<String>);

#[memoize(MEMO)]
fn query(sql: &str) -> Rows {
    Rows(vec![sql.to_owned()])
}

fn main() {}
