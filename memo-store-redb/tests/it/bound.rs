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

/// The size of the database file and of its journal files, in bytes.
fn sizes(file: &std::path::Path) -> (u64, u64) {
    let name = file.file_name().unwrap().to_str().unwrap().to_owned();
    let mut journal = 0;
    for entry in std::fs::read_dir(file.parent().unwrap()).unwrap() {
        let entry = entry.unwrap();
        if entry
            .file_name()
            .to_str()
            .unwrap()
            .starts_with(&format!("{name}.journal."))
        {
            journal += entry.metadata().map_or(0, |m| m.len());
        }
    }
    (std::fs::metadata(file).unwrap().len(), journal)
}

#[test]
fn the_file_stays_within_twice_the_bound_while_ten_times_it_is_written_in_a_burst() {
    const BOUND: u64 = 4 << 20;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("burst.redb");
    let store = RedbStore::builder(&file).max_bytes(BOUND).build().unwrap();
    let (mut largest, mut largest_journal) = (0, 0);
    let mut written = 0_u64;
    let mut i = 0_u64;
    while written < 10 * BOUND {
        let len = 500 + (i * 7919) % 3000;
        let key = format!("burst({i})");
        let record = Record::new(1.0, None, vec![(i % 251) as u8; len as usize]);
        written += (key.len() + record.encoded_len()) as u64;
        store.set(&key, record).unwrap();
        if i.is_multiple_of(16) {
            let (db, journal) = sizes(&file);
            largest = largest.max(db);
            largest_journal = largest_journal.max(journal);
        }
        i += 1;
    }
    let (db, journal) = sizes(&file);
    largest = largest.max(db);
    largest_journal = largest_journal.max(journal);
    println!(
        "{written} bytes in {i} writes over a bound of {BOUND}: file at most {largest}, \
         journal at most {largest_journal}, live data {}",
        store.live_bytes().unwrap()
    );
    assert!(largest <= 2 * BOUND, "the file reached {largest} bytes");
    assert!(
        largest_journal <= BOUND,
        "the journal reached {largest_journal} bytes"
    );
    assert!(store.live_bytes().unwrap() > BOUND / 4, "the bound is used");
    assert_consistent(&store);

    // Most records go (all but the 10 written last, which eviction would take last);
    // compacting then gives their space back to the file system.
    let last: Vec<String> = (i - 10..i).map(|i| format!("burst({i})")).collect();
    for key in store.scan("").unwrap() {
        if !last.contains(&key) {
            store.delete(&key).unwrap();
            largest = largest.max(sizes(&file).0);
        }
    }
    assert!(
        largest <= 2 * BOUND,
        "deleting took the file to {largest} bytes"
    );
    let mut kept = store.scan("").unwrap();
    kept.sort_by_key(|key| last.iter().position(|l| l == key));
    assert_eq!(kept, last, "the records written last are kept");
    let before = sizes(&file).0;
    assert!(store.compact().unwrap(), "there was space to reclaim");
    let after = sizes(&file).0;
    println!(
        "compacting {} records: {before} -> {after} bytes",
        kept.len()
    );
    assert!(
        after < before / 2,
        "compacting left {after} of {before} bytes"
    );
    assert_consistent(&store);
    drop(store);
    let reopened = RedbStore::open(&file).unwrap();
    kept.sort();
    assert_eq!(reopened.scan("").unwrap(), kept);
}

#[test]
fn compacting_needs_the_only_handle_to_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(redb::Database::create(dir.path().join("shared.redb")).unwrap());
    let store = RedbStore::from_database(db.clone()).unwrap();
    store.set("k", rec(None)).unwrap();
    assert!(matches!(
        store.compact(),
        Err(memo_core::Error::Unsupported { store: "redb", .. })
    ));
    drop(db);
    store.compact().unwrap();
    assert_eq!(store.get("k").unwrap(), Some(rec(None)));
}
