//! The Memoizer's behaviour (DESIGN.md section 5), checked over the store under test.
//!
//! Each function takes the [`Harness`] and runs one behaviour on a fresh store with a
//! [`ManualClock`]; [`suite!`](crate::suite) wraps each in a `#[test]` named like it.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use memo_core::{
    Clock, Error, Lock, LockProvider, ManualClock, Memoizer, Options, Record, Region, Result,
    Store, TryError, from_unix,
};

use crate::{Fixture, Harness};

/// Lists the behaviours once, for the macro and for the function names.
#[doc(hidden)]
#[macro_export]
macro_rules! __memoizer_suite {
    ($harness:path) => {
        $crate::__memoizer_tests!($harness;
            memoizer_hit_after_miss_computes_once,
            memoizer_max_age_expires_with_the_clock,
            memoizer_expiry_option_expires_at_its_time,
            memoizer_max_age_applies_at_read_time,
            memoizer_etag_change_recomputes,
            memoizer_call_without_etag_never_compares,
            memoizer_falsy_etags_are_etags,
            memoizer_etagger_runs_per_call,
            memoizer_dynamic_max_age_resolved_per_call,
            memoizer_ttl_falls_with_time,
            memoizer_expire_and_expire_at,
            memoizer_namespace_prefixes_the_stored_key,
            memoizer_regions_inherit_from_parents,
            memoizer_per_call_store_is_used,
            memoizer_peek_tells_a_miss_from_a_cached_none,
            memoizer_delete_and_exists,
            memoizer_stored_etag_is_readable,
            memoizer_try_get_error_is_not_cached,
            memoizer_sixty_four_threads_compute_once,
            memoizer_panic_reaches_caller_and_waiters_recover,
            memoizer_waiter_under_another_etag_computes_its_own,
            memoizer_read_fault_fails_open_and_is_counted,
            memoizer_undecodable_record_is_a_miss,
            memoizer_write_fault_still_returns_the_value,
            memoizer_lock_is_taken_and_double_checked,
            memoizer_lock_timeout_computes_or_errors,
            memoizer_clear_removes_only_the_namespace,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __memoizer_tests {
    ($harness:path; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::memoizer::$name(&$harness());
            }
        )*
    };
}

const MINUTE: Duration = Duration::from_secs(60);

struct Setup {
    fixture: Fixture,
    memo: Memoizer,
    clock: ManualClock,
}

fn setup(harness: &Harness) -> Option<Setup> {
    let fixture = harness.fresh()?;
    let clock = ManualClock::new();
    let memo = Memoizer::builder_arc(fixture.store())
        .clock(clock.clone())
        .build();
    Some(Setup {
        fixture,
        memo,
        clock,
    })
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

/// A second call computes nothing, and both return the value.
pub fn memoizer_hit_after_miss_computes_once(harness: &Harness) {
    let Some(Setup { memo, .. }) = setup(harness) else {
        return;
    };
    let calls = Calls::default();
    let first: Vec<u32> = memo.get("basic", || calls.run(vec![1, 2, 3])).unwrap();
    let second: Vec<u32> = memo.get("basic", || calls.run(vec![9])).unwrap();
    assert_eq!((first, second), (vec![1, 2, 3], vec![1, 2, 3]));
    assert_eq!(calls.count(), 1);
    let stats = memo.stats();
    assert_eq!((stats.hits, stats.misses, stats.computations), (1, 1, 1));
}

/// A value older than `max_age` is computed again.
pub fn memoizer_max_age_expires_with_the_clock(harness: &Harness) {
    let Some(Setup { memo, clock, .. }) = setup(harness) else {
        return;
    };
    let opts = Options::new().max_age(Duration::from_secs(10));
    let calls = Calls::default();
    assert_eq!(memo.get_with("k", &opts, || calls.run(1_u8)).unwrap(), 1);
    clock.advance(Duration::from_secs(9));
    assert_eq!(memo.get_with("k", &opts, || calls.run(2_u8)).unwrap(), 1);
    clock.advance(Duration::from_secs(1));
    assert_eq!(memo.get_with("k", &opts, || calls.run(3_u8)).unwrap(), 3);
    assert_eq!(calls.count(), 2);
}

/// The `expiry` option stores an absolute expiry and makes the value a miss from then on.
pub fn memoizer_expiry_option_expires_at_its_time(harness: &Harness) {
    let Some(Setup { memo, clock, .. }) = setup(harness) else {
        return;
    };
    let at = from_unix(clock.now() + 30.0);
    let opts = Options::new().expiry(at);
    assert_eq!(memo.get_with("k", &opts, || 1_u8).unwrap(), 1);
    let ttl = memo.ttl("k").unwrap().expect("a stored expiry");
    assert!(
        ttl <= Duration::from_secs(30) && ttl > Duration::from_secs(29),
        "{ttl:?}"
    );
    clock.advance(Duration::from_secs(29));
    assert_eq!(memo.get_with("k", &opts, || 2_u8).unwrap(), 1);
    clock.advance(Duration::from_secs(1));
    assert!(!memo.exists("k").unwrap());
    assert_eq!(memo.get("k", || 3_u8).unwrap(), 3);
}

/// `max_age` counts from `created` when reading, also for a record stored without expiry.
pub fn memoizer_max_age_applies_at_read_time(harness: &Harness) {
    let Some(Setup { memo, clock, .. }) = setup(harness) else {
        return;
    };
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
pub fn memoizer_etag_change_recomputes(harness: &Harness) {
    let Some(Setup { memo, .. }) = setup(harness) else {
        return;
    };
    let v1 = Options::new().etag(&"v1");
    let v2 = Options::new().etag(&"v2");
    assert_eq!(memo.get_with("k", &v1, || 1_u8).unwrap(), 1);
    assert_eq!(memo.get_with("k", &v1, || 2_u8).unwrap(), 1);
    assert_eq!(memo.get_with("k", &v2, || 3_u8).unwrap(), 3);
    assert_eq!(memo.get_with("k", &v1, || 4_u8).unwrap(), 4);
}

/// A call without an etag takes a value stored under any etag.
pub fn memoizer_call_without_etag_never_compares(harness: &Harness) {
    let Some(Setup { memo, .. }) = setup(harness) else {
        return;
    };
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
pub fn memoizer_falsy_etags_are_etags(harness: &Harness) {
    let Some(Setup { memo, .. }) = setup(harness) else {
        return;
    };
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
pub fn memoizer_etagger_runs_per_call(harness: &Harness) {
    let Some(Setup { memo, .. }) = setup(harness) else {
        return;
    };
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
pub fn memoizer_dynamic_max_age_resolved_per_call(harness: &Harness) {
    let Some(Setup { memo, clock, .. }) = setup(harness) else {
        return;
    };
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

/// `ttl` falls as the clock moves, and is `None` when missing, expired or never expiring.
pub fn memoizer_ttl_falls_with_time(harness: &Harness) {
    let Some(Setup { memo, clock, .. }) = setup(harness) else {
        return;
    };
    assert_eq!(memo.ttl("k").unwrap(), None);
    let opts = Options::new().max_age(MINUTE);
    memo.get_with("k", &opts, || 1_u8).unwrap();
    assert_eq!(memo.ttl("k").unwrap(), Some(MINUTE));
    clock.advance(Duration::from_millis(20_500));
    assert_eq!(memo.ttl("k").unwrap(), Some(Duration::from_millis(39_500)));
    clock.advance(Duration::from_secs(40));
    assert_eq!(memo.ttl("k").unwrap(), None);
    memo.get("forever", || 2_u8).unwrap();
    assert_eq!(memo.ttl("forever").unwrap(), None);
    assert!(memo.exists("forever").unwrap());
}

/// `expire` and `expire_at` rewrite a present record's expiry and report an absent one.
pub fn memoizer_expire_and_expire_at(harness: &Harness) {
    let Some(Setup { memo, clock, .. }) = setup(harness) else {
        return;
    };
    assert!(matches!(memo.expire("k", MINUTE), Err(Error::NotFound { key }) if key == "k"));
    let at = from_unix(clock.now() + 5.0);
    assert!(matches!(
        memo.expire_at("k", at),
        Err(Error::NotFound { .. })
    ));
    memo.get("k", || 1_u8).unwrap();
    memo.expire("k", Duration::from_secs(10)).unwrap();
    assert_eq!(memo.ttl("k").unwrap(), Some(Duration::from_secs(10)));
    memo.expire_at("k", at).unwrap();
    assert_eq!(memo.ttl("k").unwrap(), Some(Duration::from_secs(5)));
    clock.advance(Duration::from_secs(5));
    assert!(!memo.exists("k").unwrap());
    assert!(matches!(
        memo.expire("k", MINUTE),
        Err(Error::NotFound { .. })
    ));
    assert_eq!(memo.get("k", || 2_u8).unwrap(), 2);
}

/// The stored key is `namespace:key`, and an explicit "no namespace" on a call wins.
pub fn memoizer_namespace_prefixes_the_stored_key(harness: &Harness) {
    let Some(Setup { fixture, memo, .. }) = setup(harness) else {
        return;
    };
    let ns = Options::new().namespace("users");
    memo.get_with("42", &ns, || 1_u8).unwrap();
    assert!(fixture.store().get("users:42").unwrap().is_some());
    assert!(fixture.store().get("42").unwrap().is_none());
    assert_eq!(memo.key_with("42", &ns).unwrap(), "users:42");
    assert_eq!(
        memo.get_with("42", &ns.clone().no_namespace(), || 2_u8)
            .unwrap(),
        2
    );
    assert!(fixture.store().get("42").unwrap().is_some());
}

/// A call takes its region's options, the region its parents', and the call wins over all.
pub fn memoizer_regions_inherit_from_parents(harness: &Harness) {
    let Some(Setup {
        fixture,
        memo,
        clock,
    }) = setup(harness)
    else {
        return;
    };
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

/// A store given on the call (or its region) receives the record; the default store does not.
pub fn memoizer_per_call_store_is_used(harness: &Harness) {
    let Some(Setup { fixture, memo, .. }) = setup(harness) else {
        return;
    };
    let Some(other) = harness.fresh() else { return };
    let opts = Options::new().store_arc(other.store());
    assert_eq!(memo.get_with("k", &opts, || 1_u8).unwrap(), 1);
    assert!(other.store().get("k").unwrap().is_some());
    assert!(fixture.store().get("k").unwrap().is_none());
    memo.add_region(Region::new(
        "elsewhere",
        Options::new().store_arc(other.store()),
    ))
    .unwrap();
    assert_eq!(
        memo.get_with("k", &Options::new().region("elsewhere"), || 2_u8)
            .unwrap(),
        1
    );
    assert_eq!(memo.get("k", || 3_u8).unwrap(), 3);
}

/// `peek` never computes, and a cached `None` is a hit, not a miss.
pub fn memoizer_peek_tells_a_miss_from_a_cached_none(harness: &Harness) {
    let Some(Setup { memo, .. }) = setup(harness) else {
        return;
    };
    assert_eq!(memo.peek::<Option<u8>>("k").unwrap(), None);
    memo.get("k", || None::<u8>).unwrap();
    assert_eq!(memo.peek::<Option<u8>>("k").unwrap(), Some(None));
    assert_eq!(memo.peek::<u8>("absent").unwrap(), None);
}

/// `delete` removes exactly once; `exists` follows.
pub fn memoizer_delete_and_exists(harness: &Harness) {
    let Some(Setup { memo, .. }) = setup(harness) else {
        return;
    };
    assert!(!memo.exists("k").unwrap());
    assert!(!memo.delete("k").unwrap());
    memo.get("k", || 1_u8).unwrap();
    assert!(memo.exists("k").unwrap());
    assert!(memo.delete("k").unwrap());
    assert!(!memo.delete("k").unwrap());
    assert!(!memo.exists("k").unwrap());
}

/// The etag a value was computed under can be read back.
pub fn memoizer_stored_etag_is_readable(harness: &Harness) {
    let Some(Setup { memo, .. }) = setup(harness) else {
        return;
    };
    assert_eq!(memo.etag::<u64>("k").unwrap(), None);
    memo.get("plain", || 1_u8).unwrap();
    assert_eq!(memo.etag::<u64>("plain").unwrap(), None);
    memo.get_with("k", &Options::new().etag(&(3_u64, "x")), || 1_u8)
        .unwrap();
    assert_eq!(
        memo.etag::<(u64, String)>("k").unwrap(),
        Some((3, "x".to_owned()))
    );
}

/// An `Err` from the function reaches the caller and stores nothing.
pub fn memoizer_try_get_error_is_not_cached(harness: &Harness) {
    let Some(Setup { memo, .. }) = setup(harness) else {
        return;
    };
    let failed: std::result::Result<u8, TryError<&str>> =
        memo.try_get("k", || Err(TryError::Func("boom")));
    assert!(matches!(failed, Err(TryError::Func("boom"))));
    assert!(!memo.exists("k").unwrap());
    let ok: std::result::Result<u8, Error> = memo.try_get("k", || Ok(5));
    assert_eq!(ok.unwrap(), 5);
    let again: std::result::Result<u8, Error> = memo.try_get("k", || Ok(6));
    assert_eq!(again.unwrap(), 5);
}

/// 64 threads asking for one cold key: the function runs once and all get its value.
pub fn memoizer_sixty_four_threads_compute_once(harness: &Harness) {
    let Some(Setup { memo, .. }) = setup(harness) else {
        return;
    };
    let calls = Calls::default();
    let barrier = Barrier::new(64);
    let values: Vec<u64> = thread::scope(|scope| {
        let handles: Vec<_> = (0..64)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    memo.get("cold", || {
                        thread::sleep(Duration::from_millis(50));
                        calls.run(4242_u64)
                    })
                    .unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(values, vec![4242; 64]);
    assert_eq!(calls.count(), 1);
}

/// A panic reaches its caller and stores nothing; a waiter does not hang and gets a value.
pub fn memoizer_panic_reaches_caller_and_waiters_recover(harness: &Harness) {
    let Some(Setup { memo, .. }) = setup(harness) else {
        return;
    };
    let started = Barrier::new(2);
    let (panicked, waited) = thread::scope(|scope| {
        let leader = scope.spawn(|| {
            catch_unwind(AssertUnwindSafe(|| {
                memo.get("k", || -> u8 {
                    started.wait();
                    // Give the waiter time to join the flight before we fail.
                    thread::sleep(Duration::from_millis(100));
                    panic!("user function failed")
                })
            }))
        });
        let waiter = scope.spawn(|| {
            started.wait();
            memo.get("k", || 7_u8)
        });
        (leader.join().unwrap(), waiter.join().unwrap())
    });
    let message = panicked.expect_err("the panic reaches the caller");
    assert_eq!(
        message.downcast_ref::<&str>(),
        Some(&"user function failed")
    );
    assert_eq!(waited.unwrap(), 7);
    assert_eq!(
        memo.get("k", || 8_u8).unwrap(),
        7,
        "the waiter's value was stored"
    );
    let fresh = setup(harness).expect("available");
    let result = catch_unwind(AssertUnwindSafe(|| {
        fresh.memo.get("p", || -> u8 { panic!("x") })
    }));
    assert!(result.is_err());
    assert!(!fresh.memo.exists("p").unwrap(), "a panic stores nothing");
}

/// A caller waiting on a computation under another etag does not take its value.
pub fn memoizer_waiter_under_another_etag_computes_its_own(harness: &Harness) {
    let Some(Setup { memo, .. }) = setup(harness) else {
        return;
    };
    let started = Barrier::new(2);
    let (old, new) = thread::scope(|scope| {
        let leader = scope.spawn(|| {
            memo.get_with("k", &Options::new().etag(&1_u8), || {
                started.wait();
                thread::sleep(Duration::from_millis(100));
                "under etag 1".to_owned()
            })
        });
        let waiter = scope.spawn(|| {
            started.wait();
            memo.get_with("k", &Options::new().etag(&2_u8), || {
                "under etag 2".to_owned()
            })
        });
        (leader.join().unwrap(), waiter.join().unwrap())
    });
    assert_eq!(old.unwrap(), "under etag 1");
    assert_eq!(new.unwrap(), "under etag 2");
    assert_eq!(memo.stats().computations, 2);
}

/// Wraps the store under test and injects faults on demand.
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

fn faulty_memo(harness: &Harness) -> Option<(Fixture, Arc<Faulty>, Memoizer)> {
    let fixture = harness.fresh()?;
    let faulty = Faulty::over(fixture.store());
    let memo = Memoizer::builder_arc(faulty.clone()).build();
    Some((fixture, faulty, memo))
}

/// A store whose reads fail: the value is computed and returned, the fault counted; strict
/// mode returns the error.
pub fn memoizer_read_fault_fails_open_and_is_counted(harness: &Harness) {
    let Some((_fixture, faulty, memo)) = faulty_memo(harness) else {
        return;
    };
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
pub fn memoizer_undecodable_record_is_a_miss(harness: &Harness) {
    let Some((fixture, faulty, memo)) = faulty_memo(harness) else {
        return;
    };
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
pub fn memoizer_write_fault_still_returns_the_value(harness: &Harness) {
    let Some((_fixture, faulty, memo)) = faulty_memo(harness) else {
        return;
    };
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
pub fn memoizer_lock_is_taken_and_double_checked(harness: &Harness) {
    let Some(Setup {
        fixture,
        memo,
        clock,
    }) = setup(harness)
    else {
        return;
    };
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
pub fn memoizer_lock_timeout_computes_or_errors(harness: &Harness) {
    let Some(Setup { memo, .. }) = setup(harness) else {
        return;
    };
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

/// Clearing a namespace removes its records and no others (stores with scan).
pub fn memoizer_clear_removes_only_the_namespace(harness: &Harness) {
    let Some(Setup { fixture, memo, .. }) = setup(harness) else {
        return;
    };
    let a = Options::new().namespace("a");
    for i in 0..5 {
        memo.get_with(&i.to_string(), &a, || i).unwrap();
    }
    memo.get_with("0", &Options::new().namespace("ab"), || 9)
        .unwrap();
    memo.get("a", || 9).unwrap();
    if !fixture.store().capabilities().scan {
        assert!(matches!(
            memo.clear_with(&a),
            Err(Error::Unsupported { .. })
        ));
        return;
    }
    assert_eq!(memo.clear_with(&a).unwrap(), 5);
    assert!(!memo.exists_with("3", &a).unwrap());
    assert!(
        memo.exists_with("0", &Options::new().namespace("ab"))
            .unwrap()
    );
    assert!(memo.exists("a").unwrap());
}
