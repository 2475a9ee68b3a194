//! [`RocksStore`]: records in a RocksDB column family, expired ones reclaimed by compaction.

use std::ffi::CString;
use std::fmt;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use memo_core::{Capabilities, Error, Record, Result, Store};
use rocksdb::{
    BlockBasedOptions, BottommostLevelCompaction, Cache, ColumnFamily, ColumnFamilyDescriptor,
    CompactOptions, DB, DBCompressionType, Options, ReadOptions, WriteOptions,
};

use crate::builder::{Compression, RocksStoreBuilder, SyncPolicy};
use crate::error::{RocksError, engine, is_locked};
use crate::expiry::{Expiry, Factory};

/// How often a store whose writes fail tries to recover (probe for space, reopen).
const RECOVER_EVERY: Duration = Duration::from_millis(100);
/// The probe file written before reopening after a failure: reopening replays the WAL into a
/// table file, which needs space, and a failed reopen leaves the store closed.
const PROBE: &str = "memo-space-probe";
const PROBE_BYTES: usize = 1 << 20;
/// Writes of one key are serialized (so `delete` tells truly whether it removed a record);
/// keys hash onto this many locks.
const STRIPES: usize = 64;

/// A persistent store in a RocksDB database: for caches far bigger than memory.
///
/// Records survive restarts; with the WAL on (the default) a killed process loses no write that
/// returned. Expired records are dropped by compactions; [`Store::purge_expired`] runs one. A
/// second process opening the same directory gets a read-only store that follows the writer
/// (or an error, with [`RocksStoreBuilder::exclusive`]). See the crate docs for the options.
///
/// ```
/// use memo_core::Memoizer;
/// use memo_store_rocks::RocksStore;
///
/// # let dir = tempfile::tempdir().unwrap();
/// let memo = Memoizer::new(RocksStore::open(dir.path().join("cache")).unwrap());
/// assert_eq!(memo.get("six times seven", || 6 * 7).unwrap(), 42);
/// ```
pub struct RocksStore {
    inner: Arc<Inner>,
    worker: Option<Worker>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// The writer: holds the database's lock.
    Primary,
    /// A read-only RocksDB secondary instance following another process's writes.
    Secondary,
}

