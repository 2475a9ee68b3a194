#![doc = include_str!("../README.md")]

pub mod budget;
mod clock;
mod error;
mod fault;
mod flight;
pub mod key;
mod memoizer;
mod options;
pub mod record;
mod store;
mod timer;
mod value;

#[doc(hidden)]
pub mod doc_store;

pub use clock::{
    Clock, ManualClock, SystemClock, from_unix, span_rounded_down, span_rounded_up, to_unix,
};
pub use error::{BoxError, Error, Result};
pub use fault::Fault;
pub use memoizer::{DEFAULT_TIMEOUT, Memoizer, MemoizerBuilder, Stats, TryError};
pub use options::{Options, Region};
pub use record::{Bytes, Record};
pub use store::{
    Acquired, AsyncLock, AsyncStore, Capabilities, Lock, LockProvider, Store, StoreFuture,
};
