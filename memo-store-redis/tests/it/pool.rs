//! The connection pool, watched from a private server's client count.

use std::sync::Barrier;
use std::time::Duration;

use memo_core::{Record, Store};
use memo_store_redis::RedisStore;

use crate::support::{self, LocalServer};

fn connected_clients(raw: &mut redis::Connection) -> usize {
    let info: String = redis::cmd("INFO").arg("clients").query(raw).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("connected_clients:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("INFO clients reports connected_clients")
}

#[test]
fn after_a_burst_of_threads_only_the_pool_size_stays_open() {
    const THREADS: usize = 8;
    const POOL: usize = 2;
    if !support::has_redis_server() {
        support::skip("no redis-server binary on the PATH to count connections on");
        return;
    }
    let server = LocalServer::start();
    let mut raw = support::raw(&server.url());
    let store = RedisStore::builder(&server.url())
        .pool_size(POOL)
        .build()
        .unwrap();
    // The raw connection and the one `build` opened.
    assert_eq!(connected_clients(&mut raw), 2);

    let barrier = Barrier::new(THREADS);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (store, barrier) = (&store, &barrier);
            s.spawn(move || {
                barrier.wait();
                for i in 0..50 {
                    let key = format!("{t}:{i}");
                    store.set(&key, Record::new(1.0, None, vec![1])).unwrap();
                    assert!(store.get(&key).unwrap().is_some());
                }
            });
        }
    });
    assert_eq!(store.scan("").unwrap().len(), THREADS * 50);
    // The server sees closed connections go a moment after the client drops them.
    support::wait_until(
        "the connections beyond the pool size to close",
        Duration::from_secs(20),
        || connected_clients(&mut raw) == 1 + POOL,
    );
    drop(store);
    support::wait_until("the pool to close", Duration::from_secs(20), || {
        connected_clients(&mut raw) == 1
    });
}
