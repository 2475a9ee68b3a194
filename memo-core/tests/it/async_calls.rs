//! The async lookup calls: single-flight across tasks, cancellation of the computing task,
//! panics, timeouts, and an async store's futures (awaited, budgeted, panics caught).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use memo_core::doc_store::DocStore;
use memo_core::{
    AsyncStore, Error, Lock, LockProvider, Memoizer, Options, Record, Result, Store, StoreFuture,
    budget,
};
use tokio::sync::Notify;

/// Bounds every test that could hang if a waiter were never woken: a hang guard, far above
/// what any of them takes.
const HANG_GUARD: Duration = Duration::from_secs(60);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("a runtime")
}

fn assert_send<F: Future + Send>(f: F) -> F {
    f
}

/// A future that is pending once before it is ready: a network round trip's shape.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// A store with an async twin whose futures suspend once, count their calls, charge the call's
/// budget, and panic on `get` while `panic_on_get` is set.
#[derive(Debug, Default)]
struct Remote {
    inner: DocStore,
    async_gets: AtomicU64,
    async_sets: AtomicU64,
    blocking_calls: AtomicU64,
    panic_on_get: std::sync::atomic::AtomicBool,
    /// The budget spent, as each async `get` saw it when it started.
    seen_spent: std::sync::Mutex<Vec<Option<Duration>>>,
}

impl Store for Remote {
    fn get(&self, key: &str) -> Result<Option<Record>> {
        self.blocking_calls.fetch_add(1, Ordering::SeqCst);
        self.inner.get(key)
    }
    fn set(&self, key: &str, record: Record) -> Result<()> {
        self.blocking_calls.fetch_add(1, Ordering::SeqCst);
        self.inner.set(key, record)
    }
    fn delete(&self, key: &str) -> Result<bool> {
        self.blocking_calls.fetch_add(1, Ordering::SeqCst);
        self.inner.delete(key)
    }
    fn as_async(&self) -> Option<&dyn AsyncStore> {
        Some(self)
    }
}

impl AsyncStore for Remote {
    fn get_async<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Record>> {
        Box::pin(async move {
            self.seen_spent.lock().unwrap().push(budget::spent());
            YieldOnce(false).await;
            self.async_gets.fetch_add(1, Ordering::SeqCst);
            assert!(
                !self.panic_on_get.load(Ordering::SeqCst),
                "the remote engine broke"
            );
            budget::charge(Duration::from_millis(5));
            self.inner.get(key)
        })
    }
    fn set_async<'a>(&'a self, key: &'a str, record: Record) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            YieldOnce(false).await;
            self.async_sets.fetch_add(1, Ordering::SeqCst);
            self.inner.set(key, record)
        })
    }
    fn delete_async<'a>(&'a self, key: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move { self.inner.delete(key) })
    }
}

#[test]
fn get_async_computes_once_then_hits() {
    let memo = Memoizer::new(DocStore::default());
    let calls = AtomicU64::new(0);
    let rt = runtime();
    rt.block_on(async {
        for _ in 0..3 {
            let v: u64 = memo
                .get_async("k", || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    7
                })
                .await
                .unwrap();
            assert_eq!(v, 7);
        }
    });
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let stats = memo.stats();
    assert_eq!((stats.hits, stats.misses, stats.computations), (2, 1, 1));
}

#[test]
fn the_futures_are_send_when_the_function_is() {
    let memo = Memoizer::new(DocStore::default());
    let opts = Options::new().max_age(Duration::from_secs(1));
    let rt = runtime();
    rt.block_on(async {
        let a = assert_send(memo.get_async("a", || async { 1_u8 }));
        let b = assert_send(memo.get_async_with("b", &opts, || async { 2_u8 }));
        let c = assert_send(memo.try_get_async("c", || async { Ok::<u8, Error>(3) }));
        let d = assert_send(memo.peek_async::<u8>("a"));
        assert_eq!(
            (a.await.unwrap(), b.await.unwrap(), c.await.unwrap()),
            (1, 2, 3)
        );
        assert_eq!(d.await.unwrap(), Some(1));
    });
}

#[test]
fn try_get_async_returns_errors_and_caches_only_ok() {
    let memo = Memoizer::new(DocStore::default());
    let rt = runtime();
    rt.block_on(async {
        let failed: std::result::Result<u8, Error> = memo
            .try_get_async("k", || async { Err(Error::Config("nope".into())) })
            .await;
        assert!(matches!(failed, Err(Error::Config(_))));
        assert_eq!(memo.peek_async::<u8>("k").await.unwrap(), None);
        let ok: std::result::Result<u8, Error> = memo.try_get_async("k", || async { Ok(9) }).await;
        assert_eq!(ok.unwrap(), 9);
        assert_eq!(memo.peek_async::<u8>("k").await.unwrap(), Some(9));
    });
}

