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
pub(crate) fn open(path: PathBuf, source: redb::DatabaseError) -> memo_core::Error {
    match source {
        redb::DatabaseError::DatabaseAlreadyOpen => RedbError::AlreadyOpen { path, source },
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
