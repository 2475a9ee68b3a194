//! Write-behind: the back is written by a background thread; `flush` is the barrier, a
//! delete wins over a queued write, and dropping the store drains the queue.

use memo_core::{Record, Store};
use memo_store_mem::{LruStore, MemStore};
use memo_store_redb::RedbStore;
use memo_store_tiered::TieredStore;

fn record(value: u8) -> Record {
    Record::new(1.0, None, vec![value])
}

#[test]
fn flush_returns_once_every_earlier_write_is_in_the_back() {
    let store = TieredStore::builder(MemStore::new(), MemStore::new())
        .write_behind(16)
        .build()
        .unwrap();
    for i in 0..200_u8 {
        store.set(&i.to_string(), record(i)).unwrap();
    }
    store.flush().unwrap();
    for i in 0..200_u8 {
        assert_eq!(store.back().get(&i.to_string()).unwrap(), Some(record(i)));
    }
    assert_eq!(store.stats().pending, 0);
    assert!(store.stats().written_behind >= 1);
}

#[test]
fn a_delete_after_a_queued_write_leaves_nothing_in_any_tier() {
    let store = TieredStore::builder(MemStore::new(), MemStore::new())
        .write_behind(16)
        .build()
        .unwrap();
    store.back().set("k", record(0)).unwrap();
    store.set("k", record(1)).unwrap();
    assert!(store.delete("k").unwrap());
    assert_eq!(store.get("k").unwrap(), None);
    store.flush().unwrap();
    assert_eq!(store.get("k").unwrap(), None);
    assert_eq!(store.back().get("k").unwrap(), None);
    assert_eq!(store.front().get("k").unwrap(), None);
    assert!(!store.delete("k").unwrap());
}

#[test]
fn queued_writes_are_read_back_while_the_front_has_evicted_them() {
    let store = TieredStore::builder(LruStore::with_capacity(1), MemStore::new())
        .write_behind(64)
        .build()
        .unwrap();
    for i in 0..50_u8 {
        store.set(&i.to_string(), record(i)).unwrap();
    }
    // Whether a read finds a write in the queue or already in the back, it is the latest.
    for i in 0..50_u8 {
        assert_eq!(store.get(&i.to_string()).unwrap(), Some(record(i)));
    }
    let mut keys = store.scan("").unwrap();
    keys.sort();
    let mut expected: Vec<String> = (0..50_u8).map(|i| i.to_string()).collect();
    expected.sort();
    assert_eq!(keys, expected);
}

#[test]
fn dropping_the_store_drains_the_queue_into_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.redb");
    {
        let back = RedbStore::open(&path).unwrap();
        let store = TieredStore::builder(MemStore::new(), back)
            .write_behind(1_000)
            .build()
            .unwrap();
        for i in 0..100_u8 {
            store.set(&i.to_string(), record(i)).unwrap();
        }
    }
    let back = RedbStore::open(&path).unwrap();
    for i in 0..100_u8 {
        assert_eq!(back.get(&i.to_string()).unwrap(), Some(record(i)));
    }
}
