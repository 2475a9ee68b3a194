//! The one error type of memo.

use std::time::Duration;

/// A boxed error from a storage engine or a user's code.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in memo.
///
/// Backends convert their engine errors into [`Error::Backend`] at their boundary, so no engine
/// type appears here.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The options or regions are inconsistent: an unknown or cyclic parent, no store, ...
    #[error("configuration error: {0}")]
    Config(String),
    /// The key has no live record (for `expire`, `expire_at`).
    #[error("no cached record for key {key:?}")]
    NotFound {
        /// The key as the store sees it (namespace included).
        key: String,
    },
    /// Bytes that do not decode: a corrupt record, an unknown protocol, a value of another type,
    /// or a value that cannot be serialized.
    #[error("codec error: {0}")]
    Codec(String),
    /// The storage engine failed.
    #[error("{store} store error: {source}")]
    Backend {
        /// The kind of store that failed (`"redb"`, `"redis"`, ...).
        store: &'static str,
        /// The engine's error.
        #[source]
        source: BoxError,
    },
    /// A lock, or a wait for another caller's computation, timed out and the options ask for an
    /// error rather than computing anyway.
    #[error("timed out after {timeout:?} waiting for the lock on {key:?}")]
    LockTimeout {
        /// The key as the store sees it.
        key: String,
        /// How long the caller waited.
        timeout: Duration,
    },
    /// The store panicked during a call; the Memoizer caught the panic and treats it as a store
    /// fault (a miss, or a skipped write, unless the options are strict).
    #[error("the {store} store panicked during {operation}: {message}")]
    StorePanicked {
        /// The kind of store.
        store: &'static str,
        /// What the Memoizer asked of it (`"read"`, `"write"`, ...).
        operation: &'static str,
        /// The panic's message, when it had one.
        message: String,
    },
    /// The store does not support this operation (see [`crate::Capabilities`]).
    #[error("the {store} store does not support {operation}")]
    Unsupported {
        /// The kind of store.
        store: &'static str,
        /// The operation asked for.
        operation: &'static str,
    },
}

impl Error {
    /// Wraps an engine error; the usual way for a backend to convert at its boundary.
    pub fn backend(store: &'static str, source: impl Into<BoxError>) -> Self {
        Error::Backend {
            store,
            source: source.into(),
        }
    }

    pub(crate) fn codec(what: impl std::fmt::Display) -> Self {
        Error::Codec(what.to_string())
    }
}

/// `Result` with memo's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
