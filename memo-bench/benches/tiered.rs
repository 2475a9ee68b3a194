//! `TieredStore` beside the stores it is made of, in one run.
//!
//! - `tiered_front_hit`: a memoized hit served by the front (`MokaStore`) of a tiered store
//!   over redb and over Redis, against a hit on a `MokaStore` alone; and `Store::read` on its
//!   own, without the Memoizer.
//! - `tiered_back_hit`: a memoized hit the front misses, served by the back and promoted,
//!   against a hit on the back store alone. The reads cycle over 10 000 keys and the front
//!   holds about one record, so every read misses the front and promotes.
//! - `tiered_zipf`: after warm-up, the mean cost of a memoized read of keys drawn from a Zipf
//!   distribution (s = 1.0) with a front holding 10% of the keys, against the back alone
//!   (redb, Redis). `MEMO_BENCH_ZIPF_KEYS` sets the key count (default 1 000 000).
//!
//! Redis rows need `MEMO_REDIS_URL`; without it they are left out with a message.
//!
//! `MEMO_REDIS_URL=redis://127.0.0.1:6379/ cargo bench -p memo-bench --bench tiered`

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use memo_core::{Memoizer, Record, Store};
use memo_store_mem::{LruStore, MokaStore};
use memo_store_redb::RedbStore;
use memo_store_redis::RedisStore;
use memo_store_tiered::{TieredStats, TieredStore};

const KEY: &str = "bench::answer(42)";
/// Keys the back-hit rows cycle over.
const CYCLE: usize = 10_000;
/// Zipf reads before measuring, so the front holds what it will hold.
const WARM_UP_READS: usize = 500_000;
/// Zipf draws precomputed and cycled through.
const DRAWS: usize = 1 << 20;

fn value() -> Vec<u8> {
    (0..64).collect()
}

fn record() -> Record {
    Record::new(
        1.7e9,
        None,
        postcard::to_allocvec(&value()).expect("encode"),
    )
}

fn redis_url() -> Option<String> {
    let url = std::env::var("MEMO_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty());
    if url.is_none() {
        eprintln!("tiered: MEMO_REDIS_URL is not set; the Redis rows are left out");
    }
    url
}

fn redis(url: &str, prefix: &str) -> RedisStore {
    RedisStore::builder(url)
        .prefix(prefix)
        .build()
        .expect("a RedisStore on MEMO_REDIS_URL")
}

fn redb(dir: &Path, name: &str) -> RedbStore {
    RedbStore::open(dir.join(name)).expect("open redb")
}

fn moka(max_bytes: u64) -> MokaStore {
    MokaStore::with_max_bytes(max_bytes).expect("a budget")
}

fn tiered<F: Store, B: Store>(front: F, back: B) -> TieredStore<F, B> {
    TieredStore::new(front, back).expect("a tiered store")
}

fn hit(memo: &Memoizer, key: &str) -> Vec<u8> {
    memo.get(black_box(key), || unreachable!("every key is cached"))
        .expect("hit")
}

fn front_hit(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut memos: Vec<(&str, Memoizer, Arc<dyn Store>)> = Vec::new();
    let alone: Arc<dyn Store> = Arc::new(moka(64 << 20));
    memos.push(("moka_alone", Memoizer::new(alone.clone()), alone));
    let over_redb: Arc<dyn Store> = Arc::new(tiered(moka(64 << 20), redb(dir.path(), "f.redb")));
    memos.push((
        "moka_over_redb",
        Memoizer::new(over_redb.clone()),
        over_redb,
    ));
    if let Some(url) = redis_url() {
        let prefix = format!("memo-bench-tiered:{}:front:", std::process::id());
        let over_redis: Arc<dyn Store> = Arc::new(tiered(moka(64 << 20), redis(&url, &prefix)));
        memos.push((
            "moka_over_redis",
            Memoizer::new(over_redis.clone()),
            over_redis,
        ));
    }
    let mut group = c.benchmark_group("tiered_front_hit");
    group.throughput(Throughput::Elements(1));
    for (name, memo, store) in &memos {
        store.set(KEY, record()).expect("set");
        group.bench_function(format!("memo_hit_{name}"), |b| b.iter(|| hit(memo, KEY)));
        group.bench_function(format!("store_read_{name}"), |b| {
            b.iter(|| {
                let mut len = 0;
                store
                    .read(black_box(KEY), &mut |r| len = r.value.len())
                    .expect("read");
                len
            });
        });
    }
    group.finish();
}

fn cycle_keys() -> Vec<String> {
    (0..CYCLE).map(|i| format!("bench::cycle({i})")).collect()
}

/// Reads `keys` in turn through `memo`, every one a hit.
fn bench_cycle(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    memo: &Memoizer,
    keys: &[String],
) {
    let mut i = 0;
    group.bench_function(name, |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            hit(memo, &keys[i])
        });
    });
}

fn back_hit(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let keys = cycle_keys();
    // About one record fits: every read in the cycle misses the front.
    let one = (keys[0].len() + record().encoded_len() + 8) as u64;
    let mut rows: Vec<(&str, Memoizer)> = Vec::new();
    let fill = |store: &dyn Store| {
        for key in &keys {
            store.set(key, record()).expect("set");
        }
        store.flush().expect("flush");
    };
    let alone = redb(dir.path(), "alone.redb");
    fill(&alone);
    rows.push(("redb_alone", Memoizer::new(alone)));
    let back = redb(dir.path(), "moka.redb");
    fill(&back);
    rows.push(("moka_over_redb", Memoizer::new(tiered(moka(one), back))));
    let back = redb(dir.path(), "lru.redb");
    fill(&back);
    rows.push((
        "lru1_over_redb",
        Memoizer::new(tiered(LruStore::with_capacity(1), back)),
    ));
    if let Some(url) = redis_url() {
        let prefix = format!("memo-bench-tiered:{}:back:", std::process::id());
        let alone = redis(&url, &prefix);
        fill(&alone);
        rows.push(("redis_alone", Memoizer::new(alone)));
        rows.push((
            "moka_over_redis",
            Memoizer::new(tiered(moka(one), redis(&url, &prefix))),
        ));
    }
    let mut group = c.benchmark_group("tiered_back_hit");
    group.throughput(Throughput::Elements(1));
    for (name, memo) in &rows {
        bench_cycle(&mut group, &format!("memo_hit_{name}"), memo, &keys);
    }
    group.finish();
}

