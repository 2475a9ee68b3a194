//! The async call path: the same read, single-flight, lock, double check, computation and
//! write as [`miss`](super::miss), awaiting the store where it has an [`AsyncStore`] twin and
//! calling it inline where it has none (memory and embedded stores, whose calls are short).
//!
//! Option resolution, freshness, faults, records and the flights are the blocking path's own;
//! only the waits differ. A cancelled call (its future dropped at any await) leaves nothing
//! half done: its flight tells the waiters to look again (one of them leads), its lock is
//! released by the lock's own drop, and its record is written whole or not at all.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Memoizer;
use super::call::Call;
use super::miss::{Fail, LockGuard};
use super::stats::Counter;
use crate::budget;
use crate::error::{Error, Result};
use crate::fault::{guard, panic_message};
use crate::flight::{Join, Leader, Outcome};
use crate::options::{Options, Setting};
use crate::record::Record;
use crate::store::{Acquired, AsyncLock, Lock, Store, StoreFuture};
use crate::value;

/// An async call's store budget (see [`budget`]), kept in the call's future between polls.
#[derive(Default)]
pub(super) struct Spent(AtomicU64);

impl Spent {
    /// Runs `f` with this call's total as the thread's, and keeps what `f` charged.
    pub(super) fn carry<R>(&self, f: impl FnOnce() -> R) -> R {
        let mut spent = Duration::from_nanos(self.0.load(Ordering::Relaxed));
        let out = budget::carry(&mut spent, f);
        let nanos = u64::try_from(spent.as_nanos()).unwrap_or(u64::MAX);
        self.0.store(nanos, Ordering::Relaxed);
        out
    }

    /// Runs a blocking operation of `store` inline: with this call's budget if the store is
    /// shared over a network (a networked store without an async twin may charge it),
    /// directly otherwise (memory, a local file: nothing charges, and the hit path stays as
    /// short as the blocking one).
    #[inline(always)]
    pub(super) fn inline<R>(&self, store: &dyn Store, op: impl FnOnce() -> R) -> R {
        if store.capabilities().shared {
            self.carry(op)
        } else {
            op()
        }
    }
}

/// One operation of an [`AsyncStore`](crate::AsyncStore): a panic while polling it is
/// [`Error::StorePanicked`], and the call's budget is the thread's during each poll.
pub(super) struct Guarded<'a, T> {
    store: &'static str,
    operation: &'static str,
    spent: &'a Spent,
    inner: StoreFuture<'a, T>,
}

impl<T> Future for Guarded<'_, T> {
    type Output = Result<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let this = &mut *self;
        let polled = catch_unwind(AssertUnwindSafe(|| {
            this.spent.carry(|| this.inner.as_mut().poll(cx))
        }));
        polled.unwrap_or_else(|payload| {
            Poll::Ready(Err(Error::StorePanicked {
                store: this.store,
                operation: this.operation,
                message: panic_message(&*payload),
            }))
        })
    }
}

pub(super) fn guarded<'a, T>(
    store: &dyn Store,
    operation: &'static str,
    spent: &'a Spent,
    inner: StoreFuture<'a, T>,
) -> Guarded<'a, T> {
    Guarded {
        store: store.name(),
        operation,
        spent,
        inner,
    }
}

/// A held lock of an async call.
enum Held {
    /// Released with an await; dropped held (the call was cancelled), the lock releases itself.
    Async {
        lock: Box<dyn AsyncLock>,
        store: Arc<dyn Store>,
    },
    /// A blocking lock from a `lock` option without an async twin, released inline.
    Blocking(LockGuard),
}

impl Held {
    async fn release(self, spent: &Spent) {
        match self {
            Held::Async { lock, store } => {
                let released = guarded(&*store, "releasing the lock", spent, lock.release_async());
                if let Err(error) = released.await {
                    tracing::warn!(%error, "memo: releasing a lock failed; it will lapse with \
                        its lease");
                }
            }
            Held::Blocking(guard) => spent.carry(|| drop(guard)),
        }
    }
}

/// A taken lock, and the record it read as it was taken, if it read one.
type Taken = (Held, Option<Result<Option<Record>>>);

/// What waiting for an async call's lock gave, as the blocking path's `Lease`.
enum Waited {
    /// The lock and what it read, or `None`: no lock, or it timed out or failed.
    Taken(Option<Taken>),
    /// Not held: the record the holder wrote while this call waited.
    Written(Record),
}

