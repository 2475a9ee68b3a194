//! `RedisLock`: `SET NX PX` with a random token, released by compare-and-delete.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use memo_core::{Acquired, Lock, Record, Result};

use crate::store::{Shared, write_command};

/// Sets the lock key to this holder's token unless it exists; a key that exists without an
/// expiry (left by anything but a lock, which always has one) gets one lease, so that it lapses
/// instead of blocking every miss of its key forever. 1 when taken, else 0.
pub(crate) const ACQUIRE: &str = "if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then \
                       return 1 end \
                       if redis.call('PTTL', KEYS[1]) == -1 then \
                       redis.call('PEXPIRE', KEYS[1], ARGV[2]) end \
                       return 0";

/// [`ACQUIRE`] that also reads the record the lock guards (`KEYS[2]`) when it takes the lock,
/// in the same round trip: `{1, record or nil}` when taken. `ARGV[3]` (a [`Watch`]) says what
/// else to look for: `absent`, a record written since the wait began, returned without taking
/// the lock (`{2, record}`) even if the lock is free by now, so that the waiter never holds a
/// lock it has no use for; `first`, when the lock is held, whether a record is there
/// (`{3, nil}`); else `{0, nil}`.
pub(crate) const ACQUIRE_READING: &str = "if ARGV[3] == 'absent' then \
                       local v = redis.call('GET', KEYS[2]) \
                       if v then return {2, v} end end \
                       if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then \
                       return {1, redis.call('GET', KEYS[2])} end \
                       if redis.call('PTTL', KEYS[1]) == -1 then \
                       redis.call('PEXPIRE', KEYS[1], ARGV[2]) end \
                       if ARGV[3] == 'first' and redis.call('EXISTS', KEYS[2]) == 1 then \
                       return {3, false} end \
                       return {0, false}";

/// What a waiter for the record lock watches between its attempts: a record written while it
/// waits is what it waits for, so it stops waiting when one appears under a key that had none
/// ([`Acquired::Written`]). A key that had a record when the wait began is waited on for the
/// lock itself, so a caller that cannot use that record never spins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Watch {
    /// The first attempt: is there a record?
    First,
    /// There was none: has one been written?
    Absent,
    /// There was one (or an undecodable one appeared): wait for the lock.
    Present,
}

impl Watch {
    pub(crate) fn arg(self) -> &'static str {
        match self {
            Watch::First => "first",
            Watch::Absent => "absent",
            Watch::Present => "present",
        }
    }

    /// One attempt's reply to [`ACQUIRE_READING`]: what to return (the lock taken with the
    /// record it read, or a record written meanwhile), or `None` to pause and try again.
    pub(crate) fn settle(&mut self, reply: (u8, Option<Vec<u8>>)) -> Option<Acquired> {
        match reply {
            (1, bytes) => Some(Acquired::Read(
                bytes.map(|b| Record::decode(&b)).transpose(),
            )),
            (2, Some(bytes)) => match Record::decode(&bytes) {
                Ok(record) => Some(Acquired::Written(record)),
                // Damaged: not served; the double check of whoever takes the lock counts it.
                Err(_) => {
                    *self = Watch::Present;
                    None
                }
            },
            (3, _) => {
                *self = Watch::Present;
                None
            }
            _ => {
                if *self == Watch::First {
                    *self = Watch::Absent;
                }
                None
            }
        }
    }
}

/// Deletes the lock key only if it still holds this holder's token: after a lease ran out,
/// the key may belong to someone else.
pub(crate) const RELEASE: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
                       return redis.call('DEL', KEYS[1]) else return 0 end";

/// The record's write (as [`Store::set`](memo_core::Store::set) sends it) and then the
/// release's compare-and-delete, in one pipeline: Redis runs them in that order, so no one
/// takes the lock and misses the record. Its one reply is the release's.
pub(crate) fn write_then_release(
    rkey: &[u8],
    record: &Record,
    lock_key: &[u8],
    token: &str,
) -> redis::Pipeline {
    let mut pipe = redis::pipe();
    pipe.add_command(write_command(rkey, record)).ignore();
    pipe.cmd("EVAL")
        .arg(RELEASE)
        .arg(1)
        .arg(lock_key)
        .arg(token);
    pipe
}

/// The longest lease the builder accepts.
pub(crate) const MAX_LEASE: Duration = Duration::from_secs(365 * 24 * 3600);

/// The lock settings of a store.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LockSettings {
    pub(crate) enabled: bool,
    pub(crate) lease: Duration,
    pub(crate) backoff_min: Duration,
    pub(crate) backoff_max: Duration,
}

