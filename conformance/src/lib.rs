//! memo-conformance: the store contract of memo as code.
//!
//! ```ignore
//! fn harness() -> memo_conformance::Harness {
//!     memo_conformance::Harness::new(my_crate::MyStore::default)
//! }
//! memo_conformance::suite!(harness);
//! ```

mod harness;
#[doc(hidden)]
pub mod memoizer;

pub use harness::{Fixture, Harness};