/// A lock handle made for a call, not yet acquired.
enum Made {
    Async(Box<dyn AsyncLock>),
    Blocking(Box<dyn Lock>),
}

impl Memoizer {
    /// An async call: the hit path here, the rest in [`Memoizer::miss_async`]. As in the
    /// blocking [`Memoizer::run`], `fail` turns a failure into the caller's error type here,
    /// so that the public calls return this future itself, with no layer around it.
    pub(super) async fn run_async<T, E, R, Fut>(
        &self,
        key: &str,
        options: Option<&Options>,
        f: impl FnOnce() -> Fut,
        fail: impl Fn(Fail<E>) -> R,
    ) -> std::result::Result<T, R>
    where
        T: Serialize + DeserializeOwned + 'static,
        Fut: Future<Output = std::result::Result<T, E>>,
    {
        let region = self.region(options).map_err(|e| fail(Fail::Memo(e)))?;
        let cfg = self.resolve(&region, options);
        let call = self.call(&cfg, key).map_err(|e| fail(Fail::Memo(e)))?;
        let spent = Spent::default();
        let epoch = self.inner.flights.epoch();
        let store = &**cfg.store;
        // A store without an async twin is read right here, as the blocking hit path reads it.
        let found = match store.as_async() {
            None => spent.inline(store, || self.read(&call)),
            Some(_) => self.read_async(&call, &spent).await,
        };
        match found {
            Ok(Some(value)) => {
                self.inner.counters.bump(|s| &s.hits);
                Ok(value)
            }
            // Boxed so that the future of a hit stays small.
            Ok(None) => Box::pin(self.miss_async(&call, &spent, epoch, f))
                .await
                .map_err(fail),
            Err(error) => Err(fail(Fail::Memo(error))),
        }
    }

