//! A call that may compute: the hit path, then single-flight, the lock, the double check,
//! the computation and the write.

use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Memoizer;
use super::call::Call;
use crate::budget;
use crate::error::{Error, Result};
use crate::fault::guard;
use crate::flight::{Join, Leader, Outcome};
use crate::options::{Options, Setting};
use crate::record::Record;
use crate::store::{Acquired, Lock, Store};
use crate::value;

/// A memo error or the memoized function's own error.
pub(super) enum Fail<E> {
    Memo(Error),
    Func(E),
}

impl<E> From<Error> for Fail<E> {
    fn from(error: Error) -> Self {
        Fail::Memo(error)
    }
}

/// Releases a held lock when dropped, also during a panic.
pub(super) struct LockGuard {
    pub(super) lock: Box<dyn Lock>,
    pub(super) store: Arc<dyn Store>,
}

/// A taken lock, and the record it read as it was taken, if it read one.
/// What waiting for a call's lock gave.
pub(super) enum Lease {
    /// The lock, held (`None`: there is none, or it timed out or failed and the call computes
    /// without it).
    Taken(Option<Held>),
    /// Not held: the record the holder wrote while this call waited ([`Acquired::Written`]).
    Written(Record),
}

pub(super) struct Held {
    pub(super) guard: LockGuard,
    pub(super) read: Option<Result<Option<Record>>>,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Err(error) = guard(&*self.store, "releasing the lock", || self.lock.release()) {
            tracing::warn!(%error, "memo: releasing a lock failed; it will lapse with its lease");
        }
    }
}

impl Memoizer {
    /// A call: the hit path here, the rest in [`Memoizer::miss`]. `fail` turns a failure into
    /// the caller's error type here, so that a hit's value goes straight into the caller's
    /// result, with no intermediate `Result` to copy it through.
    #[inline(always)]
    pub(super) fn run<T, E, R>(
        &self,
        key: &str,
        options: Option<&Options>,
        f: impl FnOnce() -> std::result::Result<T, E>,
        fail: impl Fn(Fail<E>) -> R,
    ) -> std::result::Result<T, R>
    where
        T: Serialize + DeserializeOwned + 'static,
    {
        let region = self.region(options).map_err(|e| fail(Fail::Memo(e)))?;
        let cfg = self.resolve(&region, options);
        let call = self.call(&cfg, key).map_err(|e| fail(Fail::Memo(e)))?;
        // One budget for the whole call: the read, and on a miss the lock, the double check
        // and the write.
        let _budget = budget::Scope::enter();
        let epoch = self.inner.flights.epoch();
        match self.read(&call) {
            Ok(Some(value)) => {
                self.inner.counters.bump(|s| &s.hits);
                Ok(value)
            }
            Ok(None) => self.miss(&call, epoch, f).map_err(fail),
            Err(error) => Err(fail(Fail::Memo(error))),
        }
    }

