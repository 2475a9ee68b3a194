//! `RocksStore` against raw rocksdb: a memoized hit against a raw get of the same bytes, and
//! memoized misses against a raw get (the miss) plus put of the same bytes.
//!
//! Builds the engine's C++, so it sits behind this crate's `rocks` feature:
//! `cargo bench -p memo-bench --features rocks --bench rocks`

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use memo_core::{Memoizer, Record, Store};
use memo_store_rocks::RocksStore;

const KEY: &str = "bench::answer(42)";

/// The value both sides read: a short string (64 bytes encoded), as many memoized functions
/// return.
fn value() -> String {
    "the answer to life, the universe and everything is forty-two:42".to_owned()
}

/// A raw database with rocksdb's defaults (WAL on, no sync), as a user would open one.
fn raw(dir: &std::path::Path) -> rocksdb::DB {
    let mut opts = rocksdb::Options::default();
    opts.create_if_missing(true);
    rocksdb::DB::open(&opts, dir.join("raw")).expect("open raw rocksdb")
}

fn hits(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = RocksStore::open(dir.path().join("memo")).expect("open the store");
    let memo = Memoizer::new(store);
    let _: String = memo.get(KEY, value).expect("first call computes");
    let stored = memo.store().get(KEY).expect("read").expect("stored");

    let raw = raw(dir.path());
    raw.put(KEY, stored.encode()).expect("put");

    let mut group = c.benchmark_group("rocks_hit");
    group.throughput(Throughput::Elements(1));
    group.bench_function("memo_rocks_hit", |b| {
        b.iter(|| {
            let v: String = memo
                .get(black_box(KEY), || unreachable!("the key is cached"))
                .expect("hit");
            v
        });
    });
    // The store alone (engine read plus the checksummed decode), to split the hit's cost.
    let store = memo.store();
    group.bench_function("rocks_store_get", |b| {
        b.iter(|| store.get(black_box(KEY)).expect("get").expect("present"));
    });
    group.bench_function("raw_rocksdb_get", |b| {
        b.iter(|| {
            let bytes = raw
                .get_pinned(black_box(KEY))
                .expect("get")
                .expect("present");
            bytes.to_vec()
        });
    });
    group.finish();
    assert_eq!(
        memo.stats().computations,
        1,
        "every benchmarked call was a hit"
    );
}

fn misses(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let memo = Memoizer::new(RocksStore::open(dir.path().join("memo")).expect("open"));
    let raw = raw(dir.path());
    let record = Record::new(1.7e9, None, postcard::to_allocvec(&42_u64).expect("encode"));
    let bytes = record.encode();
    let counter = AtomicU64::new(0);
    let next_key = || format!("bench::miss({})", counter.fetch_add(1, Ordering::Relaxed));

    let mut group = c.benchmark_group("rocks_miss");
    group.throughput(Throughput::Elements(1));
    group.bench_function("memo_rocks_miss", |b| {
        b.iter(|| {
            let v: u64 = memo.get(&next_key(), || black_box(42_u64)).expect("miss");
            v
        });
    });
    group.bench_function("raw_rocksdb_get_then_put", |b| {
        b.iter(|| {
            let key = next_key();
            assert!(raw.get_pinned(&key).expect("get").is_none());
            raw.put(&key, &bytes).expect("put");
        });
    });
    group.finish();
}

criterion_group!(benches, hits, misses);
criterion_main!(benches);
