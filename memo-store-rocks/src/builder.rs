//! [`RocksStoreBuilder`], the [`SyncPolicy`] and the [`Compression`] choice.

use std::path::{Path, PathBuf};
use std::time::Duration;

use memo_core::{Error, Result};

use crate::store::RocksStore;

/// When the write-ahead log (or, without one, the memtable) reaches the disk.
///
/// A write is in the operating system's hands when `set` returns, as long as the WAL is on, so
/// a killed process loses nothing; the policy only bounds what an operating-system crash or a
/// power cut may lose (see the crate docs, "Durability").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SyncPolicy {
    /// Each write is synced to the disk before `set` returns (`fsync` per write: slow). Needs
    /// the WAL.
    Always,
    /// A background thread syncs the WAL every `interval` (without a WAL: flushes the memtable
    /// to a table file every `interval`). The default: every second.
    Every(Duration),
    /// Never synced by the store: the operating system writes the WAL when it likes, and without
    /// a WAL the memtable reaches the disk when it fills, on `flush()` and when the store drops.
    Never,
}

impl Default for SyncPolicy {
    fn default() -> Self {
        SyncPolicy::Every(Duration::from_secs(1))
    }
}

/// How table files are compressed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Compression {
    /// No compression.
    None,
    /// LZ4 (the default): cheap to decompress on every read.
    #[default]
    Lz4,
}

/// Builds a [`RocksStore`] with non-default options; every setter is optional.
///
/// ```
/// use std::time::Duration;
/// use memo_store_rocks::{Compression, RocksStore, SyncPolicy};
///
/// # let dir = tempfile::tempdir().unwrap();
/// let store = RocksStore::builder(dir.path().join("cache"))
///     .column_family("thumbnails")
///     .sync(SyncPolicy::Every(Duration::from_millis(200)))
///     .block_cache(256 << 20)
///     .compression(Compression::None)
///     .build()
///     .unwrap();
/// # drop(store);
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct RocksStoreBuilder {
    pub(crate) path: PathBuf,
    pub(crate) column_family: String,
    pub(crate) wal: bool,
    pub(crate) sync: SyncPolicy,
    pub(crate) block_cache: usize,
    pub(crate) compression: Compression,
    pub(crate) exclusive: bool,
    pub(crate) catch_up_every: Duration,
}

impl RocksStoreBuilder {
    /// A builder for the store in the RocksDB database directory `path`, created when missing
    /// (its parent must exist).
    pub fn new(path: impl AsRef<Path>) -> Self {
        RocksStoreBuilder {
            path: path.as_ref().to_owned(),
            column_family: "memo".to_owned(),
            wal: true,
            sync: SyncPolicy::default(),
            block_cache: 64 << 20,
            compression: Compression::default(),
            exclusive: false,
            catch_up_every: Duration::from_millis(100),
        }
    }

    /// The column family holding the records (default `"memo"`), created when missing. The
    /// database may hold other column families (another store's records, your own data): the
    /// store opens them as they are and reads, writes and filters only its own. One store at a
    /// time writes a database, whatever its column family.
    pub fn column_family(mut self, name: impl Into<String>) -> Self {
        self.column_family = name.into();
        self
    }

    /// Whether writes go through RocksDB's write-ahead log (default: yes). Without it writes are
    /// faster, but a killed process loses every write since the last memtable flush.
    pub fn wal(mut self, on: bool) -> Self {
        self.wal = on;
        self
    }

    /// When writes reach the disk (default: [`SyncPolicy::Every`] second).
    pub fn sync(mut self, policy: SyncPolicy) -> Self {
        self.sync = policy;
        self
    }

    /// The block cache's size in bytes (default 64 MiB): decompressed table blocks kept in
    /// memory. The page cache holds the files as well.
    pub fn block_cache(mut self, bytes: usize) -> Self {
        self.block_cache = bytes;
        self
    }

    /// How table files are compressed (default [`Compression::Lz4`]).
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// When another process (or another store in this one) is the database's writer: `false`
    /// (the default) opens this store read-only, as a RocksDB secondary instance that follows
    /// the writer; `true` fails at once with
    /// [`RocksError::AlreadyOpen`](crate::RocksError::AlreadyOpen).
    pub fn exclusive(mut self, exclusive: bool) -> Self {
        self.exclusive = exclusive;
        self
    }

    /// How stale a read-only (secondary) store may be: a read catches up with the writer first
    /// when the last catch-up is older than this (default 100 ms; zero: every read).
    pub fn catch_up_every(mut self, interval: Duration) -> Self {
        self.catch_up_every = interval;
        self
    }

    /// Opens the store.
    ///
    /// # Errors
    /// [`Error::Config`] for an empty column family name, a zero sync interval, or
    /// [`SyncPolicy::Always`] without the WAL; [`Error::Backend`] with a
    /// [`RocksError`](crate::RocksError) source naming the directory when RocksDB cannot open it,
    /// or when it is open elsewhere and the builder asks for exclusive access.
    pub fn build(self) -> Result<RocksStore> {
        if self.column_family.is_empty() {
            return Err(Error::Config(
                "rocksdb: the column family name is empty".into(),
            ));
        }
        match self.sync {
            SyncPolicy::Every(interval) if interval.is_zero() => {
                return Err(Error::Config(
                    "rocksdb: the sync interval must be longer than zero".into(),
                ));
            }
            SyncPolicy::Always if !self.wal => {
                return Err(Error::Config(
                    "rocksdb: SyncPolicy::Always needs the WAL; without it use Every".into(),
                ));
            }
            _ => {}
        }
        RocksStore::start(self)
    }
}
