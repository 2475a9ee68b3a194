//! Peak memory of a million 64-byte records per store against its engine, each filled in a
//! child process of its own (this program, re-executed) that reports its resident-set growth.

use std::hint::black_box;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use memo_store_mem::{LruStore, MemStore, MokaStore};
use memo_store_redb::RedbStore;

use crate::caches::{Cache, Memo, RawLru, RawMap, RawMoka, RawRedb, redis_connection};

/// One side's growth: resident-set peak minus the baseline, and the files' size on disk.
#[derive(Clone, Debug)]
pub(crate) struct Footprint {
    pub(crate) name: &'static str,
    pub(crate) peak: u64,
    pub(crate) disk: Option<u64>,
}

/// A store beside its engine.
pub(crate) type Pair = (&'static str, &'static str);

/// The sides, store first, on this build.
pub(crate) fn pairs() -> Vec<Pair> {
    let mut out = vec![
        ("MemStore", "Mutex<HashMap>"),
        ("LruStore", "Mutex<lru::LruCache>"),
        ("MokaStore", "moka"),
        ("RedbStore", "redb"),
    ];
    if cfg!(feature = "rocks") {
        out.push(("RocksStore", "rocksdb"));
    }
    out
}

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return std::fs::metadata(path).map_or(0, |m| m.len());
    };
    entries
        .flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                dir_size(&p)
            } else {
                e.metadata().map_or(0, |m| m.len())
            }
        })
        .sum()
}

/// The child's part: fill `n` records of 64 bytes into `side`, print `peak disk` in bytes.
pub(crate) fn child(side: &str, n: usize, dir: &Path) {
    let keys: Vec<String> = (0..n).map(|i| format!("record-{i:08}")).collect();
    let value = vec![7_u8; 64];
    let baseline = status_kib("VmRSS:");
    let path = dir.join(side.replace(|c: char| !c.is_ascii_alphanumeric(), "_"));
    let cache: Arc<dyn Cache> = match side {
        "MemStore" => Arc::new(Memo::new(MemStore::new())),
        "Mutex<HashMap>" => Arc::new(RawMap::default()),
        "LruStore" => Arc::new(Memo::new(LruStore::with_capacity(n))),
        "Mutex<lru::LruCache>" => Arc::new(RawLru::new(n)),
        "MokaStore" => Arc::new(Memo::new(
            MokaStore::with_max_bytes(8 << 30).expect("a budget"),
        )),
        "moka" => Arc::new(RawMoka::new(n as u64)),
        "RedbStore" => Arc::new(Memo::new(RedbStore::open(&path).expect("open"))),
        "redb" => Arc::new(RawRedb::create(&path, redb::Durability::None)),
        #[cfg(feature = "rocks")]
        "RocksStore" => Arc::new(Memo::new(
            memo_store_rocks::RocksStore::open(&path).expect("open"),
        )),
        #[cfg(feature = "rocks")]
        "rocksdb" => Arc::new(crate::caches::RawRocks::open(&path)),
        other => {
            eprintln!("no such side: {other}");
            std::process::exit(2);
        }
    };
    for key in &keys {
        black_box(cache.get_or_make(0, key, &mut || value.clone()));
    }
    let peak = status_kib("VmHWM:").saturating_sub(baseline) * 1024;
    drop(cache);
    let disk = if path.exists() { dir_size(&path) } else { 0 };
    println!("{peak} {disk}");
}

/// Runs a child per side of every pair and collects their footprints.
pub(crate) fn run(n: usize, dir: &Path) -> Vec<(Footprint, Footprint)> {
    let exe = std::env::current_exe().expect("this program's path");
    let measure = |name: &'static str| {
        let out = Command::new(&exe)
            .args(["__memory", name, &n.to_string()])
            .arg(dir)
            .output()
            .expect("run a memory child");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut fields = text
            .split_whitespace()
            .map(|f| f.parse::<u64>().unwrap_or(0));
        let (peak, disk) = (fields.next().unwrap_or(0), fields.next().unwrap_or(0));
        eprintln!("  memory {name}: {peak} bytes peak, {disk} on disk");
        Footprint {
            name,
            peak,
            disk: (disk > 0).then_some(disk),
        }
    };
    pairs()
        .into_iter()
        .map(|(store, raw)| (measure(store), measure(raw)))
        .collect()
}

fn used_memory(c: &mut redis::Connection) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query(c)
        .expect("INFO memory");
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// The server's `used_memory` growth for `n` records through `RedisStore` (the records memo
/// writes, loaded by pipeline) against `n` raw values, each deleted after.
pub(crate) fn redis(url: &str, n: usize) -> (Footprint, Footprint) {
    let keys: Vec<String> = (0..n).map(|i| format!("record-{i:08}")).collect();
    let value = vec![7_u8; 64];
    let mut c = redis_connection(url);
    let mut side = |name: &'static str, cache: &dyn Cache, prefix: &str| {
        let before = used_memory(&mut c);
        cache.fill(&keys, &value);
        let after = used_memory(&mut c);
        crate::cleanup(url, prefix);
        Footprint {
            name,
            peak: after.saturating_sub(before),
            disk: None,
        }
    };
    let prefix = format!("memo-report:{}:memory:", std::process::id());
    let memo = Memo::redis(url, &format!("{prefix}m:"), 1);
    let memo_side = side("RedisStore", &memo, &format!("{prefix}m:"));
    let raw = crate::caches::RawRedis::new(url, &format!("{prefix}r:"), 1);
    let raw_side = side("Redis SET", &raw, &format!("{prefix}r:"));
    (memo_side, raw_side)
}
