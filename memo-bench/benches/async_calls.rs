//! The Memoizer's async calls against its blocking ones and against the raw async engine.
//!
//! - `async_hit`: a hit through `get_async` against `get` on the same store (`MemStore`,
//!   `RedbStore`), 64-byte values, on a current-thread runtime (the loop runs inside one
//!   `block_on`, so no per-call runtime entry is timed). `*_sync_hit_in_task` runs the blocking
//!   `get` in that same async loop, which costs a few nanoseconds of its own.
//! - `async_redis_hit`: a memoized `get_async` hit over Redis against a raw `GET` on a
//!   multiplexed async connection of the `redis` crate (the connection kind the store uses),
//!   interleaved as in the `redis` benchmark, with paired medians printed after.
//! - `redis_throughput`: 20,000 hits of one hot key over Redis, by 2,000 concurrent tasks on a
//!   multi-threaded runtime with one worker per core, against the blocking `get` on as many
//!   threads as cores; and, as the ceiling, the same tasks sending raw `GET`s on one
//!   multiplexed connection.
//!
//! `MEMO_REDIS_URL=redis://127.0.0.1:6379/ cargo bench -p memo-bench --bench async_calls`

use std::future::Future;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use memo_core::{Memoizer, Options, Store};
use memo_store_mem::MemStore;
use memo_store_redb::RedbStore;
use memo_store_redis::RedisStore;
use tokio::runtime::Runtime;

const KEY: &str = "key";
const TTL_MS: u64 = 600_000;
/// Hits per `redis_throughput` iteration.
const HITS: usize = 20_000;
const TASKS: usize = 2_000;

fn value() -> Vec<u8> {
    (0..64).collect()
}

fn current_thread() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

fn url() -> String {
    std::env::var("MEMO_REDIS_URL").unwrap_or_else(|_| {
        panic!(
            "the async redis benchmarks need a server: set MEMO_REDIS_URL (source \
             .ci/redis.sh starts one)"
        )
    })
}

fn warm(store: impl Store) -> Memoizer {
    let memo = Memoizer::new(store);
    let first: Vec<u8> = memo.get(KEY, value).expect("first call computes");
    assert_eq!(first, value());
    memo
}

fn sync_hit(memo: &Memoizer) -> Vec<u8> {
    memo.get(black_box(KEY), || unreachable!("the key is cached"))
        .expect("hit")
}

async fn async_hit(memo: &Memoizer) -> Vec<u8> {
    memo.get_async(black_box(KEY), || async {
        unreachable!("the key is cached")
    })
    .await
    .expect("hit")
}

/// Times `iters` awaits of `op` inside one `block_on`.
fn timed_async<F: Future>(rt: &Runtime, iters: u64, mut op: impl FnMut() -> F) -> Duration {
    rt.block_on(async {
        let start = Instant::now();
        for _ in 0..iters {
            black_box(op().await);
        }
        start.elapsed()
    })
}

fn async_hit_bench(c: &mut Criterion) {
    let rt = current_thread();
    let dir = tempfile::tempdir().expect("a temp dir");
    let stores: [(&str, Memoizer); 2] = [
        ("mem", warm(MemStore::new())),
        (
            "redb",
            warm(RedbStore::open(dir.path().join("bench.redb")).expect("a redb store")),
        ),
    ];
    let mut group = c.benchmark_group("async_hit");
    group.throughput(Throughput::Elements(1));
    for (name, memo) in &stores {
        group.bench_function(format!("{name}_sync_hit"), |b| b.iter(|| sync_hit(memo)));
        // The blocking call in the same loop as the async one, inside one `block_on`: what
        // the loop itself costs is then the same on both rows.
        group.bench_function(format!("{name}_sync_hit_in_task"), |b| {
            b.iter_custom(|iters| timed_async(&rt, iters, || async { sync_hit(memo) }));
        });
        group.bench_function(format!("{name}_async_hit"), |b| {
            b.iter_custom(|iters| timed_async(&rt, iters, || async_hit(memo)));
        });
    }
    group.finish();
    for (_, memo) in &stores {
        assert_eq!(memo.stats().computations, 1, "every call was a hit");
    }
}

/// Runs both rows once per iteration, in turn, timing only `which`.
async fn interleaved(
    iters: u64,
    which: usize,
    raw: &mut redis::aio::MultiplexedConnection,
    raw_key: &str,
    memo: &Memoizer,
    opts: &Options,
) -> Duration {
    let mut spent = Duration::ZERO;
    for _ in 0..iters {
        for row in 0..2 {
            let start = Instant::now();
            if row == 0 {
                let got: Option<Vec<u8>> = redis::cmd("GET")
                    .arg(black_box(raw_key))
                    .query_async(raw)
                    .await
                    .expect("GET");
                black_box(got.expect("present"));
            } else {
                let got: Vec<u8> = memo
                    .get_async_with(black_box(KEY), opts, || async {
                        unreachable!("the key is cached")
                    })
                    .await
                    .expect("hit");
                black_box(got);
            }
            if row == which {
                spent += start.elapsed();
            }
        }
    }
    spent
}

fn redis_store(url: &str, prefix: &str) -> RedisStore {
    RedisStore::builder(url)
        .prefix(prefix)
        .build()
        .expect("a RedisStore on MEMO_REDIS_URL")
}

