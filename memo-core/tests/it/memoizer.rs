//! The Memoizer's behaviour that no store changes: option precedence and regions, etags,
//! `max_age` and `expiry` semantics, `try_get`, faults, and locks. (The behaviours whose outcome
//! depends on the store are in memo-conformance, run on every store.)

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use memo_core::doc_store::DocStore;
use memo_core::{
    Clock, Error, Lock, LockProvider, ManualClock, Memoizer, Options, Record, Region, Result,
    Store, TryError,
};

const MINUTE: Duration = Duration::from_secs(60);

/// The store a test's Memoizer writes to.
struct Fixture(Arc<dyn Store>);

impl Fixture {
    fn store(&self) -> Arc<dyn Store> {
        self.0.clone()
    }
}

struct Setup {
    fixture: Fixture,
    memo: Memoizer,
    clock: ManualClock,
}

fn setup() -> Setup {
    let store: Arc<dyn Store> = Arc::new(DocStore::default());
    let clock = ManualClock::new();
    let memo = Memoizer::builder_arc(store.clone())
        .clock(clock.clone())
        .build();
    Setup {
        fixture: Fixture(store),
        memo,
        clock,
    }
}

/// Counts calls of a memoized function.
#[derive(Clone, Default)]
struct Calls(Arc<AtomicUsize>);

