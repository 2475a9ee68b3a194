//! The builder's options: validation, column families, the WAL and sync policies.

use std::time::Duration;

use memo_core::{Error, Record, Store};
use memo_store_rocks::{RocksStore, SyncPolicy};

#[test]
fn inconsistent_options_are_config_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let empty = RocksStore::builder(&path).column_family("").build();
    assert!(matches!(empty, Err(Error::Config(_))));
    let zero = RocksStore::builder(&path)
        .sync(SyncPolicy::Every(Duration::ZERO))
        .build();
    assert!(matches!(zero, Err(Error::Config(_))));
    let always_without_wal = RocksStore::builder(&path)
        .wal(false)
        .sync(SyncPolicy::Always)
        .build();
    assert!(matches!(always_without_wal, Err(Error::Config(_))));
    assert!(!path.exists(), "nothing was created");
}

#[test]
fn column_families_keep_their_records_apart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let record = |v: u8| Record::new(1.0, None, vec![v]);
    {
        let a = RocksStore::builder(&path)
            .column_family("a")
            .build()
            .unwrap();
        a.set("k", record(1)).unwrap();
    }
    {
        let b = RocksStore::builder(&path)
            .column_family("b")
            .build()
            .unwrap();
        assert_eq!(b.get("k").unwrap(), None);
        b.set("k", record(2)).unwrap();
        assert_eq!(b.purge_expired(f64::INFINITY).unwrap(), 0);
    }
    let a = RocksStore::builder(&path)
        .column_family("a")
        .build()
        .unwrap();
    assert_eq!(a.get("k").unwrap(), Some(record(1)));
    assert_eq!(a.scan("").unwrap(), ["k"]);
}

#[test]
fn every_sync_policy_keeps_records_across_a_reopen() {
    for (wal, sync) in [
        (true, SyncPolicy::Always),
        (true, SyncPolicy::Every(Duration::from_millis(5))),
        (true, SyncPolicy::Never),
        (false, SyncPolicy::Every(Duration::from_millis(5))),
        (false, SyncPolicy::Never),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let open = || {
            RocksStore::builder(&path)
                .wal(wal)
                .sync(sync)
                .exclusive(true)
                .build()
                .unwrap()
        };
        let store = open();
        for i in 0..100_u8 {
            store
                .set(&format!("k{i}"), Record::new(1.0, None, vec![i]))
                .unwrap();
        }
        assert!(store.delete("k7").unwrap());
        assert!(!store.delete("k7").unwrap());
        std::thread::sleep(Duration::from_millis(20));
        drop(store);
        let store = open();
        assert_eq!(store.scan("").unwrap().len(), 99, "wal {wal}, {sync:?}");
        assert_eq!(
            store.get("k42").unwrap(),
            Some(Record::new(1.0, None, vec![42])),
            "wal {wal}, {sync:?}"
        );
    }
}
