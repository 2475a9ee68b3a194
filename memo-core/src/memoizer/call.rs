//! One call: its options merged over its region's, its key, its clock reading and freshness.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::{DEFAULT_TIMEOUT, Memoizer};
use crate::budget;
use crate::clock::Clock;
use crate::error::Result;
use crate::fault::guard;
use crate::options::{Dynamic, EtagSource, Options, Setting};
use crate::record::{Bytes, Record};
use crate::store::{LockProvider, Store};

/// A call's options after merging: borrowed from the call's options and its region's, so a
/// hit clones nothing. What only a miss or a fault needs is picked when asked for.
pub(super) struct Resolved<'a> {
    pub(super) base: &'a Options,
    pub(super) call: Option<&'a Options>,
    pub(super) store: &'a Arc<dyn Store>,
    pub(super) namespace: Option<&'a str>,
    pub(super) max_age: Option<&'a Dynamic<Duration>>,
    pub(super) expiry: Option<&'a Dynamic<f64>>,
    pub(super) etag: Option<&'a EtagSource>,
}

/// The setting of one option: the call's where it says something, the region's otherwise.
#[inline(always)]
pub(super) fn pick<'a, T>(
    call: Option<&'a Options>,
    base: &'a Options,
    field: fn(&Options) -> &Setting<T>,
) -> Setting<&'a T> {
    match call.map(field) {
        Some(Setting::Value(v)) => Setting::Value(v),
        Some(Setting::Cleared) => Setting::Cleared,
        _ => match field(base) {
            Setting::Value(v) => Setting::Value(v),
            Setting::Cleared => Setting::Cleared,
            Setting::Unset => Setting::Unset,
        },
    }
}

impl<'a> Resolved<'a> {
    /// Merges `call` over `base`; `store` serves when neither names one.
    #[inline(always)]
    pub(super) fn new(
        base: &'a Options,
        call: Option<&'a Options>,
        store: &'a Arc<dyn Store>,
    ) -> Self {
        Resolved {
            base,
            call,
            store: pick(call, base, |o| &o.store).into_value().unwrap_or(store),
            namespace: pick(call, base, |o| &o.namespace)
                .into_value()
                .map(|ns| &**ns),
            max_age: pick(call, base, |o| &o.max_age).into_value(),
            expiry: pick(call, base, |o| &o.expiry).into_value(),
            etag: pick(call, base, |o| &o.etag).into_value(),
        }
    }

    pub(super) fn lock(&self) -> Setting<&'a Arc<dyn LockProvider>> {
        pick(self.call, self.base, |o| &o.lock)
    }

    pub(super) fn timeout(&self) -> Duration {
        pick(self.call, self.base, |o| &o.timeout)
            .into_value()
            .copied()
            .unwrap_or(DEFAULT_TIMEOUT)
    }

    pub(super) fn strict(&self) -> bool {
        pick(self.call, self.base, |o| &o.strict)
            .into_value()
            .copied()
            .unwrap_or(false)
    }

    #[inline(always)]
    pub(super) fn store_id(&self) -> usize {
        Arc::as_ptr(self.store).cast::<()>() as usize
    }

    #[inline(always)]
    pub(super) fn full_key<'k>(&self, key: &'k str) -> Cow<'k, str> {
        match self.namespace {
            None => Cow::Borrowed(key),
            // Concatenated rather than formatted: every hit of a namespaced call builds it.
            Some(ns) => Cow::Owned([ns, ":", key].concat()),
        }
    }
}

/// One call, with its dynamic options resolved once.
pub(super) struct Call<'a> {
    pub(super) cfg: &'a Resolved<'a>,
    pub(super) key: Cow<'a, str>,
    pub(super) clock: &'a dyn Clock,
    /// Read from the clock at most once per call, and only when an expiry needs comparing.
    pub(super) now: Now,
    pub(super) max_age: Option<Duration>,
    pub(super) expiry: Option<f64>,
    pub(super) etag: Option<Bytes>,
}

/// The time a call read from its clock, if it has: a `Cell<Option<f64>>` that is `Sync`, so that
/// an async call can hold its `&Call` across await points. Relaxed loads and stores compile to
/// the same plain moves as the `Cell`'s.
pub(super) struct Now(AtomicU64);

