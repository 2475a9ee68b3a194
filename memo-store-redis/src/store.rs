//! `RedisStore`: records under `<prefix>c:<key>`, expired by Redis itself.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use memo_core::{
    Capabilities, Clock, Lock, Record, Result, Store, SystemClock, span_rounded_down,
    span_rounded_up,
};

use crate::builder::RedisStoreBuilder;
use crate::error::STORE;
use crate::lock::{LockSettings, RedisLock};
use crate::pool::Pool;

/// The key space of records, after the prefix.
const RECORDS: &[u8] = b"c:";
/// The key space of locks, after the prefix: differs from [`RECORDS`] in its first byte, so
/// no record key ever equals a lock key.
const LOCKS: &[u8] = b"l:";
/// Protocol, created and `Some(expiry)`: the longest head [`Record::peek_expiry`] reads.
const HEAD_LEN: i64 = 1 + 8 + 1 + 8;
/// Longer expiries (over 100 000 years) are stored without a Redis expiry, which never removes
/// a record early; Redis rejects expiries near `i64::MAX` milliseconds.
const MAX_PX_MS: u64 = 3_200_000_000_000_000;
/// Keys asked for per `SCAN` round trip.
const SCAN_COUNT: u32 = 1000;

/// A [`Store`] on a Redis server, shared by every process that uses the same server and key
/// prefix.
///
/// Cheap to clone: clones share the connection pool. See the crate docs for the key layout,
/// the lock and the behaviour on faults.
///
/// ```no_run
/// use memo_core::Memoizer;
/// use memo_store_redis::RedisStore;
///
/// let memo = Memoizer::new(RedisStore::connect("redis://127.0.0.1:6379/")?);
/// let answer: u32 = memo.get("answer", || 42)?;
/// # Ok::<(), memo_core::Error>(())
/// ```
#[derive(Clone)]
pub struct RedisStore {
    pub(crate) shared: Arc<Shared>,
}

/// What the store and its locks share.
pub(crate) struct Shared {
    pub(crate) pool: Pool,
    pub(crate) prefix: String,
    pub(crate) lock: LockSettings,
}

impl RedisStore {
    /// A store on the server at `url` (`redis://[:password@]host[:port][/db]`) with the default
    /// settings of [`RedisStore::builder`]; opens a first connection to check the server.
    ///
    /// # Errors
    /// As [`RedisStoreBuilder::build`].
    pub fn connect(url: &str) -> Result<Self> {
        Self::builder(url).build()
    }

    /// A builder for a store on the server at `url`.
    pub fn builder(url: &str) -> RedisStoreBuilder {
        RedisStoreBuilder::new(url)
    }

    /// The prefix of every Redis key of this store.
    pub fn prefix(&self) -> &str {
        &self.shared.prefix
    }

    /// The Redis key that holds the record of `key`: `<prefix>c:<key>`.
    pub fn record_key(&self, key: &str) -> Vec<u8> {
        self.shared.key(RECORDS, key.as_bytes())
    }

    /// The Redis key of the lock on `key`: `<prefix>l:<key>`.
    pub fn lock_key(&self, key: &str) -> Vec<u8> {
        self.shared.key(LOCKS, key.as_bytes())
    }

    /// A lock on `key` (not yet acquired), whatever [`RedisStoreBuilder::locking`] says.
    pub fn redis_lock(&self, key: &str) -> RedisLock {
        RedisLock::new(self.shared.clone(), self.lock_key(key), None)
    }

    /// [`RedisStore::redis_lock`] that also reads and writes the record of `key` in its own
    /// round trips: what [`Store::record_lock`] gives.
    pub(crate) fn record_lock_of(&self, key: &str) -> RedisLock {
        RedisLock::new(
            self.shared.clone(),
            self.lock_key(key),
            Some(self.record_key(key)),
        )
    }

    /// What this store (and its clones) counted of failures, the deadline and the circuit
    /// breaker since it was built.
    pub fn stats(&self) -> RedisStats {
        let counts = self.shared.pool.counts();
        RedisStats {
            connection_failures: counts.connection_failures,
            deadline_failures: counts.deadline_failures,
            breaker_trips: counts.breaker.trips,
            breaker_rejections: counts.breaker.rejected,
            breaker_open: counts.breaker.open,
        }
    }
}

/// The fault counts of a [`RedisStore`], from [`RedisStore::stats`].
///
/// Every operation counted here also failed with an
/// [`Error::Backend`](memo_core::Error::Backend), which a Memoizer counts in its own
/// `store_errors`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisStats {
    /// Operations whose connection failed: refused, reset, or timed out.
    pub connection_failures: u64,
    /// Operations failed at once because their call had spent its deadline.
    pub deadline_failures: u64,
    /// Times the circuit breaker opened, a failed probe reopening it included.
    pub breaker_trips: u64,
    /// Operations failed at once because the circuit breaker was open.
    pub breaker_rejections: u64,
    /// Whether the circuit breaker is open now.
    pub breaker_open: bool,
}

