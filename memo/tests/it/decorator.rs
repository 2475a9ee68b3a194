//! `PyMemoize`'s decorator behaviours, ported: computing once, options, regions, etags, failures.

use std::num::ParseIntError;
use std::panic;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, LazyLock};
use std::thread;
use std::time::Duration;

use memo::mem::MemStore;
use memo::{ManualClock, Memoizer, Options, Region, Store, memoize};

use crate::memoizer;

type Fixture = LazyLock<(Memoizer, Arc<MemStore>, ManualClock)>;

fn count(counter: &AtomicUsize) -> usize {
    counter.load(Ordering::SeqCst)
}

static TWICE: Fixture = LazyLock::new(memoizer);
static TWICE_CALLS: AtomicUsize = AtomicUsize::new(0);

#[memoize(TWICE.0)]
fn square(x: u64) -> u64 {
    TWICE_CALLS.fetch_add(1, Ordering::SeqCst);
    x * x
}

#[test]
fn calling_twice_computes_once() {
    assert_eq!(square(12), 144);
    assert_eq!(square(12), 144);
    assert_eq!(count(&TWICE_CALLS), 1);
    assert_eq!(TWICE.1.len(), 1);
    assert_eq!(TWICE.0.stats().hits, 1);
}

static DISTINCT: Fixture = LazyLock::new(memoizer);
static DISTINCT_CALLS: AtomicUsize = AtomicUsize::new(0);

#[memoize(DISTINCT.0)]
fn subtract(a: i64, b: i64) -> i64 {
    DISTINCT_CALLS.fetch_add(1, Ordering::SeqCst);
    a - b
}

#[test]
fn distinct_arguments_compute_separately() {
    assert_eq!(subtract(5, 3), 2);
    assert_eq!(subtract(3, 5), -2);
    assert_eq!(subtract(5, 3), 2);
    assert_eq!(subtract(3, 5), -2);
    assert_eq!(count(&DISTINCT_CALLS), 2);
    assert_eq!(DISTINCT.1.len(), 2);
}

static AGED: Fixture = LazyLock::new(memoizer);
static AGED_CALLS: AtomicUsize = AtomicUsize::new(0);

#[memoize(AGED.0, max_age = 60)]
fn aged(x: u8) -> u8 {
    AGED_CALLS.fetch_add(1, Ordering::SeqCst);
    x
}

#[test]
fn max_age_in_seconds_expires_the_value() {
    aged(1);
    assert_eq!(aged::ttl(1).unwrap(), Some(Duration::from_secs(60)));
    AGED.2.advance(Duration::from_secs(59));
    aged(1);
    assert_eq!(count(&AGED_CALLS), 1);
    AGED.2.advance(Duration::from_secs(2));
    assert!(!aged::exists(1).unwrap());
    aged(1);
    assert_eq!(count(&AGED_CALLS), 2);
}

static DURATION: Fixture = LazyLock::new(memoizer);
static DURATION_CALLS: AtomicUsize = AtomicUsize::new(0);
const HALF_A_SECOND: Duration = Duration::from_millis(500);

#[memoize(DURATION.0, max_age = HALF_A_SECOND, timeout = 0.25)]
fn brief(x: u8) -> u8 {
    DURATION_CALLS.fetch_add(1, Ordering::SeqCst);
    x
}

#[test]
fn max_age_takes_a_duration_expression() {
    brief(1);
    assert_eq!(brief::ttl(1).unwrap(), Some(HALF_A_SECOND));
    DURATION.2.advance(HALF_A_SECOND);
    brief(1);
    assert_eq!(count(&DURATION_CALLS), 2);
}

static ROUTED_DEFAULT: LazyLock<Arc<MemStore>> = LazyLock::new(|| Arc::new(MemStore::new()));
static ROUTED_FAST: LazyLock<Arc<MemStore>> = LazyLock::new(|| Arc::new(MemStore::new()));
static ROUTED_SLOW: LazyLock<Arc<MemStore>> = LazyLock::new(|| Arc::new(MemStore::new()));
static ROUTED: LazyLock<Memoizer> = LazyLock::new(|| {
    let memo = Memoizer::new(ROUTED_DEFAULT.clone());
    memo.add_region(Region::new(
        "fast",
        Options::new().store(ROUTED_FAST.clone()),
    ))
    .unwrap();
    memo.add_region(Region::new(
        "slow",
        Options::new().store(ROUTED_SLOW.clone()),
    ))
    .unwrap();
    memo
});