impl Default for LockSettings {
    fn default() -> Self {
        LockSettings {
            enabled: true,
            lease: Duration::from_secs(30),
            backoff_min: Duration::from_millis(1),
            backoff_max: Duration::from_millis(50),
        }
    }
}

/// A lease on one key shared by every process on the same Redis server; what
/// [`RedisStore`](crate::RedisStore) hands the Memoizer through [`Store::lock`].
///
/// Acquiring sets the lock key to a random token with `SET NX PX <lease>`, retrying with a
/// doubling, capped backoff until the timeout (never longer than a thirty-second of the time
/// waited so far, so a waiter notices a release within about 3% of its wait); releasing deletes
/// the key only if it still holds this handle's token. The lease bounds how long a dead holder
/// blocks the others, and a lock key found without an expiry (planted by something else) is
/// given one lease, so it too blocks for one lease at most.
///
/// This lock prevents duplicate work; it is not a correctness lock. A holder paused or slower
/// than its lease loses the lock without knowing it, and a Redis failover can lose the key:
/// then two processes compute the same value, which costs time, never a wrong cache entry.
///
/// [`Store::lock`]: memo_core::Store::lock
pub struct RedisLock {
    pub(crate) shared: Arc<Shared>,
    pub(crate) key: Vec<u8>,
    /// The Redis key of the record this lock reads and writes with its own round trips, when
    /// it is the store's record lock ([`Store::record_lock`]).
    ///
    /// [`Store::record_lock`]: memo_core::Store::record_lock
    pub(crate) record: Option<Vec<u8>>,
    /// The token of the current lease while this handle holds it.
    token: Mutex<Option<String>>,
}

impl RedisLock {
    pub(crate) fn new(shared: Arc<Shared>, key: Vec<u8>, record: Option<Vec<u8>>) -> Self {
        RedisLock {
            shared,
            key,
            record,
            token: Mutex::new(None),
        }
    }

    /// The Redis key this lock sets.
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// The token of the lease this handle holds, if it holds one (it may have run out).
    pub fn token(&self) -> Option<String> {
        self.held().clone()
    }

    pub(crate) fn held(&self) -> MutexGuard<'_, Option<String>> {
        // Setting an Option cannot be left half done by a panic.
        self.token.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Tries `attempt(token, lease_ms)` until it takes the lock or `timeout` has passed, with
    /// the backoff between attempts; `Ok(None)` when it timed out.
    /// `attempt` answers `Some((outcome, taken))`, where `taken` says whether it took the lock
    /// (an outcome may also end the wait without it).
    fn acquire_with<T>(
        &self,
        timeout: Duration,
        mut attempt: impl FnMut(&str, u64) -> Result<Option<(T, bool)>>,
    ) -> Result<Option<T>> {
        let settings = &self.shared.lock;
        // The builder keeps the lease within a year, far inside what `PX` takes.
        let lease_ms = u64::try_from(settings.lease.as_millis()).unwrap_or(u64::MAX);
        let token = new_token();
        let mut backoff = Backoff::new(settings, &token, timeout);
        loop {
            if let Some((outcome, taken)) = attempt(&token, lease_ms)? {
                if taken {
                    *self.held() = Some(token);
                }
                return Ok(Some(outcome));
            }
            let Some(pause) = backoff.pause() else {
                return Ok(None);
            };
            std::thread::sleep(pause);
        }
    }
}

impl Lock for RedisLock {
    /// Tries until `timeout` has passed (at least once, also with a zero timeout); the last
    /// attempt may end up to the store's read and write timeouts later. Each attempt is a round
    /// trip under the call's deadline (see [`RedisStoreBuilder::deadline`]); the pauses
    /// between attempts, spent waiting for the holder, are not charged to it.
    ///
    /// # Errors
    /// [`Error::Backend`](memo_core::Error::Backend) when an attempt fails (Redis fails, the
    /// deadline is spent, the circuit breaker is open), which ends the wait; the Memoizer then
    /// computes without the lock (fail open).
    ///
    /// [`RedisStoreBuilder::deadline`]: crate::RedisStoreBuilder::deadline
    fn acquire(&self, timeout: Duration) -> Result<bool> {
        let taken = self.acquire_with(timeout, |token, lease_ms| {
            let taken: u8 = self.shared.pool.run(|c| {
                redis::cmd("EVAL")
                    .arg(ACQUIRE)
                    .arg(1)
                    .arg(&self.key)
                    .arg(token)
                    .arg(lease_ms)
                    .query(c)
            })?;
            Ok((taken == 1).then_some(((), true)))
        })?;
        Ok(taken.is_some())
    }

