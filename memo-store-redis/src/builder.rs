//! `RedisStoreBuilder`: the URL, key prefix, timeouts, pool size and lock settings.

use std::sync::Arc;
use std::time::Duration;

use memo_core::Result;

use crate::error::config;
use crate::lock::{LockSettings, MAX_LEASE};
use crate::pool::{Pool, Timeouts};
use crate::store::{RedisStore, Shared};

/// Builds a [`RedisStore`]; made by [`RedisStore::builder`].
///
/// Every setting has a default: key prefix `memo:`, connect, read and write timeouts of one
/// second each, up to 8 idle connections, the lock on with a 30 s lease and a retry backoff
/// from 2 ms up to 50 ms.
///
/// ```no_run
/// use std::time::Duration;
/// use memo_store_redis::RedisStore;
///
/// let store = RedisStore::builder("redis://127.0.0.1:6379/")
///     .prefix("billing:")
///     .connect_timeout(Duration::from_millis(200))
///     .read_timeout(Duration::from_millis(500))
///     .write_timeout(Duration::from_millis(500))
///     .pool_size(16)
///     .lock_lease(Duration::from_secs(60))
///     .build()?;
/// # Ok::<(), memo_core::Error>(())
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct RedisStoreBuilder {
    url: String,
    prefix: String,
    timeouts: Timeouts,
    pool_size: usize,
    lock: LockSettings,
    lazy: bool,
}

impl RedisStoreBuilder {
    pub(crate) fn new(url: &str) -> Self {
        let second = Duration::from_secs(1);
        RedisStoreBuilder {
            url: url.to_owned(),
            prefix: "memo:".to_owned(),
            timeouts: Timeouts {
                connect: second,
                read: second,
                write: second,
            },
            pool_size: 8,
            lock: LockSettings::default(),
            lazy: false,
        }
    }

    /// The prefix of every Redis key this store writes (default `memo:`).
    ///
    /// Records live under `<prefix>c:<key>` and locks under `<prefix>l:<key>`, so a lock never
    /// collides with a record. Stores with different prefixes share one server without seeing
    /// each other's records, as long as neither prefix followed by `c:` or `l:` starts the
    /// other.
    pub fn prefix(mut self, prefix: &str) -> Self {
        prefix.clone_into(&mut self.prefix);
        self
    }

    /// How long opening a connection (TCP connect and handshake) may take (default 1 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.timeouts.connect = timeout;
        self
    }

    /// The longest wait for data from the server (default 1 s). It bounds each wait, not a
    /// whole transfer, so a large value that keeps arriving never times out.
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.timeouts.read = timeout;
        self
    }

    /// The longest wait to send data to the server (default 1 s).
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.timeouts.write = timeout;
        self
    }

    /// How many idle connections are kept between calls (default 8). More concurrent callers
    /// open more connections; those beyond the pool size are closed after their call.
    pub fn pool_size(mut self, size: usize) -> Self {
        self.pool_size = size;
        self
    }

    /// Whether [`Store::lock`](memo_core::Store::lock) hands the Memoizer a [`RedisLock`]
    /// (default `true`). Without it, concurrent misses in different processes each compute.
    ///
    /// [`RedisLock`]: crate::RedisLock
    pub fn locking(mut self, enabled: bool) -> Self {
        self.lock.enabled = enabled;
        self
    }

    /// How long a lock is held at most (default 30 s; 1 ms to 365 days): the lock key expires
    /// after this lease, so a holder that died frees the key by then. A computation that takes
    /// longer than the lease may run twice.
    pub fn lock_lease(mut self, lease: Duration) -> Self {
        self.lock.lease = lease;
        self
    }

    /// The pause between attempts to take a held lock: `min` first, doubling up to `max`
    /// (defaults 2 ms and 50 ms).
    pub fn lock_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.lock.backoff_min = min;
        self.lock.backoff_max = max;
        self
    }

    /// Whether [`build`](Self::build) skips opening a first connection (default `false`). A
    /// lazy store builds while the server is down; its first call connects.
    pub fn lazy(mut self, lazy: bool) -> Self {
        self.lazy = lazy;
        self
    }

    /// The store.
    ///
    /// # Errors
    /// [`Error::Config`](memo_core::Error::Config) for a URL that does not parse, a zero
    /// timeout or pool size, a lease outside 1 ms to 365 days, or a backoff whose `min` is zero
    /// or above its `max`;
    /// [`Error::Backend`](memo_core::Error::Backend) when the server cannot be reached within
    /// the timeouts (unless lazy).
    pub fn build(self) -> Result<RedisStore> {
        let client = redis::Client::open(self.url.as_str())
            .map_err(|e| config(format!("invalid URL: {e}")))?;
        let t = self.timeouts;
        if t.connect.is_zero() || t.read.is_zero() || t.write.is_zero() {
            return Err(config("timeouts must be above zero"));
        }
        if self.pool_size == 0 {
            return Err(config("the pool size must be at least 1"));
        }
        if self.lock.lease < Duration::from_millis(1) || self.lock.lease > MAX_LEASE {
            return Err(config("the lock lease must be between 1 ms and 365 days"));
        }
        if self.lock.backoff_min.is_zero() || self.lock.backoff_min > self.lock.backoff_max {
            return Err(config("the lock backoff needs 0 < min <= max"));
        }
        let pool = Pool::new(client, self.pool_size, t);
        if !self.lazy {
            pool.warm_up()?;
        }
        Ok(RedisStore {
            shared: Arc::new(Shared {
                pool,
                prefix: self.prefix,
                lock: self.lock,
            }),
        })
    }
}
