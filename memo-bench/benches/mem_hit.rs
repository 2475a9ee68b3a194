//! A memoized hit through the in-memory stores against a bare get from the engine they wrap,
//! both returning an owned 64-byte `Vec<u8>` as a cache must: `MokaStore` against a raw
//! `moka::sync::Cache`, `MemStore` against a raw `Mutex<HashMap>`.
//!
//! A third row in each group reads the record from the store directly, without the Memoizer
//! and without decoding, to tell the store's cost from the rest.
//!
//! `hot_key_2_threads` has two threads read the one key at once, each engine against the
//! Memoizer over the store that wraps it: what a hit writes to shared memory (a lock word, a
//! reference count) is fought over there, not on one thread.
//!
//! `cargo bench -p memo-bench --bench mem_hit`

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::{Mutex, PoisonError};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use memo_bench::on_two_threads;
use memo_core::{Memoizer, Record, Store};
use memo_store_mem::{MemStore, MokaStore};

const KEY: &str = "key";

fn value() -> Vec<u8> {
    (0..64).collect()
}

/// A Memoizer over `store` with `KEY` cached.
fn warm(store: impl Store) -> Memoizer {
    let memo = Memoizer::new(store);
    let first: Vec<u8> = memo.get(KEY, value).expect("first call computes");
    assert_eq!(first, value());
    memo
}

fn hit(memo: &Memoizer) -> Vec<u8> {
    memo.get(black_box(KEY), || unreachable!("the key is cached"))
        .expect("hit")
}

/// The raw engine's get: the value cloned out under the lock, as a cache must hand it over.
fn raw_get(map: &Mutex<HashMap<String, Vec<u8>>>) -> Vec<u8> {
    map.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(black_box(KEY))
        .cloned()
        .expect("present")
}

/// The store's part of a hit: the record, its bytes shared, not copied.
fn store_get(store: &dyn Store) -> Record {
    store.get(black_box(KEY)).expect("read").expect("present")
}

fn moka_hit(c: &mut Criterion) {
    let raw: moka::sync::Cache<String, Vec<u8>> = moka::sync::Cache::new(1_024);
    raw.insert(KEY.to_owned(), value());
    let memo = warm(MokaStore::with_max_bytes(1 << 20).expect("a valid budget"));

    let mut group = c.benchmark_group("moka_hit");
    group.throughput(Throughput::Elements(1));
    group.bench_function("raw_moka_get", |b| {
        b.iter(|| raw.get(black_box(KEY)).expect("present"));
    });
    group.bench_function("memo_moka_hit", |b| b.iter(|| hit(&memo)));
    let store = memo.store();
    group.bench_function("moka_store_get", |b| b.iter(|| store_get(&*store)));
    group.finish();
    assert_eq!(
        memo.stats().computations,
        1,
        "every benchmarked call was a hit"
    );
}

fn mem_hit(c: &mut Criterion) {
    let raw = Mutex::new(HashMap::from([(KEY.to_owned(), value())]));
    let memo = warm(MemStore::new());

    let mut group = c.benchmark_group("mem_hit");
    group.throughput(Throughput::Elements(1));
    group.bench_function("raw_mutex_hashmap_get", |b| b.iter(|| raw_get(&raw)));
    group.bench_function("memo_mem_hit", |b| b.iter(|| hit(&memo)));
    let store = memo.store();
    group.bench_function("mem_store_get", |b| b.iter(|| store_get(&*store)));
    group.finish();
    assert_eq!(
        memo.stats().computations,
        1,
        "every benchmarked call was a hit"
    );
}

fn hot_key_2_threads(c: &mut Criterion) {
    let raw_map = Mutex::new(HashMap::from([(KEY.to_owned(), value())]));
    let raw_moka: moka::sync::Cache<String, Vec<u8>> = moka::sync::Cache::new(1_024);
    raw_moka.insert(KEY.to_owned(), value());
    let memo_mem = warm(MemStore::new());
    let memo_moka = warm(MokaStore::with_max_bytes(1 << 20).expect("a valid budget"));

    let rows: [(&str, &(dyn Fn() -> Vec<u8> + Sync)); 4] = [
        ("raw_mutex_hashmap_get", &|| raw_get(&raw_map)),
        ("memo_mem_hit", &|| hit(&memo_mem)),
        ("raw_moka_get", &|| {
            raw_moka.get(black_box(KEY)).expect("present")
        }),
        ("memo_moka_hit", &|| hit(&memo_moka)),
    ];
    let mut group = c.benchmark_group("hot_key_2_threads");
    // One iteration is a get on each of the two threads.
    group.throughput(Throughput::Elements(2));
    for (name, op) in rows {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                on_two_threads(|_| {
                    for _ in 0..iters {
                        black_box(op());
                    }
                })
            });
        });
    }
    group.finish();
    for memo in [&memo_mem, &memo_moka] {
        assert_eq!(
            memo.stats().computations,
            1,
            "every benchmarked call was a hit"
        );
    }
}

criterion_group!(benches, moka_hit, mem_hit, hot_key_2_threads);
criterion_main!(benches);
