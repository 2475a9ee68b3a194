//! [`RedbStore`]: records in a redb file, an expiry index, a size bound, a write-ahead journal and
//! batched durable commits.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{
    Arc, Condvar, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard,
    TryLockError,
};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use memo_core::{Capabilities, Clock, Error, Record, Result, Store, SystemClock};
use redb::{ReadableDatabase, ReadableTableMetadata};

use crate::builder::{Durability, RedbStoreBuilder};
use crate::error::{self, Fault, engine};
use crate::journal::{self, Appender, Op};
use crate::open::{self, Failure, Origin};
use crate::queue::{Batch, Queue};
use crate::tables::{Entry, Names, Saved, Writer, order, unseal};

/// A persistent store in a redb file: the embedded default.
///
/// Records survive restarts. With the default [`Durability::Journaled`], every write is in a
/// journal file beside the database before `set` returns, so a normal exit, a
/// `std::process::exit` or a killed process lose nothing acknowledged, even from a `static`
/// store that is never dropped; only an OS crash may lose the last second. No crash corrupts the
/// file. One process at a time opens a file: another runs uncached. Faults (a full disk, a
/// damaged file, a panic inside redb) turn caching off until the store reopens the file by
/// itself; see the crate docs for the options and "Faults and recovery".
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

/// Counts of what went wrong, and what was recovered, since the store was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedbStats {
    /// Commits that failed. Their writes stay queued (readable, and retried by the next commit)
    /// and, under [`Durability::Journaled`], stay in the journal.
    pub failed_commits: u64,
    /// Writes refused with an error, one by one, because failing commits filled the queue: each
    /// was never stored.
    pub refused_writes: u64,
    /// Journal entries replayed into the database when it was opened or reopened.
    pub replayed_writes: u64,
    /// Writes `set` acknowledged (returned `Ok`) that the store does not hold: skipped while
    /// running uncached, or, without a journal ([`Durability::Queued`]), committed without
    /// `fsync` to a database handle that a fault then dropped. Writes refused with an error are
    /// not counted here: their caller saw the error.
    pub lost_writes: u64,
}

struct Shared {
    /// The open database, or why there is none.
    handle: RwLock<Handle>,
    /// The generation of the open database, [`DOWN`] while there is none: what each call checks
    /// first, without touching `handle`'s lock (shared by every thread's hits).
    up: AtomicU64,
    /// How to open the database again; `None` for a database handed in, which cannot be.
    origin: Option<Origin>,
    /// Whether opening checks every page (a reopen after damage always does).
    check_integrity: bool,
    /// Held while reopening, so that one caller reopens and the others answer at once.
    reopening: Mutex<()>,
    /// Writes `set` acknowledged that the store does not hold: dropped by a failed commit, lost
    /// with a failed database handle, or skipped while running uncached.
    lost: AtomicU64,
    /// Whether a fault has been written to stderr (once per store).
    announced: AtomicBool,
    path: Option<PathBuf>,
    names: Names,
    durability: Durability,
    max_bytes: Option<u64>,
    purge_every: Option<Duration>,
    /// After this many bytes written since the last durable commit, a write commits durably
    /// itself: redb reuses freed pages only after a durable commit, so this bounds how far a
    /// burst that overwrites or evicts grows the file (and how long the journal gets).
    durable_after: u64,
    /// Serializes this store's commits and holds the totals they keep.
    totals: Mutex<Totals>,
    /// Writes not yet committed, and journal entries not yet written.
    queue: Mutex<Queue>,
    /// The journal file being appended to (journaled durability only).
    journal: Option<Mutex<Appender>>,
    /// How many writes `queue` holds, so that `get` skips its lock when it is empty.
    queued: AtomicU64,
    /// A copy of [`Totals::nondurable`], to read without waiting for a commit.
    nondurable: AtomicU64,
    /// Bytes (keys plus encoded records) set since the last durable commit.
    undurable_bytes: AtomicU64,
    /// The records as of the last commit, shared by reads until the next one: a read then
    /// skips beginning a transaction and opening the table.
    snapshot: Mutex<Snapshot>,
    failed_commits: AtomicU64,
    refused_writes: AtomicU64,
    replayed_writes: AtomicU64,
}

type Records = redb::ReadOnlyTable<&'static str, Entry>;

/// The first wait before reopening after a fault; it doubles with each failed attempt.
const FIRST_RETRY: Duration = Duration::from_millis(100);
/// The longest wait between attempts.
const LAST_RETRY: Duration = Duration::from_secs(30);

/// The open database, borrowed from [`Handle`] under its read lock.
struct Db<'a>(RwLockReadGuard<'a, Handle>);

impl std::ops::Deref for Db<'_> {
    type Target = redb::Database;

    fn deref(&self) -> &redb::Database {
        self.0.db.as_deref().expect("Shared::db checked it")
    }
}

/// [`Shared::up`] while the store has no database.
const DOWN: u64 = u64::MAX;

/// The database handle, replaced by a new one after a fault.
struct Handle {
    db: Option<Arc<redb::Database>>,
    /// Counts handles, so that a fault seen on one never drops its successor.
    generation: u64,
    /// Set while `db` is `None`.
    down: Option<Down>,
}