fn async_redis_hit(c: &mut Criterion) {
    let url = url();
    let prefix = format!("memo-bench:async:{}:", std::process::id());
    let rt = current_thread();
    let raw_key = format!("{prefix}raw:{KEY}");
    let memo = Memoizer::new(redis_store(&url, &prefix));
    let opts = Options::new().max_age(Duration::from_millis(TTL_MS));
    let mut raw = rt.block_on(async {
        let client = redis::Client::open(url.as_str()).expect("a valid URL");
        let mut raw = client
            .get_multiplexed_async_connection()
            .await
            .expect("an async connection");
        redis::cmd("SET")
            .arg(&raw_key)
            .arg(value())
            .arg("PX")
            .arg(TTL_MS)
            .exec_async(&mut raw)
            .await
            .expect("SET");
        let first: Vec<u8> = memo
            .get_async_with(KEY, &opts, || async { value() })
            .await
            .expect("first call computes");
        assert_eq!(first, value());
        raw
    });
    let names = ["raw_async_get", "memo_async_hit"];
    let mut group = c.benchmark_group("async_redis_hit");
    group.throughput(Throughput::Elements(1));
    for (which, name) in names.iter().enumerate() {
        group.bench_function(*name, |b| {
            b.iter_custom(|iters| {
                rt.block_on(interleaved(iters, which, &mut raw, &raw_key, &memo, &opts))
            });
        });
    }
    group.finish();
    let rounds = 20_000;
    let medians: Vec<Duration> = (0..2)
        .map(|which| {
            let mut times: Vec<Duration> = (0..rounds)
                .map(|_| rt.block_on(interleaved(1, which, &mut raw, &raw_key, &memo, &opts)))
                .collect();
            times.sort_unstable();
            times[times.len() / 2]
        })
        .collect();
    println!("async_redis_hit: paired medians over {rounds} interleaved rounds");
    for (name, median) in names.iter().zip(&medians) {
        let ratio = median.as_secs_f64() / medians[0].as_secs_f64();
        println!("  {name:<20} {median:>10.2?}  {ratio:.2}x");
    }
    assert_eq!(memo.stats().computations, 1, "every call was a hit");
}

fn redis_throughput(c: &mut Criterion) {
    let url = url();
    let prefix = format!("memo-bench:throughput:{}:", std::process::id());
    let threads = cores();
    let memo = Memoizer::new(redis_store(&url, &prefix));
    let opts = Arc::new(Options::new().max_age(Duration::from_millis(TTL_MS)));
    let first: Vec<u8> = memo
        .get_with(KEY, &opts, value)
        .expect("first call computes");
    assert_eq!(first, value());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("a runtime");

    let mut group = c.benchmark_group("redis_throughput");
    group.throughput(Throughput::Elements(HITS as u64));
    group.sample_size(10);
    group.bench_function(format!("sync_{threads}_threads"), |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                std::thread::scope(|scope| {
                    for _ in 0..threads {
                        scope.spawn(|| {
                            for _ in 0..HITS / threads {
                                let got: Vec<u8> = memo
                                    .get_with(KEY, &opts, || unreachable!("cached"))
                                    .expect("hit");
                                black_box(got);
                            }
                        });
                    }
                });
            }
            start.elapsed()
        });
    });
    group.bench_function(format!("async_{TASKS}_tasks_{threads}_workers"), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let tasks: Vec<_> = (0..TASKS)
                        .map(|_| {
                            let (memo, opts) = (memo.clone(), opts.clone());
                            tokio::spawn(async move {
                                for _ in 0..HITS / TASKS {
                                    let got: Vec<u8> = memo
                                        .get_async_with(KEY, &opts, || async {
                                            unreachable!("cached")
                                        })
                                        .await
                                        .expect("hit");
                                    black_box(got);
                                }
                            })
                        })
                        .collect();
                    for task in tasks {
                        task.await.expect("a task panicked");
                    }
                }
                start.elapsed()
            })
        });
    });
    // The ceiling: the same tasks sending raw `GET`s on one multiplexed connection.
    let raw_key = format!("{prefix}raw:{KEY}");
    let raw = rt.block_on(async {
        let client = redis::Client::open(url.as_str()).expect("a valid URL");
        let mut raw = client
            .get_multiplexed_async_connection()
            .await
            .expect("an async connection");
        redis::cmd("SET")
            .arg(&raw_key)
            .arg(value())
            .arg("PX")
            .arg(TTL_MS)
            .exec_async(&mut raw)
            .await
            .expect("SET");
        raw
    });
    group.bench_function(format!("raw_async_{TASKS}_tasks_{threads}_workers"), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let tasks: Vec<_> = (0..TASKS)
                        .map(|_| {
                            let (mut raw, raw_key) = (raw.clone(), raw_key.clone());
                            tokio::spawn(async move {
                                for _ in 0..HITS / TASKS {
                                    let got: Option<Vec<u8>> = redis::cmd("GET")
                                        .arg(&raw_key)
                                        .query_async(&mut raw)
                                        .await
                                        .expect("GET");
                                    black_box(got.expect("present"));
                                }
                            })
                        })
                        .collect();
                    for task in tasks {
                        task.await.expect("a task panicked");
                    }
                }
                start.elapsed()
            })
        });
    });
    group.finish();
    assert_eq!(memo.stats().computations, 1, "every call was a hit");
}

criterion_group!(benches, async_hit_bench, async_redis_hit, redis_throughput);
criterion_main!(benches);
