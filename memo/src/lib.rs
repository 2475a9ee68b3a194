#![doc = include_str!("../README.md")]

#[doc(inline)]
pub use memo_core::{
    AsyncLock, AsyncStore, BoxError, Bytes, Capabilities, Clock, DEFAULT_TIMEOUT, Error, Fault,
    Lock, LockProvider, ManualClock, Memoizer, MemoizerBuilder, Options, Record, Region, Result,
    Stats, Store, StoreFuture, SystemClock, TryError, budget, from_unix, key, record,
    span_rounded_down, span_rounded_up, to_unix,
};
#[doc(inline)]
pub use memo_macros::memoize;

/// In-memory stores (feature `mem`): records live in this process and are gone when it ends.
/// [`MemStore`](mem::MemStore) is unbounded, [`LruStore`](mem::LruStore) keeps a number of
/// records, [`MokaStore`](mem::MokaStore) a number of bytes and expires records itself.
#[cfg(feature = "mem")]
pub mod mem {
    #[doc(inline)]
    pub use memo_store_mem::*;
}

/// The embedded persistent store (feature `redb`): [`RedbStore`](redb::RedbStore) keeps records
/// in one redb file, across restarts and crashes; [`Durability`](redb::Durability) says when a
/// write reaches the disk.
#[cfg(feature = "redb")]
pub mod redb {
    #[doc(inline)]
    pub use memo_store_redb::*;
}

/// A store on a Redis server (feature `redis`): [`RedisStore`](redis::RedisStore) is shared by
/// processes and machines, with Redis expiring records itself, and its
/// [`RedisLock`](redis::RedisLock) keeps them from computing one value at once.
#[cfg(feature = "redis")]
pub mod redis {
    #[doc(inline)]
    pub use memo_store_redis::*;
}

/// Any store in front of another (feature `tiered`): [`TieredStore`](tiered::TieredStore) reads
/// the front, then the back, and copies back hits into the front; writes go through to the back
/// first. Over a shared back (Redis) a front copy lives at most a bounded time, or until Redis's
/// invalidation notice (with `redis` on too).
#[cfg(feature = "tiered")]
pub mod tiered {
    #[doc(inline)]
    pub use memo_store_tiered::*;
}

/// The `rocksdb` engine (feature `rocks`): [`RocksStore`](rocks::RocksStore), for caches far
/// bigger than memory; compiles the engine's C++.
#[cfg(feature = "rocks")]
pub mod rocks {
    #[doc(inline)]
    pub use memo_store_rocks::*;
}

pub mod arg;
pub mod url;

#[doc(hidden)]
pub mod __private;

/// The workspace README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct WorkspaceReadme;
