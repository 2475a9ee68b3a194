#![doc = include_str!("../README.md")]

pub use memo_core::{
    BoxError, Bytes, Capabilities, Clock, DEFAULT_TIMEOUT, Error, Lock, LockProvider, ManualClock,
    Memoizer, MemoizerBuilder, Options, Record, Region, Result, Stats, Store, SystemClock,
    TryError, from_unix, key, record, to_unix,
};
pub use memo_macros::memoize;

#[cfg(feature = "mem")]
pub use memo_store_mem as mem;
#[cfg(feature = "redb")]
pub use memo_store_redb as redb;
#[cfg(feature = "redis")]
pub use memo_store_redis as redis;
#[cfg(feature = "rocks")]
pub use memo_store_rocks as rocks;

#[doc(hidden)]
pub mod __private;

/// The workspace README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct WorkspaceReadme;
