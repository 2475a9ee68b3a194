//! Stampedes: many callers missing one cold key at once, the function taking 50 ms. A cache
//! that coalesces computes once and everyone waits one computation.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cached::macros::cached;
use memo_core::{Memoizer, Options, Store};
use memo_store_mem::{LruStore, MemStore, MokaStore};
use memo_store_redb::RedbStore;
use memo_store_redis::RedisStore;
use memo_store_tiered::TieredStore;

use crate::caches::{REDIS_TTL_MS, redis_connection};

/// How long the stampeded function takes.
pub(crate) const WORK: Duration = Duration::from_millis(50);
const THREADS: usize = 64;

/// A peer's call on a key, counting its computations in the counter.
type PeerCall<'a> = &'a (dyn Fn(&str, &AtomicU64) + Sync);

/// One stampede row: wall times of each round and computations of each round.
#[derive(Clone, Debug)]
pub(crate) struct Stampede {
    pub(crate) name: String,
    pub(crate) memo: bool,
    pub(crate) walls: Vec<Duration>,
    pub(crate) computations: Vec<u64>,
}

fn work(counter: &AtomicU64) -> Vec<u8> {
    counter.fetch_add(1, Ordering::SeqCst);
    std::thread::sleep(WORK);
    vec![7; 64]
}

/// `threads` threads released together call `call(key)`; the wall time until the last
/// returns.
fn storm(threads: usize, call: &(dyn Fn() + Sync)) -> Duration {
    storm_at(threads, None, call)
}

/// [`storm`] with the threads released at `start` (Unix nanoseconds) when given: they are
/// started first, so that starting them is not timed (as in [`storm`]).
fn storm_at(threads: usize, start: Option<u128>, call: &(dyn Fn() + Sync)) -> Duration {
    let gate = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let gate = &gate;
                s.spawn(move || {
                    gate.wait();
                    call();
                })
            })
            .collect();
        if let Some(start) = start {
            let wait = start.saturating_sub(unix_nanos());
            std::thread::sleep(Duration::from_nanos(u64::try_from(wait).unwrap_or(0)));
        }
        gate.wait();
        let began = Instant::now();
        for h in handles {
            h.join().expect("a stampeding thread panicked");
        }
        began.elapsed()
    })
}

static CACHED_CALLS: AtomicU64 = AtomicU64::new(0);

#[cached(sync_writes = "by_key")]
fn cached_work(key: String) -> Vec<u8> {
    let _ = key;
    work(&CACHED_CALLS)
}

/// In-process stampedes on every store and peer, `rounds` rounds each with a fresh key.
pub(crate) fn in_process(
    dir: &std::path::Path,
    redis: Option<&str>,
    rounds: usize,
) -> Vec<Stampede> {
    let mut stores: Vec<(String, Arc<dyn Store>, Options)> = vec![
        ("MemStore".into(), Arc::new(MemStore::new()), Options::new()),
        (
            "LruStore".into(),
            Arc::new(LruStore::with_capacity(1_000)),
            Options::new(),
        ),
        (
            "MokaStore".into(),
            Arc::new(MokaStore::with_max_bytes(1 << 20).expect("a budget")),
            Options::new(),
        ),
        (
            "RedbStore".into(),
            Arc::new(RedbStore::open(dir.join("stampede.redb")).expect("open")),
            Options::new(),
        ),
        (
            "TieredStore (Moka over redb)".into(),
            Arc::new(
                TieredStore::new(
                    MokaStore::with_max_bytes(1 << 20).expect("a budget"),
                    RedbStore::open(dir.join("stampede-tiered.redb")).expect("open"),
                )
                .expect("tiered"),
            ),
            Options::new(),
        ),
    ];
    #[cfg(feature = "rocks")]
    stores.push((
        "RocksStore".into(),
        Arc::new(memo_store_rocks::RocksStore::open(dir.join("stampede.rocks")).expect("open")),
        Options::new(),
    ));
    if let Some(url) = redis {
        let prefix = format!("memo-report:{}:stampede:", std::process::id());
        stores.push((
            "RedisStore (its lock)".into(),
            Arc::new(
                RedisStore::builder(url)
                    .prefix(&prefix)
                    .build()
                    .expect("redis"),
            ),
            Options::new().max_age(Duration::from_millis(REDIS_TTL_MS)),
        ));
    }
    let mut out = Vec::new();
    for (name, store, options) in stores {
        let memo = Memoizer::new(store);
        let mut row = Stampede {
            name,
            memo: true,
            walls: vec![],
            computations: vec![],
        };
        for round in 0..rounds {
            let counter = AtomicU64::new(0);
            let key = format!("cold-{round}");
            row.walls.push(storm(THREADS, &|| {
                let v: Vec<u8> = memo
                    .get_with(&key, &options, || work(&counter))
                    .expect("get");
                assert_eq!(v.len(), 64);
            }));
            row.computations.push(counter.load(Ordering::SeqCst));
        }
        out.push(row);
    }
    // Peers.
    let moka: moka::sync::Cache<String, Vec<u8>> = moka::sync::Cache::new(1_000);
    let quick: quick_cache::sync::Cache<String, Vec<u8>> = quick_cache::sync::Cache::new(1_000);
    let map: Mutex<HashMap<String, Vec<u8>>> = Mutex::new(HashMap::new());
    let peers: [(&str, PeerCall<'_>); 4] = [
        ("moka get_with", &|key, c| {
            moka.get_with(key.to_owned(), || work(c));
        }),
        ("quick_cache get_or_insert_with", &|key, c| {
            let _ = quick.get_or_insert_with(key, || Ok::<_, ()>(work(c)));
        }),
        ("cached #[cached(sync_writes = \"by_key\")]", &|key, _| {
            cached_work(key.to_owned());
        }),
        ("Mutex<HashMap> get, then put (no coalescing)", &|key, c| {
            let hit = map
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(key)
                .cloned();
            if hit.is_none() {
                let v = work(c);
                map.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(key.to_owned(), v);
            }
        }),
    ];
    for (name, call) in peers {
        let mut row = Stampede {
            name: name.into(),
            memo: false,
            walls: vec![],
            computations: vec![],
        };
        for round in 0..rounds {
            let counter = AtomicU64::new(0);
            let before = CACHED_CALLS.load(Ordering::SeqCst);
            let key = format!("cold-{round}");
            row.walls.push(storm(THREADS, &|| call(&key, &counter)));
            let cached = CACHED_CALLS.load(Ordering::SeqCst) - before;
            row.computations
                .push(counter.load(Ordering::SeqCst) + cached);
        }
        out.push(row);
    }
    out
}

fn unix_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos()
}