struct Down {
    reason: String,
    /// Answer as an empty cache (the file was unavailable when the store was built) rather
    /// than with errors.
    quiet: bool,
    /// Check every page when reopening: the fault suggests damage.
    check: bool,
    /// `None`: never (the database was handed in).
    next_attempt: Option<Instant>,
    backoff: Duration,
}

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
    saved: Saved,
    /// What commits evict the live data down to: the size bound, or less while redb's pages for
    /// the live data would otherwise outgrow the file's budget (see [`Shared::retarget`]).
    target: u64,
    /// The bytes of the pages in use, measured by the last durable commit of a bounded store.
    used: Option<u64>,
    /// Durable commits made, to measure the pages of only some of them.
    durable_commits: u64,
    /// Writes committed since the last durable commit.
    nondurable: u64,
}

/// An edit that returns `T` and whether it changed anything.
type Edit<'a, T> = &'a mut dyn FnMut(&mut Writer<'_>) -> Result<(T, bool), redb::Error>;

fn nothing(_: &mut Writer<'_>) -> Result<((), bool), redb::Error> {
    Ok(((), false))
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn handle(&self) -> RwLockReadGuard<'_, Handle> {
        self.handle.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn handle_mut(&self) -> RwLockWriteGuard<'_, Handle> {
        self.handle.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The open database, held (a fault or `compact` waits for it); an error while there is
    /// none (see [`Shared::guard`], which reopens).
    fn db(&self) -> Result<Db<'_>> {
        let handle = self.handle();
        match (&handle.db, &handle.down) {
            (Some(_), _) => Ok(Db(handle)),
            (None, Some(down)) => Err(error::unavailable(down.reason.clone())),
            (None, None) => Err(error::unavailable("no database")),
        }
    }

    /// Runs one call of the store's API: reopens first when the database is down and an
    /// attempt is due, turns a panic inside redb into an error, and drops the database handle
    /// after an error that redb latches or that shows damage. While the store runs uncached
    /// (the file was unavailable when it was built), answers `quiet()` instead.
    /// Callers hold none of the store's locks.
    fn guard<T>(&self, quiet: impl FnOnce() -> T, op: impl FnOnce() -> Result<T>) -> Result<T> {
        // Down after a fault, the call still runs: reads find queued writes, writes queue
        // (and journal) until the queue is full; whatever needs the database gets the
        // "caching is off" error.
        let generation = match self.ensure() {
            Ok(generation) => generation,
            Err(_) if self.handle().down.as_ref().is_some_and(|d| d.quiet) => return Ok(quiet()),
            Err(_) => DOWN,
        };
        let result =
            catch_unwind(AssertUnwindSafe(op)).unwrap_or_else(|p| Err(error::panicked(&*p)));
        if let Err(error) = &result
            && let Some(fault) = error::fault(error)
        {
            self.fault(generation, fault, error.to_string());
        }
        result
    }

    /// The generation of the open database, reopening it first if it is down and an attempt is
    /// due.
    fn ensure(&self) -> Result<u64> {
        match self.up.load(Ordering::Acquire) {
            DOWN => self.reopen(),
            generation => Ok(generation),
        }
    }

    fn reopen(&self) -> Result<u64> {
        let _one = match self.reopening.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(guard)) => guard.into_inner(),
            Err(TryLockError::WouldBlock) => {
                return Err(self
                    .db()
                    .err()
                    .unwrap_or_else(|| error::unavailable("the database is being reopened")));
            }
        };
        let check = {
            let handle = self.handle();
            if handle.db.is_some() {
                return Ok(handle.generation);
            }
            let Some(down) = &handle.down else {
                return Err(error::unavailable("no database"));
            };
            match (&self.origin, down.next_attempt) {
                (Some(_), Some(at)) if Instant::now() >= at => down.check,
                _ => return Err(error::unavailable(down.reason.clone())),
            }
        };
        let origin = self.origin.as_ref().expect("checked above");
        let batched = !self.immediate();
        let ready = match open_ready(origin, self.check_integrity || check, &self.names, batched) {
            Ok(ready) => ready,
            Err(Failure::Foreign(reason)) => return Err(self.retry_later(reason)),
            Err(Failure::Unavailable(e) | Failure::Fatal(e)) => {
                return Err(self.retry_later(e.to_string()));
            }
        };
        if let Some(aside) = &ready.moved_aside {
            self.stderr_once(&format!(
                "the damaged cache file was moved to {} and a fresh one started",
                aside.display()
            ));
        }
        let mut totals = self.totals();
        totals.saved = ready.totals;
        totals.nondurable = 0;
        self.nondurable.store(0, Ordering::SeqCst);
        if let (Some(journal), Some(base)) = (&self.journal, &self.path) {
            // New entries go past every generation on disk (a store that started uncached
            // counted them while another process owned the file).
            let newest = journal::generations(base)
                .ok()
                .and_then(|g| g.last().copied())
                .unwrap_or(0);
            let mut appender = lock(journal);
            let floor = newest.max(ready.totals.journal);
            if appender.generation <= floor {
                appender.generation = floor;
                appender.rotate();
            }
        }
        // The acknowledged writes the dropped handle had not made durable come back from the
        // journal before any call sees the database.
        let replayed = catch_unwind(AssertUnwindSafe(|| {
            self.replay_journal(&ready.db, &mut totals)
        }))
        .unwrap_or_else(|p| Err(error::panicked(&*p)));
        if let Err(error) = replayed {
            tracing::error!(%error, "memo-redb: replaying the journal after reopening failed");
        }
        let generation = {
            let mut handle = self.handle_mut();
            handle.db = Some(ready.db);
            handle.generation += 1;
            handle.down = None;
            self.up.store(handle.generation, Ordering::Release);
            handle.generation
        };
        drop(totals);
        self.invalidate();
        tracing::warn!(file = ?self.path, "memo-redb: the database is open again; caching resumed");
        Ok(generation)
    }

    /// Records a failed reopen and when to try again; the error to answer with.
    fn retry_later(&self, reason: String) -> Error {
        let mut handle = self.handle_mut();
        if let Some(down) = &mut handle.down {
            down.backoff = (down.backoff * 2).min(LAST_RETRY);
            down.next_attempt = Some(Instant::now() + down.backoff);
            tracing::debug!(%reason, retry_in = ?down.backoff, "memo-redb: reopening failed");
            down.reason = reason.clone();
        }
        error::unavailable(reason)
    }

    /// Drops the database handle of `generation` after `fault`; the next call after a backoff
    /// opens the database again.
    fn fault(&self, generation: u64, fault: Fault, reason: String) {
        let old = {
            let mut handle = self.handle_mut();
            if handle.generation != generation || handle.db.is_none() {
                return;
            }
            handle.generation += 1;
            self.up.store(DOWN, Ordering::Release);
            handle.down = Some(Down {
                reason: reason.clone(),
                quiet: false,
                check: fault == Fault::Damaged,
                next_attempt: self.origin.as_ref().map(|_| Instant::now() + FIRST_RETRY),
                backoff: FIRST_RETRY,
            });
            handle.db.take()
        };
        self.invalidate();
        // Non-durable commits go with the handle: the file reopens as of the last durable one,
        // and only the journal brings them back.
        let nondurable = std::mem::take(&mut self.totals().nondurable);
        self.nondurable.store(0, Ordering::SeqCst);
        if self.journal.is_none() {
            self.lost.fetch_add(nondurable, Ordering::SeqCst);
        }
        // redb may have panicked holding its own state: its handle is dropped, never reused.
        let _closed = catch_unwind(AssertUnwindSafe(move || drop(old)));
        let then = if self.origin.is_some() {
            "caching is off until the database reopens (tried again with backoff)"
        } else {
            "caching is off: a database handed to the store cannot be reopened by it"
        };
        self.announce(&format!("{reason}; {then}"));
    }

    /// Logs `message` at WARN, and writes it to stderr the first time, so that the first fault
    /// shows even without a tracing subscriber.
    fn announce(&self, message: &str) {
        tracing::warn!(file = %self.file(), "memo-redb: {message}");
        self.stderr_once(message);
    }

    /// Writes `message` to stderr if nothing was written there yet (the message is also logged
    /// with `tracing`, by the caller or by [`Shared::announce`]).
    fn stderr_once(&self, message: &str) {
        if !self.announced.swap(true, Ordering::SeqCst) {
            eprintln!("memo-redb: {}: {message}", self.file());
        }
    }

    fn file(&self) -> String {
        self.path
            .as_ref()
            .map_or_else(|| "the database".to_owned(), |p| p.display().to_string())
    }

    fn totals(&self) -> MutexGuard<'_, Totals> {
        lock(&self.totals)
    }

    fn queue(&self) -> MutexGuard<'_, Queue> {
        lock(&self.queue)
    }

    /// The records table as of the last commit.
    fn records(&self) -> Result<Arc<Records>> {
        let generation = {
            let snapshot = lock(&self.snapshot);
            if let Some(table) = &snapshot.table {
                return Ok(table.clone());
            }
            snapshot.generation
        };
        let txn = self.db()?.begin_read().map_err(engine)?;
        let table = Arc::new(
            txn.open_table(self.names.records())
                .map_err(|e| error::table(&self.names.records, e))?,
        );
        let mut snapshot = lock(&self.snapshot);
        if snapshot.generation == generation {
            snapshot.table = Some(table.clone());
        }
        Ok(table)
    }

    /// Drops the shared snapshot; called after each commit.
    fn invalidate(&self) {
        let mut snapshot = lock(&self.snapshot);
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

    /// Waits until journal entry `seq` is in the journal file, writing it (and every entry
    /// appended before it) unless another writer already did: one `write(2)` for many writers.
    fn sync(&self, seq: u64) -> Result<()> {
        let Some(journal) = &self.journal else {
            return Ok(());
        };
        let mut appender = lock(journal);
        if appender.written < seq {
            let spare = std::mem::take(&mut appender.spare);
            let (mut buf, last) = {
                let mut queue = self.queue();
                (std::mem::replace(&mut queue.journal, spare), queue.appended)
            };
            if let Err(error) = appender.append(&buf, last) {
                tracing::error!(%error, "memo-redb: writing the journal failed");
            }
            buf.clear();
            // Keep the allocation for the next group, unless one huge value inflated it.
            if buf.capacity() <= 1 << 20 {
                appender.spare = buf;
            }
        }
        if appender.failed(seq) {
            let path = journal::path(
                self.path.as_deref().unwrap_or(Path::new("")),
                appender.generation,
            );
            return Err(error::journal(
                path,
                std::io::Error::other("the journal write of this entry failed"),
            ));
        }
        Ok(())
    }

    /// Commits the queued writes and then `edit` in one transaction, durably when `durable`.
    /// With `journaled`, that entry (an op, a key, an expiry) goes to the journal in the queue's
    /// order (after every write the commit takes from the queue). A
    /// transaction that changes nothing is not committed, unless it is durable and earlier
    /// commits are not. A failed commit queues its writes again.
    fn write<T>(
        &self,
        durable: bool,
        journaled: Option<(u8, &str, u64)>,
        mut edit: impl FnMut(&mut Writer<'_>) -> Result<(T, bool), redb::Error>,
    ) -> Result<T> {
        let mut totals = self.totals();
        let counted = self.undurable_bytes.load(Ordering::SeqCst);
        // Locked before the queue, as `sync` does: a durable commit starts a new journal
        // generation at the point where it takes the queue, so that it covers every older one.
        let mut appender = if durable {
            self.journal.as_ref().map(lock)
        } else {
            None
        };
        let (batch, seq) = {
            let mut queue = self.queue();
            let seq = match journaled {
                Some((op, key, expiry)) if self.journal.is_some() => {
                    Some(queue.append(op, key, expiry, &[]))
                }
                _ => None,
            };
            let batch = if queue.open.is_empty() {
                None
            } else {
                let batch = Arc::new(std::mem::take(&mut queue.open));
                queue.committing = Some(batch.clone());
                Some(batch)
            };
            (batch, seq)
        };
        let covers = appender.as_mut().map(|a| a.rotate() - 1);
        drop(appender);
        // A panic inside redb must not leave the batch marked as committing.
        let result = catch_unwind(AssertUnwindSafe(|| {
            self.commit(&mut totals, batch.as_deref(), durable, covers, &mut edit)
        }))
        .unwrap_or_else(|p| Err(error::panicked(&*p)));
        if let Some(batch) = batch {
            let mut queue = self.queue();
            // After the commit: a reader that misses the batch here finds it in the file.
            queue.committing = None;
            if let Err(error) = &result {
                tracing::error!(%error, writes = batch.len(), "memo-redb: a commit failed; its writes stay queued");
                queue.requeue(Arc::try_unwrap(batch).unwrap_or_else(|b| (*b).clone()));
            } else {
                self.queued.fetch_sub(batch.len() as u64, Ordering::SeqCst);
            }
        }
        match &result {
            Err(_) => {
                self.failed_commits.fetch_add(1, Ordering::Relaxed);
            }
            Ok(_) if durable => {
                self.undurable_bytes.fetch_sub(counted, Ordering::SeqCst);
                self.retarget(&mut totals);
                if let (Some(journal), Some(covered), Some(base)) =
                    (&self.journal, covers, &self.path)
                {
                    let covered = lock(journal).covered_before(covered + 1);
                    journal::remove(base, covered);
                }
            }
            Ok(_) => {}
        }
        drop(totals);
        if let Some(seq) = seq {
            self.sync(seq)?;
        }
        result
    }

    fn commit<T>(
        &self,
        totals: &mut Totals,
        batch: Option<&Batch>,
        durable: bool,
        covers: Option<u64>,
        edit: Edit<'_, T>,
    ) -> Result<T> {
        let db = self.db()?;
        let mut txn = db.begin_write().map_err(engine)?;
        if durable {
            // Saving the allocator state makes reopening after a crash quick; batched stores
            // pay for it once per batch, immediate ones would pay on every write.
            txn.set_quick_repair(!self.immediate());
        } else {
            txn.set_durability(redb::Durability::None).map_err(engine)?;
        }
        let queued = batch.map_or(0, Batch::len) as u64;
        let (out, writes, live, next_seq) = {
            let mut w = Writer::open(&txn, &self.names, totals.saved.live, totals.saved.next_seq)?;
            for (key, record) in batch.map_or(&[][..], |b| &b.writes) {
                w.put(key, &record.encode(), order(record.expiry), self.max_bytes)
                    .map_err(engine)?;
            }
            let (out, changed) = edit(&mut w).map_err(engine)?;
            if self.max_bytes.is_some() {
                let evicted = w.evict_to(totals.target).map_err(engine)?;
                if evicted > 0 {
                    tracing::debug!(
                        evicted,
                        target = totals.target,
                        "memo-redb: evicted records over the bound"
                    );
                }
            }
            (out, queued + u64::from(changed), w.live, w.next_seq)
        };
        if writes == 0 && !(durable && totals.nondurable > 0) {
            txn.abort().map_err(engine)?;
            return Ok(out);
        }
        let saved = Saved {
            live,
            next_seq,
            journal: covers.unwrap_or(totals.saved.journal),
        };
        if durable {
            self.names.save(&txn, saved)?;
            totals.durable_commits += 1;
            // Each immediate write is a durable commit: measure only one in 64 of them.
            if self.max_bytes.is_some()
                && (!self.immediate() || totals.durable_commits.is_multiple_of(64))
            {
                // Measured before the commit, the pages include those that this interval's
                // writes replaced, which redb reuses only after this commit: the peak.
                let stats = txn.stats().map_err(engine)?;
                totals.used = Some(stats.allocated_pages() * stats.page_size() as u64);
            }
        }
        txn.commit().map_err(engine)?;
        self.invalidate();
        totals.saved = Saved {
            journal: if durable {
                saved.journal
            } else {
                totals.saved.journal
            },
            ..saved
        };
        totals.nondurable = if durable {
            0
        } else {
            totals.nondurable + writes
        };
        self.nondurable.store(totals.nondurable, Ordering::SeqCst);
        Ok(out)
    }

    /// Sets the eviction target so that the file stays within twice the size bound.
    ///
    /// redb grows its file by doubling it, and reuses a page freed after the last durable
    /// commit only after the next one, so the file stays within twice the bound only while the
    /// pages in use (records, B-tree overhead, the expiry index, pages awaiting reuse) fit in
    /// the bound, or in the file once it is larger than the bound. Live
    /// data is a fraction of those pages that depends on the records' sizes, so after each
    /// durable commit the target scales the live data by the ratio measured at its peak (just
    /// before the commit, while the pages it replaced are not yet reusable), keeping a quarter
    /// of the budget as a margin: evicting in a burst replaces pages all over the tree, and
    /// the measure lags one commit behind.
    fn retarget(&self, totals: &mut Totals) {
        let (Some(bound), Some(path)) = (self.max_bytes, &self.path) else {
            return;
        };
        let Some(used) = totals.used.take() else {
            return;
        };
        let Ok(file) = std::fs::metadata(path).map(|m| m.len()) else {
            return;
        };
        // While the file is within the bound it may double once more; past it, it must not grow.
        let budget = bound.max(file) / 4 * 3;
        let live = totals.saved.live;
        let scaled = if used == 0 || live == 0 {
            bound
        } else {
            u64::try_from(u128::from(live) * u128::from(budget) / u128::from(used)).unwrap_or(bound)
        };
        // Lowered only when the pages exceed the budget: while deletes free pages that are not
        // yet reusable, the ratio dips without the file being at risk.
        let target = if used > budget {
            scaled
        } else {
            scaled.max(totals.target)
        };
        // Never below an eighth of the bound: a store of a few huge records keeps at least one.
        totals.target = target.clamp(bound / 8, bound);
    }

    /// Applies, in one durable commit, every journal entry on disk that the database may not
    /// hold: the generations newer than the one it saved, oldest first, each up to its first
    /// damaged or cut-short entry (what a killed process leaves). Then deletes them. Called when
    /// the database is opened, and after it is reopened, with the commit lock held; the journal
    /// starts a new generation first, so the writes of the running store are not touched.
    /// Returns how many entries were applied.
    fn replay_journal(&self, db: &redb::Database, totals: &mut Totals) -> Result<u64> {
        let Some(base) = &self.path else {
            return Ok(0);
        };
        let current = self.journal.as_ref().map(|j| lock(j).rotate());
        let listed = journal::generations(base).map_err(|e| error::journal(base.clone(), e))?;
        let (stale, newer): (Vec<u64>, Vec<u64>) = listed
            .into_iter()
            .filter(|&g| current.is_none_or(|current| g < current))
            .partition(|&g| g <= totals.saved.journal);
        // Left by a durable commit whose deletion of them did not reach the disk; another
        // table's journal files are left alone.
        let table = &self.names.records;
        journal::remove(
            base,
            stale
                .into_iter()
                .filter(|&g| journal::is_ours(&journal::path(base, g), table).unwrap_or(false)),
        );
        if newer.is_empty() {
            return Ok(0);
        }
        let mut txn = db.begin_write().map_err(engine)?;
        txn.set_quick_repair(!self.immediate());
        let mut applied = 0;
        let mut ours = Vec::new();
        let mut newest = totals.saved.journal;
        let (live, next_seq) = {
            let mut w = Writer::open(&txn, &self.names, totals.saved.live, totals.saved.next_seq)?;
            for generation in newer {
                let path = journal::path(base, generation);
                let read = journal::read::<redb::Error>(&path, &self.names.records, |op| {
                    match op {
                        Op::Set {
                            key,
                            expiry,
                            record,
                        } => w.put(key, record, expiry, self.max_bytes)?,
                        Op::Delete { key } => {
                            w.remove(key)?;
                        }
                        Op::Purge { end } => {
                            w.remove_expiring_before(end)?;
                        }
                    }
                    Ok(())
                })
                .map_err(|e| error::replay(path.clone(), e))?;
                match read {
                    journal::Found::Foreign => {
                        tracing::warn!(path = %path.display(), "memo-redb: leaving alone a journal file of another table");
                    }
                    journal::Found::Ours { entries, torn } => {
                        if torn {
                            tracing::warn!(path = %path.display(), entries, "memo-redb: the journal ends in a cut-short entry (a killed writer); replayed the entries before it");
                        }
                        applied += entries;
                        newest = newest.max(generation);
                        ours.push(generation);
                    }
                }
            }
            if self.max_bytes.is_some() {
                w.evict_to(totals.target).map_err(engine)?;
            }
            (w.live, w.next_seq)
        };
        let saved = Saved {
            live,
            next_seq,
            journal: newest,
        };
        self.names.save(&txn, saved)?;
        txn.commit().map_err(engine)?;
        self.invalidate();
        totals.saved = saved;
        totals.nondurable = 0;
        self.nondurable.store(0, Ordering::SeqCst);
        journal::remove(base, ours);
        if applied > 0 {
            tracing::info!(applied, "memo-redb: replayed the journal");
        }
        self.replayed_writes.fetch_add(applied, Ordering::Relaxed);
        Ok(applied)
    }

    /// Commits the queue, if anything is queued, so that reads of the file see it.
    fn settle(&self) -> Result<()> {
        if self.queued.load(Ordering::SeqCst) > 0 {
            self.write(false, None, nothing)?;
        }
        Ok(())
    }

    fn purge(&self, now: f64) -> Result<u64> {
        if now.is_nan() {
            return Ok(0);
        }
        // Not MAX: that is the order of "never expires", and `now` is not NaN.
        let end = order(Some(now)) + 1;
        let removed = self.write(self.immediate(), Some((journal::PURGE, "", end)), |w| {
            let removed = w.remove_expiring_before(end)?;
            Ok((removed, removed > 0))
        })?;
        self.churned(removed)?;
        Ok(removed)
    }

    fn delete(&self, key: &str) -> Result<bool> {
        let removed = self.write(self.immediate(), Some((journal::DELETE, key, 0)), |w| {
            let removed = w.remove(key)?;
            Ok((removed, removed))
        })?;
        self.churned(u64::from(removed))?;
        Ok(removed)
    }

    /// Counts `removed` records toward the next durable commit, and makes it when they are due:
    /// removing frees pages that redb reuses only after a durable commit, so a burst of deletes
    /// grows the file as a burst of writes does. Each removal is counted as the two pages (the
    /// record's and its index entry's) that it rewrites.
    fn churned(&self, removed: u64) -> Result<()> {
        if removed == 0 || self.immediate() {
            return Ok(());
        }
        let added = removed.saturating_mul(2 * 4096);
        let undurable = self.undurable_bytes.fetch_add(added, Ordering::SeqCst) + added;
        if undurable >= self.durable_after {
            self.write(true, None, nothing)?;
        }
        Ok(())
    }
}

/// A database the store can run on: opened, its tables made, its totals read.
pub(crate) struct Ready {
    pub(crate) db: Arc<redb::Database>,
    pub(crate) totals: Saved,
    pub(crate) moved_aside: Option<PathBuf>,
}

/// Opens the database at `origin` and prepares the store's tables in it. A file whose tables
/// turn out damaged (redb reports corruption or panics, or a table's types are garbled) is
/// moved aside and replaced: it passed [`open::open`]'s test of being memo's.
pub(crate) fn open_ready(
    origin: &Origin,
    check_integrity: bool,
    names: &Names,
    batched: bool,
) -> std::result::Result<Ready, Failure> {
    let opened = open::open(origin, check_integrity)?;
    let mut moved_aside = opened.moved_aside;
    let mut db = opened.db;
    for attempt in 0..2 {
        let prepared = catch_unwind(AssertUnwindSafe(|| prepare(&db, names, batched)))
            .unwrap_or_else(|p| Err(error::panicked(&*p)));
        let error = match prepared {
            Ok(totals) => {
                return Ok(Ready {
                    db: Arc::new(db),
                    totals,
                    moved_aside,
                });
            }
            Err(error) => error,
        };
        let _closed = catch_unwind(AssertUnwindSafe(move || drop(db)));
        let damaged =
            error::fault(&error) == Some(Fault::Damaged) || error::is_table_mismatch(&error);
        if !damaged || attempt == 1 {
            return Err(if error::fault(&error).is_some() || damaged {
                Failure::Unavailable(error)
            } else {
                Failure::Fatal(error)
            });
        }
        let replaced = open::replace(origin, &error.to_string())?;
        moved_aside = replaced.moved_aside;
        db = replaced.db;
    }
    unreachable!("the loop returns on its second attempt")
}

/// The store in a database handed in, its tables made and its totals read.
pub(crate) fn ready_in(db: Arc<redb::Database>, names: &Names, batched: bool) -> Result<Ready> {
    let totals = catch_unwind(AssertUnwindSafe(|| prepare(&db, names, batched)))
        .unwrap_or_else(|p| Err(error::panicked(&*p)))?;
    Ok(Ready {
        db,
        totals,
        moved_aside: None,
    })
}

/// Creates the store's tables if missing and reads what the last durable commit saved, in a
/// durable commit.
fn prepare(db: &redb::Database, names: &Names, batched: bool) -> Result<Saved> {
    let mut txn = db.begin_write().map_err(engine)?;
    if batched && let Err(e) = txn.set_durability(redb::Durability::None) {
        return Err(Error::Config(format!(
            "redb: batched durability needs non-durable commits, which this database \
             refuses ({e}); use Durability::Immediate"
        )));
    }
    txn.set_durability(redb::Durability::Immediate)
        .map_err(engine)?;
    let totals = names.create(&txn)?;
    txn.commit().map_err(engine)?;
    Ok(totals)
}

impl RedbStore {
    /// Opens the store in the file at `path` (created when missing) with the default options,
    /// first replaying the journal a killed process left beside it.
    ///
    /// # Errors
    /// [`Error::Config`] when the file is not memo's (left untouched); [`Error::Backend`] naming
    /// the file when its directory is missing, or naming a journal file that cannot be read. A
    /// file open elsewhere or not writable gives a store that runs uncached (see
    /// [`RedbStoreBuilder::require_file`]).
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

    /// Starts the store on `ready`, or uncached with its error as the reason (the builder has
    /// already decided that this is allowed). `origin` is how to open the database again.
    pub(crate) fn start(
        config: &RedbStoreBuilder,
        durability: Durability,
        ready: std::result::Result<Ready, Error>,
        origin: Option<Origin>,
    ) -> Result<Self> {
        let path = match &origin {
            Some(Origin::Path(path)) => Some(path.clone()),
            _ => None,
        };
        let names = Names::new(&config.table);
        let max_bytes = config.max_bytes;
        let mut moved_aside = None;
        let (handle, saved) = match ready {
            Ok(ready) => {
                moved_aside = ready.moved_aside;
                let handle = Handle {
                    db: Some(ready.db),
                    generation: 0,
                    down: None,
                };
                (handle, ready.totals)
            }
            Err(error) => {
                let handle = Handle {
                    db: None,
                    generation: 0,
                    down: Some(Down {
                        reason: error.to_string(),
                        quiet: true,
                        check: false,
                        next_attempt: origin.as_ref().map(|_| Instant::now() + FIRST_RETRY),
                        backoff: FIRST_RETRY,
                    }),
                };
                (handle, Saved::default())
            }
        };
        let down = handle.down.as_ref().map(|d| d.reason.clone());
        let up = if down.is_some() {
            DOWN
        } else {
            handle.generation
        };

        let journal = match (&path, durability) {
            (Some(path), Durability::Journaled { .. }) => {
                let newest = journal::generations(path)
                    .map_err(|e| error::journal(path.clone(), e))?
                    .last()
                    .copied()
                    .unwrap_or(0);
                Some(Mutex::new(Appender::new(
                    path.clone(),
                    config.table.clone(),
                    newest.max(saved.journal) + 1,
                )))
            }
            _ => None,
        };
        let purge_every = config.purge_every;
        let shared = Arc::new(Shared {
            handle: RwLock::new(handle),
            up: AtomicU64::new(up),
            origin,
            check_integrity: config.check_integrity,
            reopening: Mutex::new(()),
            lost: AtomicU64::new(0),
            announced: AtomicBool::new(false),
            path,
            names,
            durability,
            max_bytes: config.max_bytes,
            purge_every,
            durable_after: max_bytes
                .map_or(64 << 20, |bound| (bound / 32).clamp(64 << 10, 64 << 20)),
            totals: Mutex::new(Totals {
                saved,
                target: max_bytes.unwrap_or(u64::MAX),
                used: None,
                durable_commits: 0,
                nondurable: 0,
            }),
            queue: Mutex::new(Queue::default()),
            journal,
            queued: AtomicU64::new(0),
            nondurable: AtomicU64::new(0),
            undurable_bytes: AtomicU64::new(0),
            snapshot: Mutex::new(Snapshot::default()),
            failed_commits: AtomicU64::new(0),
            refused_writes: AtomicU64::new(0),
            replayed_writes: AtomicU64::new(0),
        });
        if let Some(aside) = moved_aside {
            shared.stderr_once(&format!(
                "the damaged cache file was moved to {} and a fresh one started",
                aside.display()
            ));
        }
        if let Some(reason) = down {
            shared.announce(&format!(
                "cannot be used ({reason}); running uncached, and opening it again with backoff"
            ));
        } else {
            let db = shared.db()?;
            shared.replay_journal(&db, &mut shared.totals())?;
        }
        let worker = if durability.interval().is_some() || purge_every.is_some() {
            Some(Worker::spawn(
                shared.clone(),
                durability.interval(),
                purge_every,
            )?)
        } else {
            None
        };
        Ok(RedbStore { shared, worker })
    }

    /// Whether the store has its database open now. `false` while it runs uncached (the file was
    /// unavailable when it was built) and after a fault until the database reopens; see the
    /// crate docs, "Faults and recovery".
    pub fn is_caching(&self) -> bool {
        self.shared.up.load(Ordering::Acquire) != DOWN
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
        self.shared.guard(
            || 0,
            || {
                self.shared.settle()?;
                Ok(self.shared.totals().saved.live)
            },
        )
    }

    /// How many records the store holds, expired ones included until purged. Commits queued
    /// writes first.
    ///
    /// # Errors
    /// [`Error::Backend`] when redb fails.
    pub fn len(&self) -> Result<u64> {
        self.shared.guard(
            || 0,
            || {
                self.shared.settle()?;
                self.shared.records()?.len().map_err(engine)
            },
        )
    }

    /// Whether the store holds no record.
    ///
    /// # Errors
    /// [`Error::Backend`] when redb fails.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Writes not yet durable in the database file. Under [`Durability::Queued`] this is what a
    /// killed process would lose now; under [`Durability::Journaled`] they are in the journal,
    /// and only an OS crash could lose them. Always 0 with [`Durability::Immediate`].
    pub fn pending_writes(&self) -> u64 {
        self.shared.pending()
    }

    /// What went wrong, and what was recovered, since the store was opened.
    pub fn stats(&self) -> RedbStats {
        let s = &self.shared;
        RedbStats {
            failed_commits: s.failed_commits.load(Ordering::Relaxed),
            refused_writes: s.refused_writes.load(Ordering::Relaxed),
            replayed_writes: s.replayed_writes.load(Ordering::Relaxed),
            lost_writes: s.lost.load(Ordering::SeqCst),
        }
    }

    /// Makes every write durable, then rewrites the database file so that it holds no free
    /// space, and shrinks it. Returns whether there was anything to compact. Writes and reads
    /// that need the file wait until it is done.
    ///
    /// # Errors
    /// [`Error::Unsupported`] when the database is shared with other handles (a store built
    /// [`from_database`](RedbStore::from_database) whose caller kept its `Arc`); redb needs
    /// the only handle to compact. [`Error::Backend`] when a commit or the compaction fails.
    pub fn compact(&self) -> Result<bool> {
        let s = &self.shared;
        s.write(true, None, nothing)?;
        let _commits = s.totals();
        s.invalidate();
        let mut handle = s.handle_mut();
        let Some(db) = handle.db.as_mut() else {
            return Err(s
                .db()
                .err()
                .unwrap_or_else(|| error::unavailable("no database")));
        };
        let Some(db) = Arc::get_mut(db) else {
            return Err(Error::Unsupported {
                store: "redb",
                operation: "compact on a database shared with other handles",
            });
        };
        // A read that took the last snapshot before it was dropped may still hold it briefly.
        let mut tries = 0;
        loop {
            match db.compact() {
                Err(redb::CompactionError::TransactionInProgress) if tries < 1000 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(1));
                }
                result => return result.map_err(engine),
            }
        }
    }
}