    /// [`Memoizer::peek`] for async code.
    pub(super) async fn peek_async_inner<T: DeserializeOwned + 'static>(
        &self,
        key: &str,
        options: Option<&Options>,
    ) -> Result<Option<T>> {
        let region = self.region(options)?;
        let cfg = self.resolve(&region, options);
        let call = self.call(&cfg, key)?;
        let (spent, store) = (Spent::default(), &**cfg.store);
        let found = match store.as_async() {
            None => spent.inline(store, || self.read(&call))?,
            Some(_) => self.read_async(&call, &spent).await?,
        };
        let counter: Counter = if found.is_some() {
            |s| &s.hits
        } else {
            |s| &s.misses
        };
        self.inner.counters.bump(counter);
        Ok(found)
    }

    /// The fresh value: [`Memoizer::read`], awaiting an async store.
    async fn read_async<T: DeserializeOwned + 'static>(
        &self,
        call: &Call<'_>,
        spent: &Spent,
    ) -> Result<Option<T>> {
        let store = &**call.cfg.store;
        match store.as_async() {
            None => spent.inline(store, || self.read(call)),
            Some(twin) => {
                let got = guarded(store, "read", spent, twin.get_async(&call.key)).await;
                Ok(self.fresh(call, got)?.map(|(value, _)| value))
            }
        }
    }

    /// The fresh value and its record: [`Memoizer::read_record`], awaiting an async store.
    async fn read_record_async<T: DeserializeOwned + 'static>(
        &self,
        call: &Call<'_>,
        spent: &Spent,
    ) -> Result<Option<(T, Record)>> {
        let store = &**call.cfg.store;
        match store.as_async() {
            None => spent.inline(store, || self.read_record(call)),
            Some(twin) => {
                let got = guarded(store, "read", spent, twin.get_async(&call.key)).await;
                self.fresh(call, got)
            }
        }
    }

    /// What [`Memoizer::read_with`] makes of a lent record, for a record an async store
    /// returned: fresh and decodable, or a miss; faults counted, returned only when strict.
    fn fresh<T: DeserializeOwned + 'static>(
        &self,
        call: &Call<'_>,
        got: Result<Option<Record>>,
    ) -> Result<Option<(T, Record)>> {
        match got {
            Ok(Some(record)) if call.is_fresh(&record) => match value::decode(&record.value) {
                Ok(value) => Ok(Some((value, record))),
                Err(error) => {
                    let error = Error::Codec(format!("value of {:?}: {error}", call.key));
                    self.fault(call, "decoding a value", error).map(|()| None)
                }
            },
            Ok(_) => Ok(None),
            Err(error) => self.fault(call, "read", error).map(|()| None),
        }
    }

    /// [`Memoizer::miss`] for an async call: waiters wait without blocking their thread.
    async fn miss_async<T, E, Fut>(
        &self,
        call: &Call<'_>,
        spent: &Spent,
        mut epoch: u64,
        f: impl FnOnce() -> Fut,
    ) -> std::result::Result<T, Fail<E>>
    where
        T: Serialize + DeserializeOwned + 'static,
        Fut: Future<Output = std::result::Result<T, E>>,
    {
        let cfg = call.cfg;
        let flights = &self.inner.flights;
        self.inner.counters.bump(|s| &s.misses);
        let flight_key = (cfg.store_id(), Box::from(&*call.key));
        loop {
            call.refresh_now();
            let joined = flights.join(flight_key.clone());
            match joined {
                Join::Leader(leader) => {
                    if flights.epoch() != epoch
                        && let Some((value, record)) = self.read_record_async(call, spent).await?
                    {
                        leader.finish(record);
                        return Ok(value);
                    }
                    return self.lead_async(call, spent, Some(leader), f).await;
                }
                Join::Waiter(flight) => match flight.wait_async(cfg.timeout()).await {
                    Outcome::Done(record) => {
                        call.refresh_now();
                        return match value::decode(&record.value) {
                            Ok(value) if call.is_fresh(&record) => Ok(value),
                            _ => self.lead_async(call, spent, None, f).await,
                        };
                    }
                    // The leader failed, panicked or was cancelled: look again, maybe lead.
                    Outcome::Failed => {
                        call.refresh_now();
                        epoch = flights.epoch();
                        if let Some(value) = self.read_async(call, spent).await? {
                            return Ok(value);
                        }
                    }
                    Outcome::TimedOut => {
                        self.inner.counters.bump(|s| &s.lock_timeouts);
                        if cfg.strict() {
                            return Err(Fail::Memo(Error::LockTimeout {
                                key: call.key.to_string(),
                                timeout: cfg.timeout(),
                            }));
                        }
                        return self.lead_async(call, spent, None, f).await;
                    }
                },
            }
        }
    }

    /// [`Memoizer::lead`] for an async call.
    async fn lead_async<T, E, Fut>(
        &self,
        call: &Call<'_>,
        spent: &Spent,
        leader: Option<Leader<'_>>,
        f: impl FnOnce() -> Fut,
    ) -> std::result::Result<T, Fail<E>>
    where
        T: Serialize + DeserializeOwned + 'static,
        Fut: Future<Output = std::result::Result<T, E>>,
    {
        let held = match self.take_lock_async(call, spent).await? {
            Waited::Taken(taken) => taken,
            Waited::Written(record) => {
                call.refresh_now();
                match self.read_given(call, Ok(Some(record))) {
                    Ok(Some((value, record))) => {
                        if let Some(leader) = leader {
                            leader.finish(record);
                        }
                        return Ok(value);
                    }
                    Ok(None) => {}
                    Err(error) => return Err(Fail::Memo(error)),
                }
                // As in the blocking lead: not a hit for this call, so wait for the lock.
                match self.take_lock_async(call, spent).await? {
                    Waited::Taken(taken) => taken,
                    Waited::Written(_) => None,
                }
            }
        };
        call.refresh_now();
        if let Some((held, read)) = held {
            // Double check: whoever held the lock before us may have stored the value. A lock
            // that read the record as it was taken has done the reading.
            let found = match read {
                Some(read) => self.read_given(call, read),
                None => self.read_record_async(call, spent).await,
            };
            match found {
                Ok(Some((value, record))) => {
                    held.release(spent).await;
                    if let Some(leader) = leader {
                        leader.finish(record);
                    }
                    return Ok(value);
                }
                Ok(None) => {}
                Err(error) => {
                    held.release(spent).await;
                    return Err(Fail::Memo(error));
                }
            }
            return self.compute_async(call, spent, Some(held), leader, f).await;
        }
        self.compute_async(call, spent, None, leader, f).await
    }

    /// Computes, writes, releases the lock, and hands the record to the waiters.
    async fn compute_async<T, E, Fut>(
        &self,
        call: &Call<'_>,
        spent: &Spent,
        held: Option<Held>,
        leader: Option<Leader<'_>>,
        f: impl FnOnce() -> Fut,
    ) -> std::result::Result<T, Fail<E>>
    where
        T: Serialize + DeserializeOwned + 'static,
        Fut: Future<Output = std::result::Result<T, E>>,
    {
        self.inner.counters.bump(|s| &s.computations);
        let computed = f().await;
        let value = match computed {
            Ok(value) => value,
            Err(error) => {
                if let Some(held) = held {
                    held.release(spent).await;
                }
                return Err(Fail::Func(error));
            }
        };
        let record = match self.record_of(call, &value) {
            Ok(Some(record)) => record,
            other => {
                if let Some(held) = held {
                    held.release(spent).await;
                }
                return other.map(|_| value).map_err(Fail::Memo);
            }
        };
        let store = &**call.cfg.store;
        // Write, then release: in one operation when the lock can carry the write.
        let carried = match &held {
            Some(Held::Async { lock, .. }) => {
                guarded(store, "write", spent, lock.release_writing_async(&record)).await
            }
            _ => Ok(false),
        };
        let written = match (carried, store.as_async()) {
            (Ok(true), _) => Ok(()),
            (Err(error), _) => Err(error),
            (Ok(false), None) => spent.inline(store, || {
                guard(store, "write", || store.set(&call.key, record.clone()))
            }),
            (Ok(false), Some(twin)) => {
                guarded(
                    store,
                    "write",
                    spent,
                    twin.set_async(&call.key, record.clone()),
                )
                .await
            }
        };
        if let Some(held) = held {
            held.release(spent).await;
        }
        if let Some(leader) = leader {
            leader.finish(record);
        }
        if let Err(error) = written {
            self.fault(call, "write", error)?;
        }
        Ok(value)
    }

    /// [`Memoizer::take_lock`] for an async call: an async lock is awaited, a blocking one (a
    /// `lock` option without an async twin) is acquired inline.
    async fn take_lock_async(&self, call: &Call<'_>, spent: &Spent) -> Result<Waited> {
        let store = call.cfg.store;
        let made = guard(&**store, "acquiring the lock", || {
            Ok(match call.cfg.lock() {
                Setting::Value(provider) => Some(match provider.lock_async(&call.key) {
                    Some(lock) => Made::Async(lock),
                    None => Made::Blocking(provider.lock(&call.key)),
                }),
                Setting::Unset => match store.as_async().and_then(|s| {
                    s.record_lock_async(&call.key)
                        .or_else(|| s.lock_async(&call.key))
                }) {
                    Some(lock) => Some(Made::Async(lock)),
                    None => store.lock(&call.key).map(Made::Blocking),
                },
                Setting::Cleared => None,
            })
        });
        let made = match made {
            Ok(Some(made)) => made,
            Ok(None) => return Ok(Waited::Taken(None)),
            Err(error) => {
                return self
                    .fault(call, "acquiring the lock", error)
                    .map(|()| Waited::Taken(None));
            }
        };
        let timeout = call.cfg.timeout();
        match made {
            Made::Async(lock) => {
                let attempt = lock.acquire_reading_async(timeout);
                let acquired = guarded(&**store, "acquiring the lock", spent, attempt).await;
                let (acquired, read) = match acquired {
                    Ok(Acquired::Read(read)) => (Ok(true), Some(read)),
                    Ok(Acquired::Held) => (Ok(true), None),
                    Ok(Acquired::TimedOut) => (Ok(false), None),
                    Ok(Acquired::Written(record)) => return Ok(Waited::Written(record)),
                    Err(error) => (Err(error), None),
                };
                Ok(Waited::Taken(self.lock_acquired(call, acquired)?.then(
                    || {
                        let held = Held::Async {
                            lock,
                            store: store.clone(),
                        };
                        (held, read)
                    },
                )))
            }
            Made::Blocking(lock) => {
                let acquired =
                    spent.carry(|| guard(&**store, "acquiring the lock", || lock.acquire(timeout)));
                Ok(Waited::Taken(self.lock_acquired(call, acquired)?.then(
                    || {
                        let held = Held::Blocking(LockGuard {
                            lock,
                            store: store.clone(),
                        });
                        (held, None)
                    },
                )))
            }
        }
    }
}