#[memoize(ROUTED, region = "fast")]
fn fast(x: u8) -> u8 {
    x
}

#[memoize(ROUTED, region = "slow")]
fn slow(x: u8) -> u8 {
    x
}

#[memoize(ROUTED)]
fn plain(x: u8) -> u8 {
    x
}

#[test]
fn per_function_regions_route_to_their_own_stores() {
    fast(1);
    fast(2);
    slow(1);
    plain(1);
    assert_eq!(ROUTED_FAST.len(), 2);
    assert_eq!(ROUTED_SLOW.len(), 1);
    assert_eq!(ROUTED_DEFAULT.len(), 1);
    let key = fast::key(1).unwrap();
    assert!(ROUTED_FAST.get(&key).unwrap().is_some());
    assert!(ROUTED_SLOW.get(&key).unwrap().is_none());
}

static SPACED: Fixture = LazyLock::new(memoizer);

#[memoize(SPACED.0, namespace = "3")]
fn adder(a: i64, b: i64) -> i64 {
    a + b
}

#[test]
fn namespaces_prefix_the_key() {
    assert_eq!(adder(1, 2), 3);
    let key = "3:it::decorator::adder(1, 2)";
    assert_eq!(adder::key(1, 2).unwrap(), key);
    assert!(SPACED.1.get(key).unwrap().is_some());
    assert_eq!(SPACED.1.len(), 1);
}

static OWN_STORE: LazyLock<Arc<MemStore>> = LazyLock::new(|| Arc::new(MemStore::new()));
static STORED: Fixture = LazyLock::new(memoizer);

#[memoize(STORED.0, store = OWN_STORE.clone())]
fn kept_apart(x: u8) -> u8 {
    x
}

#[test]
fn store_option_keeps_records_in_its_own_store() {
    kept_apart(4);
    assert_eq!(OWN_STORE.len(), 1);
    assert!(STORED.1.is_empty());
    assert!(kept_apart::exists(4).unwrap());
    assert!(!STORED.0.exists(&kept_apart::key(4).unwrap()).unwrap());
}

static TAGGED: Fixture = LazyLock::new(memoizer);
static VERSION: AtomicU32 = AtomicU32::new(0);
static TAGGED_CALLS: AtomicUsize = AtomicUsize::new(0);

fn version() -> u32 {
    VERSION.load(Ordering::SeqCst)
}

#[memoize(TAGGED.0, etagger = version)]
fn config(name: &str) -> String {
    TAGGED_CALLS.fetch_add(1, Ordering::SeqCst);
    format!("{name}@{}", version())
}

#[test]
fn the_etag_closure_invalidates_when_its_state_changes() {
    assert_eq!(config("db"), "db@0");
    assert_eq!(config("db"), "db@0");
    assert_eq!(count(&TAGGED_CALLS), 1);
    VERSION.store(1, Ordering::SeqCst);
    assert!(!config::exists("db").unwrap());
    assert_eq!(config("db"), "db@1");
    assert_eq!(count(&TAGGED_CALLS), 2);
    assert_eq!(config::etag::<u32>("db").unwrap(), Some(1));
}

static FIXED_TAG: Fixture = LazyLock::new(memoizer);

#[memoize(FIXED_TAG.0, etag = "v2")]
fn tagged(x: u8) -> u8 {
    x
}

#[test]
fn a_fixed_etag_is_stored_and_compared() {
    tagged(1);
    assert_eq!(tagged::etag::<String>(1).unwrap().as_deref(), Some("v2"));
    let older = Options::new().etag("v1");
    assert!(
        !FIXED_TAG
            .0
            .exists_with(&tagged::key(1).unwrap(), &older)
            .unwrap()
    );
}

static PANICS: Fixture = LazyLock::new(memoizer);

