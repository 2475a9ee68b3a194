//! [`RedbStore`]: records in a redb file, an expiry index, a size bound and batched durability.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use memo_core::{Capabilities, Clock, Error, Record, Result, Store, SystemClock};
use redb::{ReadableDatabase, ReadableTableMetadata};

use crate::builder::{Durability, RedbStoreBuilder};
use crate::error::{self, engine};
use crate::queue::{Batch, Queue};
use crate::tables::{Entry, Names, Writer, order};

/// A persistent store in a redb file: the embedded default.
///
/// Records survive restarts; a crash loses at most the writes of the [`Durability`] window and
/// never corrupts the file. One process at a time opens a file: another gets an error at once.
/// See the crate docs for the options.
///
/// ```
/// use memo_core::Memoizer;
/// use memo_store_redb::RedbStore;
///
/// # let dir = tempfile::tempdir().unwrap();
/// let memo = Memoizer::new(RedbStore::open(dir.path().join("cache.redb")).unwrap());
/// assert_eq!(memo.get("six times seven", || 6 * 7).unwrap(), 42);
/// ```
pub struct RedbStore {
    shared: Arc<Shared>,
    worker: Option<Worker>,
}

struct Shared {
    db: Arc<redb::Database>,
    path: Option<PathBuf>,
    names: Names,
    durability: Durability,
    max_bytes: Option<u64>,
    purge_every: Option<Duration>,
    /// Serializes this store's commits and holds the totals they keep.
    totals: Mutex<Totals>,
    /// Writes not yet committed (batched durability only).
    queue: Mutex<Queue>,
    /// How many writes `queue` holds, so that `get` skips its lock when it is empty.
    queued: AtomicU64,
    /// A copy of [`Totals::nondurable`], to read without waiting for a commit.
    nondurable: AtomicU64,
    /// The records as of the last commit, shared by reads until the next one: a read then
    /// skips beginning a transaction and opening the table.
    snapshot: Mutex<Snapshot>,
}

type Records = redb::ReadOnlyTable<&'static str, Entry>;

#[derive(Default)]
struct Snapshot {
    /// Counts commits, so that a snapshot taken before one is never kept after it.
    generation: u64,
    table: Option<Arc<Records>>,
}

/// Running totals, kept in memory and saved to the meta table by each durable commit.
///
/// Saving them only then is consistent: a crash rolls the file back to the last durable commit,
/// which saved the totals of exactly the records it made durable.
#[derive(Clone, Copy, Debug)]
struct Totals {
    /// Keys plus encoded records, in bytes.
    live: u64,
    /// The next write sequence number (orders records of equal expiry in the index).
    next_seq: u64,
    /// Writes committed since the last durable commit.
    nondurable: u64,
}