#[test]
fn ten_thousand_tasks_on_one_cold_key_compute_once() {
    let memo = Memoizer::new(DocStore::default());
    let calls = Arc::new(AtomicU64::new(0));
    let rt = runtime();
    let values = rt.block_on(async {
        let tasks: Vec<_> = (0..10_000)
            .map(|_| {
                let (memo, calls) = (memo.clone(), calls.clone());
                tokio::spawn(async move {
                    memo.get_async("cold", || async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        // Long enough for the others to join the flight.
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        String::from("value")
                    })
                    .await
                })
            })
            .collect();
        let mut values = Vec::with_capacity(tasks.len());
        for task in tasks {
            values.push(tokio::time::timeout(HANG_GUARD, task).await);
        }
        values
    });
    assert_eq!(calls.load(Ordering::SeqCst), 1, "more than one computation");
    assert_eq!(values.len(), 10_000);
    for value in values {
        assert_eq!(
            value.expect("a task hung").expect("a task failed").unwrap(),
            "value"
        );
    }
    assert_eq!(memo.stats().computations, 1);
}

#[test]
fn a_cancelled_leader_hands_over_to_one_waiter() {
    let memo = Memoizer::new(DocStore::default());
    let calls = Arc::new(AtomicU64::new(0));
    let started = Arc::new(Notify::new());
    let rt = runtime();
    let (values, stored) = rt.block_on(async {
        let leader = {
            let (memo, calls, started) = (memo.clone(), calls.clone(), started.clone());
            tokio::spawn(async move {
                memo.get_async("cold", || async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    started.notify_one();
                    std::future::pending::<()>().await;
                    String::from("never")
                })
                .await
            })
        };
        started.notified().await;
        let waiters: Vec<_> = (0..10_000)
            .map(|_| {
                let (memo, calls) = (memo.clone(), calls.clone());
                tokio::spawn(async move {
                    memo.get_async("cold", || async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        String::from("value")
                    })
                    .await
                })
            })
            .collect();
        // Let the waiters join the flight, then cancel the computation mid-way.
        tokio::time::sleep(Duration::from_millis(100)).await;
        leader.abort();
        assert!(leader.await.unwrap_err().is_cancelled());
        let mut values = Vec::with_capacity(waiters.len());
        for task in waiters {
            values.push(tokio::time::timeout(HANG_GUARD, task).await);
        }
        (values, memo.peek_async::<String>("cold").await.unwrap())
    });
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "the cancelled computation and one takeover"
    );
    for value in values {
        assert_eq!(
            value.expect("a task hung").expect("a task failed").unwrap(),
            "value"
        );
    }
    assert_eq!(
        stored.as_deref(),
        Some("value"),
        "the takeover's value is stored"
    );
}

#[test]
fn a_cancelled_leader_stores_nothing() {
    let memo = Memoizer::new(DocStore::default());
    let rt = runtime();
    rt.block_on(async {
        let computing = memo.get_async("k", || async {
            std::future::pending::<()>().await;
            1_u8
        });
        assert!(
            tokio::time::timeout(Duration::from_millis(20), computing)
                .await
                .is_err()
        );
        assert_eq!(memo.peek_async::<u8>("k").await.unwrap(), None);
        // The flight ended with the cancelled call: the next call leads at once.
        let v = tokio::time::timeout(HANG_GUARD, memo.get_async("k", || async { 2_u8 }))
            .await
            .expect("the next call hung");
        assert_eq!(v.unwrap(), 2);
    });
}

#[test]
fn a_panic_in_the_computation_reaches_its_caller_and_waiters_recover() {
    let memo = Memoizer::new(DocStore::default());
    let started = Arc::new(Notify::new());
    let calls = Arc::new(AtomicU64::new(0));
    let rt = runtime();
    rt.block_on(async {
        let leader = {
            let (memo, started, calls) = (memo.clone(), started.clone(), calls.clone());
            tokio::spawn(async move {
                memo.get_async("k", || async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    started.notify_one();
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    panic!("the computation broke");
                    #[expect(unreachable_code, reason = "the value's type")]
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
                    memo.get_async("k", || async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        5_u8
                    })
                    .await
                })
            })
            .collect();
        assert!(leader.await.unwrap_err().is_panic());
        for task in waiters {
            let value = tokio::time::timeout(HANG_GUARD, task).await;
            assert_eq!(value.expect("a waiter hung").unwrap().unwrap(), 5);
        }
    });
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[test]
fn a_waiter_gives_up_after_the_timeout_and_computes_or_errors() {
    let memo = Memoizer::new(DocStore::default());
    let started = Arc::new(Notify::new());
    let rt = runtime();
    rt.block_on(async {
        let leader = {
            let (memo, started) = (memo.clone(), started.clone());
            tokio::spawn(async move {
                memo.get_async("k", || async move {
                    started.notify_one();
                    std::future::pending::<()>().await;
                    0_u8
                })
                .await
            })
        };
        started.notified().await;
        let short = Options::new().timeout(Duration::from_millis(50));
        let own = tokio::time::timeout(
            HANG_GUARD,
            memo.get_async_with("k", &short, || async { 3_u8 }),
        )
        .await
        .expect("the waiter hung");
        assert_eq!(own.unwrap(), 3, "computed itself after the timeout");
        leader.abort();
    });
    assert_eq!(memo.stats().lock_timeouts, 1);
}

