//! Faults: a server that is down, one that never answers, and one that restarts mid-run.

use std::net::TcpListener;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use memo_core::{Error, Memoizer, Record, Store};
use memo_store_redis::RedisStore;

use crate::support::{self, LocalServer};

const SHORT: Duration = Duration::from_millis(200);

/// Runs `f` on a thread and panics if it has not returned after `limit`: a hang guard,
/// far above the timeouts the call is configured with.
fn bounded<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("the call hung for more than {limit:?}"))
}

fn short_timeouts(url: &str) -> memo_store_redis::RedisStoreBuilder {
    RedisStore::builder(url)
        .prefix(&support::unique_prefix())
        .connect_timeout(SHORT)
        .read_timeout(SHORT)
        .write_timeout(SHORT)
}

fn is_redis_backend_error<T>(result: &memo_core::Result<T>) -> bool {
    matches!(result, Err(Error::Backend { store: "redis", .. }))
}

#[test]
fn a_server_that_is_down_is_a_typed_error_and_the_memoizer_fails_open() {
    let url = format!("redis://127.0.0.1:{}/", support::free_port());
    assert!(is_redis_backend_error(&short_timeouts(&url).build()));
    let store = short_timeouts(&url).lazy(true).build().unwrap();
    assert!(is_redis_backend_error(&store.get("k")));
    assert!(is_redis_backend_error(
        &store.set("k", Record::new(1.0, None, vec![]))
    ));
    assert!(is_redis_backend_error(&store.delete("k")));
    assert!(is_redis_backend_error(&store.ttl("k")));
    assert!(is_redis_backend_error(&store.scan("")));
    let lock = store.redis_lock("k");
    assert!(is_redis_backend_error(&memo_core::Lock::acquire(
        &lock,
        Duration::from_secs(1)
    )));
    let memo = Memoizer::new(store);
    assert_eq!(memo.get("k", || 7_u32).unwrap(), 7);
    let stats = memo.stats();
    assert_eq!(stats.computations, 1);
    // The read, the lock and the write each failed and were counted.
    assert_eq!(stats.store_errors, 3);
}

#[test]
fn a_server_that_never_answers_is_a_typed_error_within_the_timeouts() {
    // Connections complete in the kernel's backlog, but nothing ever reads or replies.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://{}/", silent.local_addr().unwrap());
    let budget = SHORT * 3;
    let limit = Duration::from_secs(20);

    let started = Instant::now();
    let built = bounded(limit, {
        let url = url.clone();
        move || short_timeouts(&url).build().map(drop)
    });
    assert!(is_redis_backend_error(&built));
    eprintln!(
        "build gave up after {:?} (budget {budget:?})",
        started.elapsed()
    );

    let store = short_timeouts(&url).lazy(true).build().unwrap();
    let started = Instant::now();
    let got = bounded(limit, {
        let store = store.clone();
        move || store.get("k").map(drop)
    });
    assert!(is_redis_backend_error(&got));
    eprintln!(
        "get gave up after {:?} (budget {budget:?})",
        started.elapsed()
    );

    let started = Instant::now();
    let (value, stats) = bounded(limit, move || {
        let memo = Memoizer::new(store);
        (memo.get("k", || 11_u32).unwrap(), memo.stats())
    });
    assert_eq!(value, 11);
    assert_eq!(stats.store_errors, 3);
    eprintln!("a fail-open get took {:?}", started.elapsed());
    drop(silent);
}

#[test]
fn a_server_restart_fails_open_during_the_outage_and_recovers_after() {
    if !support::has_redis_server() {
        support::skip("no redis-server binary on the PATH for the restart test");
        return;
    }
    let mut server = LocalServer::start();
    let (port, url) = (server.port(), server.url());
    let store = RedisStore::builder(&url)
        .connect_timeout(Duration::from_millis(500))
        .read_timeout(Duration::from_millis(500))
        .write_timeout(Duration::from_millis(500))
        .breaker(3, Duration::from_millis(300))
        .pool_size(4)
        .build()
        .unwrap();
    let memo = Memoizer::new(store.clone());
    assert_eq!(memo.get("before", || 1_u32).unwrap(), 1);
    assert_eq!(memo.get("before", || 0_u32).unwrap(), 1);
    assert_eq!(memo.stats().hits, 1);

    // A restart between two calls is invisible: the dead pooled connection is replaced.
    server.kill();
    let mut server = LocalServer::start_on(port);
    let errors = memo.stats().store_errors;
    assert_eq!(memo.get("between", || 2_u32).unwrap(), 2);
    assert_eq!(memo.get("between", || 0_u32).unwrap(), 2);
    assert_eq!(
        memo.stats().store_errors,
        errors,
        "a restart between calls showed"
    );

    // The outage: every call is computed and returned, each fault a typed error, none hangs.
    server.kill();
    let outage = {
        let (memo, store) = (memo.clone(), store.clone());
        bounded(Duration::from_secs(30), move || {
            let values: Vec<u32> = (0..3)
                .map(|i| memo.get("during", || 100 + i).unwrap())
                .collect();
            (values, store.get("during").map(drop))
        })
    };
    assert_eq!(
        outage.0,
        vec![100, 101, 102],
        "nothing was cached during the outage"
    );
    assert!(is_redis_backend_error(&outage.1));
    assert!(memo.stats().store_errors >= errors + 3);

    // The outage opened the circuit breaker: operations now fail without a round trip.
    assert!(store.stats().breaker_trips >= 1);

    // Back up: once the breaker's cool-down ends, its probe finds the server and the calls
    // reach Redis again, without a new store.
    let server = LocalServer::start_on(port);
    support::wait_until(
        "a probe to reach the restarted server",
        Duration::from_secs(30),
        || store.get("probe").is_ok(),
    );
    assert!(!store.stats().breaker_open);
    let hits = memo.stats().hits;
    assert_eq!(memo.get("after", || 3_u32).unwrap(), 3);
    assert_eq!(memo.get("after", || 0_u32).unwrap(), 3);
    assert_eq!(memo.stats().hits, hits + 1);
    let mut raw = support::raw(&server.url());
    let stored: Option<Vec<u8>> = redis::cmd("GET")
        .arg(store.record_key("after"))
        .query(&mut raw)
        .unwrap();
    assert!(stored.is_some(), "the record is on the restarted server");
}