impl Store for RedbStore {
    fn get(&self, key: &str) -> Result<Option<Record>> {
        self.shared.guard(|| None, || self.get_unguarded(key))
    }

    fn set(&self, key: &str, record: Record) -> Result<()> {
        let uncached = || {
            self.shared.lost.fetch_add(1, Ordering::SeqCst);
        };
        self.shared
            .guard(uncached, || self.set_unguarded(key, record))
    }

    fn delete(&self, key: &str) -> Result<bool> {
        self.shared.guard(|| false, || self.delete_unguarded(key))
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::none()
            .persistent(true)
            .scan(true)
            .lossy(self.shared.max_bytes.is_some())
    }

    fn scan(&self, prefix: &str) -> Result<Vec<String>> {
        self.shared.guard(Vec::new, || self.scan_unguarded(prefix))
    }

    fn purge_expired(&self, now: f64) -> Result<u64> {
        self.shared.guard(|| 0, || self.shared.purge(now))
    }

    fn flush(&self) -> Result<()> {
        self.shared
            .guard(|| (), || self.shared.write(true, None, nothing))
    }

    fn name(&self) -> &'static str {
        "redb"
    }
}

/// The store's calls without [`Shared::guard`].
impl RedbStore {
    fn get_unguarded(&self, key: &str) -> Result<Option<Record>> {
        if self.shared.queued.load(Ordering::SeqCst) > 0
            && let Some(record) = self.shared.queue().get(key)
        {
            return Ok(Some(record));
        }
        match self.shared.records()?.get(key).map_err(engine)? {
            None => Ok(None),
            Some(entry) => Record::decode(unseal(key, entry.value().2)?).map(Some),
        }
    }

