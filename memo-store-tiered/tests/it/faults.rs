//! A failing back under a healthy front: a real `redis-server` killed mid-run. Reads the front
//! holds are still served; the rest fail per the Memoizer's fault policy (open by default,
//! errors when strict); nothing panics, and the front never holds what the back refused.

use std::sync::Arc;
use std::time::Duration;

use memo_core::{Error, Memoizer, Options, Record, Store};
use memo_store_mem::MokaStore;
use memo_store_tiered::TieredStore;

use crate::support::{self, LocalServer};

fn is_backend_error<T>(result: &memo_core::Result<T>) -> bool {
    matches!(result, Err(Error::Backend { .. }))
}

fn own_server() -> Option<LocalServer> {
    if support::has_redis_server() {
        Some(LocalServer::start())
    } else {
        support::skip("redis-server is not installed");
        None
    }
}

#[test]
fn a_dead_redis_back_leaves_front_reads_served_and_other_calls_failing_per_policy() {
    let Some(mut server) = own_server() else {
        return;
    };
    let back = support::redis_store(&server.url(), &support::unique_prefix());
    let front = MokaStore::with_max_bytes(1 << 20).unwrap();
    let store = Arc::new(
        TieredStore::builder(front, back)
            .max_residency(Duration::from_secs(60))
            .build()
            .unwrap(),
    );
    let memo = Memoizer::new(store.clone());
    let opts = Options::new().max_age(Duration::from_secs(60));
    let v: u32 = memo.get_with("hot", &opts, || 1).unwrap();
    assert_eq!(v, 1);

    server.kill();

    // Served from the front: no error, no computation.
    let v: u32 = memo
        .get_with("hot", &opts, || panic!("recomputed"))
        .unwrap();
    assert_eq!(v, 1);
    assert_eq!(memo.stats().store_errors, 0);
    assert_eq!(store.stats().front_hits, 1);

    // Not in the front: the back's error is a miss by default, the value is computed and
    // returned, and the failures are counted.
    let v: u32 = memo.get_with("cold", &opts, || 2).unwrap();
    assert_eq!(v, 2);
    assert!(memo.stats().store_errors >= 2, "{:?}", memo.stats());
    assert!(store.stats().back_errors >= 2, "{:?}", store.stats());
    // The write the back refused did not reach the front either.
    assert_eq!(store.front().get("cold").unwrap(), None);

    // Strict: the error comes back.
    let strict = opts.clone().strict(true);
    assert!(is_backend_error(&memo.get_with::<u32, _>(
        "cold",
        &strict,
        || 3
    )));

    // Direct calls: typed errors; a refused write or delete also clears the front.
    assert!(is_backend_error(
        &store.set("hot", Record::new(1.0, None, vec![9]))
    ));
    assert_eq!(store.front().get("hot").unwrap(), None);
    assert!(is_backend_error(&store.get("hot")));
    store
        .front()
        .set("x", Record::new(1.0, None, vec![1]))
        .unwrap();
    assert!(is_backend_error(&store.delete("x")));
    assert_eq!(store.front().get("x").unwrap(), None);
    assert!(is_backend_error(&store.scan("")));
    assert!(is_backend_error(&store.ttl("cold")));
}

#[test]
fn write_behind_over_a_dead_back_keeps_serving_and_reports_at_the_barrier() {
    let Some(mut server) = own_server() else {
        return;
    };
    let back = support::redis_store(&server.url(), &support::unique_prefix());
    let front = MokaStore::with_max_bytes(1 << 20).unwrap();
    let store = TieredStore::builder(front, back)
        .write_behind(4)
        .write_behind_wait(Duration::from_millis(200))
        .build()
        .unwrap();
    server.kill();
    let record = Record::new(1.0, None, vec![5]);
    store.set("a", record.clone()).unwrap();
    assert_eq!(store.get("a").unwrap(), Some(record.clone()));
    assert!(
        is_backend_error(&store.flush()),
        "the barrier reports the back's failure"
    );
    // The write is still queued for a retry, and still served.
    assert_eq!(store.stats().pending, 1);
    store.front().delete("a").unwrap();
    assert_eq!(store.get("a").unwrap(), Some(record.clone()));
    // A delete clears the front and is queued even though the back cannot say whether the
    // key was there; the back's error comes back.
    store.front().set("z", record.clone()).unwrap();
    assert!(is_backend_error(&store.delete("z")));
    assert_eq!(store.get("z").unwrap(), None);
    assert_eq!(store.front().get("z").unwrap(), None);
    assert_eq!(store.stats().pending, 2);
    // A full queue turns new keys away after the configured wait instead of blocking.
    for key in ["b", "c"] {
        store.set(key, Record::new(1.0, None, vec![1])).unwrap();
    }
    assert!(is_backend_error(
        &store.set("e", Record::new(1.0, None, vec![1]))
    ));
    // Dropping the store makes one last attempt and returns.
    drop(store);
}

#[test]
fn a_lost_invalidation_feed_empties_the_front_of_back_records_and_comes_back() {
    let Some(mut server) = own_server() else {
        return;
    };
    let url = server.url();
    let back = support::redis_store(&url, &support::unique_prefix());
    let records = back.record_key("");
    let store = TieredStore::builder(MokaStore::with_max_bytes(1 << 20).unwrap(), back)
        .max_residency(Duration::from_secs(60))
        .invalidate_from_redis(&url, records)
        .build()
        .unwrap();
    let up = || store.stats().tracking;
    support::wait_until("the tracking connection", Duration::from_secs(10), up);
    store.set("k", Record::new(1.0, None, vec![1])).unwrap();
    // Past the notice of our own write, the key is promoted and stays.
    support::wait_until("k to stay in the front", Duration::from_secs(10), || {
        store.get("k").unwrap();
        std::thread::sleep(Duration::from_millis(20));
        store.front().get("k").unwrap().is_some()
    });

    let port = server.port();
    server.kill();
    // Notices can no longer arrive: what came from the back leaves the front.
    support::wait_until("the feed to be seen lost", Duration::from_secs(10), || {
        !up()
    });
    assert_eq!(store.front().get("k").unwrap(), None);
    assert!(is_backend_error(&store.get("k")));

    let _server = LocalServer::start_on(port);
    support::wait_until(
        "the tracking connection to return",
        Duration::from_secs(20),
        up,
    );
    store.set("k", Record::new(1.0, None, vec![2])).unwrap();
    assert_eq!(
        store.get("k").unwrap(),
        Some(Record::new(1.0, None, vec![2]))
    );
}