struct Inner {
    config: RocksStoreBuilder,
    role: Role,
    /// The secondary instance's own directory (its info log), removed on drop.
    secondary_dir: Option<PathBuf>,
    /// Where a damaged database found at open went.
    moved_aside: Option<PathBuf>,
    expiry: Arc<Expiry>,
    /// `None` while closed: after a failed reopen, until one succeeds.
    db: RwLock<Option<DB>>,
    write_options: WriteOptions,
    /// Kept rather than made per read: each is a C allocation.
    read_options: ReadOptions,
    stripes: Vec<Mutex<()>>,
    /// Whether the last write failed; the next successful one logs the recovery.
    faulted: AtomicBool,
    /// When the store last tried to recover.
    last_recovery: Mutex<Option<Instant>>,
    reopens: AtomicU64,
    /// Serializes purges: each sets the cutoff its compaction uses.
    purge: Mutex<()>,
    /// When a secondary last caught up with the writer.
    last_catch_up: Mutex<Option<Instant>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Inner {
    /// Opens the database for `role`.
    fn open(
        config: &RocksStoreBuilder,
        expiry: &Arc<Expiry>,
        role: Role,
        secondary_dir: Option<&Path>,
    ) -> Result<DB, rocksdb::Error> {
        let mut db_opts = Options::default();
        db_opts.create_if_missing(true);
        db_opts.create_missing_column_families(true);
        // The info log is for RocksDB's developers; keep little of it.
        db_opts.set_keep_log_file_num(2);
        db_opts.set_max_log_file_size(1 << 20);
        if role == Role::Secondary {
            db_opts.set_max_open_files(-1);
        }
        let mut names = DB::list_cf(&db_opts, &config.path).unwrap_or_default();
        if names.is_empty() {
            names.push(rocksdb::DEFAULT_COLUMN_FAMILY_NAME.to_owned());
        }
        if role == Role::Primary && !names.contains(&config.column_family) {
            names.push(config.column_family.clone());
        }
        // Other column families (another user's data) open with default options: the expiry
        // filter never touches them.
        let descriptors: Vec<ColumnFamilyDescriptor> = names
            .into_iter()
            .map(|name| {
                let opts = if name == config.column_family {
                    Self::records_options(config, expiry)
                } else {
                    Options::default()
                };
                ColumnFamilyDescriptor::new(name, opts)
            })
            .collect();
        match secondary_dir {
            Some(dir) => DB::open_cf_descriptors_as_secondary(
                &db_opts,
                config.path.as_path(),
                dir,
                descriptors,
            ),
            None => DB::open_cf_descriptors(&db_opts, &config.path, descriptors),
        }
    }

    /// The records' column family: block cache, bloom filter, compression, expiry filter.
    fn records_options(config: &RocksStoreBuilder, expiry: &Arc<Expiry>) -> Options {
        let mut table = BlockBasedOptions::default();
        table.set_block_cache(&Cache::new_lru_cache(config.block_cache));
        // A miss is the common case of a cache lookup; the filter answers most without I/O.
        table.set_bloom_filter(10.0, false);
        table.set_cache_index_and_filter_blocks(true);
        table.set_pin_l0_filter_and_index_blocks_in_cache(true);
        let mut opts = Options::default();
        opts.set_block_based_table_factory(&table);
        opts.set_compression_type(match config.compression {
            Compression::None => DBCompressionType::None,
            Compression::Lz4 => DBCompressionType::Lz4,
        });
        opts.set_compaction_filter_factory(Factory {
            expiry: expiry.clone(),
            name: CString::from(c"memo-expiry-factory"),
        });
        opts
    }

    fn path(&self) -> &Path {
        &self.config.path
    }

    fn read_only(&self, operation: &'static str) -> Error {
        RocksError::ReadOnly {
            path: self.path().to_owned(),
            operation,
        }
        .into()
    }

    /// Runs `f` on the open database and the records' column family, reopening a closed store
    /// first (at most once every [`RECOVER_EVERY`]).
    ///
    /// # Errors
    /// When the store is closed and cannot reopen yet.
    fn with_db<T>(&self, f: impl FnOnce(&DB, &ColumnFamily) -> T) -> Result<T> {
        {
            let guard = self.db.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(db) = &*guard {
                if self.role == Role::Secondary {
                    self.catch_up_if_due(db);
                }
                return Ok(f(db, self.cf(db)?));
            }
        }
        self.reopen_if_due(None)?;
        let guard = self.db.read().unwrap_or_else(PoisonError::into_inner);
        match &*guard {
            Some(db) => Ok(f(db, self.cf(db)?)),
            None => Err(self.closed(None)),
        }
    }

    fn cf<'a>(&self, db: &'a DB) -> Result<&'a ColumnFamily> {
        db.cf_handle(&self.config.column_family).ok_or_else(|| {
            Error::backend(
                "rocksdb",
                format!(
                    "column family {:?} is missing from {}",
                    self.config.column_family,
                    self.path().display()
                ),
            )
        })
    }

    fn closed(&self, source: Option<rocksdb::Error>) -> Error {
        match source {
            Some(source) => RocksError::Closed {
                path: self.path().to_owned(),
                source,
            }
            .into(),
            None => Error::backend(
                "rocksdb",
                format!(
                    "{} is closed after an error; the next call tries to reopen it",
                    self.path().display()
                ),
            ),
        }
    }

    fn catch_up_if_due(&self, db: &DB) {
        let mut last = lock(&self.last_catch_up);
        if last.is_some_and(|at| at.elapsed() < self.config.catch_up_every) {
            return;
        }
        if let Err(error) = db.try_catch_up_with_primary() {
            tracing::warn!(%error, "memo-rocksdb: catching up with the writer failed");
        }
        *last = Some(Instant::now());
    }

    /// A write through the primary: on failure (a latched background error: the device was
    /// full), recovers if space is back and retries once.
    fn write<T>(
        &self,
        operation: &'static str,
        f: impl Fn(&DB, &ColumnFamily) -> Result<T, rocksdb::Error>,
    ) -> Result<T> {
        if self.role == Role::Secondary {
            return Err(self.read_only(operation));
        }
        match self.with_db(&f)? {
            Ok(out) => {
                self.recovered();
                Ok(out)
            }
            Err(error) => {
                if !self.faulted.swap(true, Ordering::SeqCst) {
                    tracing::error!(%error, operation, "memo-rocksdb: a write failed");
                }
                // Latched background errors (a full device) are I/O errors; others need no
                // reopen.
                if error.kind() != rocksdb::ErrorKind::IOError
                    || !self.reopen_if_due(Some(&error))?
                {
                    return Err(engine(error));
                }
                let out = self.with_db(&f)?.map_err(engine)?;
                self.recovered();
                Ok(out)
            }
        }
    }

    fn recovered(&self) {
        if self.faulted.load(Ordering::Relaxed) && self.faulted.swap(false, Ordering::SeqCst) {
            tracing::warn!(path = %self.path().display(), "memo-rocksdb: writes work again");
        }
    }

    /// Closes and reopens the database when a recovery is due and the directory has room:
    /// RocksDB keeps a latched background error until it resumes, which its C API cannot ask
    /// for, and reopening replays the WAL. Returns whether it reopened.
    ///
    /// # Errors
    /// [`RocksError::Closed`] when the reopen fails (the store stays closed until one works).
    fn reopen_if_due(&self, failed: Option<&rocksdb::Error>) -> Result<bool> {
        {
            let mut last = lock(&self.last_recovery);
            if last.is_some_and(|at| at.elapsed() < RECOVER_EVERY) {
                return Ok(false);
            }
            *last = Some(Instant::now());
        }
        if !self.has_room() {
            return Ok(false);
        }
        let mut guard = self.db.write().unwrap_or_else(PoisonError::into_inner);
        if failed.is_none() && guard.is_some() {
            // Closed when this caller looked; another one reopened it meanwhile.
            return Ok(true);
        }
        // The old handle must be gone before the new one takes the directory's lock.
        drop(guard.take());
        let secondary = self.secondary_dir.as_deref();
        match Self::open(&self.config, &self.expiry, self.role, secondary) {
            Ok(db) => {
                *guard = Some(db);
                self.reopens.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(path = %self.path().display(), "memo-rocksdb: reopened");
                Ok(true)
            }
            Err(source) => {
                tracing::error!(%source, "memo-rocksdb: reopening failed");
                Err(self.closed(Some(source)))
            }
        }
    }

    /// Whether the directory takes a [`PROBE_BYTES`] file (then removed).
    fn has_room(&self) -> bool {
        if self.role == Role::Secondary {
            return true;
        }
        let probe = self.path().join(PROBE);
        let written = std::fs::File::create(&probe)
            .and_then(|mut file| {
                file.write_all(&vec![0; PROBE_BYTES])?;
                file.sync_all()
            })
            .is_ok();
        let _ = std::fs::remove_file(&probe);
        written
    }

    fn stripe(&self, key: &str) -> MutexGuard<'_, ()> {
        let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(key);
        lock(&self.stripes[(hash % STRIPES as u64) as usize])
    }

    /// Makes the writes so far durable: syncs the WAL, or without one flushes the memtable.
    fn sync(&self) -> Result<()> {
        if self.role == Role::Secondary {
            return Ok(());
        }
        self.with_db(|db, cf| self.sync_db(db, cf))?
    }

    fn sync_db(&self, db: &DB, cf: &ColumnFamily) -> Result<()> {
        if self.config.wal {
            db.flush_wal(true).map_err(engine)
        } else {
            db.flush_cf(cf).map_err(engine)
        }
    }

    fn purge(&self, now: f64) -> Result<u64> {
        if self.role == Role::Secondary {
            return Err(self.read_only("purge_expired"));
        }
        if now.is_nan() {
            return Ok(0);
        }
        let _purging = lock(&self.purge);
        self.expiry.set_purge_cutoff(now);
        let before = self.expiry.purged();
        let result = self.with_db(|db, cf| {
            let mut opts = CompactOptions::default();
            opts.set_bottommost_level_compaction(BottommostLevelCompaction::Force);
            // Flushes the memtable first, then rewrites every level through the filter.
            db.compact_range_cf_opt(cf, None::<&[u8]>, None::<&[u8]>, &opts);
        });
        self.expiry.set_purge_cutoff(f64::NEG_INFINITY);
        result?;
        Ok(self.expiry.purged() - before)
    }
}