impl Shared {
    fn key(&self, space: &[u8], key: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.prefix.len() + space.len() + key.len());
        out.extend_from_slice(self.prefix.as_bytes());
        out.extend_from_slice(space);
        out.extend_from_slice(key);
        out
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = &self.shared;
        f.debug_struct("RedisStore")
            .field("server", &shared.pool.address())
            .field("prefix", &shared.prefix)
            .field("pool_size", &shared.pool.max_idle())
            .field("timeouts", &shared.pool.timeouts())
            .field("stats", &self.stats())
            .field("lock", &shared.lock)
            .finish()
    }
}

/// How `set` hands a record's expiry to Redis.
#[derive(Debug, PartialEq)]
pub(crate) enum NativeExpiry {
    /// Store without a Redis expiry.
    Never,
    /// Store with `PX` of this many milliseconds.
    After(u64),
    /// The expiry has come: store nothing (and remove what was there).
    Past,
}

/// Milliseconds from `now` to `expiry`, rounded up so that Redis never removes a record
/// before its expiry. Redis counts from when it receives the command, after `now`.
pub(crate) fn native_expiry(expiry: Option<f64>, now: f64) -> NativeExpiry {
    let Some(expiry) = expiry else {
        return NativeExpiry::Never;
    };
    match span_rounded_up(now, expiry).map(|left| left.as_nanos().div_ceil(1_000_000)) {
        // A NaN expiry never passes in memo-core's `is_expired`, so it never expires here.
        None => NativeExpiry::Never,
        Some(0) => NativeExpiry::Past,
        Some(ms) => match u64::try_from(ms) {
            Ok(ms) if ms <= MAX_PX_MS => NativeExpiry::After(ms),
            _ => NativeExpiry::Never,
        },
    }
}

/// The command that stores `record` under the Redis key `rkey`: `SET ... PX` with the
/// record's expiry, plain `SET` without one, `DEL` once its expiry has passed.
pub(crate) fn write_command(rkey: &[u8], record: &Record) -> redis::Cmd {
    let expiry = native_expiry(record.expiry, SystemClock.now());
    let mut command = redis::cmd(if expiry == NativeExpiry::Past {
        "DEL"
    } else {
        "SET"
    });
    command.arg(rkey);
    match expiry {
        NativeExpiry::Past => {}
        NativeExpiry::Never => {
            command.arg(record.encode());
        }
        NativeExpiry::After(ms) => {
            command.arg(record.encode()).arg("PX").arg(ms);
        }
    }
    command
}

/// Time from `now` to `expiry`, rounded down to the nanosecond; `None` once passed.
fn remaining(expiry: f64, now: f64) -> Option<Duration> {
    Some(span_rounded_down(now, expiry)).filter(|left| !left.is_zero())
}

/// Escapes glob characters for `SCAN ... MATCH`.
fn glob_escape(out: &mut Vec<u8>, raw: &[u8]) {
    for &b in raw {
        if matches!(b, b'*' | b'?' | b'[' | b']' | b'\\') {
            out.push(b'\\');
        }
        out.push(b);
    }
}

impl Store for RedisStore {
    /// One `GET`; a value that is not a memo record is [`Error::Codec`](memo_core::Error).
    fn get(&self, key: &str) -> Result<Option<Record>> {
        let rkey = self.record_key(key);
        let bytes: Option<Vec<u8>> = self
            .shared
            .pool
            .run(|c| redis::cmd("GET").arg(&rkey).query(c))?;
        bytes.map(|b| Record::decode(&b)).transpose()
    }

    /// One `SET ... PX` (plain `SET` without expiry); a record whose expiry has passed is not
    /// stored and the key is deleted, since `SET` replaces.
    fn set(&self, key: &str, record: Record) -> Result<()> {
        let command = write_command(&self.record_key(key), &record);
        self.shared.pool.run(|c| command.exec(c))
    }

    fn delete(&self, key: &str) -> Result<bool> {
        let rkey = self.record_key(key);
        let removed: u64 = self
            .shared
            .pool
            .run(|c| redis::cmd("DEL").arg(&rkey).query(c))?;
        Ok(removed > 0)
    }

    /// `PTTL` and the record's head (`GETRANGE`, not the value) in one pipelined round trip.
    ///
    /// The answer is the smaller of the two: `PTTL` alone may over-report by the time the `SET`
    /// spent on its way to Redis, the record's own expiry never does.
    fn ttl(&self, key: &str) -> Result<Option<Duration>> {
        let rkey = self.record_key(key);
        let (pttl, head): (i64, Vec<u8>) = self.shared.pool.run_pipeline(2, |c| {
            redis::pipe()
                .cmd("PTTL")
                .arg(&rkey)
                .cmd("GETRANGE")
                .arg(&rkey)
                .arg(0)
                .arg(HEAD_LEN - 1)
                .query(c)
        })?;
        // -2: no such key (or it expired between the two commands).
        if pttl == -2 || head.is_empty() {
            return Ok(None);
        }
        let now = SystemClock.now();
        let by_record =
            Record::peek_expiry(&head)?.map(|expiry| remaining(expiry, now).unwrap_or_default());
        // -1: no Redis expiry.
        let by_redis = u64::try_from(pttl).ok().map(Duration::from_millis);
        let left = by_record.into_iter().chain(by_redis).min();
        Ok(left.filter(|d| !d.is_zero()))
    }

