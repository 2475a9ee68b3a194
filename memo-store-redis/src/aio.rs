//! The async twin of the store (feature `tokio`): every round trip on one multiplexed tokio
//! connection, under the same deadline, breaker and counts as the blocking pool.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use memo_core::{Acquired, AsyncLock, AsyncStore, Record, Result, StoreFuture, budget};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Cmd, FromRedisValue, Pipeline, RedisResult};

use crate::lock::{
    ACQUIRE, ACQUIRE_READING, Backoff, RELEASE, RedisLock, Watch, new_token, write_then_release,
};
use crate::pool::{Pool, deadline_passed};
use crate::store::{RedisStore, Shared, write_command};

/// The connection async calls share, with a generation so that a caller that found it dead
/// drops only that one, not a newer one another caller made meanwhile.
#[derive(Default)]
pub(crate) struct Multiplexed {
    current: Mutex<Option<(u64, MultiplexedConnection)>>,
    /// Held while opening, so that a cold burst of calls opens one connection, not one each.
    opening: tokio::sync::Mutex<u64>,
}

impl Multiplexed {
    fn current(&self) -> MutexGuard<'_, Option<(u64, MultiplexedConnection)>> {
        // Replacing an Option cannot be left half done by a panic.
        self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn forget(&self, generation: u64) {
        let mut current = self.current();
        if current.as_ref().is_some_and(|(g, _)| *g == generation) {
            *current = None;
        }
    }
}

impl Pool {
    /// The shared connection and its generation, opened within `left` if there is none.
    async fn connection(&self, left: Duration) -> RedisResult<(u64, MultiplexedConnection)> {
        if let Some(found) = self.aio.current().clone() {
            return Ok(found);
        }
        let open = async {
            let mut generation = self.aio.opening.lock().await;
            if let Some(found) = self.aio.current().clone() {
                return Ok(found);
            }
            // Requests are bounded by each call's own timeout, not the connection's.
            let config = AsyncConnectionConfig::new()
                .set_connection_timeout(Some(self.timeouts().connect))
                .set_response_timeout(None);
            let connection = self
                .client
                .get_multiplexed_async_connection_with_config(&config)
                .await?;
            *generation += 1;
            let made = (*generation, connection);
            *self.aio.current() = Some(made.clone());
            Ok(made)
        };
        tokio::time::timeout(left, open)
            .await
            .unwrap_or_else(|_| Err(deadline_passed()))
    }

    /// [`Pool::run`] for async calls: `cmd` on the multiplexed connection, unless the breaker
    /// is open or the call's deadline spent; bounded by the read timeout and what is left of
    /// the deadline (a timeout future, not a socket option), and charged to the call.
    ///
    /// A connection that turns out dead (the server restarted, or the runtime that drove it
    /// shut down) is dropped and `cmd` runs once more on a new one, within the same deadline.
    /// After a timeout the connection stays: a multiplexed connection matches late replies to
    /// their requests, so a late reply never answers another command.
    ///
    /// # Errors
    /// As [`Pool::run`].
    pub(crate) async fn run_async<T: FromRedisValue>(&self, cmd: &impl Request) -> Result<T> {
        let started = Instant::now();
        let left = budget::remaining(self.timeouts().deadline);
        let result = match self.admit(started, left) {
            Ok(permit) => {
                let result = self.round_trip_async(started, left, cmd).await;
                self.settle(permit, result)
            }
            Err(error) => Err(error),
        };
        budget::charge(started.elapsed());
        result
    }

    async fn round_trip_async<T: FromRedisValue>(
        &self,
        started: Instant,
        left: Duration,
        cmd: &impl Request,
    ) -> RedisResult<T> {
        let left_now = || left.saturating_sub(started.elapsed());
        let mut retried = false;
        loop {
            let (generation, mut connection) = self.connection(left_now()).await?;
            let bound = left_now().min(self.timeouts().read);
            let sent = tokio::time::timeout(bound, cmd.send(&mut connection)).await;
            match sent {
                Err(_) => return Err(deadline_passed()),
                Ok(Err(error)) if !retried && error.is_connection_dropped() => {
                    self.aio.forget(generation);
                    retried = true;
                    tracing::debug!(%error, "memo: the async redis connection was dead; \
                        reconnecting");
                }
                Ok(result) => return result,
            }
        }
    }
}

/// A command or a pipeline, sent as one request on the multiplexed connection.
pub(crate) trait Request: Sync {
    fn send<T: FromRedisValue>(
        &self,
        connection: &mut MultiplexedConnection,
    ) -> impl Future<Output = RedisResult<T>> + Send;
}

impl Request for Cmd {
    fn send<T: FromRedisValue>(
        &self,
        connection: &mut MultiplexedConnection,
    ) -> impl Future<Output = RedisResult<T>> + Send {
        self.query_async(connection)
    }
}

impl Request for Pipeline {
    fn send<T: FromRedisValue>(
        &self,
        connection: &mut MultiplexedConnection,
    ) -> impl Future<Output = RedisResult<T>> + Send {
        self.query_async(connection)
    }
}

impl AsyncStore for RedisStore {
    fn get_async<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Record>> {
        Box::pin(async move {
            let mut cmd = redis::cmd("GET");
            cmd.arg(self.record_key(key));
            let bytes: Option<Vec<u8>> = self.shared.pool.run_async(&cmd).await?;
            bytes.map(|b| Record::decode(&b)).transpose()
        })
    }