/// An edit that returns `T` and whether it changed anything.
type Edit<'a, T> = &'a mut dyn FnMut(&mut Writer<'_>) -> Result<(T, bool), redb::Error>;

fn nothing(_: &mut Writer<'_>) -> Result<((), bool), redb::Error> {
    Ok(((), false))
}

impl Shared {
    fn totals(&self) -> MutexGuard<'_, Totals> {
        self.totals.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The records table as of the last commit.
    fn records(&self) -> Result<Arc<Records>> {
        let generation = {
            let snapshot = self.snapshot.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(table) = &snapshot.table {
                return Ok(table.clone());
            }
            snapshot.generation
        };
        let txn = self.db.begin_read().map_err(engine)?;
        let table = Arc::new(
            txn.open_table(self.names.records())
                .map_err(|e| error::table(&self.names.records, e))?,
        );
        let mut snapshot = self.snapshot.lock().unwrap_or_else(PoisonError::into_inner);
        if snapshot.generation == generation {
            snapshot.table = Some(table.clone());
        }
        Ok(table)
    }

    /// Drops the shared snapshot; called after each commit.
    fn invalidate(&self) {
        let mut snapshot = self.snapshot.lock().unwrap_or_else(PoisonError::into_inner);
        snapshot.generation += 1;
        snapshot.table = None;
    }

    fn pending(&self) -> u64 {
        self.queued.load(Ordering::SeqCst) + self.nondurable.load(Ordering::SeqCst)
    }

    /// Whether a single write should be durable on its own.
    fn immediate(&self) -> bool {
        matches!(self.durability, Durability::Immediate)
    }

    /// Commits the queued writes and then `edit` in one transaction, durably when `durable`.
    /// A transaction that changes nothing is not committed, unless it is durable and earlier
    /// commits are not.
    fn write<T>(
        &self,
        durable: bool,
        mut edit: impl FnMut(&mut Writer<'_>) -> Result<(T, bool), redb::Error>,
    ) -> Result<T> {
        let mut totals = self.totals();
        let batch = {
            let mut queue = self.queue();
            if queue.open.is_empty() {
                None
            } else {
                let batch = Arc::new(std::mem::take(&mut queue.open));
                queue.committing = Some(batch.clone());
                Some(batch)
            }
        };
        let result = self.commit(&mut totals, batch.as_deref(), durable, &mut edit);
        if let Some(batch) = batch {
            if let Err(error) = &result {
                tracing::error!(%error, writes = batch.len(), "memo-redb: queued writes lost");
            }
            // After the commit: a reader that misses the batch here finds it in the file.
            self.queue().committing = None;
            self.queued.fetch_sub(batch.len() as u64, Ordering::SeqCst);
        }
        result
    }

    fn commit<T>(
        &self,
        totals: &mut Totals,
        batch: Option<&Batch>,
        durable: bool,
        edit: Edit<'_, T>,
    ) -> Result<T> {
        let mut txn = self.db.begin_write().map_err(engine)?;
        if durable {
            // Saving the allocator state makes reopening after a crash quick; batched stores
            // pay for it once per batch, immediate ones would pay on every write.
            txn.set_quick_repair(!self.immediate());
        } else {
            txn.set_durability(redb::Durability::None).map_err(engine)?;
        }
        let queued = batch.map_or(0, Batch::len) as u64;
        let (out, writes, live, next_seq) = {
            let mut w = Writer::open(&txn, &self.names, totals.live, totals.next_seq)?;
            for (key, record) in batch.map_or(&[][..], |b| &b.writes) {
                w.put(key, &record.encode(), order(record.expiry), self.max_bytes)
                    .map_err(engine)?;
            }
            let (out, changed) = edit(&mut w).map_err(engine)?;
            if let Some(bound) = self.max_bytes {
                let evicted = w.evict_to(bound).map_err(engine)?;
                if evicted > 0 {
                    tracing::debug!(evicted, bound, "memo-redb: evicted records over the bound");
                }
            }
            (out, queued + u64::from(changed), w.live, w.next_seq)
        };
        if writes == 0 && !(durable && totals.nondurable > 0) {
            txn.abort().map_err(engine)?;
            return Ok(out);
        }
        if durable {
            self.names.save(&txn, live, next_seq)?;
        }
        txn.commit().map_err(engine)?;
        self.invalidate();
        totals.live = live;
        totals.next_seq = next_seq;
        totals.nondurable = if durable {
            0
        } else {
            totals.nondurable + writes
        };
        self.nondurable.store(totals.nondurable, Ordering::SeqCst);
        Ok(out)
    }

    /// Commits the queue, if anything is queued, so that reads of the file see it.
    fn settle(&self) -> Result<()> {
        if self.queued.load(Ordering::SeqCst) > 0 {
            self.write(false, nothing)?;
        }
        Ok(())
    }

    fn purge(&self, now: f64) -> Result<u64> {
        if now.is_nan() {
            return Ok(0);
        }
        // Not MAX: that is the order of "never expires", and `now` is not NaN.
        let end = order(Some(now)) + 1;
        self.write(self.immediate(), |w| {
            let removed = w.remove_expiring_before(end)?;
            Ok((removed, removed > 0))
        })
    }
}

impl RedbStore {
    /// Opens the store in the file at `path` (created when missing) with the default options.
    ///
    /// # Errors
    /// [`Error::Backend`] naming the file when redb cannot open it: it is not a redb file, its
    /// directory is missing, or it is open in another process or handle.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::builder(path).build()
    }

    /// A builder for the store in the file at `path`.
    pub fn builder(path: impl AsRef<Path>) -> RedbStoreBuilder {
        RedbStoreBuilder::new(path)
    }

    /// The store in an already open database, with the default options; see
    /// [`RedbStoreBuilder::from_database`] for others.
    ///
    /// # Errors
    /// As [`RedbStoreBuilder::build`].
    pub fn from_database(db: Arc<redb::Database>) -> Result<Self> {
        RedbStoreBuilder::from_database(db).build()
    }

    pub(crate) fn start(
        db: Arc<redb::Database>,
        path: Option<PathBuf>,
        table: &str,
        durability: Durability,
        max_bytes: Option<u64>,
        purge_every: Option<Duration>,
    ) -> Result<Self> {
        let names = Names::new(table);
        let mut txn = db.begin_write().map_err(engine)?;
        if matches!(durability, Durability::Batched { .. })
            && let Err(e) = txn.set_durability(redb::Durability::None)
        {
            return Err(Error::Config(format!(
                "redb: batched durability needs non-durable commits, which this database \
                 refuses ({e}); use Durability::Immediate"
            )));
        }
        txn.set_durability(redb::Durability::Immediate)
            .map_err(engine)?;
        let (live, next_seq) = names.create(&txn)?;
        txn.commit().map_err(engine)?;

        let flush_every = match durability {
            Durability::Batched { interval, .. } => Some(interval),
            Durability::Immediate => None,
        };
        let shared = Arc::new(Shared {
            db,
            path,
            names,
            durability,
            max_bytes,
            purge_every,
            totals: Mutex::new(Totals {
                live,
                next_seq,
                nondurable: 0,
            }),
            queue: Mutex::new(Queue::default()),
            queued: AtomicU64::new(0),
            nondurable: AtomicU64::new(0),
            snapshot: Mutex::new(Snapshot::default()),
        });
        let worker = if flush_every.is_some() || purge_every.is_some() {
            Some(Worker::spawn(shared.clone(), flush_every, purge_every)?)
        } else {
            None
        };
        Ok(RedbStore { shared, worker })
    }

    /// The file the store was opened from; `None` for [`RedbStore::from_database`].
    pub fn path(&self) -> Option<&Path> {
        self.shared.path.as_deref()
    }

    /// The live data in bytes: the sum, over the records, of the key's length and the encoded
    /// record's length. What [`RedbStoreBuilder::max_bytes`] bounds; the file is larger (redb's
    /// pages, the expiry index, space not yet reused). Commits queued writes first.
    ///
    /// # Errors
    /// [`Error::Backend`] when committing the queued writes fails.
    pub fn live_bytes(&self) -> Result<u64> {
        self.shared.settle()?;
        Ok(self.shared.totals().live)
    }

    /// How many records the store holds, expired ones included until purged. Commits queued
    /// writes first.
    ///
    /// # Errors
    /// [`Error::Backend`] when redb fails.
    pub fn len(&self) -> Result<u64> {
        self.shared.settle()?;
        self.shared.records()?.len().map_err(engine)
    }

    /// Whether the store holds no record.
    ///
    /// # Errors
    /// [`Error::Backend`] when redb fails.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Writes made but not yet durable: what a crash now would lose. Always 0 with
    /// [`Durability::Immediate`].
    pub fn pending_writes(&self) -> u64 {
        self.shared.pending()
    }
}

impl Store for RedbStore {
    fn get(&self, key: &str) -> Result<Option<Record>> {
        if self.shared.queued.load(Ordering::SeqCst) > 0
            && let Some(record) = self.shared.queue().get(key)
        {
            return Ok(Some(record));
        }
        match self.shared.records()?.get(key).map_err(engine)? {
            None => Ok(None),
            Some(entry) => Record::decode(entry.value().2).map(Some),
        }
    }

    fn set(&self, key: &str, record: Record) -> Result<()> {
        let Durability::Batched { writes, .. } = self.shared.durability else {
            let encoded = record.encode();
            let expiry = order(record.expiry);
            let bound = self.shared.max_bytes;
            return self.shared.write(true, |w| {
                w.put(key, &encoded, expiry, bound)?;
                Ok(((), true))
            });
        };
        if self
            .shared
            .max_bytes
            .is_some_and(|bound| (key.len() + record.encoded_len()) as u64 > bound)
        {
            // Never kept: remove the key's older record now rather than serve this one until
            // the next commit drops it.
            return self.shared.write(false, |w| {
                let removed = w.remove(key)?;
                Ok(((), removed))
            });
        }
        let full = {
            let mut queue = self.shared.queue();
            queue.open.push(key, record);
            self.shared.queued.fetch_add(1, Ordering::SeqCst);
            queue.open.is_full()
        };
        if writes.is_some_and(|n| self.shared.pending() >= n.get()) {
            self.shared.write(true, nothing)
        } else if full {
            self.shared.write(false, nothing)
        } else {
            Ok(())
        }
    }

    fn delete(&self, key: &str) -> Result<bool> {
        self.shared.write(self.shared.immediate(), |w| {
            let removed = w.remove(key)?;
            Ok((removed, removed))
        })
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::none()
            .persistent(true)
            .scan(true)
            .lossy(self.shared.max_bytes.is_some())
    }

    fn scan(&self, prefix: &str) -> Result<Vec<String>> {
        self.shared.settle()?;
        let table = self.shared.records()?;
        let mut keys = Vec::new();
        // Keys sort bytewise, so those with the prefix are one run starting at the prefix.
        for item in table.range::<&str>(prefix..).map_err(engine)? {
            let (key, _) = item.map_err(engine)?;
            let key = key.value();
            if !key.starts_with(prefix) {
                break;
            }
            keys.push(key.to_owned());
        }
        Ok(keys)
    }

    fn purge_expired(&self, now: f64) -> Result<u64> {
        self.shared.purge(now)
    }

    fn flush(&self) -> Result<()> {
        self.shared.write(true, nothing)
    }

    fn name(&self) -> &'static str {
        "redb"
    }
}