#[test]
fn a_strict_waiter_gets_a_lock_timeout() {
    let memo = Memoizer::new(DocStore::default());
    let started = Arc::new(Notify::new());
    let rt = runtime();
    rt.block_on(async {
        let leader = {
            let (memo, started) = (memo.clone(), started.clone());
            tokio::spawn(async move {
                memo.get_async("k", || async move {
                    started.notify_one();
                    std::future::pending::<()>().await;
                    0_u8
                })
                .await
            })
        };
        started.notified().await;
        let strict = Options::new()
            .timeout(Duration::from_millis(30))
            .strict(true);
        let failed = tokio::time::timeout(
            HANG_GUARD,
            memo.get_async_with("k", &strict, || async { 4_u8 }),
        )
        .await
        .expect("the waiter hung");
        assert!(
            matches!(failed, Err(Error::LockTimeout { .. })),
            "{failed:?}"
        );
        leader.abort();
    });
}

#[test]
fn an_async_store_is_awaited_never_called_blocking() {
    let store = Arc::new(Remote::default());
    let memo = Memoizer::builder_arc(store.clone()).build();
    let rt = runtime();
    rt.block_on(async {
        let v: u32 = memo.get_async("k", || async { 11 }).await.unwrap();
        assert_eq!(v, 11);
        let v: u32 = memo.get_async("k", || async { 0 }).await.unwrap();
        assert_eq!(v, 11);
        assert_eq!(memo.peek_async::<u32>("k").await.unwrap(), Some(11));
    });
    assert_eq!(store.blocking_calls.load(Ordering::SeqCst), 0);
    assert_eq!(store.async_gets.load(Ordering::SeqCst), 3);
    assert_eq!(store.async_sets.load(Ordering::SeqCst), 1);
}

/// A lock that is always free.
#[derive(Debug)]
struct Free;

impl Lock for Free {
    fn acquire(&self, _: Duration) -> Result<bool> {
        Ok(true)
    }
    fn release(&self) -> Result<()> {
        Ok(())
    }
}

impl LockProvider for Free {
    fn lock(&self, _: &str) -> Box<dyn Lock> {
        Box::new(Free)
    }
}

#[test]
fn an_async_call_carries_its_store_budget_across_polls() {
    let store = Arc::new(Remote::default());
    let memo = Memoizer::builder_arc(store.clone()).build();
    let locked = Options::new().lock(Free);
    let rt = runtime();
    rt.block_on(async {
        // A miss reads, takes the lock and reads again (the double check): the second read
        // sees what the first charged, though the call moved between polls. The next call
        // starts from nothing.
        let _: u32 = memo
            .get_async_with("k", &locked, || async { 1 })
            .await
            .unwrap();
        let _: u32 = memo
            .get_async_with("k", &locked, || async { 1 })
            .await
            .unwrap();
    });
    let seen = store.seen_spent.lock().unwrap().clone();
    let ms = |n| Some(Duration::from_millis(n));
    assert_eq!(seen, [ms(0), ms(5), ms(0)]);
    assert_eq!(budget::spent(), None, "no scope leaked onto the thread");
}

#[test]
fn an_async_store_panic_is_a_counted_miss() {
    let store = Arc::new(Remote::default());
    store.panic_on_get.store(true, Ordering::SeqCst);
    let memo = Memoizer::builder_arc(store.clone()).build();
    let rt = runtime();
    rt.block_on(async {
        let v: u32 = memo.get_async("k", || async { 1 }).await.unwrap();
        assert_eq!(v, 1);
        let strict = Options::new().strict(true);
        let failed = memo.get_async_with("k", &strict, || async { 2_u32 }).await;
        assert!(
            matches!(failed, Err(Error::StorePanicked { .. })),
            "{failed:?}"
        );
    });
    assert_eq!(memo.stats().store_errors, 2);
}