#[memoize(PANICS.0)]
fn explode(x: u8) -> u8 {
    panic!("no value for {x}")
}

#[test]
fn a_function_that_panics_stores_nothing() {
    let caught = panic::catch_unwind(|| explode(1));
    assert!(caught.is_err());
    assert!(!explode::exists(1).unwrap());
    assert!(PANICS.1.is_empty());
}

static FALLIBLE: Fixture = LazyLock::new(memoizer);
static FALLIBLE_CALLS: AtomicUsize = AtomicUsize::new(0);

#[memoize(FALLIBLE.0)]
fn parse(text: &str) -> Result<u32, ParseIntError> {
    FALLIBLE_CALLS.fetch_add(1, Ordering::SeqCst);
    text.parse()
}

#[test]
fn err_is_returned_and_never_stored() {
    assert!(parse("x").is_err());
    assert!(parse("x").is_err());
    assert_eq!(count(&FALLIBLE_CALLS), 2);
    assert!(!parse::exists("x").unwrap());
    assert_eq!(parse("7"), Ok(7));
    assert_eq!(parse("7"), Ok(7));
    assert_eq!(count(&FALLIBLE_CALLS), 3);
    assert_eq!(FALLIBLE.1.len(), 1);
}

/// A `Result` alias with the error type fixed, as `std::io` has.
mod parsing {
    pub(crate) type Result<T> = std::result::Result<T, std::num::ParseIntError>;
}

static ALIASED: Fixture = LazyLock::new(memoizer);

#[memoize(ALIASED.0)]
fn parse_aliased(text: &str) -> parsing::Result<i8> {
    text.parse()
}

#[test]
fn result_aliases_cache_only_ok() {
    assert!(parse_aliased("300").is_err());
    assert_eq!(parse_aliased("-3"), Ok(-3));
    assert!(parse_aliased::exists("-3").unwrap());
    assert!(!parse_aliased::exists("300").unwrap());
}

static OPTIONAL: Fixture = LazyLock::new(memoizer);
static FIND_CALLS: AtomicUsize = AtomicUsize::new(0);
static LOOKUP_CALLS: AtomicUsize = AtomicUsize::new(0);

#[memoize(OPTIONAL.0)]
fn find(x: u8) -> Option<u8> {
    FIND_CALLS.fetch_add(1, Ordering::SeqCst);
    x.checked_sub(10)
}

#[memoize(OPTIONAL.0, cache_none = false)]
fn lookup(x: u8) -> Option<u8> {
    LOOKUP_CALLS.fetch_add(1, Ordering::SeqCst);
    x.checked_sub(10)
}

#[test]
fn none_is_cached_unless_cache_none_is_false() {
    assert_eq!(find(1), None);
    assert_eq!(find(1), None);
    assert_eq!(count(&FIND_CALLS), 1);

    assert_eq!(lookup(1), None);
    assert_eq!(lookup(1), None);
    assert_eq!(count(&LOOKUP_CALLS), 2);
    assert!(!lookup::exists(1).unwrap());
    assert_eq!(lookup(15), Some(5));
    assert_eq!(lookup(15), Some(5));
    assert_eq!(count(&LOOKUP_CALLS), 3);
    // Both store `Option<u8>`, so a `Some` reads the same through either.
    let key = lookup::key(15).unwrap();
    assert_eq!(OPTIONAL.0.peek::<Option<u8>>(&key).unwrap(), Some(Some(5)));
}

static UNROUTED: Fixture = LazyLock::new(memoizer);
static UNROUTED_CALLS: AtomicUsize = AtomicUsize::new(0);

#[memoize(UNROUTED.0, region = "nowhere")]
fn unrouted(x: u8) -> u8 {
    UNROUTED_CALLS.fetch_add(1, Ordering::SeqCst);
    x + 1
}

#[test]
fn a_memo_error_fails_open_and_computes_uncached() {
    assert_eq!(unrouted(1), 2);
    assert_eq!(unrouted(1), 2);
    assert_eq!(count(&UNROUTED_CALLS), 2);
    assert!(matches!(unrouted::exists(1), Err(memo::Error::Config(_))));
}