/// `DRAWS` key indexes drawn from Zipf(s = 1) over `n` keys (inverse CDF, xorshift).
fn zipf_draws(n: usize) -> Vec<u32> {
    let mut cdf = Vec::with_capacity(n);
    let mut total = 0.0_f64;
    for rank in 1..=n {
        total += 1.0 / rank as f64;
        cdf.push(total);
    }
    let mut state = 0x853c_49e6_748f_ea9b_u64;
    (0..DRAWS)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let u = (state >> 11) as f64 / (1_u64 << 53) as f64 * total;
            cdf.partition_point(|&c| c < u).min(n - 1) as u32
        })
        .collect()
}

fn zipf_key(i: u32) -> String {
    format!("bench::zipf({i})")
}

fn fill_redb(store: &RedbStore, n: usize) {
    for i in 0..n {
        store.set(&zipf_key(i as u32), record()).expect("set");
    }
    store.flush().expect("flush");
}

fn fill_redis(url: &str, store: &RedisStore, n: usize) {
    let mut connection = redis::Client::open(url)
        .and_then(|c| c.get_connection())
        .expect("a connection to MEMO_REDIS_URL");
    let bytes = record().encode();
    for start in (0..n).step_by(10_000) {
        let mut pipe = redis::pipe();
        for i in start..(start + 10_000).min(n) {
            pipe.cmd("SET")
                .arg(store.record_key(&zipf_key(i as u32)))
                .arg(&bytes)
                .arg("EX")
                .arg(3_600)
                .ignore();
        }
        pipe.exec(&mut connection).expect("SET pipeline");
    }
}

type Stats = Box<dyn Fn() -> TieredStats>;

/// A Memoizer over `store`, and a way to read the store's counters.
fn counted<F: Store, B: Store>(store: TieredStore<F, B>) -> (Memoizer, Stats) {
    let store = Arc::new(store);
    let memo = Memoizer::new(store.clone());
    (memo, Box::new(move || store.stats()))
}

fn zipf(c: &mut Criterion) {
    let n: usize = std::env::var("MEMO_BENCH_ZIPF_KEYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let started = Instant::now();
    let draws = zipf_draws(n);
    let keys: Vec<String> = draws.iter().map(|&i| zipf_key(i)).collect();
    // The front holds 10% of the keys: Moka by bytes, LRU by count.
    let per_key = (zipf_key(n as u32 - 1).len() + record().encoded_len()) as u64;
    let front_bytes = per_key * (n as u64 / 10);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut rows: Vec<(&str, Memoizer, Option<Stats>)> = Vec::new();
    let alone = redb(dir.path(), "zipf-alone.redb");
    fill_redb(&alone, n);
    rows.push(("redb_alone", Memoizer::new(alone), None));
    let back = redb(dir.path(), "zipf-moka.redb");
    fill_redb(&back, n);
    let (memo, stats) = counted(tiered(moka(front_bytes), back));
    rows.push(("moka_over_redb", memo, Some(stats)));
    let back = redb(dir.path(), "zipf-lru.redb");
    fill_redb(&back, n);
    let (memo, stats) = counted(tiered(LruStore::with_capacity(n / 10), back));
    rows.push(("lru_over_redb", memo, Some(stats)));
    if let Some(url) = redis_url() {
        let prefix = format!("memo-bench-tiered:{}:zipf:", std::process::id());
        let alone = redis(&url, &prefix);
        fill_redis(&url, &alone, n);
        rows.push(("redis_alone", Memoizer::new(alone), None));
        let (memo, stats) = counted(tiered(moka(front_bytes), redis(&url, &prefix)));
        rows.push(("moka_over_redis", memo, Some(stats)));
    }
    eprintln!("tiered_zipf: {n} keys filled in {:?}", started.elapsed());
    for (name, memo, stats) in &rows {
        if stats.is_some() {
            let warm = Instant::now();
            for key in keys.iter().cycle().take(WARM_UP_READS) {
                hit(memo, key);
            }
            eprintln!(
                "tiered_zipf: {name} warmed up with {WARM_UP_READS} reads in {:?}",
                warm.elapsed()
            );
        }
    }
    let before: Vec<Option<TieredStats>> = rows
        .iter()
        .map(|(_, _, s)| s.as_ref().map(|s| s()))
        .collect();
    let mut group = c.benchmark_group(format!("tiered_zipf_{n}_keys"));
    group.throughput(Throughput::Elements(1));
    for (name, memo, _) in &rows {
        bench_cycle(&mut group, &format!("memo_read_{name}"), memo, &keys);
    }
    group.finish();
    for ((name, _, stats), before) in rows.iter().zip(before) {
        if let (Some(stats), Some(before)) = (stats, before) {
            let after = stats();
            let front = after.front_hits - before.front_hits;
            let back = after.back_hits - before.back_hits;
            println!(
                "tiered_zipf: {name}: front served {:.1}% of {} measured reads",
                100.0 * front as f64 / (front + back).max(1) as f64,
                front + back
            );
        }
    }
}

criterion_group!(benches, front_hit, back_hit, zipf);
criterion_main!(benches);
