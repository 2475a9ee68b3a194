//! Conversion of the `redis` crate's errors at the store's boundary.

use memo_core::Error;

/// The store name in errors and logs.
pub(crate) const STORE: &str = "redis";

/// A `redis` error as memo's [`Error::Backend`].
pub(crate) fn backend(error: redis::RedisError) -> Error {
    Error::backend(STORE, error)
}

/// A bad builder setting.
pub(crate) fn config(what: impl std::fmt::Display) -> Error {
    Error::Config(format!("redis store: {what}"))
}
