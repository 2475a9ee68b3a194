//! redb's errors, converted into memo's at the crate boundary.

use std::path::PathBuf;

/// What went wrong in this crate; reaches users as the source of [`memo_core::Error::Backend`],
/// so they can walk the source chain down to redb's own error.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RedbError {
    #[error(
        "{} is already open, by another process or another handle in this one: {source}",
        path.display()
    )]
    AlreadyOpen {
        path: PathBuf,
        #[source]
        source: redb::DatabaseError,
    },
    #[error("cannot open {} as a redb database: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: redb::DatabaseError,
    },
    #[error("cannot open table {table:?}: {source}")]
    Table {
        table: String,
        #[source]
        source: redb::TableError,
    },
    #[error("cannot write the journal {}: {source}", path.display())]
    Journal {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot replay the journal {}: {source}", path.display())]
    Replay {
        path: PathBuf,
        #[source]
        source: redb::Error,
    },
    #[error("the write queue is full while commits fail: {writes} writes wait")]
    Refused { writes: u64 },
    #[error(transparent)]
    Engine(#[from] redb::Error),
    /// redb panicked inside a call; the store stopped using that database handle.
    #[error("redb panicked: {0}")]
    Panicked(String),
    /// The store has no database open now (see the crate docs, "Faults and recovery").
    #[error("caching is off: {0}")]
    Unavailable(String),
}

impl From<RedbError> for memo_core::Error {
    fn from(error: RedbError) -> Self {
        memo_core::Error::backend("redb", error)
    }
}

/// Converts any redb error into memo's; the usual `map_err` argument.
pub(crate) fn engine(error: impl Into<redb::Error>) -> memo_core::Error {
    RedbError::Engine(error.into()).into()
}

/// The error for a database file that cannot be opened, naming the file.
pub(crate) fn open(path: impl Into<PathBuf>, source: redb::DatabaseError) -> memo_core::Error {
    let path = path.into();
    match source {
        redb::DatabaseError::DatabaseAlreadyOpen | redb::DatabaseError::LockProtocolMismatch => {
            RedbError::AlreadyOpen { path, source }
        }
        source => RedbError::Open { path, source },
    }
    .into()
}

/// The error for a table that cannot be opened, naming the table.
pub(crate) fn table(table: &str, source: redb::TableError) -> memo_core::Error {
    RedbError::Table {
        table: table.to_owned(),
        source,
    }
    .into()
}

/// The error for a journal file that cannot be written (or listed), naming it.
pub(crate) fn journal(path: PathBuf, source: std::io::Error) -> memo_core::Error {
    RedbError::Journal { path, source }.into()
}

/// The error for a journal file that cannot be replayed, naming it.
pub(crate) fn replay(path: PathBuf, source: redb::Error) -> memo_core::Error {
    RedbError::Replay { path, source }.into()
}

/// The error for a write refused because failing commits filled the queue.
pub(crate) fn refused(writes: u64) -> memo_core::Error {
    RedbError::Refused { writes }.into()
}

/// The error of a call made while the store has no database open.
pub(crate) fn unavailable(reason: impl Into<String>) -> memo_core::Error {
    RedbError::Unavailable(reason.into()).into()
}

/// The error for a panic caught inside a call into redb.
pub(crate) fn panicked(panic: &(dyn std::any::Any + Send)) -> memo_core::Error {
    RedbError::Panicked(panic_message(panic)).into()
}

/// A panic's message, when it has one.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

/// What an error says about the database handle that returned it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// An I/O error, which redb latches: every later call fails until the database is reopened.
    Latched,
    /// The file is damaged, or redb panicked: reopen, checking every page.
    Damaged,
}

/// Whether `error` means the database handle must be dropped, and why; `None` for errors that
/// leave it usable (a table of another type, a value too large, the store being down already).
pub(crate) fn fault(error: &memo_core::Error) -> Option<Fault> {
    let memo_core::Error::Backend {
        store: "redb",
        source,
    } = error
    else {
        return None;
    };
    match source.downcast_ref::<RedbError>()? {
        RedbError::Engine(e) => engine_fault(e),
        RedbError::Table {
            source: redb::TableError::Storage(e),
            ..
        } => storage_fault(e),
        RedbError::Panicked(_) => Some(Fault::Damaged),
        _ => None,
    }
}

/// Whether `error` is a table of the store's that exists with other types: in a file that holds
/// memo's tables, a damaged table definition (or a cache of another memo version).
pub(crate) fn is_table_mismatch(error: &memo_core::Error) -> bool {
    matches!(error, memo_core::Error::Backend { store: "redb", source }
        if matches!(source.downcast_ref::<RedbError>(), Some(RedbError::Table { source, .. })
            if !matches!(source, redb::TableError::Storage(_))))
}

/// Whether `error` is the store's "caching is off" answer.
pub(crate) fn is_unavailable(error: &memo_core::Error) -> bool {
    matches!(error, memo_core::Error::Backend { store: "redb", source }
        if matches!(source.downcast_ref::<RedbError>(), Some(RedbError::Unavailable(_))))
}

/// A read that redb's structures sent past the end of the file, or that found nonsense: damage.
fn damaged_io(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::InvalidData
    )
}

fn engine_fault(error: &redb::Error) -> Option<Fault> {
    match error {
        redb::Error::Io(e) if damaged_io(e) => Some(Fault::Damaged),
        redb::Error::Corrupted(_) | redb::Error::LockPoisoned(_) => Some(Fault::Damaged),
        redb::Error::Io(_)
        | redb::Error::TransactionPoisoned
        | redb::Error::Backend(_)
        | redb::Error::PreviousIo
        | redb::Error::DatabaseClosed => Some(Fault::Latched),
        _ => None,
    }
}

fn storage_fault(error: &redb::StorageError) -> Option<Fault> {
    match error {
        redb::StorageError::Io(e) if damaged_io(e) => Some(Fault::Damaged),
        redb::StorageError::Corrupted(_) | redb::StorageError::LockPoisoned(_) => {
            Some(Fault::Damaged)
        }
        redb::StorageError::Io(_)
        | redb::StorageError::Backend(_)
        | redb::StorageError::PreviousIo
        | redb::StorageError::DatabaseClosed => Some(Fault::Latched),
        _ => None,
    }
}
