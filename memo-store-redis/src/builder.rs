//! `RedisStoreBuilder`: the URL, key prefix, timeouts, deadline, breaker, pool size and lock
//! settings.

use std::sync::Arc;
use std::time::Duration;

use memo_core::Result;

use crate::breaker::BreakerSettings;
use crate::error::config;
use crate::lock::{LockSettings, MAX_LEASE};
use crate::pool::{Pool, Timeouts};
use crate::store::{RedisStore, Shared};

/// Builds a [`RedisStore`]; made by [`RedisStore::builder`].
///
/// Every setting has a default: key prefix `memo:`, connect, read and write timeouts of one
/// second each, a deadline of one second per Memoizer call, a circuit breaker that opens after
/// 3 connection failures in a row for a 5 s cool-down, up to 8 idle connections, the lock on
/// with a 30 s lease and a retry backoff from 1 ms up to 50 ms (at most a thirty-second of the
/// time waited).
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
///     .deadline(Duration::from_millis(800))
///     .breaker(5, Duration::from_secs(2))
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
    breaker: BreakerSettings,
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
                deadline: second,
            },
            breaker: BreakerSettings::default(),
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

    /// The most time one Memoizer call spends in Redis, all its round trips together (default
    /// 1 s).
    ///
    /// A hit is one round trip, a miss up to five (read, lock, read again, write, release):
    /// each waits at most its own timeout and what is left of the deadline, and once the
    /// deadline is spent the call's remaining operations fail at once with
    /// [`NotSent::DeadlineSpent`](crate::NotSent::DeadlineSpent), so that the Memoizer computes
    /// the value without the cache. Waiting for a lock that another caller holds is not time in
    /// Redis: only the round trips of the waiting are charged. An operation outside a Memoizer
    /// call (the store used directly) has the whole deadline to itself.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.timeouts.deadline = deadline;
        self
    }

    /// The circuit breaker: after `failures` connection failures in a row (refused, reset or
    /// timed out; an error reply is an answer) every operation fails at once with
    /// [`NotSent::BreakerOpen`](crate::NotSent::BreakerOpen) for `cool_down`, then one probe
    /// goes to the server and its answer closes the breaker (defaults 3 and 5 s).
    pub fn breaker(mut self, failures: u32, cool_down: Duration) -> Self {
        self.breaker = BreakerSettings {
            threshold: failures,
            cool_down,
        };
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
    /// (defaults 1 ms and 50 ms), and never longer than a thirty-second of the time waited so far
    /// (but at least `min`), so that a waiter notices the holder's release within about 3% of
    /// its wait.
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
    /// timeout, deadline, pool size, breaker threshold or cool-down, a lease outside 1 ms to 365 days, or a backoff whose `min` is zero
    /// or above its `max`;
    /// [`Error::Backend`](memo_core::Error::Backend) when the server cannot be reached within
    /// the connect timeout and the deadline (unless lazy).
    pub fn build(self) -> Result<RedisStore> {
        let client = redis::Client::open(self.url.as_str())
            .map_err(|e| config(format!("invalid URL: {e}")))?;
        // `CLIENT SETINFO` on every new connection would add two replies to wait for, each up
        // to the read timeout, to name the client library in `CLIENT LIST`.
        let info = client.get_connection_info().clone();
        let settings = info.redis_settings().clone().set_skip_set_lib_name();
        let client = redis::Client::open(info.set_redis_settings(settings))
            .map_err(|e| config(format!("invalid URL: {e}")))?;
        let t = self.timeouts;
        if t.connect.is_zero() || t.read.is_zero() || t.write.is_zero() || t.deadline.is_zero() {
            return Err(config("timeouts and the deadline must be above zero"));
        }
        if self.breaker.threshold == 0 || self.breaker.cool_down.is_zero() {
            return Err(config(
                "the breaker needs at least 1 failure and a cool-down above zero",
            ));
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
        let pool = Pool::new(client, self.pool_size, t, self.breaker);
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
