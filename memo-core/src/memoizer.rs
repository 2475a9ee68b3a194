//! The Memoizer: options resolution, the read path, single-flight, locks and statistics.

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::budget;
use crate::clock::{Clock, SystemClock, to_unix};
use crate::error::{Error, Result};
use crate::fault::{Fault, Hook, Reporter, guard};
use crate::flight::{Flights, Join, Leader, Outcome};
use crate::options::{Dynamic, EtagSource, Options, Region, Setting, etag_value};
use crate::record::{Bytes, Record, duration_between};
use crate::store::{Lock, LockProvider, Store};
use crate::value;

/// How long a caller waits for a lock or another caller's computation unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Memoizes computations into a [`Store`].
///
/// Cheap to clone: clones share regions, statistics and single-flight state.
///
/// ```
/// use std::time::Duration;
/// use memo_core::{ManualClock, Memoizer, Options};
/// # use memo_core::doc_store::DocStore;
///
/// let clock = ManualClock::new();
/// let memo = Memoizer::builder(DocStore::default()).clock(clock.clone()).build();
/// let opts = Options::new().max_age(Duration::from_secs(60));
///
/// let mut calls = 0;
/// let mut slow_square = |x: u64| { calls += 1; x * x };
/// assert_eq!(memo.get_with("square(12)", &opts, || slow_square(12)).unwrap(), 144);
/// assert_eq!(memo.get_with("square(12)", &opts, || slow_square(12)).unwrap(), 144);
/// clock.advance(Duration::from_secs(61));
/// assert_eq!(memo.get_with("square(12)", &opts, || slow_square(12)).unwrap(), 144);
/// assert_eq!(calls, 2);
/// assert_eq!(memo.stats().hits, 1);
/// ```
#[derive(Clone)]
pub struct Memoizer {
    inner: Arc<Inner>,
}

struct Inner {
    /// The default region's store.
    store: Arc<dyn Store>,
    /// The default region's options; fixed when built, so calls that name no region read
    /// them without taking a lock.
    default: Options,
    regions: RwLock<Regions>,
    clock: Arc<dyn Clock>,
    flights: Flights,
    counters: Counters,
    reporter: Reporter,
}

#[derive(Default)]
struct Regions {
    defs: HashMap<Arc<str>, Region>,
    /// Each named region's options with its parents' and the default region's merged in.
    flat: HashMap<Arc<str>, Arc<Options>>,
}

/// A call's options after merging: borrowed from the call's options and its region's, so a
/// hit clones nothing. What only a miss or a fault needs is picked when asked for.
struct Resolved<'a> {
    base: &'a Options,
    call: Option<&'a Options>,
    store: &'a Arc<dyn Store>,
    namespace: Option<&'a str>,
    max_age: Option<&'a Dynamic<Duration>>,
    expiry: Option<&'a Dynamic<f64>>,
    etag: Option<&'a EtagSource>,
}

/// The setting of one option: the call's where it says something, the region's otherwise.
#[inline(always)]
fn pick<'a, T>(
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
    fn new(base: &'a Options, call: Option<&'a Options>, store: &'a Arc<dyn Store>) -> Self {
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

    fn lock(&self) -> Setting<&'a Arc<dyn LockProvider>> {
        pick(self.call, self.base, |o| &o.lock)
    }

    fn timeout(&self) -> Duration {
        pick(self.call, self.base, |o| &o.timeout)
            .into_value()
            .copied()
            .unwrap_or(DEFAULT_TIMEOUT)
    }

    fn strict(&self) -> bool {
        pick(self.call, self.base, |o| &o.strict)
            .into_value()
            .copied()
            .unwrap_or(false)
    }

    #[inline(always)]
    fn store_id(&self) -> usize {
        Arc::as_ptr(self.store).cast::<()>() as usize
    }

    #[inline(always)]
    fn full_key<'k>(&self, key: &'k str) -> Cow<'k, str> {
        match self.namespace {
            None => Cow::Borrowed(key),
            // Concatenated: every hit of a namespaced call builds this, and `format!` took a
            // tenth of such a hit.
            Some(ns) => Cow::Owned([ns, ":", key].concat()),
        }
    }
}