#[derive(Debug)]
enum LoadError {
    Memo(memo::Error),
}

impl From<memo::Error> for LoadError {
    fn from(error: memo::Error) -> Self {
        LoadError::Memo(error)
    }
}

#[memoize(UNROUTED.0, region = "nowhere", strict)]
fn strict_load(x: u8) -> Result<u8, LoadError> {
    Ok(x)
}

#[test]
fn strict_returns_memo_errors_through_the_error_type() {
    assert!(matches!(
        strict_load(1),
        Err(LoadError::Memo(memo::Error::Config(_)))
    ));
}

/// An argument whose `Serialize` fails, so its key cannot be written.
struct Unkeyable;

impl serde::Serialize for Unkeyable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("no key for this"))
    }
}

static UNKEYED: Fixture = LazyLock::new(memoizer);
static UNKEYED_CALLS: AtomicUsize = AtomicUsize::new(0);

#[memoize(UNKEYED.0)]
fn unkeyed(_input: Unkeyable) -> u8 {
    UNKEYED_CALLS.fetch_add(1, Ordering::SeqCst);
    7
}

#[test]
fn an_argument_that_cannot_be_keyed_fails_open() {
    assert_eq!(unkeyed(Unkeyable), 7);
    assert_eq!(unkeyed(Unkeyable), 7);
    assert_eq!(count(&UNKEYED_CALLS), 2);
    assert!(UNKEYED.1.is_empty());
    assert!(
        matches!(unkeyed::key(Unkeyable), Err(memo::Error::Codec(m)) if m == "no key for this")
    );
}

static FIB: Fixture = LazyLock::new(memoizer);
static FIB_CALLS: AtomicUsize = AtomicUsize::new(0);

#[memoize(FIB.0)]
fn fib(n: u32) -> u64 {
    FIB_CALLS.fetch_add(1, Ordering::SeqCst);
    if n < 2 {
        u64::from(n)
    } else {
        fib(n - 1) + fib(n - 2)
    }
}

#[test]
fn recursive_calls_are_memoized_too() {
    assert_eq!(fib(60), 1_548_008_755_920);
    assert_eq!(count(&FIB_CALLS), 61);
}

static FLIGHT: Fixture = LazyLock::new(memoizer);
static FLIGHT_CALLS: AtomicUsize = AtomicUsize::new(0);
static FLIGHT_GATE: LazyLock<Barrier> = LazyLock::new(|| Barrier::new(8));

#[memoize(FLIGHT.0)]
fn contended(x: u64) -> u64 {
    FLIGHT_CALLS.fetch_add(1, Ordering::SeqCst);
    // Long enough for the other threads to arrive and wait on this computation.
    thread::sleep(Duration::from_millis(200));
    x * 3
}

#[test]
fn concurrent_callers_compute_once() {
    let threads: Vec<_> = (0..8)
        .map(|_| {
            thread::spawn(|| {
                FLIGHT_GATE.wait();
                contended(14)
            })
        })
        .collect();
    for thread in threads {
        assert_eq!(thread.join().unwrap(), 42);
    }
    assert_eq!(count(&FLIGHT_CALLS), 1);
}

static PER_CALL: Fixture = LazyLock::new(memoizer);
static PER_CALL_CALLS: AtomicUsize = AtomicUsize::new(0);

#[memoize(PER_CALL.0, namespace = "decorated")]
fn per_call(x: u8) -> u8 {
    PER_CALL_CALLS.fetch_add(1, Ordering::SeqCst);
    x
}

#[test]
fn call_with_puts_per_call_options_over_the_decorators() {
    let opts = Options::new().namespace("called");
    assert_eq!(per_call::call_with(&opts, 5), 5);
    assert_eq!(per_call::call_with(&opts, 5), 5);
    assert_eq!(count(&PER_CALL_CALLS), 1);
    assert!(
        PER_CALL
            .1
            .get("called:it::decorator::per_call(5)")
            .unwrap()
            .is_some()
    );
    assert!(!per_call::exists(5).unwrap());
    per_call(5);
    assert_eq!(count(&PER_CALL_CALLS), 2);
    assert_eq!(PER_CALL.1.len(), 2);
}

