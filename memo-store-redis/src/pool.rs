//! A small pool of blocking connections that drops every connection that failed, and the one
//! place where round trips happen: under the call's deadline and the circuit breaker.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use memo_core::{Result, budget};
use redis::{Client, Connection, ConnectionLike, RedisError, RedisResult};

use crate::breaker::{Breaker, BreakerCounts, BreakerSettings, Change, Permit};
use crate::error::{NotSent, backend, not_sent};

/// Timeouts that bound every round trip: none of them may be zero (the OS treats zero as
/// "never").
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timeouts {
    pub(crate) connect: Duration,
    pub(crate) read: Duration,
    pub(crate) write: Duration,
    /// The most one Memoizer call spends in Redis, all its round trips together.
    pub(crate) deadline: Duration,
}

/// What the pool has counted since the store was built.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct PoolCounts {
    pub(crate) connection_failures: u64,
    pub(crate) deadline_failures: u64,
    pub(crate) breaker: BreakerCounts,
}

/// A connection and the socket timeouts it has now, so that they are set only when they change.
struct Pooled {
    connection: Connection,
    read: Option<Duration>,
    write: Option<Duration>,
}

impl Pooled {
    /// Runs `op`, which reads `replies` replies, with each socket wait bounded by its timeout
    /// and by a share of `left`: the `redis` crate waits for every reply of a pipeline in turn,
    /// each up to the read timeout, even after one timed out.
    fn run<T>(
        &mut self,
        timeouts: Timeouts,
        left: Duration,
        replies: u32,
        op: &impl Fn(&mut Connection) -> RedisResult<T>,
    ) -> RedisResult<T> {
        if left.is_zero() {
            return Err(deadline_passed());
        }
        let read = Some(timeouts.read.min(whole_ms(left / replies.max(1))));
        if self.read != read {
            self.connection.set_read_timeout(read)?;
            self.read = read;
        }
        let write = Some(timeouts.write.min(whole_ms(left)));
        if self.write != write {
            self.connection.set_write_timeout(write)?;
            self.write = write;
        }
        op(&mut self.connection)
    }
}

/// `left` rounded down to whole milliseconds (unless under one), so that calls with about the
/// same time left reuse a connection's timeouts instead of setting them anew.
fn whole_ms(left: Duration) -> Duration {
    let floored = Duration::from_millis(u64::try_from(left.as_millis()).unwrap_or(u64::MAX));
    if floored.is_zero() { left } else { floored }
}

/// The error of a round trip that had no time left to start: a timeout, since the server took
/// the call's deadline.
pub(crate) fn deadline_passed() -> RedisError {
    io::Error::new(io::ErrorKind::TimedOut, "the call's deadline passed").into()
}

/// Idle connections to one server, at most `max_idle` of them.
///
/// A caller takes an idle connection or opens a new one, so concurrency is never limited by the
/// pool; only the number of connections kept between calls is.
pub(crate) struct Pool {
    pub(crate) client: Client,
    /// The replies a new connection waits for during its setup (`AUTH`/`HELLO`, `SELECT`).
    setup_replies: u32,
    idle: Mutex<Vec<Pooled>>,
    max_idle: usize,
    timeouts: Timeouts,
    breaker: Breaker,
    connection_failures: AtomicU64,
    deadline_failures: AtomicU64,
    /// The multiplexed connection of async calls, opened by the first.
    #[cfg(feature = "tokio")]
    pub(crate) aio: crate::aio::Multiplexed,
}

impl Pool {
    pub(crate) fn new(
        client: Client,
        max_idle: usize,
        timeouts: Timeouts,
        breaker: BreakerSettings,
    ) -> Self {
        let settings = client.get_connection_info().redis_settings();
        let auth = settings.protocol().supports_resp3() || settings.password().is_some();
        let setup_replies = u32::from(auth) + u32::from(settings.db() != 0);
        Pool {
            client,
            setup_replies,
            idle: Mutex::new(Vec::with_capacity(max_idle)),
            max_idle,
            timeouts,
            breaker: Breaker::new(breaker),
            connection_failures: AtomicU64::new(0),
            deadline_failures: AtomicU64::new(0),
            #[cfg(feature = "tokio")]
            aio: crate::aio::Multiplexed::default(),
        }
    }

    /// `host:port` (or the socket path) of the server, without credentials.
    pub(crate) fn address(&self) -> String {
        self.client.get_connection_info().addr().to_string()
    }

    pub(crate) fn max_idle(&self) -> usize {
        self.max_idle
    }

    pub(crate) fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    pub(crate) fn counts(&self) -> PoolCounts {
        PoolCounts {
            connection_failures: self.connection_failures.load(Ordering::Relaxed),
            deadline_failures: self.deadline_failures.load(Ordering::Relaxed),
            breaker: self.breaker.counts(),
        }
    }

    fn idle(&self) -> MutexGuard<'_, Vec<Pooled>> {
        // A Vec push or pop cannot be left half done by a panic.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Opens a connection, checks that the server answers on it, and keeps it in the pool:
    /// what `build` does unless lazy.
    pub(crate) fn warm_up(&self) -> Result<()> {
        self.run(|c| redis::cmd("PING").exec(c))
    }

