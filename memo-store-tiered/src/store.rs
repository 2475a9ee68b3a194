//! `TieredStore`: one store in front of another.

use std::fmt;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use memo_core::{Capabilities, Clock, Lock, Record, Result, Store, SystemClock};

use crate::behind::{Behind, Op};
use crate::builder::TieredStoreBuilder;
use crate::residency::{Halt, Residency, lock};
use crate::stats::{Counter, Counters, TieredStats};

/// The store's name in errors and logs.
pub(crate) const NAME: &str = "tiered";

/// Generation stripes: a key's stripe counts the writes, deletes and invalidations of its keys.
const STRIPES: usize = 256;

#[repr(align(64))]
#[derive(Default)]
struct Generation(Mutex<u64>);

/// What the store shares with its background threads.
pub(crate) struct Core {
    generations: Box<[Generation]>,
    hasher: foldhash::fast::FixedState,
    pub(crate) counters: Counters,
    pub(crate) residency: Option<Residency>,
    pub(crate) behind: Option<Behind>,
    pub(crate) tracking: AtomicBool,
    pub(crate) halt: Halt,
}

impl Core {
    pub(crate) fn new(residency: Option<Residency>, behind: Option<Behind>) -> Self {
        Core {
            generations: (0..STRIPES).map(|_| Generation::default()).collect(),
            hasher: foldhash::fast::FixedState::default(),
            counters: Counters::default(),
            residency,
            behind,
            tracking: AtomicBool::new(false),
            halt: Halt::default(),
        }
    }

    fn stripe(&self, key: &str) -> MutexGuard<'_, u64> {
        let index = (self.hasher.hash_one(key) % STRIPES as u64) as usize;
        lock(&self.generations[index].0)
    }

    fn generation(&self, key: &str) -> u64 {
        *self.stripe(key)
    }

    /// Drops `key` from the front so that no promotion read before now can put it back.
    pub(crate) fn invalidate<F: Store>(&self, front: &F, key: &str) -> Result<bool> {
        let mut generation = self.stripe(key);
        *generation += 1;
        front.delete(key)
    }

    /// Drops `key` from the front once its residency is over. No generation bump: a promotion
    /// in flight is newer than the entry that is leaving, and is noted for its own residency.
    pub(crate) fn expire_residency<F: Store>(&self, front: &F, key: &str) {
        let _generation = self.stripe(key);
        match front.delete(key) {
            Ok(true) => self.counters.bump(Counter::ResidencyDrops),
            Ok(false) => {}
            Err(error) => {
                self.counters.bump(Counter::FrontErrors);
                tracing::warn!(%error, "memo-tiered: dropping a resident entry from the front failed");
            }
        }
    }

    /// Drops every front entry the residency limit tracks (after a lost invalidation feed).
    #[cfg(feature = "redis")]
    pub(crate) fn drop_all_resident<F: Store>(&self, front: &F) {
        if let Some(residency) = &self.residency {
            for key in residency.take_all() {
                let _ = self.invalidate(front, &key);
            }
        }
    }
}

/// A store in front of another: reads try the front, then the back, and copy a back hit into
/// the front; writes go to the back first, then the front.
///
/// `TieredStore::new(front, back)` takes any two stores; a `TieredStore` is a store, so tiers
/// nest (`TieredStore::new(a, TieredStore::new(b, c)?)?`). See the crate documentation for the
/// contract, the builder's settings and the staleness bound over a shared back.
///
/// ```
/// use memo_core::{Memoizer, Store};
/// use memo_store_mem::{LruStore, MemStore};
/// use memo_store_tiered::TieredStore;
///
/// let store = std::sync::Arc::new(TieredStore::new(LruStore::with_capacity(1_000), MemStore::new())?);
/// let memo = Memoizer::new(store.clone());
/// let v: u32 = memo.get("answer", || 42)?;
/// assert_eq!(v, 42);
/// let again: u32 = memo.get("answer", || unreachable!())?;
/// assert_eq!(again, 42);
/// assert_eq!(store.stats().front_hits, 1);
/// # Ok::<(), memo_core::Error>(())
/// ```
pub struct TieredStore<F, B> {
    pub(crate) front: Arc<F>,
    pub(crate) back: Arc<B>,
    pub(crate) core: Arc<Core>,
    pub(crate) threads: Vec<JoinHandle<()>>,
}