    /// Deletes the lock key if it still holds this handle's token; otherwise (the lease ran
    /// out, perhaps someone else holds it now) leaves it alone.
    ///
    /// # Errors
    /// [`Error::Backend`](memo_core::Error::Backend) when Redis fails; the key then lapses
    /// with its lease.
    fn release(&self) -> Result<()> {
        let Some(token) = self.held().take() else {
            return Ok(());
        };
        let deleted: u64 = self.shared.pool.run(|c| {
            redis::cmd("EVAL")
                .arg(RELEASE)
                .arg(1)
                .arg(&self.key)
                .arg(&token)
                .query(c)
        })?;
        if deleted == 0 {
            tracing::debug!(key = %String::from_utf8_lossy(&self.key),
                "memo: redis lock lease ran out before release");
        }
        Ok(())
    }

    /// As [`RedisLock::acquire`], each attempt one script; on the store's record lock the
    /// script that takes the lock also `GET`s the record, so the double check costs no round
    /// trip. A waiter on a key that had no record stops waiting when the holder writes one
    /// ([`Acquired::Written`]): it needs the record, not the lock.
    ///
    /// # Errors
    /// As [`RedisLock::acquire`].
    fn acquire_reading(&self, timeout: Duration) -> Result<Acquired> {
        let Some(rkey) = &self.record else {
            return Ok(if self.acquire(timeout)? {
                Acquired::Held
            } else {
                Acquired::TimedOut
            });
        };
        let mut watch = Watch::First;
        let done = self.acquire_with(timeout, |token, lease_ms| {
            let reply: (u8, Option<Vec<u8>>) = self.shared.pool.run(|c| {
                redis::cmd("EVAL")
                    .arg(ACQUIRE_READING)
                    .arg(2)
                    .arg(&self.key)
                    .arg(rkey)
                    .arg(token)
                    .arg(lease_ms)
                    .arg(watch.arg())
                    .query(c)
            })?;
            Ok(watch.settle(reply).map(|done| {
                let taken = matches!(done, Acquired::Read(_));
                (done, taken)
            }))
        })?;
        Ok(done.unwrap_or(Acquired::TimedOut))
    }

    /// On the store's record lock: the record's `SET ... PX` (as [`Store::set`] sends it) and
    /// the release's compare-and-delete, pipelined in one round trip; Redis runs them in that
    /// order. `Ok(false)` on any other lock, or one not held.
    ///
    /// # Errors
    /// [`Error::Backend`](memo_core::Error::Backend) when Redis fails; the handle keeps its
    /// token, so that [`RedisLock::release`] tries the release again.
    ///
    /// [`Store::set`]: memo_core::Store::set
    fn release_writing(&self, record: &Record) -> Result<bool> {
        let Some(rkey) = &self.record else {
            return Ok(false);
        };
        let Some(token) = self.held().take() else {
            return Ok(false);
        };
        let pipe = write_then_release(rkey, record, &self.key, &token);
        let sent: Result<(u64,)> = self.shared.pool.run_pipeline(2, |c| pipe.query(c));
        match sent {
            Ok((deleted,)) => {
                if deleted == 0 {
                    tracing::debug!(key = %String::from_utf8_lossy(&self.key),
                        "memo: redis lock lease ran out before release");
                }
                Ok(true)
            }
            Err(error) => {
                *self.held() = Some(token);
                Err(error)
            }
        }
    }
}

impl Drop for RedisLock {
    /// Releases a lease still held. On a tokio runtime (an async call was cancelled while it
    /// held the lock) the release is sent from a task of its own, so that no runtime thread
    /// blocks on Redis.
    fn drop(&mut self) {
        #[cfg(feature = "tokio")]
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let held = self.held().take();
            if let Some(token) = held {
                let (shared, key) = (self.shared.clone(), std::mem::take(&mut self.key));
                runtime.spawn(async move {
                    if let Err(error) = crate::aio::release(&shared, &key, &token).await {
                        tracing::warn!(%error,
                            "memo: releasing a redis lock failed; it lapses with its lease");
                    }
                });
            }
            return;
        }
        if let Err(error) = self.release() {
            tracing::warn!(%error, "memo: releasing a redis lock failed; it lapses with its lease");
        }
    }
}

impl fmt::Debug for RedisLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisLock")
            .field("key", &String::from_utf8_lossy(&self.key))
            .field("held", &self.held().is_some())
            .finish_non_exhaustive()
    }
}

/// 128 random bits in hex. `RandomState` draws its keys from the OS's randomness; the process
/// id, time and a counter make two tokens differ even if two states ever had the same keys.
pub(crate) fn new_token() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let word = |salt: u8| RandomState::new().hash_one((salt, std::process::id(), nanos, count));
    format!("{:016x}{:016x}", word(0), word(1))
}

