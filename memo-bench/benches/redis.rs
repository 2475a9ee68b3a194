//! memo over Redis against the bare `redis` crate on one connection, on the same server.
//!
//! - `redis_hit`: a memoized hit through `RedisStore` (one `GET`, decode) against a raw `GET`.
//! - `redis_miss`: a memoized miss (`GET`, compute, `SET ... PX`) against a raw `GET` +
//!   `SET PX`; once with `Options::no_lock()` (the same two round trips) and once with the
//!   store's default lock, which adds three: `SET NX PX` for the lock, the double-check `GET`
//!   and the release script.
//!
//! Values are 64 bytes; every miss uses a new key, which expires after 60 s.
//!
//! `MEMO_REDIS_URL=redis://127.0.0.1:6379/ cargo bench -p memo-bench --bench redis`

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use memo_core::{Memoizer, Options, Store};
use memo_store_redis::RedisStore;

const KEY: &str = "hit";
const TTL_MS: u64 = 60_000;
const TTL: Duration = Duration::from_millis(TTL_MS);

fn url() -> String {
    std::env::var("MEMO_REDIS_URL").unwrap_or_else(|_| {
        panic!(
            "the redis benchmark needs a server: set MEMO_REDIS_URL, e.g. \
             MEMO_REDIS_URL=redis://127.0.0.1:6379/ (source .ci/redis.sh starts one)"
        )
    })
}

fn value() -> Vec<u8> {
    (0..64).collect()
}

/// A prefix of this run's own, so runs never read each other's keys.
fn prefix() -> String {
    format!("memo-bench:{}:", std::process::id())
}

fn raw_connection(url: &str) -> redis::Connection {
    redis::Client::open(url)
        .and_then(|c| c.get_connection())
        .expect("a connection to MEMO_REDIS_URL")
}

fn store(url: &str, prefix: &str) -> RedisStore {
    RedisStore::builder(url)
        .prefix(prefix)
        .build()
        .expect("a RedisStore on MEMO_REDIS_URL")
}

fn redis_hit(c: &mut Criterion) {
    let url = url();
    let prefix = prefix();
    let mut raw = raw_connection(&url);
    let raw_key = format!("{prefix}raw:{KEY}");
    redis::cmd("SET")
        .arg(&raw_key)
        .arg(value())
        .arg("PX")
        .arg(TTL_MS)
        .exec(&mut raw)
        .expect("SET");
    let memo = Memoizer::new(store(&url, &prefix));
    let opts = Options::new().max_age(TTL);
    let first: Vec<u8> = memo
        .get_with(KEY, &opts, value)
        .expect("first call computes");
    assert_eq!(first, value());

    let mut group = c.benchmark_group("redis_hit");
    group.throughput(Throughput::Elements(1));
    group.bench_function("raw_get", |b| {
        b.iter(|| {
            let got: Option<Vec<u8>> = redis::cmd("GET")
                .arg(black_box(&raw_key))
                .query(&mut raw)
                .expect("GET");
            got.expect("present")
        });
    });
    group.bench_function("memo_hit", |b| {
        b.iter(|| {
            let got: Vec<u8> = memo
                .get_with(black_box(KEY), &opts, || unreachable!("the key is cached"))
                .expect("hit");
            got
        });
    });
    let store = memo.store();
    group.bench_function("store_get", |b| {
        b.iter(|| store.get(black_box(KEY)).expect("read").expect("present"));
    });
    group.finish();
    assert_eq!(
        memo.stats().computations,
        1,
        "every benchmarked call was a hit"
    );
}

fn redis_miss(c: &mut Criterion) {
    let url = url();
    let prefix = prefix();
    let mut raw = raw_connection(&url);
    let memo = Memoizer::new(store(&url, &prefix));
    let no_lock = Options::new().max_age(TTL).no_lock();
    let locked = Options::new().max_age(TTL);
    let next = AtomicU64::new(0);
    let fresh = |what: &str| format!("{what}:{}", next.fetch_add(1, Ordering::Relaxed));

    let mut group = c.benchmark_group("redis_miss");
    group.throughput(Throughput::Elements(1));
    group.bench_function("raw_get_set_px", |b| {
        b.iter(|| {
            let key = format!("{prefix}raw:{}", fresh("miss"));
            let got: Option<Vec<u8>> = redis::cmd("GET").arg(&key).query(&mut raw).expect("GET");
            assert!(got.is_none());
            let v = value();
            redis::cmd("SET")
                .arg(&key)
                .arg(&v)
                .arg("PX")
                .arg(TTL_MS)
                .exec(&mut raw)
                .expect("SET");
            v
        });
    });
    group.bench_function("memo_miss_no_lock", |b| {
        b.iter(|| {
            let got: Vec<u8> = memo
                .get_with(&fresh("nolock"), &no_lock, value)
                .expect("miss");
            got
        });
    });
    group.bench_function("memo_miss_locked", |b| {
        b.iter(|| {
            let got: Vec<u8> = memo
                .get_with(&fresh("locked"), &locked, value)
                .expect("miss");
            got
        });
    });
    group.finish();
    let stats = memo.stats();
    assert_eq!(stats.hits, 0, "every benchmarked call was a miss");
    assert_eq!(stats.store_errors, 0);
}

criterion_group!(benches, redis_hit, redis_miss);
criterion_main!(benches);