impl Now {
    /// Bits no clock reading has: a NaN with every bit set, which only a clock that returns
    /// that very NaN would repeat (and then the clock is merely read again).
    const UNSET: u64 = u64::MAX;

    pub(super) const fn unset() -> Self {
        Now(AtomicU64::new(Self::UNSET))
    }

    #[inline(always)]
    fn get(&self) -> Option<f64> {
        match self.0.load(Ordering::Relaxed) {
            Self::UNSET => None,
            bits => Some(f64::from_bits(bits)),
        }
    }

    #[inline(always)]
    fn set(&self, now: Option<f64>) {
        self.0
            .store(now.map_or(Self::UNSET, f64::to_bits), Ordering::Relaxed);
    }
}

impl Call<'_> {
    /// Runs `op` on the call's store, a panic in it turned into an error.
    pub(super) fn store<R>(
        &self,
        operation: &'static str,
        op: impl FnOnce(&dyn Store) -> Result<R>,
    ) -> Result<R> {
        let store = &**self.cfg.store;
        guard(store, operation, || op(store))
    }

    #[inline(always)]
    pub(super) fn now(&self) -> f64 {
        match self.now.get() {
            Some(now) => now,
            None => {
                let now = self.clock.now();
                self.now.set(Some(now));
                now
            }
        }
    }

    /// When the record stops being a hit for this call: the earliest of its stored expiry, its
    /// creation plus the call's `max_age`, and the call's `expiry`.
    #[inline(always)]
    pub(super) fn effective_expiry(&self, record: &Record) -> Option<f64> {
        let by_age = self.max_age.map(|age| record.created + age.as_secs_f64());
        [record.expiry, by_age, self.expiry]
            .into_iter()
            .flatten()
            .reduce(f64::min)
    }

    #[inline(always)]
    pub(super) fn is_fresh(&self, record: &Record) -> bool {
        if let Some(etag) = &self.etag
            && record.etag.as_deref() != Some(&**etag)
        {
            return false;
        }
        // `now < expiry` rather than `!(now >= expiry)` so that a NaN time is stale. A record
        // created after `now` (the clock stepped back, or another machine's clock runs ahead)
        // is stale too: its age is unknown, and its expiry would keep it fresh for as long as
        // this clock lags, far past its `max_age`.
        self.effective_expiry(record).is_none_or(|expiry| {
            let now = self.now();
            let from_the_future = record.created > now;
            now < expiry && !from_the_future
        })
    }

    /// Forgets the time read so far: after a wait, records created during it are not from
    /// the future.
    pub(super) fn refresh_now(&self) {
        self.now.set(None);
    }
}

impl Memoizer {
    /// A call's options over those of its `region` (from [`Memoizer::region`]).
    #[inline(always)]
    pub(super) fn resolve<'a>(
        &'a self,
        region: &'a Option<Arc<Options>>,
        call: Option<&'a Options>,
    ) -> Resolved<'a> {
        let base = region.as_deref().unwrap_or(&self.inner.default);
        Resolved::new(base, call, &self.inner.store)
    }

    #[inline(always)]
    pub(super) fn call<'a>(&'a self, cfg: &'a Resolved<'a>, key: &'a str) -> Result<Call<'a>> {
        Ok(Call {
            cfg,
            key: cfg.full_key(key),
            clock: &*self.inner.clock,
            now: Now::unset(),
            max_age: cfg.max_age.map(Dynamic::resolve),
            expiry: cfg.expiry.map(Dynamic::resolve),
            etag: cfg.etag.map(EtagSource::resolve).transpose()?,
        })
    }

    pub(super) fn with_call<R>(
        &self,
        key: &str,
        options: Option<&Options>,
        then: impl FnOnce(&Call<'_>) -> Result<R>,
    ) -> Result<R> {
        let region = self.region(options)?;
        let cfg = self.resolve(&region, options);
        let call = self.call(&cfg, key)?;
        let _budget = budget::Scope::enter();
        then(&call)
    }
}