    fn lock(&self, key: &str) -> Option<Box<dyn Lock>> {
        self.shared
            .lock
            .enabled
            .then(|| Box::new(self.redis_lock(key)) as Box<dyn Lock>)
    }

    /// The lock of [`Store::lock`], whose attempts also `GET` the record when they take the
    /// lock, and whose release carries the record's write in the same round trip: a locked
    /// miss is three round trips (the read, the lock, the write with the release) instead of
    /// five.
    fn record_lock(&self, key: &str) -> Option<Box<dyn Lock>> {
        self.shared
            .lock
            .enabled
            .then(|| Box::new(self.record_lock_of(key)) as Box<dyn Lock>)
    }

    /// Redis may evict records (`maxmemory`), hence lossy; records survive the process but their
    /// persistence is the server's business, so not `persistent`.
    fn capabilities(&self) -> Capabilities {
        Capabilities::none()
            .lossy(true)
            .native_expiry(true)
            .shared(true)
            .scan(true)
    }

    /// `SCAN ... MATCH <prefix>c:<prefix>*` until the cursor comes back to 0 (never `KEYS`).
    fn scan(&self, prefix: &str) -> Result<Vec<String>> {
        let skip = self.shared.prefix.len() + RECORDS.len();
        let mut pattern = Vec::with_capacity(2 * (skip + prefix.len()) + 1);
        glob_escape(&mut pattern, self.shared.prefix.as_bytes());
        glob_escape(&mut pattern, RECORDS);
        glob_escape(&mut pattern, prefix.as_bytes());
        pattern.push(b'*');
        // SCAN may return a key more than once.
        let mut keys = HashSet::new();
        let mut cursor = 0_u64;
        loop {
            let (next, batch): (u64, Vec<Vec<u8>>) = self.shared.pool.run(|c| {
                redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(SCAN_COUNT)
                    .query(c)
            })?;
            // Keys that are not UTF-8 were not written by a store, whose keys are `&str`.
            keys.extend(
                batch
                    .into_iter()
                    .filter_map(|k| String::from_utf8(k.get(skip..)?.to_vec()).ok()),
            );
            if next == 0 {
                return Ok(keys.into_iter().collect());
            }
            cursor = next;
        }
    }

    fn name(&self) -> &'static str {
        STORE
    }

    /// With the `tokio` feature: the store's async twin, on one multiplexed connection.
    #[cfg(feature = "tokio")]
    fn as_async(&self) -> Option<&dyn memo_core::AsyncStore> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_expiry_rounds_up_to_whole_milliseconds() {
        let now = 1_700_000_000.0;
        assert_eq!(native_expiry(None, now), NativeExpiry::Never);
        assert_eq!(
            native_expiry(Some(now + 1.0), now),
            NativeExpiry::After(1000)
        );
        assert_eq!(
            native_expiry(Some(now + 0.0011), now),
            NativeExpiry::After(2)
        );
        assert_eq!(native_expiry(Some(now + 1e-6), now), NativeExpiry::After(1));
        assert_eq!(native_expiry(Some(now), now), NativeExpiry::Past);
        assert_eq!(native_expiry(Some(now - 5.0), now), NativeExpiry::Past);
        assert_eq!(
            native_expiry(Some(f64::NEG_INFINITY), now),
            NativeExpiry::Past
        );
        assert_eq!(native_expiry(Some(f64::NAN), now), NativeExpiry::Never);
        assert_eq!(native_expiry(Some(f64::INFINITY), now), NativeExpiry::Never);
        assert_eq!(native_expiry(Some(f64::MAX), now), NativeExpiry::Never);
    }

    #[test]
    fn native_expiry_is_never_before_the_record_expiry() {
        let now = 1_700_000_000.123_456;
        for micros in [1_u32, 999, 1000, 1001, 123_456, 59_999_999] {
            let expiry = now + f64::from(micros) / 1e6;
            let NativeExpiry::After(ms) = native_expiry(Some(expiry), now) else {
                panic!("{micros} us should get a Redis expiry");
            };
            #[expect(clippy::cast_precision_loss, reason = "small values")]
            let native = now + ms as f64 / 1000.0;
            assert!(native >= expiry, "{micros} us: {ms} ms is early");
        }
    }

    #[test]
    fn remaining_rounds_down_and_is_none_once_passed() {
        assert_eq!(remaining(10.5, 10.0), Some(Duration::from_millis(500)));
        assert_eq!(remaining(10.0, 10.0), None);
        assert_eq!(remaining(9.0, 10.0), None);
        assert_eq!(remaining(f64::NAN, 10.0), None);
        assert_eq!(remaining(f64::INFINITY, 10.0), Some(Duration::MAX));
    }

    #[test]
    fn glob_escape_quotes_every_pattern_character() {
        let mut out = Vec::new();
        glob_escape(&mut out, b"a*b?c[d]e\\f:g");
        assert_eq!(out, b"a\\*b\\?c\\[d\\]e\\\\f:g");
    }
}
