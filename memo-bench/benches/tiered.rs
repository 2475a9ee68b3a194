//! `TieredStore` beside the stores it is made of, in one run.
//!
//! - `tiered_front_hit`: a memoized hit served by the front (`MokaStore`) of a tiered store
//!   over redb and over Redis, against a hit on a `MokaStore` alone; and the same through
//!   `Store::read` alone, without the Memoizer.
//! - `tiered_back_hit`: a memoized hit the front misses, served by the back and promoted,
//!   against a hit on the back store alone. The reads cycle over 10 000 keys and the front
//!   holds about one record, so every read misses the front and promotes.
//! - `tiered_zipf`: after warm-up, the mean cost of a memoized read of keys drawn from a Zipf
//!   distribution (s = 1.0) with a front holding 10% of the keys, against the back alone
//!   (redb, Redis); over Redis once with the default residency limit (1 s) and once with
//!   invalidation notices and a 60 s limit. `MEMO_BENCH_ZIPF_KEYS` sets the key count
//!   (default 1 000 000), `MEMO_BENCH_ZIPF_FRONT_PERCENT` the front's share (default 10).
//!
//! After criterion's rows (measured one after the other), each group prints every row's
//! median and mean per call over the same interleaved rounds (each round runs every row's
//! operation a batch of times in turn), with its ratio to its reference row: on a shared
//! machine a burst of load then lands on every row alike. Criterion's rows are not
//! interleaved because their costs differ by up to 100x, and criterion sizes each row's run
//! by that row's own time.
//!
//! Redis rows need `MEMO_REDIS_URL`; without it they are left out with a message.
//!
//! `MEMO_REDIS_URL=redis://127.0.0.1:6379/ cargo bench -p memo-bench --bench tiered`

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use memo_bench::{Op, paired};
use memo_core::{Memoizer, Record, Store};
use memo_store_mem::{LruStore, MokaStore};
use memo_store_redb::RedbStore;
use memo_store_redis::RedisStore;
use memo_store_tiered::{TieredStats, TieredStore};

const KEY: &str = "bench::answer(42)";
/// Keys the back-hit rows cycle over.
const CYCLE: usize = 10_000;
/// Zipf reads before measuring (from a sequence of their own), so the front holds what it
/// will hold.
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

fn redb(path: &Path) -> RedbStore {
    RedbStore::open(path).expect("open redb")
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

/// One row: its name, the row it is compared with, its operation.
struct Row<'a> {
    name: String,
    reference: Option<usize>,
    op: Op<'a>,
}

fn row<'a>(name: &str, reference: Option<usize>, op: impl FnMut() + 'a) -> Row<'a> {
    Row {
        name: name.to_owned(),
        reference,
        op: Box::new(op),
    }
}

/// Criterion's rows, one after the other, then the paired figures of `rounds` interleaved
/// rounds of `batch` calls per row.
fn bench_rows(c: &mut Criterion, group: &str, rows: Vec<Row<'_>>, rounds: usize, batch: u32) {
    let (names, references): (Vec<String>, Vec<Option<usize>>) =
        rows.iter().map(|r| (r.name.clone(), r.reference)).unzip();
    let mut ops: Vec<Op<'_>> = rows.into_iter().map(|r| r.op).collect();
    let mut bench = c.benchmark_group(group);
    bench.throughput(Throughput::Elements(1));
    for (which, name) in names.iter().enumerate() {
        bench.bench_function(name.as_str(), |b| {
            b.iter(|| ops[which]());
        });
    }
    bench.finish();
    let figures = paired(&mut ops, rounds, batch);
    println!("{group}: per call over {rounds} interleaved rounds of {batch}: median, mean");
    for (i, name) in names.iter().enumerate() {
        let (median, mean) = figures[i];
        let ratio = references[i].map_or(String::new(), |r| {
            let (rm, rmean) = figures[r];
            format!(
                "  {:.2}x median, {:.2}x mean of {}",
                median.as_secs_f64() / rm.as_secs_f64(),
                mean.as_secs_f64() / rmean.as_secs_f64(),
                names[r]
            )
        });
        println!("  {name:<40} {median:>10.2?} {mean:>10.2?}{ratio}");
    }
}

