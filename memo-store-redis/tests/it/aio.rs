//! The async store: the Memoizer's async calls over Redis, a frozen server that must not stop
//! the runtime, the breaker shared with the blocking path, and a lock left by a cancelled task.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use memo_core::{AsyncStore, Error, Memoizer, Options, Store};
use memo_store_redis::NotSent;

use crate::support::{self, LocalServer};

const HANG_GUARD: Duration = Duration::from_secs(60);

fn not_sent(error: &Error) -> Option<&NotSent> {
    match error {
        Error::Backend { source, .. } => source.downcast_ref(),
        _ => None,
    }
}

fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

#[test]
fn get_async_stores_in_redis_and_hits_from_it() {
    let Some(url) = support::url() else { return };
    let store = support::store(&url);
    let memo = Memoizer::new(store.clone());
    let calls = AtomicU64::new(0);
    multi_thread().block_on(async {
        for _ in 0..3 {
            let v: String = memo
                .get_async("k", || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    "value".to_owned()
                })
                .await
                .unwrap();
            assert_eq!(v, "value");
        }
    });
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let mut raw = support::raw(&url);
    let exists: bool = redis::cmd("EXISTS")
        .arg(store.record_key("k"))
        .query(&mut raw)
        .unwrap();
    assert!(exists, "the record is in Redis");
    // A second Memoizer (another process, as far as it knows) hits what the first stored.
    let other = Memoizer::new(store);
    let hit: Option<String> = multi_thread().block_on(other.peek_async("k")).unwrap();
    assert_eq!(hit.as_deref(), Some("value"));
}

#[test]
fn a_frozen_server_never_stops_a_current_thread_runtime() {
    if !support::has_redis_server() {
        support::skip("no redis-server binary");
        return;
    }
    let server = LocalServer::start();
    let store = support::builder(&server.url())
        .deadline(Duration::from_millis(800))
        .read_timeout(Duration::from_millis(800))
        .build()
        .unwrap();
    let memo = Memoizer::new(store.clone());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (took, max_gap, ticks, value) = runtime.block_on(async {
        // Warm: the connection is open before the server freezes.
        let _: u8 = memo.get_async("warm", || async { 0 }).await.unwrap();
        // One worker thread: if any await below blocked it, the ticker would stop.
        let ticks = Arc::new(std::sync::Mutex::new(Vec::new()));
        let ticker = {
            let ticks = ticks.clone();
            tokio::spawn(async move {
                loop {
                    ticks.lock().unwrap().push(Instant::now());
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
        };
        tokio::time::sleep(Duration::from_millis(30)).await;
        server.signal("STOP");
        let start = Instant::now();
        // A miss: the read, the lock and the write each wait on the frozen server.
        let value = tokio::time::timeout(HANG_GUARD, memo.get_async("cold", || async { 7_u8 }))
            .await
            .expect("the call hung");
        let took = start.elapsed();
        server.signal("CONT");
        ticker.abort();
        let ticks = ticks.lock().unwrap().clone();
        let during: Vec<Instant> = ticks.into_iter().filter(|t| *t >= start).collect();
        let max_gap = during.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(took);
        (took, max_gap, during.len(), value)
    });
    assert_eq!(
        value.unwrap(),
        7,
        "fails open: computed while Redis is frozen"
    );
    assert!(
        took >= Duration::from_millis(500),
        "the call did not wait on the frozen server ({took:?}): the test shows nothing"
    );
    // A blocked worker would leave one gap as long as the call (the deadline, 800 ms); a
    // gap of 250 ms allows for a loaded machine.
    assert!(
        max_gap < Duration::from_millis(250),
        "the runtime's only thread stopped for {max_gap:?} while Redis was frozen ({ticks} \
         ticks in {took:?})"
    );
    assert!(memo.stats().store_errors >= 1);
}

#[test]
fn the_async_path_shares_the_breaker_with_the_blocking_path() {
    if !support::has_redis_server() {
        support::skip("no redis-server binary");
        return;
    }
    let server = LocalServer::start();
    let store = support::builder(&server.url())
        .deadline(Duration::from_millis(100))
        .read_timeout(Duration::from_millis(100))
        .breaker(2, Duration::from_secs(30))
        .locking(false)
        .build()
        .unwrap();
    let runtime = multi_thread();
    runtime.block_on(async {
        store.get_async("warm").await.unwrap();
        server.signal("STOP");
        for _ in 0..2 {
            let failed = store.get_async("k").await.unwrap_err();
            assert!(not_sent(&failed).is_none(), "sent, and timed out: {failed}");
        }
        let fast = store.get_async("k").await.unwrap_err();
        assert!(
            matches!(not_sent(&fast), Some(NotSent::BreakerOpen { .. })),
            "{fast}"
        );
    });
    let started = Instant::now();
    let blocking = store.get("k").unwrap_err();
    assert!(
        matches!(not_sent(&blocking), Some(NotSent::BreakerOpen { .. })),
        "{blocking}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "not at once"
    );
    let stats = store.stats();
    assert!(stats.breaker_open);
    assert_eq!(stats.breaker_trips, 1);
    server.signal("CONT");
}

#[test]
fn a_lock_held_by_a_cancelled_task_is_released() {
    let Some(url) = support::url() else { return };
    let store = support::store(&url);
    let memo = Memoizer::new(store.clone());
    let lock_key = store.lock_key("k");
    let runtime = multi_thread();
    runtime.block_on(async {
        let started = Arc::new(tokio::sync::Notify::new());
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
        let mut raw = support::raw(&url);
        let held: bool = redis::cmd("EXISTS").arg(&lock_key).query(&mut raw).unwrap();
        assert!(held, "the computing task holds the Redis lock");
        leader.abort();
        assert!(leader.await.unwrap_err().is_cancelled());
        // Released by a task of its own, long before the 30 s lease.
        support::wait_until("the lock's release", Duration::from_secs(10), || {
            !redis::cmd("EXISTS")
                .arg(&lock_key)
                .query::<bool>(&mut raw)
                .unwrap()
        });
        let v = tokio::time::timeout(HANG_GUARD, memo.get_async("k", || async { 5_u8 }))
            .await
            .expect("hung");
        assert_eq!(v.unwrap(), 5);
    });
}

#[test]
fn concurrent_tasks_of_two_memoizers_compute_once_under_the_redis_lock() {
    let Some(url) = support::url() else { return };
    let store = support::store(&url);
    // Two Memoizers: their flights are separate, so only the Redis lock and its double check
    // keep the second from computing.
    let (a, b) = (Memoizer::new(store.clone()), Memoizer::new(store));
    let calls = Arc::new(AtomicU64::new(0));
    let runtime = multi_thread();
    let opts = Options::new().timeout(Duration::from_secs(20));
    runtime.block_on(async {
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                let memo = if i % 2 == 0 { a.clone() } else { b.clone() };
                let (calls, opts) = (calls.clone(), opts.clone());
                tokio::spawn(async move {
                    memo.get_async_with("shared", &opts, || async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        42_u32
                    })
                    .await
                    .unwrap()
                })
            })
            .collect();
        for task in tasks {
            let v = tokio::time::timeout(HANG_GUARD, task).await.expect("hung");
            assert_eq!(v.unwrap(), 42);
        }
    });
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}
