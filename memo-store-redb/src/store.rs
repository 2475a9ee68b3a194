//! [`RedbStore`]: records in a redb file, an expiry index, a size bound and batched durability.

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
use crate::open::{self, Failure, Origin};
use crate::queue::{Batch, Queue};
use crate::tables::{Entry, Names, Writer, order, unseal};

/// A persistent store in a redb file: the embedded default.
///
/// Records survive restarts; a crash loses at most the writes of the [`Durability`] window and
/// never corrupts the file. One process at a time opens a file: another runs uncached. Faults
/// (a full disk, a damaged file, a panic inside redb) turn caching off until the store reopens
/// the file by itself; see the crate docs for the options and "Faults and recovery".
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

/// The first wait before reopening after a fault; it doubles with each failed attempt.
const FIRST_RETRY: Duration = Duration::from_millis(100);
/// The longest wait between attempts.
const LAST_RETRY: Duration = Duration::from_secs(30);

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
    fn handle(&self) -> RwLockReadGuard<'_, Handle> {
        self.handle.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn handle_mut(&self) -> RwLockWriteGuard<'_, Handle> {
        self.handle.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The open database; an error while there is none (see [`Shared::guard`], which reopens).
    fn db(&self) -> Result<Arc<redb::Database>> {
        let handle = self.handle();
        match (&handle.db, &handle.down) {
            (Some(db), _) => Ok(db.clone()),
            (None, Some(down)) => Err(error::unavailable(down.reason.clone())),
            (None, None) => Err(error::unavailable("no database")),
        }
    }

    /// Runs one call of the store's API: reopens first when the database is down and an
    /// attempt is due, turns a panic inside redb into an error, and drops the database handle
    /// after an error that redb latches or that shows damage. While the store runs uncached
    /// (the file was unavailable when it was built), answers `quiet()` instead of an error.
    /// Callers hold none of the store's locks.
    fn guard<T>(&self, quiet: impl FnOnce() -> T, op: impl FnOnce() -> Result<T>) -> Result<T> {
        let generation = match self.ensure() {
            Ok(generation) => generation,
            Err(_) if self.handle().down.as_ref().is_some_and(|d| d.quiet) => return Ok(quiet()),
            Err(error) => return Err(error),
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
        let batched = matches!(self.durability, Durability::Batched { .. });
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
        let (db, (live, next_seq)) = (ready.db, ready.totals);
        {
            let mut totals = self.totals();
            totals.live = live;
            totals.next_seq = next_seq;
            totals.nondurable = 0;
            self.nondurable.store(0, Ordering::SeqCst);
        }
        let generation = {
            let mut handle = self.handle_mut();
            handle.db = Some(db);
            handle.generation += 1;
            handle.down = None;
            self.up.store(handle.generation, Ordering::Release);
            handle.generation
        };
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
        // Non-durable commits go with the handle: the file reopens as of the last durable one.
        let nondurable = std::mem::take(&mut self.totals().nondurable);
        self.nondurable.store(0, Ordering::SeqCst);
        self.lost.fetch_add(nondurable, Ordering::SeqCst);
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
        let txn = self.db()?.begin_read().map_err(engine)?;
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
        // A panic inside redb must not leave the batch marked as committing.
        let result = catch_unwind(AssertUnwindSafe(|| {
            self.commit(&mut totals, batch.as_deref(), durable, &mut edit)
        }))
        .unwrap_or_else(|p| Err(error::panicked(&*p)));
        if let Some(batch) = batch {
            if let Err(error) = &result {
                tracing::error!(%error, writes = batch.len(), "memo-redb: queued writes lost");
                self.lost.fetch_add(batch.len() as u64, Ordering::SeqCst);
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
        let mut txn = self.db()?.begin_write().map_err(engine)?;
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

/// A database the store can run on: opened, its tables made, its totals read.
pub(crate) struct Ready {
    pub(crate) db: Arc<redb::Database>,
    pub(crate) totals: (u64, u64),
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

/// Creates the store's tables if missing and reads the saved `(live bytes, next sequence)`,
/// in a durable commit.
fn prepare(db: &redb::Database, names: &Names, batched: bool) -> Result<(u64, u64)> {
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
    /// Opens the store in the file at `path` (created when missing) with the default options.
    ///
    /// # Errors
    /// [`Error::Config`] when the file is not memo's (left untouched); [`Error::Backend`] naming
    /// the file when its directory is missing. A file open elsewhere or not writable gives a
    /// store that runs uncached (see [`RedbStoreBuilder::require_file`]).
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
        ready: std::result::Result<Ready, Error>,
        origin: Option<Origin>,
    ) -> Result<Self> {
        let path = match &origin {
            Some(Origin::Path(path)) => Some(path.clone()),
            _ => None,
        };
        let names = Names::new(&config.table);
        let durability = config.durability;
        let mut moved_aside = None;
        let (handle, (live, next_seq)) = match ready {
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
                (handle, (0, 0))
            }
        };
        let down = handle.down.as_ref().map(|d| d.reason.clone());
        let up = if down.is_some() {
            DOWN
        } else {
            handle.generation
        };

        let flush_every = match durability {
            Durability::Batched { interval, .. } => Some(interval),
            Durability::Immediate => None,
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
        }
        let worker = if flush_every.is_some() || purge_every.is_some() {
            Some(Worker::spawn(shared.clone(), flush_every, purge_every)?)
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

    /// Writes `set` acknowledged (returned `Ok`) that the store does not hold: dropped by a
    /// commit that failed, lost with a database handle after a fault (writes not yet durable),
    /// or skipped while running uncached. Writes `set` refused with an error are not counted
    /// here: their caller saw the error.
    pub fn lost_writes(&self) -> u64 {
        self.shared.lost.load(Ordering::SeqCst)
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
                Ok(self.shared.totals().live)
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

    /// Writes made but not yet durable: what a crash now would lose. Always 0 with
    /// [`Durability::Immediate`].
    pub fn pending_writes(&self) -> u64 {
        self.shared.pending()
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
            .guard(|| (), || self.shared.write(true, nothing))
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

    fn delete_unguarded(&self, key: &str) -> Result<bool> {
        self.shared.write(self.shared.immediate(), |w| {
            let removed = w.remove(key)?;
            Ok((removed, removed))
        })
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
        if let Err(error) = shared.guard(|| (), || shared.write(true, nothing)) {
            // Down and not reopened: the queued writes go with the store.
            let queued = std::mem::take(&mut shared.queue().open).len() as u64;
            shared.queued.fetch_sub(queued, Ordering::SeqCst);
            shared.lost.fetch_add(queued, Ordering::SeqCst);
            tracing::error!(%error, lost = queued + shared.nondurable.load(Ordering::SeqCst),
                "memo-redb: making the last writes durable failed on drop");
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
                && let Err(error) = shared.guard(|| (), || shared.write(true, nothing))
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