impl Calls {
    fn run<T>(&self, value: T) -> T {
        self.0.fetch_add(1, Ordering::SeqCst);
        value
    }
    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// `max_age` counts from `created` when reading, also for a record stored without expiry.
#[test]
fn max_age_applies_at_read_time() {
    let Setup { memo, clock, .. } = setup();
    assert_eq!(memo.get("k", || 1_u8).unwrap(), 1);
    assert_eq!(memo.ttl("k").unwrap(), None);
    clock.advance(Duration::from_secs(100));
    let young = Options::new().max_age(Duration::from_secs(99));
    let old = Options::new().max_age(Duration::from_secs(101));
    assert!(!memo.exists_with("k", &young).unwrap());
    assert_eq!(memo.get_with("k", &old, || 2_u8).unwrap(), 1);
    assert_eq!(
        memo.ttl_with("k", &old).unwrap(),
        Some(Duration::from_secs(1))
    );
    assert_eq!(memo.get_with("k", &young, || 3_u8).unwrap(), 3);
}

/// A different etag on the call recomputes and replaces the value.
#[test]
fn etag_change_recomputes() {
    let Setup { memo, .. } = setup();
    let v1 = Options::new().etag(&"v1");
    let v2 = Options::new().etag(&"v2");
    assert_eq!(memo.get_with("k", &v1, || 1_u8).unwrap(), 1);
    assert_eq!(memo.get_with("k", &v1, || 2_u8).unwrap(), 1);
    assert_eq!(memo.get_with("k", &v2, || 3_u8).unwrap(), 3);
    assert_eq!(memo.get_with("k", &v1, || 4_u8).unwrap(), 4);
}

/// A call without an etag takes a value stored under any etag.
#[test]
fn call_without_etag_never_compares() {
    let Setup { memo, .. } = setup();
    assert_eq!(
        memo.get_with("k", &Options::new().etag(&7_u32), || 1_u8)
            .unwrap(),
        1
    );
    assert_eq!(memo.get("k", || 2_u8).unwrap(), 1);
    memo.delete("k").unwrap();
    assert_eq!(memo.get("k", || 3_u8).unwrap(), 3);
    assert!(!memo.exists_with("k", &Options::new().etag(&7_u32)).unwrap());
}

/// `0`, `""` and `false` are etags like any other, and differ from no etag.
#[test]
fn falsy_etags_are_etags() {
    let Setup { memo, .. } = setup();
    let zero = Options::new().etag(&0_u32);
    let one = Options::new().etag(&1_u32);
    let empty = Options::new().etag(&"");
    assert_eq!(memo.get_with("n", &zero, || 1_u8).unwrap(), 1);
    assert_eq!(memo.get_with("n", &zero, || 2_u8).unwrap(), 1);
    assert_eq!(memo.get_with("n", &one, || 3_u8).unwrap(), 3);
    assert_eq!(memo.get("s", || 4_u8).unwrap(), 4);
    assert_eq!(
        memo.get_with("s", &empty, || 5_u8).unwrap(),
        5,
        "no etag is not the etag \"\""
    );
    assert_eq!(memo.get_with("s", &empty, || 6_u8).unwrap(), 5);
    assert_eq!(memo.etag::<String>("s").unwrap().as_deref(), Some(""));
}

/// An etagger closure runs on every call, so a change of its state invalidates.
#[test]
fn etagger_runs_per_call() {
    let Setup { memo, .. } = setup();
    let version = Arc::new(AtomicUsize::new(0));
    let seen = version.clone();
    let opts = Options::new().etagger(move || seen.load(Ordering::SeqCst));
    let calls = Calls::default();
    assert_eq!(memo.get_with("k", &opts, || calls.run(10_u8)).unwrap(), 10);
    assert_eq!(memo.get_with("k", &opts, || calls.run(11_u8)).unwrap(), 10);
    version.store(1, Ordering::SeqCst);
    assert_eq!(memo.get_with("k", &opts, || calls.run(12_u8)).unwrap(), 12);
    assert_eq!(calls.count(), 2);
}

/// A `max_age` closure is resolved once per call, before any comparison.
#[test]
fn dynamic_max_age_resolved_per_call() {
    let Setup { memo, clock, .. } = setup();
    let secs = Arc::new(AtomicUsize::new(100));
    let resolved = Arc::new(AtomicUsize::new(0));
    let (s, r) = (secs.clone(), resolved.clone());
    let opts = Options::new().max_age_fn(move || {
        r.fetch_add(1, Ordering::SeqCst);
        Duration::from_secs(s.load(Ordering::SeqCst) as u64)
    });
    assert_eq!(memo.get_with("k", &opts, || 1_u8).unwrap(), 1);
    assert_eq!(
        resolved.load(Ordering::SeqCst),
        1,
        "one resolution for a miss and its write"
    );
    clock.advance(Duration::from_secs(50));
    assert_eq!(memo.get_with("k", &opts, || 2_u8).unwrap(), 1);
    secs.store(40, Ordering::SeqCst);
    assert_eq!(
        memo.get_with("k", &opts, || 3_u8).unwrap(),
        3,
        "the new max_age applies at read"
    );
    assert_eq!(resolved.load(Ordering::SeqCst), 3);
    assert_eq!(
        memo.ttl_with("k", &opts).unwrap(),
        Some(Duration::from_secs(40))
    );
}

/// A call takes its region's options, the region its parents', and the call wins over all.
#[test]
fn regions_inherit_from_parents() {
    let Setup {
        fixture,
        memo,
        clock,
    } = setup();
    memo.add_region(Region::new(
        "base",
        Options::new().namespace("b").max_age(MINUTE),
    ))
    .unwrap();
    memo.add_region(Region::new("child", Options::new().etag(&1_u8)).parent("base"))
        .unwrap();
    let child = Options::new().region("child");
    memo.get_with("k", &child, || 1_u8).unwrap();
    let stored = fixture
        .store()
        .get("b:k")
        .unwrap()
        .expect("namespace from the parent");
    assert!(stored.etag.is_some(), "etag from the child");
    assert_eq!(
        memo.etag_with::<u8>("k", &child).unwrap(),
        Some(1),
        "etag from the child"
    );
    assert_eq!(
        memo.ttl_with("k", &child).unwrap(),
        Some(MINUTE),
        "max_age from the parent"
    );
    let bare = child.clone().no_namespace();
    memo.get_with("k", &bare, || 2_u8).unwrap();
    assert!(
        fixture.store().get("k").unwrap().is_some(),
        "the call's no_namespace wins"
    );
    clock.advance(MINUTE);
    assert!(!memo.exists_with("k", &child).unwrap());
    let unknown = Region::new("orphan", Options::new()).parent("nowhere");
    assert!(matches!(memo.add_region(unknown), Err(Error::Config(_))));
    let cycle = Region::new("base", Options::new()).parent("child");
    assert!(matches!(memo.add_region(cycle), Err(Error::Config(_))));
    let own = Region::new("self", Options::new()).parent("self");
    assert!(matches!(memo.add_region(own), Err(Error::Config(_))));
    assert!(matches!(
        memo.get_with("k", &Options::new().region("nope"), || 0_u8),
        Err(Error::Config(_))
    ));
}

/// An `Err` from the function reaches the caller and stores nothing.
#[test]
fn try_get_error_is_not_cached() {
    let Setup { memo, .. } = setup();
    let failed: std::result::Result<u8, TryError<&str>> =
        memo.try_get("k", || Err(TryError::Func("boom")));
    assert!(matches!(failed, Err(TryError::Func("boom"))));
    assert!(!memo.exists("k").unwrap());
    let ok: std::result::Result<u8, Error> = memo.try_get("k", || Ok(5));
    assert_eq!(ok.unwrap(), 5);
    let again: std::result::Result<u8, Error> = memo.try_get("k", || Ok(6));
    assert_eq!(again.unwrap(), 5);
}

/// Wraps a store and injects faults on demand.
#[derive(Debug)]
struct Faulty {
    inner: Arc<dyn Store>,
    fail_get: AtomicBool,
    fail_set: AtomicBool,
    garbage: AtomicBool,
}

impl Faulty {
    fn over(inner: Arc<dyn Store>) -> Arc<Self> {
        Arc::new(Faulty {
            inner,
            fail_get: AtomicBool::new(false),
            fail_set: AtomicBool::new(false),
            garbage: AtomicBool::new(false),
        })
    }
}

impl Store for Faulty {
    fn get(&self, key: &str) -> Result<Option<Record>> {
        if self.fail_get.load(Ordering::SeqCst) {
            return Err(Error::backend("faulty", "injected read failure"));
        }
        if self.garbage.load(Ordering::SeqCst) {
            return Record::decode(&[1, 2, 3]).map(Some);
        }
        self.inner.get(key)
    }
    fn set(&self, key: &str, record: Record) -> Result<()> {
        if self.fail_set.load(Ordering::SeqCst) {
            return Err(Error::backend("faulty", "injected write failure"));
        }
        self.inner.set(key, record)
    }
    fn delete(&self, key: &str) -> Result<bool> {
        self.inner.delete(key)
    }
}

fn faulty_memo() -> (Fixture, Arc<Faulty>, Memoizer) {
    let fixture = Fixture(Arc::new(DocStore::default()));
    let faulty = Faulty::over(fixture.store());
    let memo = Memoizer::builder_arc(faulty.clone()).build();
    (fixture, faulty, memo)
}

/// A store whose reads fail: the value is computed and returned, the fault counted; strict
/// mode returns the error.
#[test]
fn read_fault_fails_open_and_is_counted() {
    let (_fixture, faulty, memo) = faulty_memo();
    memo.get("k", || 1_u8).unwrap();
    faulty.fail_get.store(true, Ordering::SeqCst);
    let calls = Calls::default();
    assert_eq!(memo.get("k", || calls.run(2_u8)).unwrap(), 2);
    assert_eq!(calls.count(), 1);
    assert_eq!(memo.stats().store_errors, 1);
    assert_eq!(memo.peek::<u8>("k").unwrap(), None);
    let strict = Options::new().strict(true);
    let failed = memo.get_with("k", &strict, || calls.run(3_u8));
    assert!(
        matches!(
            failed,
            Err(Error::Backend {
                store: "faulty",
                ..
            })
        ),
        "{failed:?}"
    );
    assert_eq!(
        calls.count(),
        1,
        "strict mode does not compute after a read fault"
    );
    faulty.fail_get.store(false, Ordering::SeqCst);
    assert_eq!(
        memo.get("k", || 4_u8).unwrap(),
        2,
        "the fail-open value was written"
    );
}

/// A record that does not decode is a miss (counted), or an error in strict mode.
#[test]
fn undecodable_record_is_a_miss() {
    let (fixture, faulty, memo) = faulty_memo();
    faulty.garbage.store(true, Ordering::SeqCst);
    assert_eq!(memo.get("k", || 1_u8).unwrap(), 1);
    assert_eq!(memo.stats().codec_errors, 1);
    let strict = Options::new().strict(true);
    assert!(matches!(
        memo.get_with("k", &strict, || 2_u8),
        Err(Error::Codec(_))
    ));
    faulty.garbage.store(false, Ordering::SeqCst);
    // A value of another type under the key: a miss too.
    fixture
        .store()
        .set(
            "typed",
            Record::new(
                memo_core::to_unix(std::time::SystemTime::now()),
                None,
                vec![0xFF; 3],
            ),
        )
        .unwrap();
    assert_eq!(memo.get("typed", || String::from("ok")).unwrap(), "ok");
    assert_eq!(memo.stats().codec_errors, 3);
}

/// A store whose writes fail still returns the computed value.
#[test]
fn write_fault_still_returns_the_value() {
    let (_fixture, faulty, memo) = faulty_memo();
    faulty.fail_set.store(true, Ordering::SeqCst);
    assert_eq!(memo.get("k", || 1_u8).unwrap(), 1);
    assert_eq!(memo.stats().store_errors, 1);
    assert!(!memo.exists("k").unwrap());
    let strict = Options::new().strict(true);
    assert!(matches!(
        memo.get_with("k", &strict, || 2_u8),
        Err(Error::Backend { .. })
    ));
}

/// An in-process lock provider that records what happens to its locks.
#[derive(Clone, Debug, Default)]
struct Recorder(Arc<RecorderState>);

#[derive(Debug, Default)]
struct RecorderState {
    held: Mutex<HashMap<String, bool>>,
    events: Mutex<Vec<String>>,
    refuse: AtomicBool,
}

#[derive(Debug)]
struct RecordedLock {
    owner: Arc<RecorderState>,
    key: String,
}

impl LockProvider for Recorder {
    fn lock(&self, key: &str) -> Box<dyn Lock> {
        Box::new(RecordedLock {
            owner: self.0.clone(),
            key: key.to_owned(),
        })
    }
}

impl RecorderState {
    fn log(&self, event: String) {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(event);
    }
}

impl Recorder {
    fn events(&self) -> Vec<String> {
        self.0
            .events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
    fn held(&self, key: &str) -> Option<bool> {
        self.0
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .copied()
    }
}

impl Lock for RecordedLock {
    fn acquire(&self, _timeout: Duration) -> Result<bool> {
        if self.owner.refuse.load(Ordering::SeqCst) {
            self.owner.log(format!("timeout {}", self.key));
            return Ok(false);
        }
        let mut held = self
            .owner
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        held.insert(self.key.clone(), true);
        self.owner.log(format!("acquire {}", self.key));
        Ok(true)
    }
    fn release(&self) -> Result<()> {
        let mut held = self
            .owner
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        held.insert(self.key.clone(), false);
        self.owner.log(format!("release {}", self.key));
        Ok(())
    }
}

/// The computing caller takes the lock, re-reads the store after acquiring, writes before
/// releasing, and releases on panic too.
#[test]
fn lock_is_taken_and_double_checked() {
    let Setup {
        fixture,
        memo,
        clock,
    } = setup();
    let recorder = Recorder::default();
    let opts = Options::new().lock(recorder.clone());
    let store = fixture.store();
    assert_eq!(memo.get_with("k", &opts, || 1_u8).unwrap(), 1);
    assert_eq!(recorder.events(), ["acquire k", "release k"]);
    assert!(
        store.get("k").unwrap().is_some(),
        "written before the release"
    );
    // Another process stores the value while we wait for the lock: the double check finds it.
    // (postcard writes a u8 as that one byte.)
    let theirs = Record::new(clock.now(), None, vec![9_u8]);
    let racing = Racing {
        recorder: recorder.clone(),
        store: store.clone(),
        record: theirs,
    };
    let calls = Calls::default();
    let got = memo
        .get_with("raced", &Options::new().lock(racing), || calls.run(2_u8))
        .unwrap();
    assert_eq!(
        (got, calls.count()),
        (9, 0),
        "the value stored by the lock holder is used"
    );
    let boom = catch_unwind(AssertUnwindSafe(|| {
        memo.get_with("p", &opts, || -> u8 { panic!("boom") })
    }));
    assert!(boom.is_err());
    assert_eq!(recorder.held("p"), Some(false), "released on panic");
    memo.get_with("free", &opts.clone().no_lock(), || 1_u8)
        .unwrap();
    assert_eq!(recorder.held("free"), None, "no_lock takes no lock");
}

/// A lock provider that lets "another process" store the value before the lock is ours.
#[derive(Debug)]
struct Racing {
    recorder: Recorder,
    store: Arc<dyn Store>,
    record: Record,
}

impl LockProvider for Racing {
    fn lock(&self, key: &str) -> Box<dyn Lock> {
        self.store
            .set(key, self.record.clone())
            .expect("the racing write");
        self.recorder.lock(key)
    }
}

/// A lock that times out: the value is computed anyway, or `LockTimeout` in strict mode.
#[test]
fn lock_timeout_computes_or_errors() {
    let Setup { memo, .. } = setup();
    let recorder = Recorder::default();
    recorder.0.refuse.store(true, Ordering::SeqCst);
    let opts = Options::new()
        .lock(recorder.clone())
        .timeout(Duration::from_millis(10));
    assert_eq!(memo.get_with("k", &opts, || 1_u8).unwrap(), 1);
    assert_eq!(memo.stats().lock_timeouts, 1);
    let strict = opts.clone().strict(true);
    let failed = memo.get_with("other", &strict, || 2_u8);
    assert!(
        matches!(failed, Err(Error::LockTimeout { ref key, .. }) if key == "other"),
        "{failed:?}"
    );
    assert!(!memo.exists("other").unwrap());
}