fn front_hit(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut stores: Vec<(&str, Arc<dyn Store>)> = vec![
        ("moka_alone", Arc::new(moka(64 << 20))),
        (
            "moka_over_redb",
            Arc::new(tiered(moka(64 << 20), redb(&dir.path().join("f.redb")))),
        ),
    ];
    if let Some(url) = redis_url() {
        let prefix = format!("memo-bench-tiered:{}:front:", std::process::id());
        stores.push((
            "moka_over_redis",
            Arc::new(tiered(moka(64 << 20), redis(&url, &prefix))),
        ));
    }
    let memos: Vec<Memoizer> = stores
        .iter()
        .map(|(_, store)| {
            store.set(KEY, record()).expect("set");
            Memoizer::new(store.clone())
        })
        .collect();
    let mut rows = Vec::new();
    for (i, ((name, _), memo)) in stores.iter().zip(&memos).enumerate() {
        rows.push(row(
            &format!("memo_hit_{name}"),
            (i > 0).then_some(0),
            move || {
                black_box(hit(memo, KEY));
            },
        ));
    }
    let first_read = rows.len();
    for (i, (name, store)) in stores.iter().enumerate() {
        rows.push(row(
            &format!("store_read_{name}"),
            (i > 0).then_some(first_read),
            move || {
                let mut len = 0;
                store
                    .read(black_box(KEY), &mut |r| len = r.value.len())
                    .expect("read");
                black_box(len);
            },
        ));
    }
    bench_rows(c, "tiered_front_hit", rows, 2_000, 200);
}

/// Reads `keys` in turn through `memo`, every one a hit.
fn cycling<'a>(memo: &'a Memoizer, keys: &'a [String]) -> impl FnMut() + 'a {
    let mut i = 0;
    move || {
        i = (i + 1) % keys.len();
        black_box(hit(memo, &keys[i]));
    }
}

fn back_hit(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let keys: Vec<String> = (0..CYCLE).map(|i| format!("bench::cycle({i})")).collect();
    // About one record fits: every read in the cycle misses the front.
    let one = (keys[0].len() + record().encoded_len() + 8) as u64;
    let fill = |store: &dyn Store| {
        for key in &keys {
            store.set(key, record()).expect("set");
        }
        store.flush().expect("flush");
    };
    let mut memos: Vec<(&str, Option<usize>, Memoizer)> = Vec::new();
    let alone = redb(&dir.path().join("alone.redb"));
    fill(&alone);
    memos.push(("redb_alone", None, Memoizer::new(alone)));
    let back = redb(&dir.path().join("moka.redb"));
    fill(&back);
    memos.push((
        "moka_over_redb",
        Some(0),
        Memoizer::new(tiered(moka(one), back)),
    ));
    let back = redb(&dir.path().join("lru.redb"));
    fill(&back);
    let lru1 = tiered(LruStore::with_capacity(1), back);
    memos.push(("lru1_over_redb", Some(0), Memoizer::new(lru1)));
    if let Some(url) = redis_url() {
        let prefix = format!("memo-bench-tiered:{}:back:", std::process::id());
        let alone = redis(&url, &prefix);
        fill(&alone);
        let at = memos.len();
        memos.push(("redis_alone", None, Memoizer::new(alone)));
        let over = tiered(moka(one), redis(&url, &prefix));
        memos.push(("moka_over_redis", Some(at), Memoizer::new(over)));
    }
    let rows = memos
        .iter()
        .map(|(name, reference, memo)| {
            row(
                &format!("memo_hit_{name}"),
                *reference,
                cycling(memo, &keys),
            )
        })
        .collect();
    bench_rows(c, "tiered_back_hit", rows, 1_000, 5);
}

