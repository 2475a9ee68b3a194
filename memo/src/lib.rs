#![doc = include_str!("../README.md")]

#[doc(inline)]
pub use memo_core::{
    BoxError, Bytes, Capabilities, Clock, DEFAULT_TIMEOUT, Error, Fault, Lock, LockProvider,
    ManualClock, Memoizer, MemoizerBuilder, Options, Record, Region, Result, Stats, Store,
    SystemClock, TryError, budget, from_unix, key, record, to_unix,
};
#[doc(inline)]
pub use memo_macros::memoize;

#[cfg(feature = "mem")]
#[doc(inline)]
pub use memo_store_mem as mem;
#[cfg(feature = "redb")]
#[doc(inline)]
pub use memo_store_redb as redb;
#[cfg(feature = "redis")]
#[doc(inline)]
pub use memo_store_redis as redis;

pub mod arg;

#[doc(hidden)]
pub mod __private;

/// The workspace README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct WorkspaceReadme;
