//! Conversion of the `redis` crate's errors at the store's boundary, and the store's own.

use std::fmt;
use std::time::Duration;

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

/// Why [`RedisStore`](crate::RedisStore) failed an operation at once, without sending it to
/// Redis: the source of the [`Error::Backend`] it returns then.
///
/// ```
/// use memo_store_redis::NotSent;
///
/// fn not_sent(error: &memo_core::Error) -> Option<&NotSent> {
///     match error {
///         memo_core::Error::Backend { source, .. } => source.downcast_ref(),
///         _ => None,
///     }
/// }
/// # assert!(not_sent(&memo_core::Error::Config(String::new())).is_none());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotSent {
    /// The circuit breaker is open after repeated connection failures; it lets a probe through
    /// after `retry_in` (zero: a probe is under way).
    BreakerOpen {
        /// The time left of the cool-down.
        retry_in: Duration,
    },
    /// The Memoizer call has already spent its whole deadline waiting for Redis.
    DeadlineSpent {
        /// The store's deadline per call.
        deadline: Duration,
    },
}

impl fmt::Display for NotSent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotSent::BreakerOpen { retry_in } => write!(
                f,
                "not sent: the circuit breaker is open after repeated connection failures \
                 (next probe in {retry_in:?})"
            ),
            NotSent::DeadlineSpent { deadline } => write!(
                f,
                "not sent: the call has spent its {deadline:?} deadline in Redis"
            ),
        }
    }
}

impl std::error::Error for NotSent {}

/// A [`NotSent`] as memo's [`Error::Backend`].
pub(crate) fn not_sent(why: NotSent) -> Error {
    Error::backend(STORE, why)
}
