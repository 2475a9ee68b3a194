//! memo-core: the record, the store contract, options and the [`Memoizer`].
//!
//! Most users depend on the `memo` facade crate instead, which re-exports this crate with the
//! stores and the `#[memoize]` attribute. Store authors implement [`Store`] (three methods) and
//! check it with `memo-conformance` in one line.
//!
//! # Contract in brief
//! - A [`Record`] holds when a value was computed, when it expires, the etag it was computed
//!   under and the postcard bytes of the value; its encoding is frozen ([`record::PROTOCOL`]).
//! - A hit is a record that decodes, whose expiry has not come, whose etag equals the call's
//!   etag (when the call gives one), and that is younger than the call's `max_age` and `expiry`.
//! - Faults fail open by default: a store that cannot be read is a miss, a write that fails
//!   still returns the computed value. [`Options::strict`] returns the errors instead.

mod clock;
mod error;
mod flight;
pub mod key;
mod memoizer;
mod options;
pub mod record;
mod store;

#[doc(hidden)]
pub mod doc_store;

pub use clock::{Clock, ManualClock, SystemClock, from_unix, to_unix};
pub use error::{BoxError, Error, Result};
pub use memoizer::{DEFAULT_TIMEOUT, Memoizer, MemoizerBuilder, Stats, TryError};
pub use options::{Options, Region};
pub use record::{Bytes, Record};
pub use store::{Capabilities, Lock, LockProvider, Store};