impl<F: Store, B: Store> TieredStore<F, B> {
    /// `front` in front of `back`, with the defaults: write-through, and over a shared back a
    /// residency limit of [`DEFAULT_MAX_RESIDENCY`](crate::DEFAULT_MAX_RESIDENCY).
    ///
    /// # Errors
    /// [`Error::Config`](memo_core::Error::Config) when a background thread (the residency
    /// sweeper, over a shared back) cannot be started.
    pub fn new(front: F, back: B) -> Result<Self> {
        Self::builder(front, back).build()
    }

    /// A builder for `front` in front of `back`.
    pub fn builder(front: F, back: B) -> TieredStoreBuilder<F, B> {
        TieredStoreBuilder::new(front, back)
    }

    /// The front store.
    pub fn front(&self) -> &F {
        &self.front
    }

    /// The back store.
    pub fn back(&self) -> &B {
        &self.back
    }

    /// Counts per tier since the store was made.
    pub fn stats(&self) -> TieredStats {
        let mut stats = self.core.counters.snapshot();
        stats.pending = self.core.behind.as_ref().map_or(0, |b| b.len() as u64);
        stats.tracking = self.core.tracking.load(Ordering::Acquire);
        stats
    }

    /// The residency limit of front entries taken from the back: `None` unless the back is
    /// shared.
    pub fn max_residency(&self) -> Option<Duration> {
        self.core.residency.as_ref().map(|r| r.limit)
    }

    /// Whether writes reach the back through a background writer.
    pub fn is_write_behind(&self) -> bool {
        self.core.behind.is_some()
    }

    fn front_error(&self, error: &memo_core::Error, operation: &str) {
        self.core.counters.bump(Counter::FrontErrors);
        tracing::warn!(%error, operation, "memo-tiered: the front store failed; using the back");
    }

    fn back_error(&self, error: memo_core::Error) -> memo_core::Error {
        self.core.counters.bump(Counter::BackErrors);
        error
    }

    /// The record under `key` from the write-behind queue or the back, promoted into the
    /// front unless something changed the key meanwhile.
    fn fetch_back(&self, key: &str) -> Result<Option<Record>> {
        let counters = &self.core.counters;
        // Read before the queue and the back: a write, delete or invalidation after this point
        // bumps it, and the promotion below is then skipped.
        let generation = self.core.generation(key);
        if let Some(behind) = &self.core.behind {
            match behind.lookup(key) {
                Some(Op::Set(record)) => {
                    counters.bump(Counter::BackHits);
                    return Ok(Some(record));
                }
                Some(Op::Delete) => {
                    counters.bump(Counter::Misses);
                    return Ok(None);
                }
                None => {}
            }
        }
        let Some(record) = self.back.get(key).map_err(|e| self.back_error(e))? else {
            counters.bump(Counter::Misses);
            return Ok(None);
        };
        counters.bump(Counter::BackHits);
        self.promote(key, generation, &record);
        Ok(Some(record))
    }

    fn promote(&self, key: &str, generation: u64, record: &Record) {
        let counters = &self.core.counters;
        if record.is_expired(SystemClock.now()) {
            counters.bump(Counter::PromotionsSkipped);
            return;
        }
        let current = self.core.stripe(key);
        if *current != generation {
            counters.bump(Counter::PromotionsSkipped);
            return;
        }
        if let Some(residency) = &self.core.residency {
            residency.note(key);
        }
        match self.front.set(key, record.clone()) {
            Ok(()) => counters.bump(Counter::Promotions),
            Err(error) => self.front_error(&error, "promote"),
        }
        drop(current);
    }

    fn set_through(&self, key: &str, record: Record) -> Result<()> {
        let ticket = {
            let mut generation = self.core.stripe(key);
            *generation += 1;
            *generation
        };
        let written = self.back.set(key, record.clone());
        let mut generation = self.core.stripe(key);
        let alone = *generation == ticket;
        *generation += 1;
        if written.is_ok() && alone {
            if let Some(residency) = &self.core.residency {
                residency.note(key);
            }
            if let Err(error) = self.front.set(key, record) {
                self.front_error(&error, "set");
                let _ = self.front.delete(key);
            }
        } else if let Err(error) = self.front.delete(key) {
            // Another write of the key ran meanwhile (its order against ours in the back is
            // unknown), or ours failed: the front must not answer for the key until the back
            // is read again.
            self.front_error(&error, "delete");
        }
        drop(generation);
        written.map_err(|e| self.back_error(e))
    }

