//! Expired records leave the database's files after `purge_expired`, live ones stay, and
//! RocksDB's own compactions reclaim expired records by the system clock.

use std::path::Path;

use memo_core::{Clock, Record, Store, SystemClock};
use memo_store_rocks::{Compression, RocksStore, SyncPolicy};

/// Whether any file under `dir` contains `needle`.
fn files_contain(dir: &Path, needle: &[u8]) -> bool {
    std::fs::read_dir(dir).unwrap().any(|entry| {
        let path = entry.unwrap().path();
        path.is_file()
            && std::fs::read(&path)
                .unwrap()
                .windows(needle.len())
                .any(|w| w == needle)
    })
}

fn value(marker: &str, i: usize) -> Vec<u8> {
    format!("{marker}-{i:04}-").repeat(8).into_bytes()
}

#[test]
fn expired_records_disappear_from_the_files_after_purge() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("purge");
    // Uncompressed, so that the values are visible in the files as written.
    let store = RocksStore::builder(&db)
        .compression(Compression::None)
        .exclusive(true)
        .build()
        .unwrap();
    let now = 1_800_000_000.0;
    for i in 0..500 {
        let expired = Record::new(now - 100.0, Some(now - 1.0), value("EXPIRED", i));
        store.set(&format!("old{i}"), expired).unwrap();
        let live = Record::new(now - 100.0, Some(now + 3600.0), value("LIVE", i));
        store.set(&format!("new{i}"), live).unwrap();
        let at_now = Record::new(now - 100.0, Some(now), value("ATNOW", i));
        store.set(&format!("now{i}"), at_now).unwrap();
    }
    store.flush().unwrap();
    assert!(files_contain(&db, b"EXPIRED-0042-"), "written to the files");
    assert!(files_contain(&db, b"ATNOW-0042-"));

    assert_eq!(store.purge_expired(now).unwrap(), 1000);
    assert!(
        !files_contain(&db, b"EXPIRED-"),
        "expired values left the files"
    );
    assert!(
        !files_contain(&db, b"ATNOW-"),
        "expiry at now counts as expired"
    );
    assert!(files_contain(&db, b"LIVE-0042-"), "live values stay");
    assert!(store.scan("old").unwrap().is_empty());
    assert_eq!(store.scan("new").unwrap().len(), 500);
    assert_eq!(
        store.get("new7").unwrap(),
        Some(Record::new(
            now - 100.0,
            Some(now + 3600.0),
            value("LIVE", 7)
        ))
    );
    assert_eq!(
        store.purge_expired(now).unwrap(),
        0,
        "nothing left to purge"
    );

    drop(store);
    let store = RocksStore::builder(&db).exclusive(true).build().unwrap();
    assert!(
        store.get("old1").unwrap().is_none(),
        "a reopen brings nothing back"
    );
    assert_eq!(store.scan("").unwrap().len(), 500);
}

#[test]
fn purge_at_nan_removes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = RocksStore::open(dir.path().join("nan")).unwrap();
    store
        .set("old", Record::new(0.0, Some(1.0), vec![1]))
        .unwrap();
    assert_eq!(store.purge_expired(f64::NAN).unwrap(), 0);
    assert!(store.get("old").unwrap().is_some());
    assert_eq!(store.purge_expired(2.0).unwrap(), 1);
}

#[test]
fn background_compactions_reclaim_records_expired_by_the_system_clock() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("background");
    let store = RocksStore::builder(&db)
        .wal(false)
        .sync(SyncPolicy::Never)
        .exclusive(true)
        .build()
        .unwrap();
    let now = SystemClock.now();
    // Each flush makes one level-0 file; four of them start RocksDB's own compaction. Every
    // file spans the whole key range, so the compaction rewrites them (disjoint files would
    // only be moved down a level, unread).
    let mut expired = 0;
    for round in 0..8 {
        for i in 0..200 {
            let key = format!("{i:03}-r{round}");
            let expiry = if i % 2 == 0 { now - 10.0 } else { now + 3600.0 };
            expired += usize::from(i % 2 == 0);
            store
                .set(&key, Record::new(now, Some(expiry), vec![9; 64]))
                .unwrap();
        }
        store.flush().unwrap();
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while store.reclaimed() == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let reclaimed = store.reclaimed();
    assert!(
        reclaimed > 0 && reclaimed <= expired as u64,
        "RocksDB's compactions reclaimed {reclaimed} of {expired} expired records"
    );
    for round in 0..8 {
        for i in (1..200).step_by(2) {
            let key = format!("{i:03}-r{round}");
            let record = store.get(&key).unwrap();
            assert!(record.is_some(), "live record {key} was reclaimed");
        }
    }
}