    /// A new connection, set up within `left` at most.
    fn open(&self, left: Duration) -> RedisResult<Pooled> {
        if left.is_zero() {
            return Err(deadline_passed());
        }
        // The crate bounds the TCP connect by this timeout, then each setup reply by what the
        // connect left of it: the whole stays within one share per reply.
        let share = left / self.setup_replies.max(1);
        let connection = self
            .client
            .get_connection_with_timeout(self.timeouts.connect.min(share))?;
        // The setup leaves no timeouts behind; the first round trip sets them.
        Ok(Pooled {
            connection,
            read: None,
            write: None,
        })
    }

    fn take(&self) -> Option<Pooled> {
        let mut idle = self.idle();
        while let Some(pooled) = idle.pop() {
            if pooled.connection.is_open() {
                return Some(pooled);
            }
        }
        None
    }

    fn put(&self, pooled: Pooled) {
        let mut idle = self.idle();
        if idle.len() < self.max_idle {
            idle.push(pooled);
        }
    }

    /// Runs `op` on a connection within what is left of the call's deadline, unless the
    /// circuit breaker is open; returns the connection to the pool if `op` succeeded.
    ///
    /// Every socket wait (connect, send, receive) is bounded by its timeout and by what is left
    /// of the deadline, and the time taken is charged to the call. A connection that failed is
    /// dropped: after a timeout its reply may still be on the way and would answer the next
    /// command. When an idle connection turns out to be dead (the server restarted since it was
    /// last used), its idle siblings are dead too: they are dropped and `op` runs once more on a
    /// new connection, within the same deadline.
    ///
    /// # Errors
    /// [`memo_core::Error::Backend`] with the `redis` error, or with [`NotSent`] when the
    /// deadline was already spent or the breaker is open.
    pub(crate) fn run<T>(&self, op: impl Fn(&mut Connection) -> RedisResult<T>) -> Result<T> {
        self.run_pipeline(1, op)
    }

    /// [`Pool::run`] for an `op` that pipelines `replies` commands.
    ///
    /// # Errors
    /// As [`Pool::run`].
    pub(crate) fn run_pipeline<T>(
        &self,
        replies: u32,
        op: impl Fn(&mut Connection) -> RedisResult<T>,
    ) -> Result<T> {
        let started = Instant::now();
        let left = budget::remaining(self.timeouts.deadline);
        let result = self.run_within(started, left, replies, &op);
        budget::charge(started.elapsed());
        result
    }

    fn run_within<T>(
        &self,
        started: Instant,
        left: Duration,
        replies: u32,
        op: &impl Fn(&mut Connection) -> RedisResult<T>,
    ) -> Result<T> {
        let permit = self.admit(started, left)?;
        let result = self.round_trip(started, left, replies, op);
        self.settle(permit, result)
    }

    /// Leave for one round trip with `left` of the call's deadline, unless it is spent or the
    /// circuit breaker is open: the blocking and the async paths share the breaker.
    ///
    /// # Errors
    /// [`NotSent`], as [`memo_core::Error::Backend`].
    pub(crate) fn admit(&self, started: Instant, left: Duration) -> Result<Permit<'_>> {
        if left.is_zero() {
            self.deadline_failures.fetch_add(1, Ordering::Relaxed);
            return Err(not_sent(NotSent::DeadlineSpent {
                deadline: self.timeouts.deadline,
            }));
        }
        self.breaker
            .admit(started)
            .map_err(|retry_in| not_sent(NotSent::BreakerOpen { retry_in }))
    }

    /// Reports a round trip's outcome to the breaker and the counts, and converts its error.
    ///
    /// # Errors
    /// The round trip's, as [`memo_core::Error::Backend`].
    pub(crate) fn settle<T>(&self, permit: Permit<'_>, result: RedisResult<T>) -> Result<T> {
        // Only a connection that failed counts against the server; an error reply (a key of
        // another type) is an answer.
        let answered = result.as_ref().err().is_none_or(|e| !e.is_io_error());
        if !answered {
            self.connection_failures.fetch_add(1, Ordering::Relaxed);
        }
        match self.breaker.record(permit, answered, Instant::now()) {
            Change::None => {}
            Change::Opened { failures } => tracing::warn!(
                failures,
                cool_down = ?self.breaker.settings().cool_down,
                server = %self.address(),
                "memo: redis circuit breaker opened; calls fail at once until a probe succeeds"
            ),
            Change::Closed => tracing::info!(
                server = %self.address(),
                "memo: redis answered again; circuit breaker closed"
            ),
        }
        result.map_err(backend)
    }

    fn round_trip<T>(
        &self,
        started: Instant,
        left: Duration,
        replies: u32,
        op: &impl Fn(&mut Connection) -> RedisResult<T>,
    ) -> RedisResult<T> {
        let left_now = || left.saturating_sub(started.elapsed());
        if let Some(mut pooled) = self.take() {
            match pooled.run(self.timeouts, left_now(), replies, op) {
                Ok(value) => {
                    self.put(pooled);
                    return Ok(value);
                }
                Err(error) if error.is_connection_dropped() => {
                    self.idle().clear();
                    tracing::debug!(%error, "memo: a pooled redis connection was dead; reconnecting");
                }
                Err(error) => return Err(error),
            }
        }
        let mut pooled = self.open(left_now())?;
        let value = pooled.run(self.timeouts, left_now(), replies, op)?;
        self.put(pooled);
        Ok(value)
    }
}
