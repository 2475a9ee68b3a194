//! A front smaller than the working set: every read is right, and the counters show the
//! front serving the hot keys.

use memo_core::{Record, Store};
use memo_store_mem::LruStore;
use memo_store_redb::RedbStore;
use memo_store_tiered::TieredStore;

const KEYS: usize = 500;
const HOT: usize = 20;
const FRONT: usize = 50;

fn record(key: usize, version: u32) -> Record {
    Record::new(1.0, None, format!("{key}:{version}").into_bytes())
}

#[test]
fn a_front_smaller_than_the_working_set_serves_the_hot_keys_and_never_a_wrong_record() {
    let dir = tempfile::tempdir().unwrap();
    let back = RedbStore::open(dir.path().join("cache.redb")).unwrap();
    let store = TieredStore::new(LruStore::with_capacity(FRONT), back).unwrap();
    let mut versions = vec![0_u32; KEYS];
    for (key, version) in versions.iter().enumerate() {
        store.set(&key.to_string(), record(key, *version)).unwrap();
    }
    // A deterministic mix: nine reads in ten go to the hot keys; one step in seven rewrites.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for step in 0..20_000 {
        let r = next();
        let key = if r % 10 < 9 {
            (r >> 8) as usize % HOT
        } else {
            HOT + (r >> 8) as usize % (KEYS - HOT)
        };
        if step % 7 == 0 {
            versions[key] += 1;
            store
                .set(&key.to_string(), record(key, versions[key]))
                .unwrap();
        } else {
            let got = store.get(&key.to_string()).unwrap();
            assert_eq!(
                got,
                Some(record(key, versions[key])),
                "key {key} at step {step}"
            );
        }
    }
    assert!(store.front().len() <= FRONT);
    let warm = store.stats();
    assert!(
        warm.back_hits > 0,
        "the cold keys come from the back: {warm:?}"
    );
    // Only the hot keys now: after the first pass (which may promote some), the front answers
    // every read.
    for (key, version) in versions.iter().enumerate().take(HOT) {
        assert_eq!(
            store.get(&key.to_string()).unwrap(),
            Some(record(key, *version))
        );
    }
    let before = store.stats();
    for _ in 0..50 {
        for (key, version) in versions.iter().enumerate().take(HOT) {
            assert_eq!(
                store.get(&key.to_string()).unwrap(),
                Some(record(key, *version))
            );
        }
    }
    let after = store.stats();
    assert_eq!(
        after.front_hits - before.front_hits,
        50 * HOT as u64,
        "{after:?}"
    );
    assert_eq!(after.back_hits, before.back_hits);
    // Over the whole mixed run too, the front served most reads.
    assert!(warm.front_hits > 4 * warm.back_hits, "{warm:?}");
}
