//! The Memoizer's behaviour through its async calls (`get_async`, `try_get_async`,
//! `peek_async`), checked over the store under test: through the store's
//! [`AsyncStore`](memo_core::AsyncStore) twin where it has one, inline otherwise. Each
//! behaviour runs on a multi-threaded tokio runtime of its own.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use memo_core::{
    AsyncStore, Clock, Error, Lock, LockProvider, ManualClock, Memoizer, Options, Record, Result,
    Store, StoreFuture, TryError,
};

use crate::{Fixture, Harness};

/// Lists the behaviours once, for the macro and for the function names.
#[doc(hidden)]
#[macro_export]
macro_rules! __memoizer_async_suite {
    ($harness:path) => {
        $crate::__memoizer_async_tests!($harness;
            memoizer_async_hit_after_miss_computes_once,
            memoizer_async_max_age_expires_with_the_clock,
            memoizer_async_etag_change_recomputes,
            memoizer_async_namespace_prefixes_the_stored_key,
            memoizer_async_peek_tells_a_miss_from_a_cached_none,
            memoizer_async_try_get_error_is_not_cached,
            memoizer_async_thousand_tasks_compute_once,
            memoizer_async_cancelled_leader_hands_over,
            memoizer_async_panic_reaches_caller_and_waiters_recover,
            memoizer_async_waiter_under_another_etag_computes_its_own,
            memoizer_async_read_fault_fails_open_and_is_counted,
            memoizer_async_undecodable_record_is_a_miss,
            memoizer_async_write_fault_still_returns_the_value,
            memoizer_async_lock_is_taken_and_released,
            memoizer_async_lock_timeout_computes_or_errors,
            memoizer_async_inspection_calls_agree_with_the_blocking_ones,
            async_store_twin_agrees_with_the_blocking_store,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __memoizer_async_tests {
    ($harness:path; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::memoizer_async::$name(&$harness());
            }
        )*
    };
}

/// A hang guard for every wait below, far above what any behaviour takes.
const HANG_GUARD: Duration = Duration::from_secs(60);

fn block_on<F: Future>(future: F) -> F::Output {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        tokio::time::timeout(HANG_GUARD, future)
            .await
            .expect("an async behaviour hung")
    })
}

struct Setup {
    fixture: Fixture,
    memo: Memoizer,
    clock: ManualClock,
    /// The store may forget any record: what a behaviour reads back after a write may be gone
    /// (but never wrong).
    lossy: bool,
}

/// A fresh store, `None` when the harness is unavailable outside CI; a failed open fails the
/// behaviour with the harness's account.
fn fresh(harness: &Harness) -> Option<Fixture> {
    harness.fresh().unwrap_or_else(|why| panic!("{why}"))
}

