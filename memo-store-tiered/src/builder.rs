//! `TieredStoreBuilder`: residency limit, write-behind, Redis invalidation.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use memo_core::{Error, Result, Store};

use crate::behind::Behind;
use crate::residency::{DEFAULT_MAX_RESIDENCY, Residency};
use crate::store::{Core, TieredStore, sweep};

/// How long a write waits for room in a full write-behind queue unless
/// [`write_behind_wait`](TieredStoreBuilder::write_behind_wait) says otherwise.
pub const DEFAULT_WRITE_BEHIND_WAIT: Duration = Duration::from_secs(1);

/// Builds a [`TieredStore`]: `TieredStore::builder(front, back).write_behind(10_000).build()`.
#[derive(Debug)]
#[must_use]
pub struct TieredStoreBuilder<F, B> {
    front: F,
    back: B,
    max_residency: Duration,
    write_behind: Option<usize>,
    write_behind_wait: Duration,
    #[cfg(feature = "redis")]
    invalidation: Option<(String, Vec<u8>)>,
}

impl<F: Store, B: Store> TieredStoreBuilder<F, B> {
    pub(crate) fn new(front: F, back: B) -> Self {
        TieredStoreBuilder {
            front,
            back,
            max_residency: DEFAULT_MAX_RESIDENCY,
            write_behind: None,
            write_behind_wait: DEFAULT_WRITE_BEHIND_WAIT,
            #[cfg(feature = "redis")]
            invalidation: None,
        }
    }

    /// The longest a front entry taken from (or written through to) a shared back stays in the
    /// front (default [`DEFAULT_MAX_RESIDENCY`]): the bound on how long this process can serve
    /// a record another process has deleted or replaced. Ignored unless the back's
    /// [`Capabilities::shared`](memo_core::Capabilities::shared) is set.
    pub fn max_residency(mut self, limit: Duration) -> Self {
        self.max_residency = limit;
        self
    }

    /// Write-behind: `set` writes the front and queues the record; a background thread writes
    /// the back. The queue holds at most `capacity` keys (a later write to a queued key
    /// replaces it); a write that finds it full waits for room (see
    /// [`write_behind_wait`](Self::write_behind_wait)). [`Store::flush`] waits until every
    /// write made before it has reached the back.
    pub fn write_behind(mut self, capacity: usize) -> Self {
        self.write_behind = Some(capacity);
        self
    }

    /// How long a write waits for room in a full write-behind queue before it fails with
    /// [`Error::Backend`] (default [`DEFAULT_WRITE_BEHIND_WAIT`]).
    pub fn write_behind_wait(mut self, wait: Duration) -> Self {
        self.write_behind_wait = wait;
        self
    }

    /// Redis client-side caching: a dedicated RESP3 connection to `url` subscribes with
    /// `CLIENT TRACKING ON BCAST PREFIX <key_prefix>`, and the front drops a key as soon as
    /// Redis says it changed. `key_prefix` is what the back's Redis keys start with; the rest
    /// of a Redis key is the store key. For a `RedisStore`, pass `store.record_key("")`.
    ///
    /// The connection is made in the background and remade when it drops; whenever it is
    /// down, the front drops every entry it took from the back, and the residency limit
    /// bounds staleness until it is back.
    #[cfg(feature = "redis")]
    pub fn invalidate_from_redis(mut self, url: &str, key_prefix: impl Into<Vec<u8>>) -> Self {
        self.invalidation = Some((url.to_owned(), key_prefix.into()));
        self
    }

    /// The store, with its background threads started.
    ///
    /// # Errors
    /// [`Error::Config`] when the residency limit is zero, the write-behind capacity is zero,
    /// the Redis URL does not parse, or a background thread cannot be started.
    pub fn build(self) -> Result<TieredStore<F, B>> {
        if self.max_residency.is_zero() {
            return Err(Error::Config(
                "TieredStore needs a max_residency above zero".into(),
            ));
        }
        if self.write_behind == Some(0) {
            return Err(Error::Config(
                "TieredStore needs a write-behind capacity of at least 1".into(),
            ));
        }
        #[cfg(feature = "redis")]
        let tracked = self.invalidation.is_some();
        #[cfg(not(feature = "redis"))]
        let tracked = false;
        // With tracking, the residency buckets also list what to drop when notices are lost.
        let shared = self.back.capabilities().shared || tracked;
        let residency = shared.then(|| Residency::new(self.max_residency));
        let behind = self
            .write_behind
            .map(|capacity| Behind::new(capacity, self.write_behind_wait));
        #[cfg(feature = "redis")]
        let tracker = self
            .invalidation
            .map(|(url, prefix)| crate::tracking::Tracker::new(&url, prefix))
            .transpose()?;
        let mut store = TieredStore {
            front: Arc::new(self.front),
            back: Arc::new(self.back),
            core: Arc::new(Core::new(residency, behind)),
            threads: Vec::new(),
        };
        if store.core.residency.is_some() {
            let (front, core) = (store.front.clone(), store.core.clone());
            let thread = spawn("memo-tiered-sweep", move || sweep(&*front, &core))?;
            store.threads.push(thread);
        }
        if store.core.behind.is_some() {
            let (back, core) = (store.back.clone(), store.core.clone());
            let thread = spawn("memo-tiered-writer", move || {
                if let Some(behind) = &core.behind {
                    behind.run(&*back, &core.counters);
                }
            })?;
            store.threads.push(thread);
        }
        #[cfg(feature = "redis")]
        if let Some(tracker) = tracker {
            let (front, core) = (store.front.clone(), store.core.clone());
            let thread = spawn("memo-tiered-tracking", move || tracker.run(&*front, &core))?;
            store.threads.push(thread);
        }
        Ok(store)
    }
}

fn spawn(name: &str, work: impl FnOnce() + Send + 'static) -> Result<thread::JoinHandle<()>> {
    thread::Builder::new()
        .name(name.to_owned())
        .spawn(work)
        .map_err(|e| Error::Config(format!("cannot start the {name} thread: {e}")))
}