    fn set_unguarded(&self, key: &str, record: Record) -> Result<()> {
        let s = &*self.shared;
        let writes = match s.durability {
            Durability::Queued { writes, .. } => writes,
            Durability::Journaled { .. } => None,
            Durability::Immediate => {
                let encoded = record.encode();
                let expiry = order(record.expiry);
                return s.write(true, None, |w| {
                    w.put(key, &encoded, expiry, s.max_bytes)?;
                    Ok(((), true))
                });
            }
        };
        let size = (key.len() + record.encoded_len()) as u64;
        if s.max_bytes.is_some_and(|bound| size > bound) {
            // Never kept: remove the key's older record now rather than serve this one until
            // the next commit drops it.
            return s.delete(key).map(|_| ());
        }
        if s.queue().refuses() && s.write(false, None, nothing).is_err() {
            // Commits keep failing and the queue is full: refuse rather than hold more.
            s.refused_writes.fetch_add(1, Ordering::Relaxed);
            return Err(error::refused(s.queued.load(Ordering::SeqCst)));
        }
        let (seq, full) = {
            let mut queue = s.queue();
            let seq = s
                .journal
                .as_ref()
                .map(|_| queue.append(journal::SET, key, order(record.expiry), &record.encode()));
            queue.open.push(key, record);
            s.queued.fetch_add(1, Ordering::SeqCst);
            (seq, queue.open.is_full())
        };
        if let Some(seq) = seq {
            s.sync(seq)?;
        }
        let undurable = s.undurable_bytes.fetch_add(size, Ordering::SeqCst) + size;
        if undurable >= s.durable_after || writes.is_some_and(|n| s.pending() >= n.get()) {
            s.write(true, None, nothing)
        } else if full {
            s.write(false, None, nothing)
        } else {
            Ok(())
        }
    }