    fn set_behind(&self, behind: &Behind, key: &str, record: Record) -> Result<()> {
        let mut generation = self.core.stripe(key);
        *generation += 1;
        behind.push(key, Op::Set(record.clone()))?;
        if let Some(residency) = &self.core.residency {
            residency.note(key);
        }
        if let Err(error) = self.front.set(key, record) {
            // The queue answers for the key until the back has it.
            self.front_error(&error, "set");
            let _ = self.front.delete(key);
        }
        Ok(())
    }

    /// Queues the delete and clears the front; whether a record was there comes from the
    /// queue or one read of the back, whose error is returned after the delete is queued.
    fn delete_behind(&self, behind: &Behind, key: &str) -> Result<bool> {
        let was = match behind.lookup(key) {
            Some(Op::Set(_)) => Ok(true),
            Some(Op::Delete) => Ok(false),
            None => self
                .back
                .read(key, &mut |_| {})
                .map_err(|e| self.back_error(e)),
        };
        let mut generation = self.core.stripe(key);
        *generation += 1;
        let in_front = self.front.delete(key);
        let queued = behind.push(key, Op::Delete);
        drop(generation);
        let in_front = in_front.unwrap_or_else(|error| {
            self.front_error(&error, "delete");
            false
        });
        queued?;
        Ok(was? || in_front)
    }

    /// Waits for the write-behind queue (a no-op in write-through mode).
    fn settle(&self) -> Result<()> {
        self.core.behind.as_ref().map_or(Ok(()), Behind::barrier)
    }
}

#[deny(clippy::missing_trait_methods)]
impl<F: Store, B: Store> Store for TieredStore<F, B> {
    fn get(&self, key: &str) -> Result<Option<Record>> {
        match self.front.get(key) {
            Ok(Some(record)) => {
                self.core.counters.bump(Counter::FrontHits);
                return Ok(Some(record));
            }
            Ok(None) => {}
            Err(error) => self.front_error(&error, "get"),
        }
        self.fetch_back(key)
    }

    fn read(&self, key: &str, visit: &mut dyn FnMut(&Record)) -> Result<bool> {
        match self.front.read(key, visit) {
            Ok(true) => {
                self.core.counters.bump(Counter::FrontHits);
                return Ok(true);
            }
            Ok(false) => {}
            Err(error) => self.front_error(&error, "read"),
        }
        Ok(self.fetch_back(key)?.map(|record| visit(&record)).is_some())
    }

    /// Write-through: the back, then the front (so the front is never newer than the back);
    /// when the back fails the key leaves the front and the error is returned. Write-behind:
    /// the front and the queue now, the back from the writer thread.
    fn set(&self, key: &str, record: Record) -> Result<()> {
        match &self.core.behind {
            Some(behind) => self.set_behind(behind, key, record),
            None => self.set_through(key, record),
        }
    }

    /// Removes the key from every tier. The front is cleared even when the back fails, and
    /// the back's error is returned then.
    fn delete(&self, key: &str) -> Result<bool> {
        if let Some(behind) = &self.core.behind {
            return self.delete_behind(behind, key);
        }
        let in_back = self.back.delete(key);
        let in_front = match self.core.invalidate(&*self.front, key) {
            Ok(found) => found,
            Err(error) => {
                self.front_error(&error, "delete");
                false
            }
        };
        match in_back {
            Ok(in_back) => Ok(in_back || in_front),
            Err(error) => Err(self.back_error(error)),
        }
    }

    /// The front's answer when it holds a record with an expiry, else the queue's or the
    /// back's.
    fn ttl(&self, key: &str) -> Result<Option<Duration>> {
        match self.front.ttl(key) {
            Ok(Some(left)) => return Ok(Some(left)),
            Ok(None) => {}
            Err(error) => self.front_error(&error, "ttl"),
        }
        if let Some(behind) = &self.core.behind {
            match behind.lookup(key) {
                Some(Op::Set(record)) => {
                    let now = SystemClock.now();
                    return Ok(Some(record)
                        .filter(|r| !r.is_expired(now))
                        .and_then(|r| r.remaining(now)));
                }
                Some(Op::Delete) => return Ok(None),
                None => {}
            }
        }
        self.back.ttl(key).map_err(|e| self.back_error(e))
    }