fn setup(harness: &Harness) -> Option<Setup> {
    let fixture = fresh(harness)?;
    let clock = ManualClock::new();
    let lossy = harness.is_lossy(&*fixture.store());
    let memo = Memoizer::builder_arc(fixture.store())
        .clock(clock.clone())
        .build();
    Some(Setup {
        fixture,
        memo,
        clock,
        lossy,
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
pub fn memoizer_async_hit_after_miss_computes_once(harness: &Harness) {
    let Some(Setup { memo, lossy, .. }) = setup(harness) else {
        return;
    };
    let calls = Calls::default();
    block_on(async {
        let first: Vec<u32> = memo
            .get_async("basic", || async { calls.run(vec![1, 2, 3]) })
            .await
            .unwrap();
        let second: Vec<u32> = memo
            .get_async("basic", || async { calls.run(vec![9]) })
            .await
            .unwrap();
        assert_eq!(first, vec![1, 2, 3]);
        assert!(
            second == [1, 2, 3] || (lossy && second == [9]),
            "{second:?}"
        );
    });
    if !lossy {
        assert_eq!(calls.count(), 1);
        let stats = memo.stats();
        assert_eq!((stats.hits, stats.misses, stats.computations), (1, 1, 1));
    }
}

/// A value older than `max_age` is computed again.
pub fn memoizer_async_max_age_expires_with_the_clock(harness: &Harness) {
    let Some(Setup {
        memo, clock, lossy, ..
    }) = setup(harness)
    else {
        return;
    };
    let opts = Options::new().max_age(Duration::from_secs(10));
    let calls = Calls::default();
    block_on(async {
        let calls = &calls;
        let get = |v: u8| memo.get_async_with("k", &opts, move || async move { calls.run(v) });
        assert_eq!(get(1).await.unwrap(), 1);
        clock.advance(Duration::from_secs(9));
        let kept = get(2).await.unwrap();
        assert!(kept == 1 || (lossy && kept == 2), "{kept}");
        clock.advance(Duration::from_secs(1));
        assert_eq!(get(3).await.unwrap(), 3);
    });
    assert!(calls.count() == 2 || lossy);
}

/// A different etag recomputes; a call without an etag never compares.
pub fn memoizer_async_etag_change_recomputes(harness: &Harness) {
    let Some(Setup { memo, lossy, .. }) = setup(harness) else {
        return;
    };
    if lossy {
        // Every step reads back the previous one's write.
        return;
    }
    block_on(async {
        let one = Options::new().etag(&1_u8);
        let two = Options::new().etag(&2_u8);
        assert_eq!(
            memo.get_async_with("k", &one, || async { 1_u8 })
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            memo.get_async_with("k", &one, || async { 9_u8 })
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            memo.get_async_with("k", &two, || async { 2_u8 })
                .await
                .unwrap(),
            2
        );
        assert_eq!(memo.get_async("k", || async { 3_u8 }).await.unwrap(), 2);
    });
    assert_eq!(memo.stats().computations, 2);
}

/// The stored key is `namespace:key`.
pub fn memoizer_async_namespace_prefixes_the_stored_key(harness: &Harness) {
    let Some(Setup {
        fixture,
        memo,
        lossy,
        ..
    }) = setup(harness)
    else {
        return;
    };
    block_on(async {
        let opts = Options::new().namespace("ns");
        assert_eq!(
            memo.get_async_with("k", &opts, || async { 4_u8 })
                .await
                .unwrap(),
            4
        );
    });
    let store = fixture.store();
    assert!(lossy || store.get("ns:k").unwrap().is_some());
    assert!(store.get("k").unwrap().is_none());
}

/// `peek_async` never computes, and a cached `None` is a hit, not a miss.
pub fn memoizer_async_peek_tells_a_miss_from_a_cached_none(harness: &Harness) {
    let Some(Setup { memo, lossy, .. }) = setup(harness) else {
        return;
    };
    block_on(async {
        assert_eq!(memo.peek_async::<Option<u8>>("k").await.unwrap(), None);
        memo.get_async("k", || async { None::<u8> }).await.unwrap();
        let got = memo.peek_async::<Option<u8>>("k").await.unwrap();
        assert!(got == Some(None) || (lossy && got.is_none()), "{got:?}");
    });
}

/// An `Err` from the function reaches the caller and stores nothing.
pub fn memoizer_async_try_get_error_is_not_cached(harness: &Harness) {
    let Some(Setup { memo, lossy, .. }) = setup(harness) else {
        return;
    };
    block_on(async {
        let failed: std::result::Result<u8, TryError<&str>> = memo
            .try_get_async("k", || async { Err(TryError::Func("boom")) })
            .await;
        assert!(matches!(failed, Err(TryError::Func("boom"))));
        assert_eq!(memo.peek_async::<u8>("k").await.unwrap(), None);
        let ok: std::result::Result<u8, Error> = memo.try_get_async("k", || async { Ok(5) }).await;
        assert_eq!(ok.unwrap(), 5);
        let again: std::result::Result<u8, Error> =
            memo.try_get_async("k", || async { Ok(6) }).await;
        let again = again.unwrap();
        assert!(again == 5 || (lossy && again == 6), "{again}");
    });
}

/// 1,000 tasks asking for one cold key: the function runs once and all get its value.
pub fn memoizer_async_thousand_tasks_compute_once(harness: &Harness) {
    let Some(Setup { memo, .. }) = setup(harness) else {
        return;
    };
    let calls = Calls::default();
    let values = block_on(async {
        let tasks: Vec<_> = (0..1000)
            .map(|_| {
                let (memo, calls) = (memo.clone(), calls.clone());
                tokio::spawn(async move {
                    memo.get_async("cold", || async move {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        calls.run(4242_u64)
                    })
                    .await
                    .unwrap()
                })
            })
            .collect();
        let mut values = Vec::new();
        for task in tasks {
            values.push(task.await.unwrap());
        }
        values
    });
    assert_eq!(values, vec![4242; 1000]);
    assert_eq!(calls.count(), 1);
}

/// The computing task cancelled mid-computation: one waiter computes instead, every waiter
/// gets its value, and the cancelled computation stored nothing.
pub fn memoizer_async_cancelled_leader_hands_over(harness: &Harness) {
    let Some(Setup { memo, lossy, .. }) = setup(harness) else {
        return;
    };
    let calls = Calls::default();
    let started = Arc::new(tokio::sync::Notify::new());
    block_on(async {
        let leader = {
            let (memo, calls, started) = (memo.clone(), calls.clone(), started.clone());
            tokio::spawn(async move {
                memo.get_async("k", || async move {
                    calls.run(());
                    started.notify_one();
                    std::future::pending::<()>().await;
                    0_u8
                })
                .await
            })
        };
        started.notified().await;
        let waiters: Vec<_> = (0..100)
            .map(|_| {
                let (memo, calls) = (memo.clone(), calls.clone());
                tokio::spawn(async move {
                    memo.get_async("k", || async move { calls.run(7_u8) })
                        .await
                        .unwrap()
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        leader.abort();
        assert!(leader.await.unwrap_err().is_cancelled());
        for waiter in waiters {
            assert_eq!(waiter.await.unwrap(), 7);
        }
        let stored = memo.peek_async::<u8>("k").await.unwrap();
        assert!(
            stored == Some(7) || (lossy && stored.is_none()),
            "{stored:?}"
        );
    });
    assert_eq!(
        calls.count(),
        2,
        "the cancelled computation and one takeover"
    );
}

/// A panic reaches its caller and stores nothing; a waiter does not hang and gets a value.
pub fn memoizer_async_panic_reaches_caller_and_waiters_recover(harness: &Harness) {
    let Some(Setup { memo, lossy, .. }) = setup(harness) else {
        return;
    };
    let started = Arc::new(tokio::sync::Notify::new());
    block_on(async {
        let leader = {
            let (memo, started) = (memo.clone(), started.clone());
            tokio::spawn(async move {
                memo.get_async("k", || async move {
                    started.notify_one();
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    panic!("user function failed");
                    #[expect(unreachable_code, reason = "the value's type")]
                    0_u8
                })
                .await
            })
        };
        started.notified().await;
        let waiter = {
            let memo = memo.clone();
            tokio::spawn(async move { memo.get_async("k", || async { 7_u8 }).await })
        };
        let panicked = leader.await.unwrap_err();
        assert!(panicked.is_panic());
        assert_eq!(waiter.await.unwrap().unwrap(), 7);
        let after = memo.get_async("k", || async { 8_u8 }).await.unwrap();
        assert!(after == 7 || (lossy && after == 8), "{after}");
    });
}

/// A task waiting on a computation under another etag does not take its value.
pub fn memoizer_async_waiter_under_another_etag_computes_its_own(harness: &Harness) {
    let Some(Setup { memo, .. }) = setup(harness) else {
        return;
    };
    let started = Arc::new(tokio::sync::Notify::new());
    block_on(async {
        let leader = {
            let (memo, started) = (memo.clone(), started.clone());
            tokio::spawn(async move {
                let opts = Options::new().etag(&1_u8);
                memo.get_async_with("k", &opts, || async move {
                    started.notify_one();
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    "under etag 1".to_owned()
                })
                .await
            })
        };
        started.notified().await;
        let opts = Options::new().etag(&2_u8);
        let new = memo
            .get_async_with("k", &opts, || async { "under etag 2".to_owned() })
            .await;
        assert_eq!(leader.await.unwrap().unwrap(), "under etag 1");
        assert_eq!(new.unwrap(), "under etag 2");
    });
    assert_eq!(memo.stats().computations, 2);
}

/// Wraps the store under test, its async twin included, and injects faults on demand.
#[derive(Debug)]
struct Faulty {
    inner: Arc<dyn Store>,
    fail_get: AtomicBool,
    fail_set: AtomicBool,
    garbage: AtomicBool,
}

impl Faulty {
    fn check_get(&self) -> Result<Option<Option<Record>>> {
        if self.fail_get.load(Ordering::SeqCst) {
            return Err(Error::backend("faulty", "injected read failure"));
        }
        if self.garbage.load(Ordering::SeqCst) {
            return Record::decode(&[1, 2, 3]).map(|r| Some(Some(r)));
        }
        Ok(None)
    }
    fn check_set(&self) -> Result<()> {
        if self.fail_set.load(Ordering::SeqCst) {
            return Err(Error::backend("faulty", "injected write failure"));
        }
        Ok(())
    }
    fn twin(&self) -> &dyn AsyncStore {
        self.inner.as_async().expect("called only through as_async")
    }
}

impl Store for Faulty {
    fn get(&self, key: &str) -> Result<Option<Record>> {
        match self.check_get()? {
            Some(injected) => Ok(injected),
            None => self.inner.get(key),
        }
    }
    fn set(&self, key: &str, record: Record) -> Result<()> {
        self.check_set()?;
        self.inner.set(key, record)
    }
    fn delete(&self, key: &str) -> Result<bool> {
        self.inner.delete(key)
    }
    fn as_async(&self) -> Option<&dyn AsyncStore> {
        self.inner.as_async().map(|_| self as &dyn AsyncStore)
    }
}

impl AsyncStore for Faulty {
    fn get_async<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Record>> {
        Box::pin(async move {
            match self.check_get()? {
                Some(injected) => Ok(injected),
                None => self.twin().get_async(key).await,
            }
        })
    }
    fn set_async<'a>(&'a self, key: &'a str, record: Record) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.check_set()?;
            self.twin().set_async(key, record).await
        })
    }
    fn delete_async<'a>(&'a self, key: &'a str) -> StoreFuture<'a, bool> {
        self.twin().delete_async(key)
    }
}

fn faulty_memo(harness: &Harness) -> Option<(Fixture, Arc<Faulty>, Memoizer)> {
    let fixture = fresh(harness)?;
    let faulty = Arc::new(Faulty {
        inner: fixture.store(),
        fail_get: AtomicBool::new(false),
        fail_set: AtomicBool::new(false),
        garbage: AtomicBool::new(false),
    });
    let memo = Memoizer::builder_arc(faulty.clone()).build();
    Some((fixture, faulty, memo))
}

/// Failing reads: the value is computed and returned, the fault counted; strict mode returns
/// the error.
pub fn memoizer_async_read_fault_fails_open_and_is_counted(harness: &Harness) {
    let Some((_fixture, faulty, memo)) = faulty_memo(harness) else {
        return;
    };
    let calls = Calls::default();
    block_on(async {
        memo.get_async("k", || async { 1_u8 }).await.unwrap();
        faulty.fail_get.store(true, Ordering::SeqCst);
        let got = memo.get_async("k", || async { calls.run(2_u8) }).await;
        assert_eq!(got.unwrap(), 2);
        let strict = Options::new().strict(true);
        let failed = memo.get_async_with("k", &strict, || async { 3_u8 }).await;
        assert!(matches!(failed, Err(Error::Backend { .. })), "{failed:?}");
    });
    assert_eq!(calls.count(), 1);
    assert_eq!(memo.stats().store_errors, 2);
}

/// A record that does not decode is a counted miss, never a value.
pub fn memoizer_async_undecodable_record_is_a_miss(harness: &Harness) {
    let Some((_fixture, faulty, memo)) = faulty_memo(harness) else {
        return;
    };
    block_on(async {
        memo.get_async("k", || async { 1_u8 }).await.unwrap();
        faulty.garbage.store(true, Ordering::SeqCst);
        assert_eq!(memo.get_async("k", || async { 2_u8 }).await.unwrap(), 2);
    });
    assert!(memo.stats().codec_errors >= 1);
}

/// A failing write still returns the computed value, counted; strict mode returns the error.
pub fn memoizer_async_write_fault_still_returns_the_value(harness: &Harness) {
    let Some((_fixture, faulty, memo)) = faulty_memo(harness) else {
        return;
    };
    faulty.fail_set.store(true, Ordering::SeqCst);
    block_on(async {
        assert_eq!(memo.get_async("k", || async { 1_u8 }).await.unwrap(), 1);
        assert_eq!(memo.peek_async::<u8>("k").await.unwrap(), None);
        let strict = Options::new().strict(true);
        let failed = memo.get_async_with("k2", &strict, || async { 2_u8 }).await;
        assert!(matches!(failed, Err(Error::Backend { .. })), "{failed:?}");
    });
    assert_eq!(memo.stats().store_errors, 2);
}

/// Records what a lock from the options saw.
#[derive(Clone, Debug, Default)]
struct Recorder {
    events: Arc<Mutex<Vec<String>>>,
    refuse: Arc<AtomicBool>,
}

#[derive(Debug)]
struct RecordedLock {
    recorder: Recorder,
    key: String,
}

impl Recorder {
    fn log(&self, event: String) {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(event);
    }
    fn events(&self) -> Vec<String> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl LockProvider for Recorder {
    fn lock(&self, key: &str) -> Box<dyn Lock> {
        Box::new(RecordedLock {
            recorder: self.clone(),
            key: key.to_owned(),
        })
    }
}

impl Lock for RecordedLock {
    fn acquire(&self, _timeout: Duration) -> Result<bool> {
        if self.recorder.refuse.load(Ordering::SeqCst) {
            return Ok(false);
        }
        self.recorder.log(format!("acquire {}", self.key));
        Ok(true)
    }
    fn release(&self) -> Result<()> {
        self.recorder.log(format!("release {}", self.key));
        Ok(())
    }
}

/// The computing task takes the lock of the options and releases it after writing, also when
/// the function fails.
pub fn memoizer_async_lock_is_taken_and_released(harness: &Harness) {
    let Some(Setup {
        fixture,
        memo,
        lossy,
        ..
    }) = setup(harness)
    else {
        return;
    };
    let recorder = Recorder::default();
    let opts = Options::new().lock(recorder.clone());
    block_on(async {
        assert_eq!(
            memo.get_async_with("k", &opts, || async { 1_u8 })
                .await
                .unwrap(),
            1
        );
        assert_eq!(recorder.events(), ["acquire k", "release k"]);
        assert!(lossy || fixture.store().get("k").unwrap().is_some());
        let failed: std::result::Result<u8, Error> = memo
            .try_get_async_with("e", &opts, || async { Err(Error::Config("no".into())) })
            .await;
        assert!(failed.is_err());
        assert_eq!(
            recorder.events()[2..],
            ["acquire e".to_owned(), "release e".to_owned()]
        );
    });
}

/// A lock that times out: the value is computed anyway, or `LockTimeout` in strict mode.
pub fn memoizer_async_lock_timeout_computes_or_errors(harness: &Harness) {
    let Some(Setup { memo, .. }) = setup(harness) else {
        return;
    };
    let recorder = Recorder::default();
    recorder.refuse.store(true, Ordering::SeqCst);
    let opts = Options::new()
        .lock(recorder)
        .timeout(Duration::from_millis(10));
    block_on(async {
        assert_eq!(
            memo.get_async_with("k", &opts, || async { 1_u8 })
                .await
                .unwrap(),
            1
        );
        let strict = opts.clone().strict(true);
        let failed = memo
            .get_async_with("other", &strict, || async { 2_u8 })
            .await;
        assert!(
            matches!(failed, Err(Error::LockTimeout { ref key, .. }) if key == "other"),
            "{failed:?}"
        );
        assert_eq!(memo.peek_async::<u8>("other").await.unwrap(), None);
    });
    assert_eq!(memo.stats().lock_timeouts, 2);
}

/// `exists_async`, `ttl_async`, `expire_async`, `expire_at_async`, `etag_async` and
/// `delete_async` see and change what their blocking twins see and change.
pub fn memoizer_async_inspection_calls_agree_with_the_blocking_ones(harness: &Harness) {
    let Some(Setup {
        memo, clock, lossy, ..
    }) = setup(harness)
    else {
        return;
    };
    if lossy {
        // Every step reads back the previous one's write; the blocking behaviours cover what
        // a lossy store may forget.
        return;
    }
    block_on(async {
        assert!(!memo.exists_async("k").await.unwrap());
        assert!(matches!(
            memo.expire_async("k", MINUTE).await,
            Err(Error::NotFound { .. })
        ));
        let opts = Options::new().etag(&(3_u64, "x"));
        memo.get_async_with("k", &opts, || async { 1_u8 })
            .await
            .unwrap();
        assert!(memo.exists_async("k").await.unwrap());
        assert_eq!(memo.ttl_async("k").await.unwrap(), None);
        assert_eq!(
            memo.etag_async::<(u64, String)>("k").await.unwrap(),
            Some((3, "x".to_owned()))
        );
        memo.expire_async("k", MINUTE).await.unwrap();
        assert_eq!(memo.ttl_async("k").await.unwrap(), memo.ttl("k").unwrap());
        let left = memo.ttl_async("k").await.unwrap().expect("an expiry");
        assert!(
            left <= MINUTE && left > MINUTE - Duration::from_secs(1),
            "{left:?}"
        );
        let at = memo_core::from_unix(clock.now() + 30.0);
        memo.expire_at_async("k", at).await.unwrap();
        let left = memo.ttl_async("k").await.unwrap().expect("an expiry");
        assert!(left <= Duration::from_secs(30), "{left:?}");
        clock.advance(Duration::from_secs(30));
        assert!(
            !memo.exists_async("k").await.unwrap(),
            "expired by the clock"
        );
        memo.get_async("d", || async { 2_u8 }).await.unwrap();
        assert!(memo.delete_async("d").await.unwrap());
        assert!(!memo.delete_async("d").await.unwrap());
        assert!(!memo.exists("d").unwrap());
    });
}

const MINUTE: Duration = Duration::from_secs(60);

/// A store's async twin (if it has one) sees the records of its blocking methods and the
/// other way round, bit for bit; its lock excludes a second holder until released.
pub fn async_store_twin_agrees_with_the_blocking_store(harness: &Harness) {
    let Some(fixture) = fresh(harness) else {
        return;
    };
    let store = fixture.store();
    let Some(twin) = store.as_async() else {
        return;
    };
    let now = ManualClock::new().now();
    let record = Record::new(now, Some(now + 3600.0), vec![1, 2, 3]).with_etag(vec![7]);
    block_on(async {
        twin.set_async("a", record.clone()).await.unwrap();
        let bytes = |r: Option<Record>| r.map(|r| r.encode());
        assert_eq!(bytes(store.get("a").unwrap()), Some(record.encode()));
        store.set("b", record.clone()).unwrap();
        assert_eq!(
            bytes(twin.get_async("b").await.unwrap()),
            Some(record.encode())
        );
        assert!(twin.delete_async("a").await.unwrap());
        assert!(!twin.delete_async("a").await.unwrap());
        assert!(twin.get_async("a").await.unwrap().is_none());
        assert!(store.get("a").unwrap().is_none());
        if let (Some(first), Some(second)) = (twin.lock_async("l"), twin.lock_async("l")) {
            assert!(first.acquire_async(Duration::from_secs(5)).await.unwrap());
            let short = Duration::from_millis(30);
            assert!(!second.acquire_async(short).await.unwrap(), "two holders");
            first.release_async().await.unwrap();
            assert!(second.acquire_async(Duration::from_secs(5)).await.unwrap());
            second.release_async().await.unwrap();
        }
    });
}
