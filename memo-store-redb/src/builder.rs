//! [`RedbStoreBuilder`] and the [`Durability`] policy.

use std::fmt;
use std::io;
use std::num::NonZeroU64;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use memo_core::{Error, Result};

use crate::open::{Factory, Failure, Origin};
use crate::store::{self, RedbStore};
use crate::tables::Names;

/// When writes reach the disk, and what a crash may lose.
///
/// Every commit is atomic, so no crash corrupts the file; the policy decides which of the latest
/// writes a crash may lose (see the crate docs, "Durability").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Durability {
    /// The default (every second). Each write is in a journal file beside the database before
    /// `set` or `delete` returns (one `write(2)`, shared by concurrent writers, no `fsync`), and
    /// is committed to the database, with an `fsync`, every `interval`. **A normal exit,
    /// `std::process::exit`, a panic or a killed process lose nothing acknowledged**: the next
    /// open replays the journal. Only an OS crash or a power loss may lose the writes of the
    /// last `interval`. Needs a file path: not available with
    /// [`RedbStoreBuilder::from_database`].
    Journaled {
        /// The longest time a write waits for its `fsync`.
        interval: Duration,
    },
    /// Writes wait in memory and are committed without `fsync`; a background thread makes them
    /// durable every `interval` and, with `writes`, every that many writes also make themselves
    /// durable. **A killed process, `std::process::exit`, or a store never dropped (a `static`)
    /// loses the writes of up to the last `interval`** unless [`flush`](memo_core::Store::flush)
    /// ran after them. Faster than [`Durability::Journaled`] by one `write(2)` per write; opt in
    /// only where losing recent writes on exit is acceptable.
    Queued {
        /// The longest time a write stays only in memory (plus one `fsync`).
        interval: Duration,
        /// At most this many writes stay only in memory; `None` for no count limit.
        writes: Option<NonZeroU64>,
    },
    /// Each write is durable when `set` returns (one `fsync` per write: slow). Nothing that
    /// returned is lost, even by an OS crash.
    Immediate,
}

impl Durability {
    /// [`Durability::Journaled`] with `fsync` every `interval`.
    pub const fn journaled(interval: Duration) -> Self {
        Durability::Journaled { interval }
    }

    /// [`Durability::Queued`] every `interval`, without a count limit: a killed process or an
    /// exit without [`flush`](memo_core::Store::flush) loses up to `interval` of writes.
    pub const fn queued(interval: Duration) -> Self {
        Durability::Queued {
            interval,
            writes: None,
        }
    }

    /// The interval of a periodic durable commit, if the policy has one.
    pub(crate) fn interval(self) -> Option<Duration> {
        match self {
            Durability::Journaled { interval } | Durability::Queued { interval, .. } => {
                Some(interval)
            }
            Durability::Immediate => None,
        }
    }
}

impl Default for Durability {
    fn default() -> Self {
        Durability::journaled(Duration::from_secs(1))
    }
}

/// Where the store's database comes from.
pub(crate) enum Source {
    /// A file or a backend factory, which the store can open again after a fault.
    Origin(Origin),
    Database(Arc<redb::Database>),
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Origin(origin) => origin.fmt(f),
            Source::Database(_) => f.write_str("Database(..)"),
        }
    }
}

/// Builds a [`RedbStore`] with non-default options; every setter is optional.
///
/// ```
/// use std::time::Duration;
/// use memo_store_redb::{Durability, RedbStore};
///
/// # let dir = tempfile::tempdir().unwrap();
/// let store = RedbStore::builder(dir.path().join("cache.redb"))
///     .durability(Durability::journaled(Duration::from_millis(200)))
///     .max_bytes(64 << 20)
///     .table("thumbnails")
///     .purge_every(Duration::from_secs(60))
///     .build()
///     .unwrap();
/// # drop(store);
/// ```
#[derive(Debug)]
#[must_use]
pub struct RedbStoreBuilder {
    pub(crate) source: Source,
    pub(crate) durability: Option<Durability>,
    pub(crate) max_bytes: Option<u64>,
    pub(crate) table: String,
    pub(crate) purge_every: Option<Duration>,
    pub(crate) check_integrity: bool,
    pub(crate) require_file: bool,
}

impl RedbStoreBuilder {
    /// A builder for the store in the file at `path`, created when missing.
    pub fn new(path: impl AsRef<Path>) -> Self {
        Self::with(Source::Origin(Origin::Path(path.as_ref().to_owned())))
    }

    /// A builder for a store in redb storage that `factory` opens: a fresh backend on each
    /// call, over the same storage (custom storage, or a backend that injects faults in tests).
    /// The store calls it again to reopen after a fault, and once more to look at the storage
    /// before writing to it. A damaged database in a backend cannot be moved aside: the store
    /// runs uncached until the storage holds a sound or empty database.
    pub fn with_backend<B, F>(factory: F) -> Self
    where
        B: redb::StorageBackend,
        F: Fn() -> io::Result<B> + Send + Sync + 'static,
    {
        Self::with(Source::Origin(Origin::Backend(Arc::new(Factory(factory)))))
    }

    /// A builder for a store in an already open database, shared with other users of it. The
    /// store keeps to its own tables (see [`RedbStoreBuilder::table`]).
    pub fn from_database(db: Arc<redb::Database>) -> Self {
        Self::with(Source::Database(db))
    }

