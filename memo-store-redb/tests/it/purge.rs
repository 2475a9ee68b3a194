//! Expired records leave the live data through `purge_expired` and the background purge.

use std::sync::Arc;
use std::time::{Duration, Instant};

use memo_core::{Clock, ManualClock, Memoizer, Options, Record, Store, SystemClock};
use memo_store_redb::RedbStore;

use crate::assert_consistent;

#[test]
fn purge_with_the_manual_clock_removes_expired_records_from_the_live_data() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(RedbStore::open(dir.path().join("purge.redb")).unwrap());
    let clock = ManualClock::new();
    let memo = Memoizer::builder(store.clone())
        .clock(clock.clone())
        .build();
    let short = Options::new().max_age(Duration::from_secs(10));
    let long = Options::new().max_age(Duration::from_secs(100));
    for i in 0..50_u64 {
        let _: Vec<u64> = memo
            .get_with(&format!("short({i})"), &short, || vec![i; 20])
            .unwrap();
        let _: Vec<u64> = memo
            .get_with(&format!("long({i})"), &long, || vec![i; 20])
            .unwrap();
        let _: u64 = memo.get(&format!("forever({i})"), || i).unwrap();
    }
    let before = store.live_bytes().unwrap();
    let live_of = |prefix: &str| -> u64 {
        store
            .scan(prefix)
            .unwrap()
            .iter()
            .map(|k| (k.len() + store.get(k).unwrap().unwrap().encoded_len()) as u64)
            .sum()
    };
    let short_bytes = live_of("short(");
    let long_bytes = live_of("long(");

    assert_eq!(
        store.purge_expired(clock.now()).unwrap(),
        0,
        "nothing expired yet"
    );
    clock.advance(Duration::from_secs(10));
    assert_eq!(store.purge_expired(clock.now()).unwrap(), 50);
    assert!(store.scan("short(").unwrap().is_empty());
    assert_eq!(store.live_bytes().unwrap(), before - short_bytes);
    assert_eq!(store.scan("long(").unwrap().len(), 50);

    clock.advance(Duration::from_secs(1000));
    assert_eq!(store.purge_expired(clock.now()).unwrap(), 50);
    assert_eq!(
        store.live_bytes().unwrap(),
        before - short_bytes - long_bytes
    );
    assert_eq!(store.len().unwrap(), 50, "records that never expire stay");
    assert_eq!(store.purge_expired(f64::INFINITY).unwrap(), 0);
    assert_consistent(&store);

    // The Memoizer computes the purged ones again and hits the others.
    let computations = memo.stats().computations;
    let _: u64 = memo.get("forever(7)", || unreachable!("a hit")).unwrap();
    let _: Vec<u64> = memo.get_with("short(7)", &short, || vec![7; 20]).unwrap();
    assert_eq!(memo.stats().computations, computations + 1);
}

#[test]
fn purge_takes_records_expiring_at_now_and_none_after() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path().join("edge.redb")).unwrap();
    let at = 1_700_000_000.0;
    store
        .set("at", Record::new(0.0, Some(at), vec![1]))
        .unwrap();
    store
        .set("after", Record::new(0.0, Some(at + 1e-6), vec![2]))
        .unwrap();
    store
        .set("negative zero", Record::new(0.0, Some(-0.0), vec![3]))
        .unwrap();
    store
        .set("nan", Record::new(0.0, Some(f64::NAN), vec![4]))
        .unwrap();
    store.set("never", Record::new(0.0, None, vec![5])).unwrap();
    assert_eq!(store.purge_expired(f64::NAN).unwrap(), 0);
    assert_eq!(store.purge_expired(-1.0).unwrap(), 0);
    assert_eq!(
        store.purge_expired(0.0).unwrap(),
        1,
        "-0.0 is at or before 0.0"
    );
    assert_eq!(store.purge_expired(at - 1e-6).unwrap(), 0);
    assert_eq!(store.purge_expired(at).unwrap(), 1);
    assert!(store.get("at").unwrap().is_none());
    assert!(store.get("after").unwrap().is_some());
    assert_eq!(store.purge_expired(f64::INFINITY).unwrap(), 1);
    let mut left = store.scan("").unwrap();
    left.sort();
    assert_eq!(
        left,
        ["nan", "never"],
        "NaN never comes, as Record::is_expired says"
    );
    assert_consistent(&store);
}

#[test]
fn purge_of_an_overwritten_record_uses_its_latest_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path().join("over.redb")).unwrap();
    store
        .set("k", Record::new(0.0, Some(10.0), vec![1]))
        .unwrap();
    store
        .set("k", Record::new(0.0, Some(100.0), vec![2]))
        .unwrap();
    assert_eq!(store.purge_expired(50.0).unwrap(), 0);
    store.set("k", Record::new(0.0, None, vec![3])).unwrap();
    assert_eq!(store.purge_expired(1e300).unwrap(), 0);
    store
        .set("k", Record::new(0.0, Some(20.0), vec![4]))
        .unwrap();
    assert_eq!(store.purge_expired(50.0).unwrap(), 1);
    assert!(store.is_empty().unwrap());
    assert_eq!(store.live_bytes().unwrap(), 0);
}

#[test]
fn background_purge_reclaims_expired_records_and_stops_on_drop() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("background.redb");
    let store = RedbStore::builder(&file)
        .purge_every(Duration::from_millis(10))
        .build()
        .unwrap();
    let past = SystemClock.now() - 60.0;
    for i in 0..20 {
        store
            .set(
                &format!("old{i}"),
                Record::new(past - 60.0, Some(past), vec![0; 100]),
            )
            .unwrap();
    }
    store
        .set("fresh", Record::new(past, Some(past + 3600.0), vec![1]))
        .unwrap();
    // Poll for the background thread's work; the records were expired when written.
    let deadline = Instant::now() + Duration::from_secs(60);
    while store.len().unwrap() > 1 {
        assert!(Instant::now() < deadline, "the background purge never ran");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(store.scan("").unwrap(), ["fresh"]);
    assert_consistent(&store);
    drop(store);
    // The thread has stopped: the file is free to open again at once.
    let reopened = RedbStore::open(&file).unwrap();
    assert_eq!(reopened.scan("").unwrap(), ["fresh"]);
}
