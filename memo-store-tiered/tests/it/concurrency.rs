//! Eight threads mixing get, set and delete on 100 keys against a model of what has finished
//! (over redb, in write-behind mode, and over Redis):
//! no read returns a record after a delete or an overwrite of it finished before the read
//! began.
//!
//! Every operation takes a stamp from one logical clock when it starts and another when it
//! ends. A record read by a get that started at `r` is stale when some other write or delete
//! of the key started after the record's own write ended and ended before `r`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use memo_core::{Record, Store};
use memo_store_mem::MokaStore;
use memo_store_redb::RedbStore;
use memo_store_tiered::TieredStore;

/// How long the model run lasts (the issue asks for 10 s).
const RUN: Duration = Duration::from_secs(10);
const THREADS: u64 = 8;
const KEYS: usize = 100;

#[derive(Default)]
struct KeyModel {
    /// The largest start stamp of a write or delete that has ended.
    latest_start: AtomicU64,
    /// When each finished write of the key ended, by the value it wrote.
    ended: Mutex<HashMap<u64, u64>>,
}

struct Model {
    clock: AtomicU64,
    keys: Vec<KeyModel>,
}

impl Model {
    fn stamp(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::SeqCst)
    }
}

fn value_of(record: &Record) -> u64 {
    u64::from_le_bytes(record.value[..8].try_into().unwrap())
}

/// One thread's loop; returns (reads that found a record, operations).
fn worker(store: &dyn Store, model: &Model, thread: u64, until: Instant) -> (u64, u64) {
    let mut rng = 0x9e37_79b9_7f4a_7c15_u64 ^ (thread + 1).wrapping_mul(0xff51_afd7_ed55_8ccd);
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let (mut found, mut ops, mut written) = (0, 0, 0_u64);
    while Instant::now() < until {
        let r = next();
        let k = (r >> 16) as usize % KEYS;
        let key = format!("key:{k}");
        let km = &model.keys[k];
        match r % 10 {
            0..=5 => {
                let start = model.stamp();
                let floor = km.latest_start.load(Ordering::SeqCst);
                if let Some(record) = store.get(&key).unwrap() {
                    found += 1;
                    let value = value_of(&record);
                    // Not yet ended means still in flight: concurrent with this read.
                    if let Some(&end) = km.ended.lock().unwrap().get(&value) {
                        assert!(
                            end > floor,
                            "stale read of {key}: value {value} (written by a write that ended \
                             at {end}) after an operation that started at {floor} had ended, \
                             read started at {start}"
                        );
                    }
                }
            }
            6..=8 => {
                written += 1;
                let value = (thread << 48) | written;
                let mut bytes = value.to_le_bytes().to_vec();
                bytes.extend_from_slice(b"-payload");
                let start = model.stamp();
                store.set(&key, Record::new(1.0, None, bytes)).unwrap();
                let end = model.stamp();
                km.ended.lock().unwrap().insert(value, end);
                km.latest_start.fetch_max(start, Ordering::SeqCst);
            }
            _ => {
                let start = model.stamp();
                store.delete(&key).unwrap();
                km.latest_start.fetch_max(start, Ordering::SeqCst);
            }
        }
        ops += 1;
    }
    (found, ops)
}

fn run(store: Arc<dyn Store>, run_for: Duration) {
    let model = Arc::new(Model {
        clock: AtomicU64::new(1),
        keys: (0..KEYS).map(|_| KeyModel::default()).collect(),
    });
    let until = Instant::now() + run_for;
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (store, model) = (store.clone(), model.clone());
            thread::spawn(move || worker(&*store, &model, t, until))
        })
        .collect();
    let (mut found, mut ops) = (0, 0);
    for w in workers {
        let (f, o) = w.join().expect("a worker found a stale read");
        found += f;
        ops += o;
    }
    eprintln!("{ops} operations, {found} reads found a record");
    assert!(
        found > 1_000,
        "too few reads found a record to check anything"
    );
}

#[test]
fn eight_threads_never_read_a_record_after_its_delete_finished() {
    let dir = tempfile::tempdir().unwrap();
    let back = RedbStore::open(dir.path().join("cache.redb")).unwrap();
    // A front that holds about half the keys, so promotions and evictions keep happening.
    let front = MokaStore::with_max_bytes(50 * 120).unwrap();
    let store = Arc::new(TieredStore::new(front, back).unwrap());
    run(store.clone(), RUN);
    let stats = store.stats();
    eprintln!("{stats:?}");
    assert!(stats.front_hits > 0 && stats.back_hits > 0 && stats.promotions > 0);
}

#[test]
fn eight_threads_in_write_behind_mode_never_read_a_record_after_its_delete_finished() {
    let dir = tempfile::tempdir().unwrap();
    let back = RedbStore::open(dir.path().join("cache.redb")).unwrap();
    let front = MokaStore::with_max_bytes(50 * 120).unwrap();
    let store = TieredStore::builder(front, back)
        .write_behind(64)
        .build()
        .unwrap();
    let store = Arc::new(store);
    run(store.clone(), RUN / 4);
    store.flush().unwrap();
    assert_eq!(store.stats().pending, 0);
}

/// The same model over a Redis back, whose round trips widen every race window between a
/// promotion and a delete.
#[test]
fn eight_threads_over_redis_never_read_a_record_after_its_delete_finished() {
    let Some(url) = crate::support::url() else {
        return;
    };
    let back = crate::support::redis_store(&url, &crate::support::unique_prefix());
    let front = MokaStore::with_max_bytes(50 * 120).unwrap();
    let store = Arc::new(TieredStore::new(front, back).unwrap());
    run(store.clone(), RUN / 2);
    let stats = store.stats();
    eprintln!("{stats:?}");
    assert!(stats.front_hits > 0 && stats.promotions > 0);
}