/// The pauses of a waiter between its attempts to take a held lock: doubling from the minimum
/// up to the maximum, but never more than a thirty-second of the time waited so far, so that a
/// waiter wakes within about 3% of its wait after the holder releases (a 50 ms computation is
/// noticed within about 2 ms, where a plain doubling backoff could sleep 50 ms past it), while a
/// long wait still polls at most once per maximum pause. Each pause is jittered between half
/// and all of it, so that waiters spread out.
pub(crate) struct Backoff {
    started: Instant,
    deadline: Option<Instant>,
    next: Duration,
    min: Duration,
    max: Duration,
    jitter: Jitter,
}

impl Backoff {
    pub(crate) fn new(settings: &LockSettings, token: &str, timeout: Duration) -> Self {
        let started = Instant::now();
        Backoff {
            started,
            deadline: started.checked_add(timeout),
            next: settings.backoff_min,
            min: settings.backoff_min,
            max: settings.backoff_max,
            jitter: Jitter::new(token),
        }
    }

    /// The pause before the next attempt; `None` once the timeout has passed.
    pub(crate) fn pause(&mut self) -> Option<Duration> {
        let now = Instant::now();
        let left = self
            .deadline
            .map_or(Duration::MAX, |d| d.saturating_duration_since(now));
        if left.is_zero() {
            return None;
        }
        let waited = now.saturating_duration_since(self.started);
        let step = self.next.min((waited / 32).max(self.min));
        self.next = self.next.saturating_mul(2).min(self.max);
        Some(self.jitter.between(step / 2, step).min(left))
    }
}

/// A tiny xorshift for backoff jitter, seeded from the token.
pub(crate) struct Jitter(u64);

impl Jitter {
    pub(crate) fn new(token: &str) -> Self {
        Jitter(RandomState::new().hash_one(token) | 1)
    }

    pub(crate) fn between(&mut self, low: Duration, high: Duration) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        let span = high.saturating_sub(low).as_nanos();
        if span == 0 {
            return low;
        }
        let offset = u128::from(self.0) % span;
        low + Duration::from_nanos(u64::try_from(offset).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_pauses_start_at_min_and_stay_within_a_thirty_second_of_the_wait_and_max() {
        let settings = LockSettings::default();
        let mut backoff = Backoff::new(&settings, "token", Duration::from_secs(60));
        let first = backoff.pause().unwrap();
        assert!(first >= settings.backoff_min / 2 && first <= settings.backoff_min);
        // Early in a wait the doubling is held back to the minimum by the wait's thirty-second.
        for _ in 0..10 {
            let pause = backoff.pause().unwrap();
            let waited = backoff.started.elapsed();
            assert!(
                pause <= (waited / 32).max(settings.backoff_min),
                "{pause:?} {waited:?}"
            );
        }
        // Long into a wait the pause reaches the maximum, never more.
        backoff.started = (backoff.started.checked_sub(Duration::from_secs(10))).expect("up 10 s");
        let mut longest = Duration::ZERO;
        for _ in 0..20 {
            let pause = backoff.pause().unwrap();
            assert!(pause <= settings.backoff_max, "{pause:?}");
            longest = longest.max(pause);
        }
        assert!(longest > settings.backoff_max / 2, "{longest:?}");
    }

    #[test]
    fn backoff_ends_at_the_timeout_and_never_pauses_past_it() {
        let settings = LockSettings::default();
        let mut backoff = Backoff::new(&settings, "token", Duration::from_millis(1));
        assert!(
            backoff
                .pause()
                .is_none_or(|p| p <= Duration::from_millis(1))
        );
        backoff.deadline = Some(Instant::now());
        assert_eq!(backoff.pause(), None);
        let mut zero = Backoff::new(&settings, "token", Duration::ZERO);
        assert_eq!(zero.pause(), None);
    }

    #[test]
    fn tokens_are_distinct_128_bit_hex() {
        let tokens: std::collections::HashSet<String> = (0..1000).map(|_| new_token()).collect();
        assert_eq!(tokens.len(), 1000);
        assert!(
            tokens
                .iter()
                .all(|t| t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit()))
        );
    }

    #[test]
    fn jitter_stays_within_its_bounds() {
        let mut jitter = Jitter::new("seed");
        let (low, high) = (Duration::from_millis(1), Duration::from_millis(2));
        let draws: Vec<Duration> = (0..1000).map(|_| jitter.between(low, high)).collect();
        assert!(draws.iter().all(|d| *d >= low && *d < high));
        assert!(draws.iter().any(|d| *d != draws[0]), "jitter never varied");
        assert_eq!(jitter.between(high, high), high);
    }
}
