//! Generated public items are documented and lint-clean under strict lints.
#![deny(missing_docs, unreachable_pub, unused)]

use std::sync::LazyLock;

use memo::mem::MemStore;
use memo::{Memoizer, memoize};

static MEMO: LazyLock<Memoizer> = LazyLock::new(|| Memoizer::new(MemStore::new()));

/// An API whose functions are memoized.
pub mod api {
    use super::{MEMO, memoize};

    /// Adds.
    #[memoize(MEMO, max_age = 60, skip(verbose))]
    pub fn adder(a: i64, b: i64, verbose: bool) -> i64 {
        if verbose {
            println!("adding");
        }
        a + b
    }

    /// A thing.
    #[derive(serde::Serialize)]
    pub struct Thing(pub u8);

    impl Thing {
        /// Doubles.
        #[memoize(MEMO)]
        pub fn doubled(&self) -> u16 {
            u16::from(self.0) * 2
        }
    }
}

fn main() {
    assert_eq!(api::adder(1, 2, false), 3);
    assert_eq!(api::Thing(4).doubled(), 8);
}