impl fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.shared;
        f.debug_struct("RedbStore")
            .field("path", &s.path)
            .field("table", &s.names.records)
            .field("durability", &s.durability)
            .field("max_bytes", &s.max_bytes)
            .field("purge_every", &s.purge_every)
            .field("pending_writes", &s.pending())
            .finish()
    }
}

impl Drop for RedbStore {
    fn drop(&mut self) {
        if let Some(worker) = self.worker.take() {
            worker.stop();
        }
        if let Err(error) = self.shared.write(true, nothing) {
            tracing::error!(%error, "memo-redb: making the last writes durable failed on drop");
        }
        // The database closes with the last handle; no read of ours should keep it busy.
        self.shared.invalidate();
    }
}

/// The background thread: periodic durable commits and purges.
struct Worker {
    stop: Arc<(Mutex<bool>, Condvar)>,
    handle: JoinHandle<()>,
}

impl Worker {
    fn spawn(
        shared: Arc<Shared>,
        flush_every: Option<Duration>,
        purge_every: Option<Duration>,
    ) -> Result<Self> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let signal = stop.clone();
        let handle = std::thread::Builder::new()
            .name("memo-redb".into())
            .spawn(move || run(&shared, &signal, flush_every, purge_every))
            .map_err(|e| Error::backend("redb", e))?;
        Ok(Worker { stop, handle })
    }

    fn stop(self) {
        let (stopped, wake) = &*self.stop;
        *stopped.lock().unwrap_or_else(PoisonError::into_inner) = true;
        wake.notify_all();
        if self.handle.join().is_err() {
            tracing::error!("memo-redb: the background thread panicked");
        }
    }
}