/// One call, with its dynamic options resolved once.
struct Call<'a> {
    cfg: &'a Resolved<'a>,
    key: Cow<'a, str>,
    clock: &'a dyn Clock,
    /// Read from the clock at most once per call, and only when an expiry needs comparing.
    now: Cell<Option<f64>>,
    max_age: Option<Duration>,
    expiry: Option<f64>,
    etag: Option<Bytes>,
}

impl Call<'_> {
    /// Runs `op` on the call's store, a panic in it turned into an error.
    fn store<R>(
        &self,
        operation: &'static str,
        op: impl FnOnce(&dyn Store) -> Result<R>,
    ) -> Result<R> {
        let store = &**self.cfg.store;
        guard(store, operation, || op(store))
    }

    #[inline(always)]
    fn now(&self) -> f64 {
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
    fn effective_expiry(&self, record: &Record) -> Option<f64> {
        let by_age = self.max_age.map(|age| record.created + age.as_secs_f64());
        [record.expiry, by_age, self.expiry]
            .into_iter()
            .flatten()
            .reduce(f64::min)
    }

    #[inline(always)]
    fn is_fresh(&self, record: &Record) -> bool {
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
    fn refresh_now(&self) {
        self.now.set(None);
    }
}

/// Counts of what the Memoizer did, since it was made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Calls answered from the store.
    pub hits: u64,
    /// Calls that found no usable record.
    pub misses: u64,
    /// Times a memoized function ran.
    pub computations: u64,
    /// Store operations that failed (reads that became misses, writes that were skipped).
    pub store_errors: u64,
    /// Records or values that did not decode, and values or etags that did not encode.
    pub codec_errors: u64,
    /// Locks or waits for another caller that timed out.
    pub lock_timeouts: u64,
}

/// Counters spread over cache lines by thread, so that threads hitting at once do not
/// fight over one line.
#[derive(Default)]
struct Counters {
    stripes: [Stripe; STRIPES],
}

const STRIPES: usize = 8;

#[derive(Default)]
#[repr(align(128))]
struct Stripe {
    hits: AtomicU64,
    misses: AtomicU64,
    computations: AtomicU64,
    store_errors: AtomicU64,
    codec_errors: AtomicU64,
    lock_timeouts: AtomicU64,
}

impl Counters {
    #[inline(always)]
    fn mine(&self) -> &Stripe {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        thread_local! {
            static SLOT: usize = (NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES as u64) as usize;
        }
        &self.stripes[SLOT.with(|slot| *slot)]
    }

    fn sum(&self, counter: fn(&Stripe) -> &AtomicU64) -> u64 {
        self.stripes
            .iter()
            .map(|s| counter(s).load(Ordering::Relaxed))
            .sum()
    }
}

#[inline(always)]
fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// A memo error or the memoized function's own error.
enum Fail<E> {
    Memo(Error),
    Func(E),
}

impl<E> From<Error> for Fail<E> {
    fn from(error: Error) -> Self {
        Fail::Memo(error)
    }
}

/// Releases a held lock when dropped, also during a panic.
struct LockGuard {
    lock: Box<dyn Lock>,
    store: Arc<dyn Store>,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Err(error) = guard(&*self.store, "releasing the lock", || self.lock.release()) {
            tracing::warn!(%error, "memo: releasing a lock failed; it will lapse with its lease");
        }
    }
}

/// Builds a [`Memoizer`] with a clock and default options.
pub struct MemoizerBuilder {
    store: Arc<dyn Store>,
    options: Options,
    clock: Arc<dyn Clock>,
    on_fault: Option<Hook>,
}

impl fmt::Debug for MemoizerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoizerBuilder")
            .field("store", &self.store)
            .field("options", &self.options)
            .field("on_fault", &self.on_fault.is_some())
            .finish_non_exhaustive()
    }
}

impl MemoizerBuilder {
    /// The clock records are timed with (default: [`SystemClock`]).
    #[must_use]
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Options of the default region, under the store given to [`Memoizer::builder`].
    #[must_use]
    pub fn options(mut self, options: Options) -> Self {
        self.options = self.options.overlay(&options);
        self
    }