/// The child's part of the cross-process stampede: start `threads` threads, release them at
/// the start time through `RedisStore` and its lock, count computations with `INCR`, print
/// the time the last thread returned (Unix nanoseconds).
pub(crate) fn child(url: &str, prefix: &str, key: &str, start: u128, threads: usize) {
    let store = RedisStore::builder(url)
        .prefix(prefix)
        .build()
        .expect("redis");
    let memo = Memoizer::new(store);
    let options = Options::new().max_age(Duration::from_millis(REDIS_TTL_MS));
    let counter_key = format!("{prefix}computations:{key}");
    // Connected before the start, as the threads are started before it: neither is timed.
    let counter = Mutex::new(redis_connection(url));
    storm_at(threads, Some(start), &|| {
        let v: Vec<u8> = memo
            .get_with(key, &options, || {
                redis::cmd("INCR")
                    .arg(&counter_key)
                    .exec(&mut *counter.lock().unwrap_or_else(PoisonError::into_inner))
                    .expect("INCR");
                std::thread::sleep(WORK);
                vec![7; 64]
            })
            .expect("get");
        assert_eq!(v.len(), 64);
    });
    println!("{}", unix_nanos());
}

/// `processes` copies of this program, `threads` threads each, on one cold key over Redis.
pub(crate) fn across_processes(
    url: &str,
    processes: usize,
    threads: usize,
    rounds: usize,
) -> Stampede {
    let exe = std::env::current_exe().expect("this program's path");
    let prefix = format!("memo-report:{}:xstampede:", std::process::id());
    let mut row = Stampede {
        name: format!("RedisStore, {processes} processes x {threads} threads"),
        memo: true,
        walls: vec![],
        computations: vec![],
    };
    for round in 0..rounds {
        let key = format!("cold-{round}");
        // Far enough ahead for every child to start and connect first.
        let start = unix_nanos() + 1_500_000_000;
        let children: Vec<_> = (0..processes)
            .map(|_| {
                Command::new(&exe)
                    .args([
                        "__stampede",
                        url,
                        &prefix,
                        &key,
                        &start.to_string(),
                        &threads.to_string(),
                    ])
                    .stdout(Stdio::piped())
                    .spawn()
                    .expect("start a child")
            })
            .collect();
        let ends: Vec<u128> = children
            .into_iter()
            .map(|c| {
                let out = c.wait_with_output().expect("a child's output");
                assert!(out.status.success(), "a stampede child failed");
                String::from_utf8_lossy(&out.stdout)
                    .trim()
                    .parse()
                    .expect("an end time")
            })
            .collect();
        let last = ends.into_iter().max().unwrap_or(start);
        row.walls.push(Duration::from_nanos(
            u64::try_from(last.saturating_sub(start)).unwrap_or(0),
        ));
        let mut c = redis_connection(url);
        let n: Option<u64> = redis::cmd("GET")
            .arg(format!("{prefix}computations:{key}"))
            .query(&mut c)
            .expect("GET");
        row.computations.push(n.unwrap_or(0));
    }
    row
}
