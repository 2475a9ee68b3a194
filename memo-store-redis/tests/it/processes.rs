//! Several real processes on one server: distributed single-flight, and a lock holder killed
//! with SIGKILL. Each test re-executes this binary to run itself in child mode.

use std::os::unix::process::ExitStatusExt;
use std::sync::Barrier;
use std::time::Duration;

use memo_core::{Memoizer, Options};
use memo_store_redis::RedisStore;

use crate::support;

const CHILDREN: usize = 4;
const THREADS: usize = 8;
const VALUE: u64 = 4242;

fn test_key(prefix: &str, what: &str) -> String {
    format!("{prefix}test:{what}")
}

fn incr(url: &str, key: &str) {
    let _: u64 = redis::cmd("INCR")
        .arg(key)
        .query(&mut support::raw(url))
        .expect("INCR");
}

fn read_count(url: &str, key: &str) -> u64 {
    redis::cmd("GET")
        .arg(key)
        .query::<Option<u64>>(&mut support::raw(url))
        .expect("GET")
        .unwrap_or(0)
}

#[test]
fn four_processes_of_eight_threads_compute_a_cold_key_once() {
    const NAME: &str = "processes::four_processes_of_eight_threads_compute_a_cold_key_once";
    let Some(url) = support::url() else { return };
    if support::child_role().is_some() {
        return single_flight_child(&url);
    }
    let prefix = support::unique_prefix();
    let children: Vec<_> = (0..CHILDREN)
        .map(|_| support::spawn_child(NAME, "single-flight", &prefix))
        .collect();
    // Every child waits for this key, so that all 32 callers ask at about the same time.
    incr(&url, &test_key(&prefix, "go"));
    for mut child in children {
        let status = child.wait().unwrap();
        assert!(status.success(), "a child failed: {status}");
    }
    assert_eq!(read_count(&url, &test_key(&prefix, "computed")), 1);
    assert_eq!(
        read_count(&url, &test_key(&prefix, "answered")),
        (CHILDREN * THREADS) as u64
    );
}

fn single_flight_child(url: &str) {
    let prefix = support::child_prefix();
    let store = RedisStore::builder(url).prefix(&prefix).build().unwrap();
    let memo = Memoizer::new(store);
    let go = test_key(&prefix, "go");
    support::wait_until("the parent's go", Duration::from_secs(60), || {
        read_count(url, &go) > 0
    });
    let barrier = Barrier::new(THREADS);
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                barrier.wait();
                let value: u64 = memo
                    .get("cold", || {
                        incr(url, &test_key(&prefix, "computed"));
                        std::thread::sleep(Duration::from_millis(200));
                        VALUE
                    })
                    .unwrap();
                assert_eq!(value, VALUE);
                incr(url, &test_key(&prefix, "answered"));
            });
        }
    });
    assert_eq!(memo.stats().lock_timeouts, 0);
}

#[test]
fn a_lock_holder_killed_mid_computation_frees_the_key_when_its_lease_expires() {
    const NAME: &str =
        "processes::a_lock_holder_killed_mid_computation_frees_the_key_when_its_lease_expires";
    // Long enough that the parent sees the lock before it lapses, even on a loaded machine.
    const LEASE: Duration = Duration::from_secs(3);
    let Some(url) = support::url() else { return };
    if support::child_role().is_some() {
        let prefix = support::child_prefix();
        let store = RedisStore::builder(&url)
            .prefix(&prefix)
            .lock_lease(LEASE)
            .build()
            .unwrap();
        let _: u64 = Memoizer::new(store)
            .get("victim", || {
                incr(&url, &test_key(&prefix, "started"));
                // Killed long before this ends.
                std::thread::sleep(Duration::from_secs(120));
                0
            })
            .unwrap();
        return;
    }
    let prefix = support::unique_prefix();
    let store = RedisStore::builder(&url)
        .prefix(&prefix)
        .lock_lease(LEASE)
        .build()
        .unwrap();
    let mut child = support::spawn_child(NAME, "holder", &prefix);
    support::wait_until("the child to compute", Duration::from_secs(60), || {
        read_count(&url, &test_key(&prefix, "started")) > 0
    });
    let lock_key = store.lock_key("victim");
    let held: Option<String> = redis::cmd("GET")
        .arg(&lock_key)
        .query(&mut support::raw(&url))
        .unwrap();
    assert!(held.is_some(), "the child computes under the lock");
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(
        status.signal(),
        Some(9),
        "the child died of SIGKILL: {status}"
    );

    // The lock lives on until its lease expires; then this process takes it and computes.
    // A timeout far above the lease: getting the value without a lock timeout shows that the
    // lease, not the timeout, let us in.
    let memo = Memoizer::new(store.clone());
    let patient = Options::new().timeout(Duration::from_secs(60));
    assert_eq!(memo.get_with("victim", &patient, || 77_u64).unwrap(), 77);
    let stats = memo.stats();
    assert_eq!((stats.computations, stats.lock_timeouts), (1, 0));
    assert_eq!(memo.get("victim", || 0_u64).unwrap(), 77);
    assert_eq!(read_count(&url, &test_key(&prefix, "started")), 1);
}
