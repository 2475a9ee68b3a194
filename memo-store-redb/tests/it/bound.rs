//! The size bound: live data stays under it, and eviction follows expiry, then write order.

use std::sync::Arc;
use std::time::Duration;

use memo_core::{ManualClock, Memoizer, Options, Record, Store};
use memo_store_redb::RedbStore;

use crate::assert_consistent;

#[test]
fn live_data_stays_under_the_bound_while_writing_ten_times_it() {
    const BOUND: u64 = 64 << 10;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bound.redb");
    let store = Arc::new(RedbStore::builder(&file).max_bytes(BOUND).build().unwrap());
    assert!(store.capabilities().lossy);
    let clock = ManualClock::new();
    let memo = Memoizer::builder(store.clone())
        .clock(clock.clone())
        .build();
    let mut written = 0_u64;
    let mut i = 0_u64;
    while written < 10 * BOUND {
        let len = 50 + (i * 7919) % 2000;
        let opts = Options::new().max_age(Duration::from_secs(1 + i % 300));
        let key = format!("blob({i})");
        let value: Vec<u8> = memo
            .get_with(&key, &opts, || vec![(i % 251) as u8; len as usize])
            .unwrap();
        written += (key.len() + value.len()) as u64;
        let live = store.live_bytes().unwrap();
        assert!(
            live <= BOUND,
            "after {i} writes the live data is {live} > {BOUND}"
        );
        if i.is_multiple_of(10) {
            clock.advance(Duration::from_secs(1));
        }
        i += 1;
    }
    assert!(
        store.live_bytes().unwrap() > BOUND / 2,
        "the bound is used, not emptied"
    );
    assert_consistent(&store);
    drop(memo);
    let store = Arc::into_inner(store).expect("the last handle");
    drop(store);
    let reopened = RedbStore::builder(&file).max_bytes(BOUND).build().unwrap();
    assert!(reopened.live_bytes().unwrap() <= BOUND);
    assert_consistent(&reopened);
}

fn rec(expiry: Option<f64>) -> Record {
    Record::new(1.0, expiry, vec![7; 100])
}

#[test]
fn eviction_takes_the_earliest_expiry_then_the_least_recently_written() {
    // Keys of two bytes; a record with an expiry encodes 8 bytes longer than one without.
    let never = (2 + rec(None).encoded_len()) as u64;
    let expiring = (2 + rec(Some(1.0)).encoded_len()) as u64;
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::builder(dir.path().join("order.redb"))
        .max_bytes(2 * never + 2 * expiring)
        .build()
        .unwrap();
    let present = |store: &RedbStore| {
        let mut keys = store.scan("").unwrap();
        keys.sort();
        keys
    };
    store.set("c1", rec(None)).unwrap();
    store.set("d1", rec(None)).unwrap();
    store.set("a1", rec(Some(100.0))).unwrap();
    store.set("b1", rec(Some(50.0))).unwrap();
    assert_eq!(present(&store), ["a1", "b1", "c1", "d1"]);
    store.set("e1", rec(None)).unwrap();
    assert_eq!(
        present(&store),
        ["a1", "c1", "d1", "e1"],
        "earliest expiry first"
    );
    store.set("f1", rec(None)).unwrap();
    assert_eq!(present(&store), ["c1", "d1", "e1", "f1"]);
    store.set("c1", rec(None)).unwrap();
    store.set("g1", rec(None)).unwrap();
    assert_eq!(
        present(&store),
        ["c1", "e1", "f1", "g1"],
        "rewriting c1 made d1 the least recently written"
    );
    assert_eq!(store.live_bytes().unwrap(), 4 * never);
}

#[test]
fn a_record_larger_than_the_bound_is_not_kept_and_evicts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::builder(dir.path().join("big.redb"))
        .max_bytes(1000)
        .build()
        .unwrap();
    store
        .set("small", Record::new(0.0, None, vec![1; 10]))
        .unwrap();
    store
        .set("big", Record::new(0.0, None, vec![1; 10]))
        .unwrap();
    store
        .set("big", Record::new(0.0, None, vec![2; 5000]))
        .unwrap();
    assert!(
        store.get("big").unwrap().is_none(),
        "the older, smaller record is gone too"
    );
    assert!(store.get("small").unwrap().is_some());
    assert!(store.live_bytes().unwrap() <= 1000);
    assert_consistent(&store);
}
