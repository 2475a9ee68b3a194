use std::sync::LazyLock;

use memo::mem::MemStore;
use memo::{Memoizer, memoize};

static MEMO: LazyLock<Memoizer> = LazyLock::new(|| Memoizer::new(MemStore::new()));

#[memoize(MEMO)]
fn greet(name: Option<String>) -> String {
    name.unwrap_or_default()
}

fn main() {
    // Only the outer type has a borrowed form: `&Option<String>`, not `Option<&str>`.
    let _ = greet::exists(Some("ada"));
}