impl RocksStore {
    /// Opens the store in the RocksDB directory `path` (created when missing; its parent must
    /// exist) with the default options. When another process writes the directory, the store
    /// is read-only (see [`RocksStoreBuilder::exclusive`]).
    ///
    /// # Errors
    /// [`Error::Backend`] naming the directory when RocksDB cannot open it.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::builder(path).build()
    }

    /// A builder for the store in the directory `path`.
    pub fn builder(path: impl AsRef<Path>) -> RocksStoreBuilder {
        RocksStoreBuilder::new(path)
    }

    pub(crate) fn start(config: RocksStoreBuilder) -> Result<Self> {
        let expiry = Expiry::new();
        let (db, role, secondary_dir) = match Inner::open(&config, &expiry, Role::Primary, None) {
            Ok(db) => (db, Role::Primary, None),
            Err(source) if is_locked(&source) && config.exclusive => {
                return Err(RocksError::AlreadyOpen {
                    path: config.path.clone(),
                    source,
                }
                .into());
            }
            Err(locked) if is_locked(&locked) => {
                let dir = secondary_dir();
                std::fs::create_dir_all(&dir).map_err(|e| Error::backend("rocksdb", e))?;
                match Inner::open(&config, &expiry, Role::Secondary, Some(&dir)) {
                    Ok(db) => (db, Role::Secondary, Some(dir)),
                    Err(source) => {
                        let _ = std::fs::remove_dir_all(&dir);
                        return Err(RocksError::Open {
                            path: config.path.clone(),
                            source,
                        }
                        .into());
                    }
                }
            }
            Err(source) if source.kind() == rocksdb::ErrorKind::Corruption => {
                let aside = move_aside(&config.path, &source)?;
                match Inner::open(&config, &expiry, Role::Primary, None) {
                    Ok(db) => (db, Role::Primary, aside),
                    Err(source) => {
                        return Err(RocksError::Open {
                            path: config.path.clone(),
                            source,
                        }
                        .into());
                    }
                }
            }
            Err(source) => {
                return Err(RocksError::Open {
                    path: config.path.clone(),
                    source,
                }
                .into());
            }
        };
        let (secondary_dir, moved_aside) = match role {
            Role::Primary => (None, secondary_dir),
            Role::Secondary => (secondary_dir, None),
        };
        let mut write_options = WriteOptions::default();
        write_options.disable_wal(!config.wal);
        write_options.set_sync(config.sync == SyncPolicy::Always);
        let sync_every = match (role, config.sync) {
            (Role::Primary, SyncPolicy::Every(interval)) => Some(interval),
            _ => None,
        };
        let inner = Arc::new(Inner {
            config,
            role,
            secondary_dir,
            moved_aside,
            expiry,
            db: RwLock::new(Some(db)),
            write_options,
            read_options: ReadOptions::default(),
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            faulted: AtomicBool::new(false),
            last_recovery: Mutex::new(None),
            reopens: AtomicU64::new(0),
            purge: Mutex::new(()),
            last_catch_up: Mutex::new(Some(Instant::now())),
        });
        let worker = match sync_every {
            Some(interval) => Some(Worker::spawn(inner.clone(), interval)?),
            None => None,
        };
        Ok(RocksStore { inner, worker })
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        self.inner.path()
    }

    /// Whether this store is a read-only secondary instance (another process is the writer).
    pub fn is_read_only(&self) -> bool {
        self.inner.role == Role::Secondary
    }

    /// Catches a read-only store up with the writer now, rather than at the next read due
    /// (see [`RocksStoreBuilder::catch_up_every`]). Does nothing on the writer.
    ///
    /// # Errors
    /// [`Error::Backend`] when RocksDB fails to read the writer's new files.
    pub fn catch_up(&self) -> Result<()> {
        if self.inner.role == Role::Primary {
            return Ok(());
        }
        let guard = self.inner.db.read().unwrap_or_else(PoisonError::into_inner);
        let Some(db) = &*guard else {
            return Err(self.inner.closed(None));
        };
        db.try_catch_up_with_primary().map_err(engine)?;
        *lock(&self.inner.last_catch_up) = Some(Instant::now());
        Ok(())
    }

    /// Where the damaged database found when the store opened was moved (renamed
    /// `<directory>.damaged-<unix time>`), if it found one; the store started an empty one.
    pub fn moved_aside(&self) -> Option<&Path> {
        self.inner.moved_aside.as_deref()
    }

    /// How many times the store closed and reopened its database to recover from an error.
    pub fn reopens(&self) -> u64 {
        self.inner.reopens.load(Ordering::Relaxed)
    }

    /// How many expired records RocksDB's own compactions dropped since the store opened
    /// (records dropped by [`Store::purge_expired`] are counted in its result instead).
    pub fn reclaimed(&self) -> u64 {
        self.inner.expiry.reclaimed()
    }
}