/// `DRAWS` key indexes drawn from Zipf(s = 1) over `n` keys (inverse CDF, xorshift from
/// `seed`).
fn zipf_draws(n: usize, seed: u64) -> Vec<u32> {
    let mut cdf = Vec::with_capacity(n);
    let mut total = 0.0_f64;
    for rank in 1..=n {
        total += 1.0 / rank as f64;
        cdf.push(total);
    }
    let mut state = seed;
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
fn counted<F: Store, B: Store>(store: TieredStore<F, B>) -> (Memoizer, Option<Stats>) {
    let store = Arc::new(store);
    let memo = Memoizer::new(store.clone());
    (memo, Some(Box::new(move || store.stats())))
}

fn zipf(c: &mut Criterion) {
    let n: usize = std::env::var("MEMO_BENCH_ZIPF_KEYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let started = Instant::now();
    let to_keys = |draws: Vec<u32>| -> Vec<String> { draws.into_iter().map(zipf_key).collect() };
    let keys = to_keys(zipf_draws(n, 0x853c_49e6_748f_ea9b));
    // Warm-up draws of their own: replaying the measured sequence would let the front learn
    // exactly the keys about to be read, and flatter it.
    let warm_up_keys = to_keys(zipf_draws(n, 0x2545_f491_4f6c_dd1d));
    // The front holds 10% of the keys unless `MEMO_BENCH_ZIPF_FRONT_PERCENT` says otherwise:
    // Moka by bytes, LRU by count.
    let percent: usize = std::env::var("MEMO_BENCH_ZIPF_FRONT_PERCENT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let front_keys = n * percent / 100;
    let per_key = (zipf_key(n as u32 - 1).len() + record().encoded_len()) as u64;
    let front_bytes = per_key * front_keys as u64;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let files = ["alone", "moka", "lru"].map(|f| dir.path().join(format!("zipf-{f}.redb")));
    {
        let store = redb(&files[0]);
        for i in 0..n {
            store.set(&zipf_key(i as u32), record()).expect("set");
        }
    }
    for copy in &files[1..] {
        std::fs::copy(&files[0], copy).expect("copy the filled file");
    }
    let mut memos: Vec<(&str, Option<usize>, Memoizer, Option<Stats>)> = Vec::new();
    memos.push(("redb_alone", None, Memoizer::new(redb(&files[0])), None));
    let (memo, stats) = counted(tiered(moka(front_bytes), redb(&files[1])));
    memos.push(("moka_over_redb", Some(0), memo, stats));
    let lru = LruStore::with_capacity(front_keys);
    let (memo, stats) = counted(tiered(lru, redb(&files[2])));
    memos.push(("lru_over_redb", Some(0), memo, stats));
    if let Some(url) = redis_url() {
        let prefix = format!("memo-bench-tiered:{}:zipf:", std::process::id());
        let alone = redis(&url, &prefix);
        fill_redis(&url, &alone, n);
        let at = memos.len();
        memos.push(("redis_alone", None, Memoizer::new(alone), None));
        let (memo, stats) = counted(tiered(moka(front_bytes), redis(&url, &prefix)));
        memos.push(("moka_over_redis", Some(at), memo, stats));
        let back = redis(&url, &prefix);
        let records = back.record_key("");
        let tracked = TieredStore::builder(moka(front_bytes), back)
            .max_residency(Duration::from_secs(60))
            .invalidate_from_redis(&url, records)
            .build()
            .expect("a tracked tiered store");
        let (memo, stats) = counted(tracked);
        memos.push(("moka_over_redis_tracked_60s", Some(at), memo, stats));
    }
    eprintln!("tiered_zipf: {n} keys filled in {:?}", started.elapsed());
    for (name, _, memo, stats) in &memos {
        if stats.is_some() {
            let warm = Instant::now();
            for key in warm_up_keys.iter().cycle().take(WARM_UP_READS) {
                hit(memo, key);
            }
            eprintln!(
                "tiered_zipf: {name} warmed up with {WARM_UP_READS} reads in {:?}",
                warm.elapsed()
            );
        }
    }
    let before: Vec<Option<TieredStats>> = memos
        .iter()
        .map(|(_, _, _, s)| s.as_ref().map(|s| s()))
        .collect();
    let rows = memos
        .iter()
        .map(|(name, reference, memo, _)| {
            row(
                &format!("memo_read_{name}"),
                *reference,
                cycling(memo, &keys),
            )
        })
        .collect();
    let group = format!("tiered_zipf_{n}_keys_front_{percent}pct");
    bench_rows(c, &group, rows, 400, 50);
    for ((name, _, _, stats), before) in memos.iter().zip(before) {
        if let (Some(stats), Some(before)) = (stats, before) {
            let after = stats();
            let front = after.front_hits - before.front_hits;
            let back = after.back_hits - before.back_hits;
            println!(
                "tiered_zipf: {name}: the front served {:.1}% of {} measured reads",
                100.0 * front as f64 / (front + back).max(1) as f64,
                front + back
            );
        }
    }
}

criterion_group!(benches, front_hit, back_hit, zipf);
criterion_main!(benches);