    /// Calls `hook` with every store fault (a failed or panicking store call, an undecodable
    /// record), before the fault is counted and logged. For programs that page someone, or
    /// that count faults their own way; the Memoizer still fails open (or errs when strict).
    ///
    /// Without a hook, faults are reported where a person sees them: the first at WARN through
    /// `tracing`, then at most one a minute (with the number in between); a program with no
    /// tracing subscriber gets the first on stderr, once. Every fault is also at DEBUG.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use memo_core::{Memoizer, Result, Record, Store};
    ///
    /// #[derive(Debug)]
    /// struct Down;
    /// impl Store for Down {
    ///     fn get(&self, _: &str) -> Result<Option<Record>> { Err(memo_core::Error::backend("down", "unplugged")) }
    ///     fn set(&self, _: &str, _: Record) -> Result<()> { Err(memo_core::Error::backend("down", "unplugged")) }
    ///     fn delete(&self, _: &str) -> Result<bool> { Ok(false) }
    /// }
    ///
    /// let faults = Arc::new(AtomicU64::new(0));
    /// let seen = faults.clone();
    /// let memo = Memoizer::builder(Down)
    ///     .on_fault(move |fault| { seen.fetch_add(1, Ordering::Relaxed); })
    ///     .build();
    /// assert_eq!(memo.get("k", || 1_u8).unwrap(), 1); // computed: the store is down
    /// assert_eq!(faults.load(Ordering::Relaxed), 2); // the read and the write
    /// ```
    #[must_use]
    pub fn on_fault(mut self, hook: impl Fn(&Fault<'_>) + Send + Sync + 'static) -> Self {
        self.on_fault = Some(Arc::new(hook));
        self
    }

    /// The Memoizer.
    pub fn build(self) -> Memoizer {
        // The store given to `builder` is the default unless `options` named another.
        let store = self.options.store.value().cloned().unwrap_or(self.store);
        let default = self.options.store_arc(store.clone());
        Memoizer {
            inner: Arc::new(Inner {
                store,
                default,
                regions: RwLock::new(Regions::default()),
                clock: self.clock,
                flights: Flights::default(),
                counters: Counters::default(),
                reporter: Reporter::new(self.on_fault),
            }),
        }
    }
}

impl fmt::Debug for Memoizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let regions = self
            .inner
            .regions
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let mut names: Vec<&str> = regions.defs.keys().map(|k| &**k).collect();
        names.sort_unstable();
        f.debug_struct("Memoizer")
            .field("default", &self.inner.default)
            .field("regions", &names)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Memoizer {
    /// A Memoizer whose default region keeps records in `store`.
    pub fn new(store: impl Store) -> Self {
        Self::builder(store).build()
    }

    /// A builder whose default region keeps records in `store`.
    pub fn builder(store: impl Store) -> MemoizerBuilder {
        Self::builder_arc(Arc::new(store))
    }

    /// Like [`Memoizer::builder`], for a store that is shared with others.
    pub fn builder_arc(store: Arc<dyn Store>) -> MemoizerBuilder {
        MemoizerBuilder {
            store,
            options: Options::new(),
            clock: Arc::new(SystemClock),
            on_fault: None,
        }
    }

    /// The statistics so far.
    pub fn stats(&self) -> Stats {
        let c = &self.inner.counters;
        Stats {
            hits: c.sum(|s| &s.hits),
            misses: c.sum(|s| &s.misses),
            computations: c.sum(|s| &s.computations),
            store_errors: c.sum(|s| &s.store_errors),
            codec_errors: c.sum(|s| &s.codec_errors),
            lock_timeouts: c.sum(|s| &s.lock_timeouts),
        }
    }

    /// The clock records are timed with.
    pub fn clock(&self) -> &dyn Clock {
        &*self.inner.clock
    }

    /// The default region's store.
    pub fn store(&self) -> Arc<dyn Store> {
        self.inner.store.clone()
    }

    /// Adds or replaces a named region. The default region's options are fixed by
    /// [`MemoizerBuilder::options`].
    ///
    /// # Errors
    /// [`Error::Config`] when the region is the default one, when its parent is unknown, or when
    /// the parent chain would come back to it (a cycle). Nothing is changed then.
    pub fn add_region(&self, region: Region) -> Result<()> {
        if &*region.name == Region::DEFAULT {
            return Err(Error::Config(
                "the default region's options are set by Memoizer::builder(..).options(..)".into(),
            ));
        }
        let mut regions = self
            .inner
            .regions
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let parent = region.parent.as_deref().unwrap_or(Region::DEFAULT);
        let mut at = parent;
        while at != Region::DEFAULT {
            if at == &*region.name {
                return Err(Error::Config(format!(
                    "region {:?}: parent {parent:?} descends from it (a cycle)",
                    region.name
                )));
            }
            let Some(def) = regions.defs.get(at) else {
                return Err(Error::Config(format!(
                    "region {:?}: unknown parent region {at:?}",
                    region.name
                )));
            };
            at = def.parent.as_deref().unwrap_or(Region::DEFAULT);
        }
        regions.defs.insert(region.name.clone(), region);
        // Children of a replaced region inherit its new options: flatten them all again.
        let mut flat = HashMap::with_capacity(regions.defs.len());
        for name in regions.defs.keys() {
            flatten(&self.inner.default, &regions.defs, name, &mut flat);
        }
        regions.flat = flat;
        Ok(())
    }

    /// The options of the region a call names, merged with their parents' and the default's;
    /// `None` for the default region, whose options are [`Inner::default`].
    ///
    /// Held apart from the default's, so that [`Memoizer::resolve`] picks the base once
    /// instead of at every option it reads.
    #[inline(always)]
    fn region(&self, options: Option<&Options>) -> Result<Option<Arc<Options>>> {
        let Some(region) = options.and_then(|o| o.region.as_deref()) else {
            return Ok(None);
        };
        if region == Region::DEFAULT {
            return Ok(None);
        }
        let regions = self
            .inner
            .regions
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        match regions.flat.get(region) {
            Some(flat) => Ok(Some(flat.clone())),
            None => Err(Error::Config(format!("unknown region {region:?}"))),
        }
    }

    /// A call's options over those of its `region` (from [`Memoizer::region`]).
    #[inline(always)]
    fn resolve<'a>(
        &'a self,
        region: &'a Option<Arc<Options>>,
        call: Option<&'a Options>,
    ) -> Resolved<'a> {
        let base = region.as_deref().unwrap_or(&self.inner.default);
        Resolved::new(base, call, &self.inner.store)
    }

    #[inline(always)]
    fn call<'a>(&'a self, cfg: &'a Resolved<'a>, key: &'a str) -> Result<Call<'a>> {
        Ok(Call {
            cfg,
            key: cfg.full_key(key),
            clock: &*self.inner.clock,
            now: Cell::new(None),
            max_age: cfg.max_age.map(Dynamic::resolve),
            expiry: cfg.expiry.map(Dynamic::resolve),
            etag: cfg.etag.map(EtagSource::resolve).transpose()?,
        })
    }

    /// Counts and logs a store fault; returns it in strict mode.
    fn fault(&self, call: &Call<'_>, operation: &str, error: Error) -> Result<()> {
        let counter = match error {
            Error::Codec(_) => &self.inner.counters.mine().codec_errors,
            _ => &self.inner.counters.mine().store_errors,
        };
        bump(counter);
        self.inner.reporter.report(&Fault {
            key: &call.key,
            store: call.cfg.store.name(),
            operation,
            error: &error,
        });
        if call.cfg.strict() {
            Err(error)
        } else {
            Ok(())
        }
    }

    /// The fresh record under the call's key, if any; faults are misses unless strict.
    #[inline(always)]
    fn fresh_record(&self, call: &Call<'_>) -> Result<Option<Record>> {
        match guard(&**call.cfg.store, "read", || call.cfg.store.get(&call.key)) {
            Ok(Some(record)) if call.is_fresh(&record) => Ok(Some(record)),
            Ok(_) => Ok(None),
            Err(error) => self.fault(call, "read", error).map(|()| None),
        }
    }

    /// The fresh record and its value, if both decode.
    fn read_record<T: DeserializeOwned + 'static>(
        &self,
        call: &Call<'_>,
    ) -> Result<Option<(T, Record)>> {
        let Some(record) = self.fresh_record(call)? else {
            return Ok(None);
        };
        match value::decode(&record.value) {
            Ok(value) => Ok(Some((value, record))),
            Err(e) => self.undecodable(call, &e).map(|()| None),
        }
    }

    /// The fresh value, read through [`Store::read`] so that no record is cloned: the hit path.
    #[inline(always)]
    fn read<T: DeserializeOwned + 'static>(&self, call: &Call<'_>) -> Result<Option<T>> {
        // Only the value crosses the store's callback on a hit: a decode error, rare, is kept
        // apart, so that the hit reads back a small value rather than a `Result` with an `Error`.
        // The value is decoded inside the callback, not from a clone of the record's shared
        // bytes taken out of it: that clone was faster on one thread but writes the bytes'
        // reference count, which threads reading one hot key then fight over (twice as slow
        // with two threads).
        let mut value = None;
        let mut undecodable = None;
        let read = guard(&**call.cfg.store, "read", || {
            call.cfg.store.read(&call.key, &mut |record| {
                if call.is_fresh(record) {
                    match value::decode(&record.value) {
                        Ok(decoded) => value = Some(decoded),
                        Err(error) => undecodable = Some(error),
                    }
                }
            })
        });
        match read {
            Ok(_) => match undecodable {
                None => Ok(value),
                Some(error) => self.undecodable(call, &error).map(|()| None),
            },
            Err(error) => self.fault(call, "read", error).map(|()| None),
        }
    }

    fn undecodable(&self, call: &Call<'_>, error: &Error) -> Result<()> {
        let error = Error::Codec(format!("value of {:?}: {error}", call.key));
        self.fault(call, "decoding a value", error)
    }

    /// A call: the hit path here, the rest in [`Memoizer::miss`]. `fail` turns a failure into
    /// the caller's error type here, so that a hit's value goes straight into the caller's
    /// result instead of through an intermediate one (a copy that stalled the CPU).
    #[inline(always)]
    fn run<T, E, R>(
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
        let epoch = self.inner.flights.epoch();
        match self.read(&call) {
            Ok(Some(value)) => {
                bump(&self.inner.counters.mine().hits);
                Ok(value)
            }
            Ok(None) => self.miss(&call, epoch, f).map_err(fail),
            Err(error) => Err(fail(Fail::Memo(error))),
        }
    }

    /// A call that found no value: joins or leads the key's flight. Kept out of line so that
    /// the hit path around it stays small enough to keep its values in registers.
    #[inline(never)]
    fn miss<T, E>(
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
        bump(&self.inner.counters.mine().misses);
        // A miss may touch the store several times (read, lock, double check, write): one budget.
        let _budget = budget::Scope::enter();
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
                        bump(&self.inner.counters.mine().lock_timeouts);
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
    fn lead<T, E>(
        &self,
        call: &Call<'_>,
        leader: Option<Leader<'_>>,
        f: impl FnOnce() -> std::result::Result<T, E>,
    ) -> std::result::Result<T, Fail<E>>
    where
        T: Serialize + DeserializeOwned + 'static,
    {
        let held = self.take_lock(call)?;
        call.refresh_now();
        // Double check: whoever held the lock before us may have stored the value.
        if held.is_some()
            && let Some((value, record)) = self.read_record(call)?
        {
            drop(held);
            if let Some(leader) = leader {
                leader.finish(record);
            }
            return Ok(value);
        }
        bump(&self.inner.counters.mine().computations);
        let value = f().map_err(Fail::Func)?;
        let created = self.inner.clock.now();
        let by_age = call.max_age.map(|age| created + age.as_secs_f64());
        let expiry = [call.expiry, by_age].into_iter().flatten().reduce(f64::min);
        let record = match value::encode(&value) {
            Ok(bytes) => Record {
                created,
                expiry,
                etag: call.etag.clone(),
                value: bytes.into(),
            },
            Err(e) => {
                let error = Error::Codec(format!("value of {:?}: {e}", call.key));
                self.fault(call, "encoding a value", error)?;
                return Ok(value);
            }
        };
        let written = guard(&**call.cfg.store, "write", || {
            call.cfg.store.set(&call.key, record.clone())
        });
        drop(held);
        if let Some(leader) = leader {
            leader.finish(record);
        }
        if let Err(error) = written {
            self.fault(call, "write", error)?;
        }
        Ok(value)
    }

    fn take_lock(&self, call: &Call<'_>) -> Result<Option<LockGuard>> {
        let store = call.cfg.store;
        let lock = guard(&**store, "acquiring the lock", || {
            Ok(match call.cfg.lock() {
                Setting::Value(provider) => Some(provider.lock(&call.key)),
                Setting::Unset => store.lock(&call.key),
                Setting::Cleared => None,
            })
        });
        let lock = match lock {
            Ok(Some(lock)) => lock,
            Ok(None) => return Ok(None),
            Err(error) => return self.fault(call, "acquiring the lock", error).map(|()| None),
        };
        let timeout = call.cfg.timeout();
        let acquired = guard(&**store, "acquiring the lock", || lock.acquire(timeout));
        match acquired {
            Ok(true) => Ok(Some(LockGuard {
                lock,
                store: store.clone(),
            })),
            Ok(false) => {
                bump(&self.inner.counters.mine().lock_timeouts);
                tracing::warn!(key = %call.key, timeout = ?call.cfg.timeout(),
                    "memo: lock timed out; computing anyway");
                if call.cfg.strict() {
                    Err(Error::LockTimeout {
                        key: call.key.to_string(),
                        timeout: call.cfg.timeout(),
                    })
                } else {
                    Ok(None)
                }
            }
            Err(error) => self.fault(call, "acquiring the lock", error).map(|()| None),
        }
    }

    /// The value under `key`, computed by `f` and stored on a miss.
    ///
    /// Concurrent misses of one key in this process run `f` once; the others wait for its value
    /// (at most the `timeout` option). Store faults and undecodable records are misses, and a
    /// failed write still returns the value (unless the options are strict); each is counted in
    /// [`Memoizer::stats`]. A panic in `f` reaches the caller, stores nothing and wakes the
    /// waiters, who then compute themselves.
    ///
    /// # Errors
    /// With default options, only when the options are inconsistent ([`Error::Config`]) or an
    /// etag does not encode ([`Error::Codec`]); in strict mode also store faults and timeouts.
    pub fn get<T, F>(&self, key: &str, f: F) -> Result<T>
    where
        T: Serialize + DeserializeOwned + 'static,
        F: FnOnce() -> T,
    {
        self.get_inner(key, None, f)
    }

    /// [`Memoizer::get`] with per-call options.
    ///
    /// # Errors
    /// As [`Memoizer::get`].
    pub fn get_with<T, F>(&self, key: &str, options: &Options, f: F) -> Result<T>
    where
        T: Serialize + DeserializeOwned + 'static,
        F: FnOnce() -> T,
    {
        self.get_inner(key, Some(options), f)
    }

    fn get_inner<T, F>(&self, key: &str, options: Option<&Options>, f: F) -> Result<T>
    where
        T: Serialize + DeserializeOwned + 'static,
        F: FnOnce() -> T,
    {
        self.run(
            key,
            options,
            || Ok::<T, Infallible>(f()),
            |fail| match fail {
                Fail::Memo(error) => error,
                Fail::Func(never) => match never {},
            },
        )
    }

    /// Like [`Memoizer::get`] for a fallible function: an `Err` is returned and never cached.
    ///
    /// The error type takes memo's errors through `From` (as `anyhow::Error` and `Box<dyn Error>`
    /// do); for any other error type, map it into [`TryError`].
    ///
    /// ```
    /// use memo_core::{Memoizer, TryError};
    /// # use memo_core::doc_store::DocStore;
    ///
    /// let memo = Memoizer::new(DocStore::default());
    /// let parsed: Result<u8, TryError<std::num::ParseIntError>> =
    ///     memo.try_get("parse(x)", || "x".parse::<u8>().map_err(TryError::Func));
    /// assert!(matches!(parsed, Err(TryError::Func(_))));
    /// assert!(!memo.exists("parse(x)").unwrap());
    /// ```
    ///
    /// # Errors
    /// `f`'s error, or memo's as in [`Memoizer::get`].
    pub fn try_get<T, E, F>(&self, key: &str, f: F) -> std::result::Result<T, E>
    where
        T: Serialize + DeserializeOwned + 'static,
        E: From<Error>,
        F: FnOnce() -> std::result::Result<T, E>,
    {
        self.try_get_inner(key, None, f)
    }

    /// [`Memoizer::try_get`] with per-call options.
    ///
    /// # Errors
    /// As [`Memoizer::try_get`].
    pub fn try_get_with<T, E, F>(
        &self,
        key: &str,
        options: &Options,
        f: F,
    ) -> std::result::Result<T, E>
    where
        T: Serialize + DeserializeOwned + 'static,
        E: From<Error>,
        F: FnOnce() -> std::result::Result<T, E>,
    {
        self.try_get_inner(key, Some(options), f)
    }

    fn try_get_inner<T, E, F>(
        &self,
        key: &str,
        options: Option<&Options>,
        f: F,
    ) -> std::result::Result<T, E>
    where
        T: Serialize + DeserializeOwned + 'static,
        E: From<Error>,
        F: FnOnce() -> std::result::Result<T, E>,
    {
        self.run(key, options, f, |fail| match fail {
            Fail::Memo(error) => E::from(error),
            Fail::Func(error) => error,
        })
    }

    /// The cached value under `key` without computing: `Ok(None)` on a miss. Faults are misses
    /// unless strict.
    ///
    /// # Errors
    /// As [`Memoizer::get`].
    pub fn peek<T: DeserializeOwned + 'static>(&self, key: &str) -> Result<Option<T>> {
        self.peek_inner(key, None)
    }

    /// [`Memoizer::peek`] with per-call options.
    ///
    /// # Errors
    /// As [`Memoizer::get`].
    pub fn peek_with<T: DeserializeOwned + 'static>(
        &self,
        key: &str,
        options: &Options,
    ) -> Result<Option<T>> {
        self.peek_inner(key, Some(options))
    }

    fn peek_inner<T: DeserializeOwned + 'static>(
        &self,
        key: &str,
        options: Option<&Options>,
    ) -> Result<Option<T>> {
        let region = self.region(options)?;
        let cfg = self.resolve(&region, options);
        let call = self.call(&cfg, key)?;
        let found = self.read(&call)?;
        let counter = if found.is_some() {
            &self.inner.counters.mine().hits
        } else {
            &self.inner.counters.mine().misses
        };
        bump(counter);
        Ok(found)
    }

    /// The live record under `key` for these options, with store errors returned.
    fn live(&self, call: &Call<'_>) -> Result<Option<Record>> {
        Ok(call
            .store("read", |s| s.get(&call.key))?
            .filter(|record| call.is_fresh(record)))
    }

    fn with_call<R>(
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

    /// Whether a [`Memoizer::get`] now would hit.
    ///
    /// # Errors
    /// Store errors are returned: this and the other inspection methods do not fail open.
    pub fn exists(&self, key: &str) -> Result<bool> {
        self.with_call(key, None, |call| Ok(self.live(call)?.is_some()))
    }

    /// [`Memoizer::exists`] with per-call options.
    ///
    /// # Errors
    /// As [`Memoizer::exists`].
    pub fn exists_with(&self, key: &str, options: &Options) -> Result<bool> {
        self.with_call(key, Some(options), |call| Ok(self.live(call)?.is_some()))
    }

    /// Removes the record under `key`; `false` when there was none.
    ///
    /// # Errors
    /// Store errors.
    pub fn delete(&self, key: &str) -> Result<bool> {
        self.with_call(key, None, |call| {
            call.store("delete", |s| s.delete(&call.key))
        })
    }

    /// [`Memoizer::delete`] with per-call options.
    ///
    /// # Errors
    /// Store errors.
    pub fn delete_with(&self, key: &str, options: &Options) -> Result<bool> {
        self.with_call(key, Some(options), |call| {
            call.store("delete", |s| s.delete(&call.key))
        })
    }

    /// The time the value under `key` has left: `None` when missing, expired or never expiring.
    /// Rounded down, never more than the truth.
    ///
    /// # Errors
    /// Store errors.
    pub fn ttl(&self, key: &str) -> Result<Option<Duration>> {
        self.with_call(key, None, |call| self.ttl_of(call))
    }

    /// [`Memoizer::ttl`] with per-call options (their `max_age` and `expiry` count).
    ///
    /// # Errors
    /// Store errors.
    pub fn ttl_with(&self, key: &str, options: &Options) -> Result<Option<Duration>> {
        self.with_call(key, Some(options), |call| self.ttl_of(call))
    }

    fn ttl_of(&self, call: &Call<'_>) -> Result<Option<Duration>> {
        let Some(record) = self.live(call)? else {
            return Ok(None);
        };
        Ok(call
            .effective_expiry(&record)
            .map(|expiry| duration_between(call.now(), expiry)))
    }

    /// Makes the value under `key` expire `after` from now.
    ///
    /// # Errors
    /// [`Error::NotFound`] when there is no live value; store errors.
    pub fn expire(&self, key: &str, after: Duration) -> Result<()> {
        self.with_call(key, None, |call| {
            self.expire_of(call, call.now() + after.as_secs_f64())
        })
    }

    /// [`Memoizer::expire`] with per-call options.
    ///
    /// # Errors
    /// As [`Memoizer::expire`].
    pub fn expire_with(&self, key: &str, options: &Options, after: Duration) -> Result<()> {
        self.with_call(key, Some(options), |call| {
            self.expire_of(call, call.now() + after.as_secs_f64())
        })
    }

    /// Makes the value under `key` expire at `at`.
    ///
    /// # Errors
    /// As [`Memoizer::expire`].
    pub fn expire_at(&self, key: &str, at: SystemTime) -> Result<()> {
        self.with_call(key, None, |call| self.expire_of(call, to_unix(at)))
    }

    /// [`Memoizer::expire_at`] with per-call options.
    ///
    /// # Errors
    /// As [`Memoizer::expire`].
    pub fn expire_at_with(&self, key: &str, options: &Options, at: SystemTime) -> Result<()> {
        self.with_call(key, Some(options), |call| self.expire_of(call, to_unix(at)))
    }

    fn expire_of(&self, call: &Call<'_>, at: f64) -> Result<()> {
        let Some(mut record) = self.live(call)? else {
            return Err(Error::NotFound {
                key: call.key.to_string(),
            });
        };
        record.expiry = Some(at);
        call.store("write", |s| s.set(&call.key, record))
    }

    /// The etag the live value under `key` was computed under; `None` when there is no live
    /// value or it has no etag.
    ///
    /// # Errors
    /// Store errors; [`Error::Codec`] when the etag is not an `E`.
    pub fn etag<E: DeserializeOwned>(&self, key: &str) -> Result<Option<E>> {
        self.with_call(key, None, |call| self.etag_of(call))
    }

    /// [`Memoizer::etag`] with per-call options.
    ///
    /// # Errors
    /// As [`Memoizer::etag`].
    pub fn etag_with<E: DeserializeOwned>(
        &self,
        key: &str,
        options: &Options,
    ) -> Result<Option<E>> {
        self.with_call(key, Some(options), |call| self.etag_of(call))
    }

    fn etag_of<E: DeserializeOwned>(&self, call: &Call<'_>) -> Result<Option<E>> {
        let Some(etag) = self.live(call)?.and_then(|record| record.etag) else {
            return Ok(None);
        };
        postcard::from_bytes(etag_value(&etag)?)
            .map(Some)
            .map_err(|e| Error::Codec(format!("etag of {:?}: {e}", call.key)))
    }

    /// The key as the store sees it, namespace included.
    ///
    /// # Errors
    /// [`Error::Config`] for an unknown region or a missing store.
    pub fn key_with(&self, key: &str, options: &Options) -> Result<String> {
        let region = self.region(Some(options))?;
        Ok(self
            .resolve(&region, Some(options))
            .full_key(key)
            .into_owned())
    }

    /// Removes every record of the options' namespace (every record of the store when there is
    /// none) and returns how many. Needs a store with [`scan`](Store::scan).
    ///
    /// # Errors
    /// [`Error::Unsupported`] for a store without scan; store errors.
    pub fn clear_with(&self, options: &Options) -> Result<u64> {
        let region = self.region(Some(options))?;
        let cfg = self.resolve(&region, Some(options));
        let prefix = cfg
            .namespace
            .as_ref()
            .map(|ns| format!("{ns}:"))
            .unwrap_or_default();
        let mut removed = 0;
        let store = &**cfg.store;
        for key in guard(store, "scan", || store.scan(&prefix))? {
            removed += u64::from(guard(store, "delete", || store.delete(&key))?);
        }
        Ok(removed)
    }
}

fn flatten(
    default: &Options,
    defs: &HashMap<Arc<str>, Region>,
    name: &Arc<str>,
    flat: &mut HashMap<Arc<str>, Arc<Options>>,
) {
    if flat.contains_key(name) {
        return;
    }
    let region = &defs[name];
    let merged = match region.parent.as_ref().filter(|p| &***p != Region::DEFAULT) {
        None => default.overlay(&region.options),
        Some(parent) => {
            flatten(default, defs, parent, flat);
            flat[parent].overlay(&region.options)
        }
    };
    flat.insert(name.clone(), Arc::new(merged));
}

/// Error type for [`Memoizer::try_get`] with a function whose error type knows nothing of memo.
#[derive(Debug, thiserror::Error)]
pub enum TryError<E> {
    /// memo's own error.
    #[error(transparent)]
    Memo(#[from] Error),
    /// The function's error.
    #[error("{0}")]
    Func(E),
}