    /// A call that found no value: joins or leads the key's flight. Kept out of line so that
    /// the hit path around it stays small.
    #[inline(never)]
    pub(super) fn miss<T, E>(
        &self,
        call: &Call<'_>,
        mut epoch: u64,
        f: impl FnOnce() -> std::result::Result<T, E>,
    ) -> std::result::Result<T, Fail<E>>
    where
        T: Serialize + DeserializeOwned + 'static,
    {
        let cfg = call.cfg;
        let flights = &self.inner.flights;
        self.inner.counters.bump(|s| &s.misses);
        let flight_key = (cfg.store_id(), Box::from(&*call.key));
        loop {
            call.refresh_now();
            match flights.join(flight_key.clone()) {
                Join::Leader(leader) => {
                    if flights.epoch() != epoch {
                        // A flight ended between our read and our join: its record may be there.
                        if let Some((value, record)) = self.read_record(call)? {
                            leader.finish(record);
                            return Ok(value);
                        }
                    }
                    return self.lead(call, Some(leader), f);
                }
                Join::Waiter(flight) => match flight.wait(cfg.timeout()) {
                    // The leader's call may differ from ours (another etag, a shorter max_age,
                    // another type): its value serves us only if it is a hit for our call.
                    Outcome::Done(record) => {
                        call.refresh_now();
                        match value::decode(&record.value) {
                            Ok(value) if call.is_fresh(&record) => return Ok(value),
                            _ => return self.lead(call, None, f),
                        }
                    }
                    Outcome::Failed => {
                        call.refresh_now();
                        epoch = flights.epoch();
                        if let Some(value) = self.read(call)? {
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
                        return self.lead(call, None, f);
                    }
                },
            }
        }
    }

    /// Takes the lock, double-checks, computes, writes, releases, and hands the record to the
    /// waiters. Without a `leader` (a waiter that gave up waiting) there is no one to hand to.
    pub(super) fn lead<T, E>(
        &self,
        call: &Call<'_>,
        leader: Option<Leader<'_>>,
        f: impl FnOnce() -> std::result::Result<T, E>,
    ) -> std::result::Result<T, Fail<E>>
    where
        T: Serialize + DeserializeOwned + 'static,
    {
        let mut held = match self.take_lock(call)? {
            Lease::Taken(held) => held,
            Lease::Written(record) => {
                call.refresh_now();
                if let Some((value, record)) = self.read_given(call, Ok(Some(record)))? {
                    if let Some(leader) = leader {
                        leader.finish(record);
                    }
                    return Ok(value);
                }
                // Written, but not a hit for this call: wait for the lock after all. A lock
                // that stops early again breaks its contract; compute without it.
                match self.take_lock(call)? {
                    Lease::Taken(held) => held,
                    Lease::Written(_) => None,
                }
            }
        };
        call.refresh_now();
        // Double check: whoever held the lock before us may have stored the value. A lock that
        // read the record as it was taken has done the reading.
        if let Some(read) = held.as_mut().map(|held| held.read.take()) {
            let found = match read {
                Some(read) => self.read_given(call, read)?,
                None => self.read_record(call)?,
            };
            if let Some((value, record)) = found {
                drop(held);
                if let Some(leader) = leader {
                    leader.finish(record);
                }
                return Ok(value);
            }
        }
        self.inner.counters.bump(|s| &s.computations);
        let value = f().map_err(Fail::Func)?;
        let Some(record) = self.record_of(call, &value)? else {
            return Ok(value);
        };
        // Write, then release: in one operation when the lock can carry the write.
        let carried = match &held {
            Some(held) => call.store("write", |_| held.guard.lock.release_writing(&record)),
            None => Ok(false),
        };
        let written = match carried {
            Ok(false) => call.store("write", |store| store.set(&call.key, record.clone())),
            Ok(true) => Ok(()),
            Err(error) => Err(error),
        };
        drop(held);
        if let Some(leader) = leader {
            leader.finish(record);
        }
        if let Err(error) = written {
            self.fault(call, "write", error)?;
        }
        Ok(value)
    }

    /// The call's lock, taken: the store's record lock, else its plain lock, else the one the
    /// options name. `None` when there is none, or it timed out or failed (unless strict).
    pub(super) fn take_lock(&self, call: &Call<'_>) -> Result<Lease> {
        let lock = call.store("acquiring the lock", |store| {
            Ok(match call.cfg.lock() {
                Setting::Value(provider) => Some(provider.lock(&call.key)),
                Setting::Unset => store
                    .record_lock(&call.key)
                    .or_else(|| store.lock(&call.key)),
                Setting::Cleared => None,
            })
        });
        let lock = match lock {
            Ok(Some(lock)) => lock,
            Ok(None) => return Ok(Lease::Taken(None)),
            Err(error) => {
                return self
                    .fault(call, "acquiring the lock", error)
                    .map(|()| Lease::Taken(None));
            }
        };
        let timeout = call.cfg.timeout();
        let acquired = call.store("acquiring the lock", |_| lock.acquire_reading(timeout));
        let (acquired, read) = match acquired {
            Ok(Acquired::Read(read)) => (Ok(true), Some(read)),
            Ok(Acquired::Held) => (Ok(true), None),
            Ok(Acquired::TimedOut) => (Ok(false), None),
            Ok(Acquired::Written(record)) => return Ok(Lease::Written(record)),
            Err(error) => (Err(error), None),
        };
        Ok(Lease::Taken(self.lock_acquired(call, acquired)?.then(
            || Held {
                guard: LockGuard {
                    lock,
                    store: call.cfg.store.clone(),
                },
                read,
            },
        )))
    }

    /// Whether the lock is held after an attempt to acquire it: a timeout or a fault is counted,
    /// and computes anyway unless strict.
    pub(super) fn lock_acquired(&self, call: &Call<'_>, acquired: Result<bool>) -> Result<bool> {
        match acquired {
            Ok(true) => Ok(true),
            Ok(false) => {
                self.inner.counters.bump(|s| &s.lock_timeouts);
                tracing::warn!(key = %call.key, timeout = ?call.cfg.timeout(),
                    "memo: lock timed out; computing anyway");
                if call.cfg.strict() {
                    Err(Error::LockTimeout {
                        key: call.key.to_string(),
                        timeout: call.cfg.timeout(),
                    })
                } else {
                    Ok(false)
                }
            }
            Err(error) => self
                .fault(call, "acquiring the lock", error)
                .map(|()| false),
        }
    }

    /// The record of a computed `value`, timed now; `None` when the value does not encode
    /// (a counted fault: the value is returned, not stored).
    pub(super) fn record_of<T: Serialize + 'static>(
        &self,
        call: &Call<'_>,
        value: &T,
    ) -> Result<Option<Record>> {
        let created = self.inner.clock.now();
        let by_age = call.max_age.map(|age| created + age.as_secs_f64());
        let expiry = [call.expiry, by_age].into_iter().flatten().reduce(f64::min);
        match value::encode(value) {
            Ok(bytes) => Ok(Some(Record {
                created,
                expiry,
                etag: call.etag.clone(),
                value: bytes.into(),
            })),
            Err(e) => {
                let error = Error::Codec(format!("value of {:?}: {e}", call.key));
                self.fault(call, "encoding a value", error).map(|()| None)
            }
        }
    }
}