    fn with(source: Source) -> Self {
        RedbStoreBuilder {
            source,
            durability: None,
            max_bytes: None,
            table: "memo".to_owned(),
            purge_every: None,
            check_integrity: true,
            require_file: false,
        }
    }

    /// When writes reach the disk. Default: [`Durability::journaled`] every second for a store
    /// opened from a path; [`Durability::Immediate`] for one built
    /// [`from_database`](RedbStoreBuilder::from_database), which has no path for a journal.
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = Some(durability);
        self
    }

    /// Keeps the live data (keys plus encoded records) at or under `bytes`, evicting records in
    /// expiry order, then least recently written first. Default: unbounded.
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = Some(bytes);
        self
    }

    /// The name of the store's table (default `"memo"`). The store also uses the tables
    /// `<name>/expiry` and `<name>/meta`. Stores with different names share a file without
    /// seeing each other's records.
    pub fn table(mut self, name: impl Into<String>) -> Self {
        self.table = name.into();
        self
    }

    /// Runs [`purge_expired`](memo_core::Store::purge_expired) with the system clock every
    /// `interval` in a background thread, stopped when the store is dropped. Default: never.
    pub fn purge_every(mut self, interval: Duration) -> Self {
        self.purge_every = Some(interval);
        self
    }

    /// Whether opening a file checks every page's checksum first (default: yes). The check
    /// reads the whole file (one to two seconds per gigabyte from the page cache); without it, a
    /// file damaged outside redb (not by a crash) may make redb panic instead of returning an
    /// error. Ignored by [`RedbStoreBuilder::from_database`], whose database is already open.
    pub fn check_integrity(mut self, check: bool) -> Self {
        self.check_integrity = check;
        self
    }

    /// Whether a file that cannot be used now (open in another process, not writable, a disk
    /// full or another I/O error) makes [`build`](Self::build) fail. Default: no, the store runs
    /// uncached (every `get` a miss, every `set` skipped and counted in
    /// [`RedbStats::lost_writes`](crate::RedbStats::lost_writes)), says so once on stderr and
    /// in a `tracing` warning, and opens the file when it can, with backoff.
    pub fn require_file(mut self, require: bool) -> Self {
        self.require_file = require;
        self
    }

    /// Opens the store, first replaying the journal a killed process left beside the file. A
    /// missing or empty file becomes a new cache; a damaged cache file is moved aside (renamed
    /// `<name>.damaged-<unix time>`) and replaced by a new one.
    ///
    /// # Errors
    /// [`Error::Config`] for a zero interval, a zero size bound, an empty table name, a
    /// journaled policy without a file path, a queued policy over a database whose concurrency
    /// mode forbids non-durable commits, or a
    /// file that is not memo's (not a redb database, or a redb database without memo's tables:
    /// it is left untouched); [`Error::Backend`] naming the file when its directory is missing
    /// or it is a directory, or, with [`require_file`](Self::require_file), when it cannot be
    /// used now (its source chain then holds redb's `DatabaseError`); [`Error::Backend`] naming
    /// the table when that cannot be opened, or a journal file that cannot be read.
    pub fn build(self) -> Result<RedbStore> {
        // A journal lives beside a file: a backend or a database handed in has none.
        let durability = self.durability.unwrap_or(match self.source {
            Source::Origin(Origin::Path(_)) => Durability::default(),
            Source::Origin(Origin::Backend(_)) | Source::Database(_) => Durability::Immediate,
        });
        if durability.interval().is_some_and(|every| every.is_zero()) {
            return Err(Error::Config(
                "redb: a durability interval must be longer than zero".into(),
            ));
        }
        if matches!(durability, Durability::Journaled { .. })
            && !matches!(self.source, Source::Origin(Origin::Path(_)))
        {
            return Err(Error::Config(
                "redb: journaled durability needs a file path for its journal; a store built \
                 from a database or a backend can use Durability::Immediate or Durability::Queued"
                    .into(),
            ));
        }
        if self.purge_every.is_some_and(|every| every.is_zero()) {
            return Err(Error::Config(
                "redb: the purge interval must be longer than zero".into(),
            ));
        }
        if self.max_bytes == Some(0) {
            return Err(Error::Config(
                "redb: a size bound of 0 bytes keeps nothing; leave it unset for no bound".into(),
            ));
        }
        if self.table.is_empty() {
            return Err(Error::Config("redb: the table name is empty".into()));
        }
        let names = Names::new(&self.table);
        let batched = !matches!(durability, Durability::Immediate);
        let origin = match &self.source {
            Source::Database(db) => {
                let ready = store::ready_in(db.clone(), &names, batched)?;
                return RedbStore::start(&self, durability, Ok(ready), None);
            }
            Source::Origin(origin) => origin.clone(),
        };
        let ready = match store::open_ready(&origin, self.check_integrity, &names, batched) {
            Ok(ready) => Ok(ready),
            Err(Failure::Foreign(message)) => return Err(Error::Config(message)),
            Err(Failure::Fatal(error)) => return Err(error),
            Err(Failure::Unavailable(error)) if self.require_file => return Err(error),
            Err(Failure::Unavailable(error)) => Err(error),
        };
        RedbStore::start(&self, durability, ready, Some(origin))
    }
}