    fn delete_unguarded(&self, key: &str) -> Result<bool> {
        self.shared.delete(key)
    }

    fn scan_unguarded(&self, prefix: &str) -> Result<Vec<String>> {
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
        let shared = &self.shared;
        if let Err(error) = shared.guard(|| (), || shared.write(true, None, nothing)) {
            let queued = shared.queued.load(Ordering::SeqCst);
            if shared.journal.is_some() {
                tracing::error!(%error, queued, "memo-redb: making the last writes durable failed on drop; the journal keeps them for the next open");
            } else {
                tracing::error!(%error, lost = queued, "memo-redb: making the last writes durable failed on drop; they are lost");
            }
        }
        // The database closes with the last handle; no read of ours should keep it busy.
        self.shared.invalidate();
        // Closing writes redb's allocator state, and redb panics on some damaged files there:
        // that panic must not unwind into whatever dropped the store (or abort the process, if
        // it was already unwinding).
        let db = self.shared.handle_mut().db.take();
        if catch_unwind(AssertUnwindSafe(move || drop(db))).is_err() {
            tracing::error!("memo-redb: redb panicked closing the database: the file is damaged");
        }
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
                && let Err(error) = shared.guard(|| (), || shared.write(true, None, nothing))
                && !error::is_unavailable(&error)
            {
                tracing::error!(%error, "memo-redb: periodic durable commit failed");
            }
            next_flush = Some(now + every);
        }
        if let (Some(at), Some(every)) = (next_purge, purge_every)
            && now >= at
        {
            match shared.guard(|| 0, || shared.purge(SystemClock.now())) {
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
        let txn = shared.db().unwrap().begin_write().unwrap();
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
