//! Scale: ten million small records written and read back, with get latency percentiles at
//! 100k, 1M and 10M records. Ignored by default (minutes of work and about a gigabyte of disk);
//! run it with `cargo test --release -p memo-store-rocks scale -- --ignored --nocapture`.

use std::time::Instant;

use memo_core::{Record, Store};
use memo_store_rocks::{RocksStore, SyncPolicy};

const CHECKPOINTS: [u64; 3] = [100_000, 1_000_000, 10_000_000];
const SAMPLES: usize = 50_000;

fn key(i: u64) -> String {
    format!("user:{i:010}")
}

fn record(i: u64) -> Record {
    Record::new(1.7e9 + i as f64, Some(4e9), i.to_le_bytes().repeat(2))
}

/// Nanoseconds at the `p`-th percentile of sorted `ns`.
fn percentile(ns: &[u64], p: f64) -> u64 {
    ns[((ns.len() - 1) as f64 * p).round() as usize]
}

#[test]
#[ignore = "writes 10 million records: minutes and about a gigabyte; run with --ignored"]
fn ten_million_records_read_back_with_logarithmic_read_cost() {
    let dir = tempfile::tempdir().unwrap();
    // The load goes without the WAL (a bulk load a crash may lose); the block cache holds the
    // index and data blocks, so read cost is the engine's, not the page cache's.
    let store = RocksStore::builder(dir.path().join("scale"))
        .wal(false)
        .sync(SyncPolicy::Never)
        .block_cache(1 << 30)
        .exclusive(true)
        .build()
        .unwrap();
    let mut rng = 0x9E37_79B9_7F4A_7C15_u64;
    let mut next = move |n: u64| {
        rng ^= rng >> 12;
        rng ^= rng << 25;
        rng ^= rng >> 27;
        rng.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    };
    let mut written = 0;
    let mut p50s = Vec::new();
    let started = Instant::now();
    for checkpoint in CHECKPOINTS {
        let loading = Instant::now();
        let from = written;
        while written < checkpoint {
            store.set(&key(written), record(written)).unwrap();
            written += 1;
        }
        store.flush().unwrap();
        let load = loading.elapsed();
        // One untimed pass warms the cache with the blocks the timed pass reads.
        let picks: Vec<u64> = (0..SAMPLES).map(|_| next(written)).collect();
        for &i in &picks {
            assert!(store.get(&key(i)).unwrap().is_some());
        }
        let mut ns: Vec<u64> = Vec::with_capacity(SAMPLES);
        for &i in &picks {
            let k = key(i);
            let at = Instant::now();
            let got = store.get(&k).unwrap();
            ns.push(at.elapsed().as_nanos() as u64);
            assert_eq!(got, Some(record(i)), "record {i} of {written}");
        }
        ns.sort_unstable();
        let (p50, p99) = (percentile(&ns, 0.50), percentile(&ns, 0.99));
        println!(
            "{written:>10} records: get p50 {p50} ns, p99 {p99} ns (loaded {} in {load:.1?})",
            written - from,
        );
        p50s.push(p50);
    }
    // Every record reads back, not only the samples.
    for i in 0..written {
        assert_eq!(store.get(&key(i)).unwrap(), Some(record(i)), "record {i}");
    }
    println!("total {:.1?}", started.elapsed());
    // Logarithmic growth from 100k to 10M is about 1.4x (log 10M / log 100k); linear would be
    // 100x. The bound allows 5x, generous of machine noise on a shared machine.
    assert!(
        p50s[2] <= 5 * p50s[0].max(1),
        "p50 grew from {} ns at 100k to {} ns at 10M records",
        p50s[0],
        p50s[2]
    );
}
