//! memo over Redis against the bare `redis` crate on one connection, on the same server.
//!
//! - `redis_hit`: a memoized hit through `RedisStore` (one `GET`, decode) against a raw `GET`,
//!   plus the store's part alone (`Store::get`, no Memoizer).
//! - `redis_miss`: a memoized miss (`GET`, compute, `SET ... PX`) against a raw `GET` +
//!   `SET PX`; once with `Options::no_lock()` (the same two round trips) and once with the
//!   store's default lock, three round trips: the `GET`, one script that takes the lock and
//!   reads the record (the double check), and the `SET PX` pipelined with the release script.
//!
//! Values are 64 bytes; every miss uses a new key, which expires after 60 s.
//!
//! The rows of a group run interleaved: each iteration runs every row's operation once and
//! times only its own. After criterion's rows, each group prints the median single-call time of
//! every row over the same interleaved rounds, and its ratio to the raw row: criterion measures
//! the rows one after the other, so on a shared machine a burst of load can land on one row
//! only, while the paired medians see the same moments and shrug off the bursts.
//!
//! `MEMO_REDIS_URL=redis://127.0.0.1:6379/ cargo bench -p memo-bench --bench redis`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use memo_core::{Memoizer, Options, Store};
use memo_store_redis::RedisStore;

const KEY: &str = "hit";
const TTL_MS: u64 = 60_000;
const TTL: Duration = Duration::from_millis(TTL_MS);

type Op<'a> = Box<dyn FnMut() + 'a>;

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

/// Runs every op once per iteration, in turn, and returns the time spent in `ops[which]`.
fn interleaved(iters: u64, ops: &mut [Op<'_>], which: usize) -> Duration {
    let mut spent = Duration::ZERO;
    for _ in 0..iters {
        for (i, op) in ops.iter_mut().enumerate() {
            if i == which {
                let start = Instant::now();
                op();
                spent += start.elapsed();
            } else {
                op();
            }
        }
    }
    spent
}

/// Each op's median single-call time over `rounds` rounds of every op once, in turn.
fn paired_medians(ops: &mut [Op<'_>], rounds: usize) -> Vec<Duration> {
    let mut samples = vec![Vec::with_capacity(rounds); ops.len()];
    for _ in 0..rounds {
        for (op, times) in ops.iter_mut().zip(&mut samples) {
            let start = Instant::now();
            op();
            times.push(start.elapsed());
        }
    }
    samples
        .into_iter()
        .map(|mut times| {
            times.sort_unstable();
            times[times.len() / 2]
        })
        .collect()
}

/// Criterion's rows, then the paired medians; the first row is the raw baseline.
fn bench_rows(c: &mut Criterion, group: &str, names: &[&str], ops: &mut [Op<'_>], rounds: usize) {
    let mut bench = c.benchmark_group(group);
    bench.throughput(Throughput::Elements(1));
    for (which, name) in names.iter().enumerate() {
        bench.bench_function(*name, |b| {
            b.iter_custom(|iters| interleaved(iters, ops, which));
        });
    }
    bench.finish();
    let medians = paired_medians(ops, rounds);
    println!("{group}: paired medians over {rounds} interleaved rounds");
    for (name, median) in names.iter().zip(&medians) {
        let ratio = median.as_secs_f64() / medians[0].as_secs_f64();
        println!("  {name:<20} {median:>10.2?}  {ratio:.2}x");
    }
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
    let store = memo.store();

    let mut ops: Vec<Op<'_>> = vec![
        Box::new(|| {
            let got: Option<Vec<u8>> = redis::cmd("GET")
                .arg(black_box(&raw_key))
                .query(&mut raw)
                .expect("GET");
            black_box(got.expect("present"));
        }),
        Box::new(|| {
            let got: Vec<u8> = memo
                .get_with(black_box(KEY), &opts, || unreachable!("the key is cached"))
                .expect("hit");
            black_box(got);
        }),
        Box::new(|| {
            black_box(store.get(black_box(KEY)).expect("read").expect("present"));
        }),
    ];
    bench_rows(
        c,
        "redis_hit",
        &["raw_get", "memo_hit", "store_get"],
        &mut ops,
        20_000,
    );
    drop(ops);
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
    let (mut raw_n, mut no_lock_n, mut locked_n) = (0_u64, 0_u64, 0_u64);

    let mut ops: Vec<Op<'_>> = vec![
        Box::new(|| {
            raw_n += 1;
            let key = format!("{prefix}raw:miss:{raw_n}");
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
            black_box(v);
        }),
        Box::new(|| {
            no_lock_n += 1;
            let got: Vec<u8> = memo
                .get_with(&format!("nolock:{no_lock_n}"), &no_lock, value)
                .expect("miss");
            black_box(got);
        }),
        Box::new(|| {
            locked_n += 1;
            let got: Vec<u8> = memo
                .get_with(&format!("locked:{locked_n}"), &locked, value)
                .expect("miss");
            black_box(got);
        }),
    ];
    bench_rows(
        c,
        "redis_miss",
        &["raw_get_set_px", "memo_miss_no_lock", "memo_miss_locked"],
        &mut ops,
        10_000,
    );
    drop(ops);
    let stats = memo.stats();
    assert_eq!(stats.hits, 0, "every benchmarked call was a miss");
    assert_eq!(stats.store_errors, 0);
}

criterion_group!(benches, redis_hit, redis_miss);
criterion_main!(benches);