static RAW: Fixture = LazyLock::new(memoizer);
static RAW_CALLS: AtomicUsize = AtomicUsize::new(0);

#[memoize(RAW.0)]
fn raw(x: u8) -> u8 {
    RAW_CALLS.fetch_add(1, Ordering::SeqCst);
    x
}

#[test]
fn uncached_runs_the_body_every_time() {
    assert_eq!(raw::uncached(9), 9);
    assert_eq!(raw::uncached(9), 9);
    assert_eq!(count(&RAW_CALLS), 2);
    assert!(!raw::exists(9).unwrap());
    assert!(RAW.1.is_empty());
}

static EXPIRING: Fixture = LazyLock::new(memoizer);

/// Half a minute from the fixture's clock, whatever it reads at the call.
#[memoize(EXPIRING.0, expiry = || memo::from_unix(memo::Clock::now(&EXPIRING.2) + 30.0))]
fn expiring(x: u8) -> u8 {
    x
}

#[test]
fn an_expiry_closure_is_resolved_at_each_call() {
    expiring(1);
    assert_eq!(expiring::ttl(1).unwrap(), Some(Duration::from_secs(30)));
    EXPIRING.2.advance(Duration::from_secs(10));
    // Read at this call: expiry is again 30 s away, but the record keeps its own 20 s.
    assert_eq!(expiring::ttl(1).unwrap(), Some(Duration::from_secs(20)));
    EXPIRING.2.advance(Duration::from_secs(20));
    assert!(!expiring::exists(1).unwrap());
}

/// A lock provider that counts the locks taken, to see the decorator's `lock` option in use.
#[derive(Debug, Default)]
struct CountingLocks(Arc<AtomicUsize>);

#[derive(Debug)]
struct CountedLock(Arc<AtomicUsize>);

impl memo::Lock for CountedLock {
    fn acquire(&self, _: Duration) -> memo::Result<bool> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(true)
    }
    fn release(&self) -> memo::Result<()> {
        Ok(())
    }
}

impl memo::LockProvider for CountingLocks {
    fn lock(&self, _: &str) -> Box<dyn memo::Lock> {
        Box::new(CountedLock(self.0.clone()))
    }
}

static LOCKED: Fixture = LazyLock::new(memoizer);
static LOCKS_TAKEN: LazyLock<Arc<AtomicUsize>> = LazyLock::new(Arc::default);

#[memoize(LOCKED.0, lock = CountingLocks(LOCKS_TAKEN.clone()), timeout = 2)]
fn locked(x: u8) -> u8 {
    x
}

#[test]
fn the_lock_option_is_taken_around_computations_only() {
    locked(1);
    locked(1);
    locked(2);
    assert_eq!(LOCKS_TAKEN.load(Ordering::SeqCst), 2);
}

static REGION_LOCKS: LazyLock<Arc<AtomicUsize>> = LazyLock::new(Arc::default);
/// Locks and namespaces every call by default, so the decorators can say "none".
static DEFAULTS: LazyLock<Memoizer> = LazyLock::new(|| {
    let defaults = Options::new()
        .lock(CountingLocks(REGION_LOCKS.clone()))
        .namespace("default-ns");
    Memoizer::builder(MemStore::new()).options(defaults).build()
});

#[memoize(DEFAULTS, no_lock, no_namespace)]
fn bare(x: u8) -> u8 {
    x
}

#[memoize(DEFAULTS)]
fn defaulted(x: u8) -> u8 {
    x
}

#[test]
fn no_lock_and_no_namespace_override_the_defaults() {
    bare(1);
    assert_eq!(REGION_LOCKS.load(Ordering::SeqCst), 0);
    assert_eq!(bare::key(1).unwrap(), "it::decorator::bare(1)");
    defaulted(1);
    assert_eq!(REGION_LOCKS.load(Ordering::SeqCst), 1);
    assert_eq!(
        defaulted::key(1).unwrap(),
        "default-ns:it::decorator::defaulted(1)"
    );
}
