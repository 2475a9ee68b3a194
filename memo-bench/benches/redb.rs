//! `RedbStore` against raw redb: a memoized hit against one read transaction per get of the
//! same bytes, and memoized misses against one key per write transaction.
//!
//! `cargo bench -p memo-bench --bench redb`

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use memo_core::{Memoizer, Record, Store};
use memo_store_redb::RedbStore;
use redb::{ReadableDatabase, TableDefinition};

const RAW: TableDefinition<'static, &str, &[u8]> = TableDefinition::new("raw");
const KEY: &str = "bench::answer(42)";

/// The value both sides read: a short string (64 bytes encoded), as many memoized functions
/// return.
fn value() -> String {
    "the answer to life, the universe and everything is forty-two:42".to_owned()
}

fn hits(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = RedbStore::open(dir.path().join("memo.redb")).expect("open the store");
    let memo = Memoizer::new(store);
    let _: String = memo.get(KEY, value).expect("first call computes");
    let stored = memo.store().get(KEY).expect("read").expect("stored");

    let raw = redb::Database::create(dir.path().join("raw.redb")).expect("open raw redb");
    let txn = raw.begin_write().expect("write");
    txn.open_table(RAW)
        .expect("table")
        .insert(KEY, stored.encode().as_slice())
        .expect("insert");
    txn.commit().expect("commit");

    let mut group = c.benchmark_group("redb_hit");
    group.throughput(Throughput::Elements(1));
    group.bench_function("memo_redb_hit", |b| {
        b.iter(|| {
            let v: String = memo
                .get(black_box(KEY), || unreachable!("the key is cached"))
                .expect("hit");
            v
        });
    });
    // What protocol 2's checksum adds to a hit: one xxh3 over the encoded record.
    let encoded = stored.encode();
    let body = &encoded[..encoded.len() - 8];
    group.bench_function("checksum_of_the_record", |b| {
        b.iter(|| xxhash_rust::xxh3::xxh3_64(black_box(body)));
    });
    group.bench_function("raw_redb_get", |b| {
        b.iter(|| {
            let txn = raw.begin_read().expect("read");
            let table = txn.open_table(RAW).expect("table");
            let bytes = table.get(black_box(KEY)).expect("get").expect("present");
            bytes.value().to_vec()
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
    let memo = Memoizer::new(RedbStore::open(dir.path().join("memo.redb")).expect("open"));
    let raw = redb::Database::create(dir.path().join("raw.redb")).expect("open raw redb");
    let record = Record::new(1.7e9, None, postcard::to_allocvec(&42_u64).expect("encode"));
    let bytes = record.encode();
    let counter = AtomicU64::new(0);
    let next_key = || format!("bench::miss({})", counter.fetch_add(1, Ordering::Relaxed));

    let mut group = c.benchmark_group("redb_miss");
    group.throughput(Throughput::Elements(1));
    group.bench_function("memo_redb_miss_default_durability", |b| {
        b.iter(|| {
            let v: u64 = memo.get(&next_key(), || black_box(42_u64)).expect("miss");
            v
        });
    });
    for (name, durability) in [
        ("raw_redb_put_durability_none", redb::Durability::None),
        (
            "raw_redb_put_durability_immediate",
            redb::Durability::Immediate,
        ),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut txn = raw.begin_write().expect("write");
                txn.set_durability(durability).expect("durability");
                txn.open_table(RAW)
                    .expect("table")
                    .insert(next_key().as_str(), bytes.as_slice())
                    .expect("insert");
                txn.commit().expect("commit");
            });
        });
    }
    group.finish();
}

criterion_group!(benches, hits, misses);
criterion_main!(benches);