/// Renames the damaged database at `path` to `<path>.damaged-<unix time>`, so that a new cache
/// starts there; only a directory RocksDB recognised (it has a `CURRENT` file) is moved.
fn move_aside(path: &Path, damage: &rocksdb::Error) -> Result<Option<PathBuf>> {
    if !path.join("CURRENT").is_file() {
        return Err(RocksError::Open {
            path: path.to_owned(),
            source: damage.clone(),
        }
        .into());
    }
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".damaged-{secs}"));
    let aside = PathBuf::from(name);
    std::fs::rename(path, &aside).map_err(|e| {
        Error::backend(
            "rocksdb",
            format!(
                "{} is damaged ({damage}) and could not be moved aside to {}: {e}",
                path.display(),
                aside.display()
            ),
        )
    })?;
    tracing::warn!(
        path = %path.display(),
        aside = %aside.display(),
        %damage,
        "memo-rocksdb: moved a damaged database aside; starting an empty cache"
    );
    Ok(Some(aside))
}

/// A fresh directory for a secondary instance's own files.
fn secondary_dir() -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    std::env::temp_dir().join(format!(
        "memo-rocks-secondary-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

impl Store for RocksStore {
    fn get(&self, key: &str) -> Result<Option<Record>> {
        self.inner.with_db(|db, cf| {
            match db
                .get_pinned_cf_opt(cf, key, &self.inner.read_options)
                .map_err(engine)?
            {
                None => Ok(None),
                Some(bytes) => Record::decode(&bytes).map(Some),
            }
        })?
    }

    fn set(&self, key: &str, record: Record) -> Result<()> {
        let encoded = record.encode();
        let _key = self.inner.stripe(key);
        self.inner.write("set", |db, cf| {
            db.put_cf_opt(cf, key, &encoded, &self.inner.write_options)
        })
    }

    fn delete(&self, key: &str) -> Result<bool> {
        if self.inner.role == Role::Secondary {
            return Err(self.inner.read_only("delete"));
        }
        let _key = self.inner.stripe(key);
        self.inner.write("delete", |db, cf| {
            if db
                .get_pinned_cf_opt(cf, key, &self.inner.read_options)?
                .is_none()
            {
                return Ok(false);
            }
            db.delete_cf_opt(cf, key, &self.inner.write_options)?;
            Ok(true)
        })
    }

    fn capabilities(&self) -> Capabilities {
        // Native expiry: RocksDB's compactions drop records past their expiry by the system
        // clock, never before it.
        Capabilities::none()
            .persistent(true)
            .scan(true)
            .native_expiry(true)
    }

    fn scan(&self, prefix: &str) -> Result<Vec<String>> {
        self.inner.with_db(|db, cf| {
            let mut keys = Vec::new();
            let mut iter = db.raw_iterator_cf(cf);
            // Keys sort bytewise, so those with the prefix are one run starting at the prefix.
            iter.seek(prefix);
            while let Some(key) = iter.key() {
                if !key.starts_with(prefix.as_bytes()) {
                    break;
                }
                // Every key this store writes is UTF-8; anything else is not a memo key.
                if let Ok(key) = std::str::from_utf8(key) {
                    keys.push(key.to_owned());
                }
                iter.next();
            }
            iter.status().map_err(engine)?;
            Ok(keys)
        })?
    }

    fn purge_expired(&self, now: f64) -> Result<u64> {
        self.inner.purge(now)
    }

    fn flush(&self) -> Result<()> {
        self.inner.sync()
    }

    fn name(&self) -> &'static str {
        "rocksdb"
    }
}

impl fmt::Debug for RocksStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.inner.config;
        f.debug_struct("RocksStore")
            .field("path", &c.path)
            .field("column_family", &c.column_family)
            .field("read_only", &self.is_read_only())
            .field("wal", &c.wal)
            .field("sync", &c.sync)
            .field("compression", &c.compression)
            .field("block_cache", &c.block_cache)
            .finish_non_exhaustive()
    }
}