    /// The back's lock (the shared tier's), else the front's.
    fn lock(&self, key: &str) -> Option<Box<dyn Lock>> {
        self.back.lock(key).or_else(|| self.front.lock(key))
    }

    /// None: a tier's record lock would write that tier alone, where a write here goes to
    /// both (so the Memoizer uses [`TieredStore`]'s plain lock, and reads and writes here).
    fn record_lock(&self, key: &str) -> Option<Box<dyn Lock>> {
        let _ = key;
        None
    }

    /// Persistent, lossy, shared and scan as the back (which holds every record); native
    /// expiry only when both tiers expire records themselves.
    fn capabilities(&self) -> Capabilities {
        let front = self.front.capabilities();
        let back = self.back.capabilities();
        Capabilities::none()
            .persistent(back.persistent)
            .lossy(back.lossy)
            .native_expiry(front.native_expiry && back.native_expiry)
            .shared(back.shared)
            .scan(back.scan)
    }

    /// The back's keys (after the write-behind queue has reached it).
    fn scan(&self, prefix: &str) -> Result<Vec<String>> {
        self.settle()?;
        let mut keys = self.back.scan(prefix).map_err(|e| self.back_error(e))?;
        // Operations queued since the barrier.
        if let Some(behind) = &self.core.behind {
            for (key, present) in behind.with_prefix(prefix) {
                let at = keys.iter().position(|k| *k == key);
                match (present, at) {
                    (true, None) => keys.push(key),
                    (false, Some(at)) => {
                        keys.swap_remove(at);
                    }
                    _ => {}
                }
            }
        }
        Ok(keys)
    }

    /// Purges both tiers and returns the back's count; both are tried even if one fails.
    fn purge_expired(&self, now: f64) -> Result<u64> {
        let settled = self.settle();
        let front = self.front.purge_expired(now);
        if let Err(error) = &front {
            self.front_error(error, "purge_expired");
        }
        let back = self.back.purge_expired(now).map_err(|e| self.back_error(e));
        settled?;
        back
    }

    /// Waits until every write so far has reached the back (the write-behind barrier), then
    /// flushes the back and the front.
    fn flush(&self) -> Result<()> {
        let settled = self.settle();
        let back = self.back.flush().map_err(|e| self.back_error(e));
        let front = self.front.flush();
        if let Err(error) = &front {
            self.front_error(error, "flush");
        }
        settled.and(back)
    }

    fn name(&self) -> &'static str {
        NAME
    }

    /// None yet: the Memoizer's async calls run the tiered store inline (see the README's
    /// Limitations).
    fn as_async(&self) -> Option<&dyn memo_core::AsyncStore> {
        None
    }
}

impl<F: fmt::Debug, B: fmt::Debug> fmt::Debug for TieredStore<F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TieredStore")
            .field("front", &self.front)
            .field("back", &self.back)
            .field(
                "max_residency",
                &self.core.residency.as_ref().map(|r| r.limit),
            )
            .field("write_behind", &self.core.behind.is_some())
            .finish_non_exhaustive()
    }
}

impl<F, B> Drop for TieredStore<F, B> {
    fn drop(&mut self) {
        self.core.halt.stop();
        if let Some(behind) = &self.core.behind {
            behind.stop();
        }
        for thread in self.threads.drain(..) {
            if thread.join().is_err() {
                tracing::error!("memo-tiered: a background thread panicked");
            }
        }
    }
}

/// The residency sweeper's loop: drops front entries whose residency is over.
pub(crate) fn sweep<F: Store>(front: &F, core: &Core) {
    let Some(residency) = &core.residency else {
        return;
    };
    loop {
        let (keys, next) = residency.due(Instant::now());
        for key in keys {
            core.expire_residency(front, &key);
        }
        if core.halt.sleep_until(next, residency.limit) {
            return;
        }
    }
}