fn run(
    shared: &Shared,
    stop: &(Mutex<bool>, Condvar),
    flush_every: Option<Duration>,
    purge_every: Option<Duration>,
) {
    let start = Instant::now();
    let mut next_flush = flush_every.map(|every| start + every);
    let mut next_purge = purge_every.map(|every| start + every);
    let (stopped, wake) = stop;
    let mut guard = stopped.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        let Some(next) = next_flush.into_iter().chain(next_purge).min() else {
            return;
        };
        let timeout = next.saturating_duration_since(Instant::now());
        guard = wake
            .wait_timeout_while(guard, timeout, |stopped| !*stopped)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
        if *guard {
            return;
        }
        drop(guard);
        let now = Instant::now();
        if let (Some(at), Some(every)) = (next_flush, flush_every)
            && now >= at
        {
            if shared.pending() > 0
                && let Err(error) = shared.write(true, nothing)
            {
                tracing::error!(%error, "memo-redb: periodic durable commit failed");
            }
            next_flush = Some(now + every);
        }
        if let (Some(at), Some(every)) = (next_purge, purge_every)
            && now >= at
        {
            match shared.purge(SystemClock.now()) {
                Ok(0) => {}
                Ok(purged) => tracing::debug!(purged, "memo-redb: purged expired records"),
                Err(error) => tracing::warn!(%error, "memo-redb: background purge failed"),
            }
            next_purge = Some(now + every);
        }
        guard = stopped.lock().unwrap_or_else(PoisonError::into_inner);
    }
}

#[cfg(test)]
mod tests {
    use memo_core::Memoizer;

    use super::*;

    /// Writes `bytes` as the record under `key`, bypassing the codec, as a later protocol would.
    fn plant(store: &RedbStore, key: &str, bytes: &[u8]) {
        let shared = &store.shared;
        let txn = shared.db.begin_write().unwrap();
        txn.open_table(shared.names.records())
            .unwrap()
            .insert(key, (u64::MAX - 1, order(None), bytes))
            .unwrap();
        txn.commit().unwrap();
        shared.invalidate();
    }

    #[test]
    fn an_undecodable_record_is_a_codec_error_and_a_miss_for_the_memoizer() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(RedbStore::open(dir.path().join("codec.redb")).unwrap());
        let mut protocol_3 = Record::new(1.0, None, vec![1]).encode();
        protocol_3[0] = 3;
        plant(&store, "future", &protocol_3);
        plant(&store, "junk", b"");
        assert!(matches!(store.get("future"), Err(Error::Codec(_))));
        assert!(matches!(store.get("junk"), Err(Error::Codec(_))));

        let memo = Memoizer::new(store.clone());
        assert_eq!(memo.get("future", || 7_u32).unwrap(), 7);
        assert_eq!(memo.stats().codec_errors, 1);
        assert_eq!(
            memo.get("future", || 8_u32).unwrap(),
            7,
            "overwritten, then a hit"
        );
        assert!(store.delete("junk").unwrap());
        assert_eq!(store.scan("").unwrap(), ["future"]);
    }
}
