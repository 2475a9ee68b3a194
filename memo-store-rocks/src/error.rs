//! RocksDB's errors, converted into memo's at the crate boundary.

use std::path::PathBuf;

/// What went wrong in this crate. It reaches users as the source of [`memo_core::Error::Backend`]
/// (`store: "rocksdb"`); downcast the source to match on it:
///
/// ```
/// use memo_store_rocks::{RocksError, RocksStore};
///
/// # let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("cache");
/// let _writer = RocksStore::open(&path).unwrap();
/// let error = RocksStore::builder(&path).exclusive(true).build().unwrap_err();
/// let memo_core::Error::Backend { source, .. } = &error else { panic!("{error}") };
/// assert!(matches!(
///     source.downcast_ref::<RocksError>(),
///     Some(RocksError::AlreadyOpen { .. })
/// ));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RocksError {
    /// The database is open as the writer elsewhere (another process, or another store in this
    /// one) and the builder asked for [`exclusive`](crate::RocksStoreBuilder::exclusive) access.
    #[error(
        "{} is already open for writing, by another process or another store in this one: \
         {source}",
        path.display()
    )]
    AlreadyOpen {
        /// The database directory.
        path: PathBuf,
        /// RocksDB's error (it could not lock the directory).
        #[source]
        source: rocksdb::Error,
    },
    /// RocksDB cannot open the directory as a database (not a RocksDB database, damaged, an
    /// unknown column family, no permission...).
    #[error("cannot open {} as a RocksDB database: {source}", path.display())]
    Open {
        /// The database directory.
        path: PathBuf,
        /// RocksDB's error.
        #[source]
        source: rocksdb::Error,
    },
    /// A write reached a store opened read-only, as a secondary instance of a database another
    /// process writes.
    #[error(
        "{} is open read-only (another process writes it), so {operation} is not possible",
        path.display()
    )]
    ReadOnly {
        /// The database directory.
        path: PathBuf,
        /// The refused operation (`"set"`, `"delete"`, `"purge_expired"`).
        operation: &'static str,
    },
    /// The device is full: RocksDB stopped writing (its background error is latched). The
    /// store recovers by itself once there is space again: reads go on meanwhile.
    #[error("no space left for the RocksDB database: {source}")]
    NoSpace {
        /// RocksDB's error.
        #[source]
        source: rocksdb::Error,
    },
    /// The database was closed to recover from a latched error and could not be reopened yet;
    /// every call retries, at most once every 100 ms.
    #[error("{} is closed after an error and could not be reopened yet: {source}", path.display())]
    Closed {
        /// The database directory.
        path: PathBuf,
        /// Why the last reopen failed.
        #[source]
        source: rocksdb::Error,
    },
    /// Any other error from RocksDB.
    #[error(transparent)]
    Engine(rocksdb::Error),
}

impl From<RocksError> for memo_core::Error {
    fn from(error: RocksError) -> Self {
        memo_core::Error::backend("rocksdb", error)
    }
}

/// Whether RocksDB's error is the device being full.
pub(crate) fn is_no_space(error: &rocksdb::Error) -> bool {
    // RocksDB's C API gives only the status text; ENOSPC reads "No space left on device".
    error.as_ref().contains("No space left")
}

/// Whether RocksDB's error says another lock holder has the directory.
pub(crate) fn is_locked(error: &rocksdb::Error) -> bool {
    let text = error.as_ref();
    error.kind() == rocksdb::ErrorKind::IOError
        && text.contains("LOCK")
        && (text.contains("lock hold by current process")
            || text.contains("Resource temporarily unavailable")
            || text.contains("No locks available"))
}

/// Converts an engine error into memo's, telling a full device apart.
pub(crate) fn engine(error: rocksdb::Error) -> memo_core::Error {
    if is_no_space(&error) {
        RocksError::NoSpace { source: error }.into()
    } else {
        RocksError::Engine(error).into()
    }
}
