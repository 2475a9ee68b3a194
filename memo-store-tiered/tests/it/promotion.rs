//! The generation check: a promotion that read the back before a delete, overwrite or
//! invalidation finished never puts the old record into the front afterwards. A back whose
//! `get` pauses after reading (a `MemStore` with a gate) holds the promotion at the worst
//! moment.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread;

use memo_core::{Record, Result, Store};
use memo_store_mem::MemStore;
use memo_store_tiered::TieredStore;

/// A `MemStore` whose `get`, once armed, reads the record and then waits to be released.
#[derive(Debug, Default)]
struct GatedStore {
    inner: MemStore,
    gate: Mutex<Option<(SyncSender<()>, Receiver<()>)>>,
}

impl GatedStore {
    /// Arms the gate for the next `get`: it says when it has read, and waits for `release`.
    fn arm(&self) -> (Receiver<()>, SyncSender<()>) {
        let (read_tx, read_rx) = sync_channel(1);
        let (release_tx, release_rx) = sync_channel(1);
        *self.gate.lock().unwrap() = Some((read_tx, release_rx));
        (read_rx, release_tx)
    }
}

impl Store for GatedStore {
    fn get(&self, key: &str) -> Result<Option<Record>> {
        let record = self.inner.get(key)?;
        let gate = self.gate.lock().unwrap().take();
        if let Some((read, release)) = gate {
            read.send(()).unwrap();
            release.recv().unwrap();
        }
        Ok(record)
    }
    fn set(&self, key: &str, record: Record) -> Result<()> {
        self.inner.set(key, record)
    }
    fn delete(&self, key: &str) -> Result<bool> {
        self.inner.delete(key)
    }
}

fn record(value: u8) -> Record {
    Record::new(1.0, None, vec![value])
}

/// A store whose front misses `key` and whose back holds `old`.
fn back_only(key: &str, old: &Record) -> Arc<TieredStore<MemStore, GatedStore>> {
    let store = TieredStore::new(MemStore::new(), GatedStore::default()).unwrap();
    store.back().set(key, old.clone()).unwrap();
    Arc::new(store)
}

/// Runs a `get` of `key` that stops right after reading the back, then `meanwhile`, then
/// lets the `get` finish; returns what it read.
fn race(
    store: &Arc<TieredStore<MemStore, GatedStore>>,
    key: &'static str,
    meanwhile: impl FnOnce(),
) -> Option<Record> {
    let (read, release) = store.back().arm();
    let reader = {
        let store = store.clone();
        thread::spawn(move || store.get(key).unwrap())
    };
    read.recv().unwrap();
    meanwhile();
    release.send(()).unwrap();
    reader.join().unwrap()
}

#[test]
fn a_delete_during_a_promotion_leaves_no_tier_serving_the_old_record() {
    let old = record(1);
    let store = back_only("k", &old);
    let got = race(&store, "k", || assert!(store.delete("k").unwrap()));
    // The read began before the delete finished, so either answer was allowed; this one read
    // the back first.
    assert_eq!(got, Some(old));
    assert_eq!(
        store.front().get("k").unwrap(),
        None,
        "the old record reached the front"
    );
    assert_eq!(store.get("k").unwrap(), None);
    let stats = store.stats();
    assert_eq!((stats.promotions, stats.promotions_skipped), (0, 1));
}

#[test]
fn an_overwrite_during_a_promotion_keeps_the_new_record_in_front() {
    let (old, new) = (record(1), record(2));
    let store = back_only("k", &old);
    let got = race(&store, "k", || store.set("k", new.clone()).unwrap());
    assert_eq!(got, Some(old));
    assert_eq!(store.front().get("k").unwrap(), Some(new.clone()));
    assert_eq!(store.get("k").unwrap(), Some(new));
}

#[test]
fn a_promotion_with_nothing_in_between_fills_the_front_with_the_same_record() {
    let old = Record::new(1_700_000_000.25, Some(4_000_000_000.5), vec![3]).with_etag(vec![9]);
    let store = back_only("k", &old);
    assert_eq!(race(&store, "k", || {}), Some(old.clone()));
    // Same created, expiry and etag: the remaining time is the back's, never extended.
    assert_eq!(store.front().get("k").unwrap(), Some(old));
    assert_eq!(store.stats().promotions, 1);
    assert_eq!(store.stats().back_hits, 1);
    assert!(store.get("k").unwrap().is_some());
    assert_eq!(store.stats().front_hits, 1);
}

#[test]
fn an_expired_back_record_is_returned_but_not_promoted() {
    let expired = Record::new(1.0, Some(2.0), vec![4]);
    let store = back_only("k", &expired);
    assert_eq!(store.get("k").unwrap(), Some(expired));
    assert_eq!(store.front().get("k").unwrap(), None);
}