    fn set_async<'a>(&'a self, key: &'a str, record: Record) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let cmd = write_command(&self.record_key(key), &record);
            self.shared.pool.run_async::<()>(&cmd).await
        })
    }

    fn delete_async<'a>(&'a self, key: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let mut cmd = redis::cmd("DEL");
            cmd.arg(self.record_key(key));
            let removed: u64 = self.shared.pool.run_async(&cmd).await?;
            Ok(removed > 0)
        })
    }

    fn lock_async(&self, key: &str) -> Option<Box<dyn AsyncLock>> {
        self.shared
            .lock
            .enabled
            .then(|| Box::new(self.redis_lock(key)) as Box<dyn AsyncLock>)
    }

    /// The async twin of [`Store::record_lock`](memo_core::Store::record_lock).
    fn record_lock_async(&self, key: &str) -> Option<Box<dyn AsyncLock>> {
        self.shared
            .lock
            .enabled
            .then(|| Box::new(self.record_lock_of(key)) as Box<dyn AsyncLock>)
    }
}

/// The compare-and-delete of a lease, for async callers and for a lock dropped held on a
/// runtime.
pub(crate) async fn release(shared: &Shared, key: &[u8], token: &str) -> Result<()> {
    let cmd = redis::cmd("EVAL")
        .arg(RELEASE)
        .arg(1)
        .arg(key)
        .arg(token)
        .clone();
    let deleted: u64 = shared.pool.run_async(&cmd).await?;
    if deleted == 0 {
        tracing::debug!(key = %String::from_utf8_lossy(key),
            "memo: redis lock lease ran out before release");
    }
    Ok(())
}

/// The same lock as its blocking [`Lock`](memo_core::Lock) impl, with the pauses between
/// attempts spent on the runtime's timer instead of the thread.
impl AsyncLock for RedisLock {
    fn acquire_async(&self, timeout: Duration) -> StoreFuture<'_, bool> {
        Box::pin(async move {
            let settings = &self.shared.lock;
            let lease_ms = u64::try_from(settings.lease.as_millis()).unwrap_or(u64::MAX);
            let token = new_token();
            let mut backoff = Backoff::new(settings, &token, timeout);
            let cmd = redis::cmd("EVAL")
                .arg(ACQUIRE)
                .arg(1)
                .arg(&self.key)
                .arg(&token)
                .arg(lease_ms)
                .clone();
            loop {
                let taken: u8 = self.shared.pool.run_async(&cmd).await?;
                if taken == 1 {
                    *self.held() = Some(token);
                    return Ok(true);
                }
                let Some(pause) = backoff.pause() else {
                    return Ok(false);
                };
                tokio::time::sleep(pause).await;
            }
        })
    }

    /// As the blocking [`Lock::acquire_reading`](memo_core::Lock::acquire_reading).
    fn acquire_reading_async(&self, timeout: Duration) -> StoreFuture<'_, Acquired> {
        Box::pin(async move {
            let Some(rkey) = &self.record else {
                return Ok(if self.acquire_async(timeout).await? {
                    Acquired::Held
                } else {
                    Acquired::TimedOut
                });
            };
            let settings = &self.shared.lock;
            let lease_ms = u64::try_from(settings.lease.as_millis()).unwrap_or(u64::MAX);
            let token = new_token();
            let mut backoff = Backoff::new(settings, &token, timeout);
            let mut watch = Watch::First;
            loop {
                let cmd = redis::cmd("EVAL")
                    .arg(ACQUIRE_READING)
                    .arg(2)
                    .arg(&self.key)
                    .arg(rkey)
                    .arg(&token)
                    .arg(lease_ms)
                    .arg(watch.arg())
                    .clone();
                let reply: (u8, Option<Vec<u8>>) = self.shared.pool.run_async(&cmd).await?;
                if let Some(done) = watch.settle(reply) {
                    if matches!(done, Acquired::Read(_)) {
                        *self.held() = Some(token);
                    }
                    return Ok(done);
                }
                let Some(pause) = backoff.pause() else {
                    return Ok(Acquired::TimedOut);
                };
                tokio::time::sleep(pause).await;
            }
        })
    }

    /// As the blocking [`Lock::release_writing`](memo_core::Lock::release_writing): the
    /// write and the release in one pipelined request. The token stays until Redis answers,
    /// so a call cancelled meanwhile still releases the lock as it drops it.
    fn release_writing_async<'a>(&'a self, record: &'a Record) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let Some(rkey) = &self.record else {
                return Ok(false);
            };
            let Some(token) = self.held().clone() else {
                return Ok(false);
            };
            let pipe = write_then_release(rkey, record, &self.key, &token);
            let (deleted,): (u64,) = self.shared.pool.run_async(&pipe).await?;
            self.held().take_if(|held| *held == token);
            if deleted == 0 {
                tracing::debug!(key = %String::from_utf8_lossy(&self.key),
                    "memo: redis lock lease ran out before release");
            }
            Ok(true)
        })
    }

    fn release_async(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let Some(token) = self.held().take() else {
                return Ok(());
            };
            release(&self.shared, &self.key, &token).await
        })
    }
}