impl Drop for RocksStore {
    fn drop(&mut self) {
        if let Some(worker) = self.worker.take() {
            worker.stop();
        }
        // Close now, rather than when the last reference goes, so the directory is free.
        let db = self
            .inner
            .db
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(db) = &db
            && self.inner.role == Role::Primary
            && let Err(error) = self.inner.cf(db).and_then(|cf| self.inner.sync_db(db, cf))
        {
            tracing::error!(%error, "memo-rocksdb: making the last writes durable failed on drop");
        }
        drop(db);
        if let Some(dir) = &self.inner.secondary_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The background thread of [`SyncPolicy::Every`].
struct Worker {
    stop: Arc<(Mutex<bool>, Condvar)>,
    handle: JoinHandle<()>,
}

impl Worker {
    fn spawn(inner: Arc<Inner>, every: Duration) -> Result<Self> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let signal = stop.clone();
        let handle = std::thread::Builder::new()
            .name("memo-rocksdb".into())
            .spawn(move || {
                let (stopped, wake) = &*signal;
                let mut guard = lock(stopped);
                loop {
                    guard = wake
                        .wait_timeout_while(guard, every, |stopped| !*stopped)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                    if *guard {
                        return;
                    }
                    drop(guard);
                    if let Err(error) = inner.sync() {
                        tracing::warn!(%error, "memo-rocksdb: periodic sync failed");
                    }
                    guard = lock(stopped);
                }
            })
            .map_err(|e| Error::backend("rocksdb", e))?;
        Ok(Worker { stop, handle })
    }

    fn stop(self) {
        let (stopped, wake) = &*self.stop;
        *lock(stopped) = true;
        wake.notify_all();
        if self.handle.join().is_err() {
            tracing::error!("memo-rocksdb: the background thread panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use memo_core::Memoizer;

    use super::*;

    /// Writes `bytes` as the record under `key`, bypassing the codec.
    fn plant(store: &RocksStore, key: &str, bytes: &[u8]) {
        store
            .inner
            .with_db(|db, cf| db.put_cf(cf, key, bytes))
            .unwrap()
            .unwrap();
    }

    #[test]
    fn an_undecodable_record_is_a_codec_error_and_a_miss_for_the_memoizer() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(RocksStore::open(dir.path().join("codec")).unwrap());
        let mut protocol_3 = Record::new(1.0, None, vec![1]).encode();
        protocol_3[0] = 3;
        let mut flipped = Record::new(1.0, None, vec![1, 2, 3]).encode();
        flipped[12] ^= 0x10;
        plant(&store, "future", &protocol_3);
        plant(&store, "junk", b"");
        plant(&store, "flipped", &flipped);
        assert!(matches!(store.get("future"), Err(Error::Codec(_))));
        assert!(matches!(store.get("junk"), Err(Error::Codec(_))));
        assert!(matches!(store.get("flipped"), Err(Error::Codec(_))));

        let memo = Memoizer::new(store.clone());
        assert_eq!(memo.get("future", || 7_u32).unwrap(), 7);
        assert_eq!(memo.stats().codec_errors, 1);
        assert_eq!(
            memo.get("future", || 8_u32).unwrap(),
            7,
            "overwritten, then a hit"
        );
        assert!(store.delete("junk").unwrap());
        let mut keys = store.scan("").unwrap();
        keys.sort();
        assert_eq!(keys, ["flipped", "future"]);
    }

    #[test]
    fn purge_keeps_undecodable_records_it_cannot_date() {
        let dir = tempfile::tempdir().unwrap();
        let store = RocksStore::open(dir.path().join("purge")).unwrap();
        plant(&store, "junk", b"\x02not a record");
        store
            .set("old", Record::new(1.0, Some(2.0), vec![1]))
            .unwrap();
        assert_eq!(store.purge_expired(3.0).unwrap(), 1);
        assert_eq!(store.scan("").unwrap(), ["junk"]);
    }
}
