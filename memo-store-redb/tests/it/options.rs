//! The builder's options, its errors, and files redb cannot open.

use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use memo_core::{Error, Record, Store};
use memo_store_redb::{Durability, RedbStore, RedbStoreBuilder};

use crate::assert_consistent;

fn rec(n: u8) -> Record {
    Record::new(f64::from(n), None, vec![n; 16])
}

fn config_error(builder: RedbStoreBuilder) -> String {
    match builder.build() {
        Err(Error::Config(message)) => message,
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

#[test]
fn builder_rejects_settings_that_cannot_work() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.redb");
    let zero = Duration::ZERO;
    for durability in [Durability::journaled(zero), Durability::queued(zero)] {
        assert!(
            config_error(RedbStore::builder(&file).durability(durability)).contains("interval")
        );
    }
    assert!(config_error(RedbStore::builder(&file).purge_every(zero)).contains("purge"));
    assert!(config_error(RedbStore::builder(&file).max_bytes(0)).contains("0 bytes"));
    assert!(config_error(RedbStore::builder(&file).table("")).contains("table"));
    assert!(!file.exists(), "a rejected builder creates no file");
}

fn backend_message(result: memo_core::Result<RedbStore>) -> String {
    match result {
        Err(error @ Error::Backend { store: "redb", .. }) => error.to_string(),
        other => panic!("expected a redb backend error, got {other:?}"),
    }
}

#[test]
fn a_file_that_is_not_redb_or_a_missing_directory_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.redb");
    let text = b"this is a text file, not a redb database\n".repeat(200);
    std::fs::write(&garbage, &text).unwrap();
    let message = config_error(RedbStore::builder(&garbage));
    assert!(
        message.contains(&garbage.display().to_string()) && message.contains("not a memo cache"),
        "{message}"
    );
    assert_eq!(std::fs::read(&garbage).unwrap(), text, "left untouched");

    let missing_dir = dir.path().join("no such dir").join("cache.redb");
    let message = backend_message(RedbStore::open(&missing_dir));
    assert!(
        message.contains(&missing_dir.display().to_string()),
        "{message}"
    );

    let message = backend_message(RedbStore::open(dir.path()));
    assert!(
        message.contains(&dir.path().display().to_string()),
        "{message}"
    );
}

#[test]
fn a_second_open_in_this_process_runs_uncached_until_the_first_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("twice.redb");
    let first = RedbStore::open(&file).unwrap();
    first.set("k", rec(1)).unwrap();
    let message = backend_message(RedbStore::builder(&file).require_file(true).build());
    assert!(message.contains("already open"), "{message}");

    let second = RedbStore::open(&file).unwrap();
    assert!(!second.is_caching());
    assert_eq!(second.get("k").unwrap(), None, "uncached: every get a miss");
    second.set("k2", rec(2)).unwrap();
    assert_eq!(
        second.stats().lost_writes,
        1,
        "the skipped write is counted"
    );
    assert_eq!(second.scan("").unwrap(), Vec::<String>::new());
    assert_eq!(
        first.scan("").unwrap(),
        ["k"],
        "the first store is undisturbed"
    );
    drop(first);
    // The second store opens the file by itself, after a backoff.
    let deadline = Instant::now() + Duration::from_secs(30);
    while second.get("k").unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "the second store never opened the file"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(second.is_caching());
    assert_eq!(second.get("k").unwrap(), Some(rec(1)));
}

#[test]
fn queued_writes_become_durable_on_flush_and_on_their_interval() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::builder(dir.path().join("flush.redb"))
        .durability(Durability::queued(Duration::from_secs(3600)))
        .build()
        .unwrap();
    store.set("a", rec(1)).unwrap();
    store.set("b", rec(2)).unwrap();
    assert!(store.delete("a").unwrap());
    assert_eq!(store.pending_writes(), 3);
    store.flush().unwrap();
    assert_eq!(store.pending_writes(), 0);

    let store = RedbStore::builder(dir.path().join("tick.redb"))
        .durability(Durability::queued(Duration::from_millis(10)))
        .build()
        .unwrap();
    store.set("a", rec(1)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while store.pending_writes() > 0 {
        assert!(
            Instant::now() < deadline,
            "the periodic durable commit never ran"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(store.get("a").unwrap(), Some(rec(1)));
}

#[test]
fn a_write_count_limit_makes_the_nth_write_durable() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::builder(dir.path().join("count.redb"))
        .durability(Durability::Queued {
            interval: Duration::from_secs(3600),
            writes: NonZeroU64::new(10),
        })
        .build()
        .unwrap();
    for n in 1..=9 {
        store.set(&format!("k{n}"), rec(n)).unwrap();
        assert_eq!(store.pending_writes(), u64::from(n));
    }
    store.set("k10", rec(10)).unwrap();
    assert_eq!(store.pending_writes(), 0);
    assert_eq!(store.len().unwrap(), 10);
}

#[test]
fn immediate_durability_leaves_nothing_pending() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("immediate.redb");
    let store = RedbStore::builder(&file)
        .durability(Durability::Immediate)
        .build()
        .unwrap();
    for n in 0..5 {
        store.set(&format!("k{n}"), rec(n)).unwrap();
        assert_eq!(store.pending_writes(), 0);
    }
    assert!(store.delete("k0").unwrap());
    assert_eq!(store.purge_expired(f64::INFINITY).unwrap(), 0);
    assert_eq!(store.pending_writes(), 0);
    drop(store);
    let store = RedbStore::open(&file).unwrap();
    assert_eq!(store.len().unwrap(), 4);
    assert_consistent(&store);
}

#[test]
fn queued_writes_are_read_scanned_and_counted_before_their_commit() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::builder(dir.path().join("queue.redb"))
        .durability(Durability::queued(Duration::from_secs(3600)))
        .build()
        .unwrap();
    store.set("q:1", rec(1)).unwrap();
    store.set("q:1", rec(2)).unwrap();
    store.set("q:2", rec(3)).unwrap();
    assert_eq!(
        store.get("q:1").unwrap(),
        Some(rec(2)),
        "the latest queued write wins"
    );
    let mut keys = store.scan("q:").unwrap();
    keys.sort();
    assert_eq!(keys, ["q:1", "q:2"]);
    assert!(store.delete("q:2").unwrap());
    assert!(!store.delete("q:2").unwrap());
    assert_eq!(store.get("q:2").unwrap(), None);
    assert_consistent(&store);
}

#[test]
fn more_writes_than_the_queue_holds_stay_readable() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        RedbStore::builder(dir.path().join("many.redb"))
            .durability(Durability::queued(Duration::from_secs(3600)))
            .build()
            .unwrap(),
    );
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..1500_u32 {
                    let key = format!("t{t}:{i}");
                    store
                        .set(
                            &key,
                            Record::new(f64::from(i), None, key.as_bytes().to_vec()),
                        )
                        .unwrap();
                    let back = store.get(&key).unwrap().expect("read your own write");
                    assert_eq!(&*back.value, key.as_bytes());
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(store.len().unwrap(), 6000);
    assert_consistent(&store);
}

#[test]
fn live_data_and_records_survive_a_clean_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("reopen.redb");
    let store = RedbStore::open(&file).unwrap();
    for n in 0..100 {
        store
            .set(
                &format!("k{n}"),
                Record::new(1.0, Some(2.0 + f64::from(n)), vec![n; usize::from(n)]),
            )
            .unwrap();
    }
    let live = store.live_bytes().unwrap();
    drop(store);
    let store = RedbStore::open(&file).unwrap();
    assert_eq!(store.live_bytes().unwrap(), live);
    assert_consistent(&store);
    assert_eq!(
        store.purge_expired(51.0).unwrap(),
        50,
        "the expiry index survived too"
    );
}

#[test]
fn stores_with_different_tables_share_a_database_apart() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(redb::Database::create(dir.path().join("shared.redb")).unwrap());
    let a = RedbStore::from_database(db.clone()).unwrap();
    let b = RedbStoreBuilder::from_database(db.clone())
        .table("other")
        .build()
        .unwrap();
    a.set("k", rec(1)).unwrap();
    b.set("k", rec(2)).unwrap();
    b.set("only-b", rec(3)).unwrap();
    assert_eq!(a.get("k").unwrap(), Some(rec(1)));
    assert_eq!(b.get("k").unwrap(), Some(rec(2)));
    assert_eq!(a.scan("").unwrap(), ["k"]);
    assert_eq!(a.path(), None);
    assert!(format!("{b:?}").contains("other"));
}

#[test]
fn journaled_durability_needs_a_path() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(redb::Database::create(dir.path().join("nopath.redb")).unwrap());
    let message = config_error(
        RedbStoreBuilder::from_database(db)
            .durability(Durability::journaled(Duration::from_secs(1))),
    );
    assert!(message.contains("path"), "{message}");
}

#[test]
fn a_table_of_another_type_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(redb::Database::create(dir.path().join("typed.redb")).unwrap());
    let txn = db.begin_write().unwrap();
    txn.open_table(redb::TableDefinition::<u64, u64>::new("memo"))
        .unwrap()
        .insert(1, 2)
        .unwrap();
    txn.commit().unwrap();
    let message = match RedbStore::from_database(db) {
        Err(error @ Error::Backend { .. }) => error.to_string(),
        other => panic!("expected a backend error, got {other:?}"),
    };
    assert!(message.contains("\"memo\""), "{message}");
}

#[test]
fn queued_durability_over_a_multi_process_database_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(
        redb::Database::builder()
            .set_concurrency_mode(redb::ConcurrencyMode::MultiWriter)
            .create(dir.path().join("multi.redb"))
            .unwrap(),
    );
    assert!(
        config_error(
            RedbStoreBuilder::from_database(db.clone())
                .durability(Durability::queued(Duration::from_secs(1)))
        )
        .contains("Immediate")
    );
    // The default for a database the caller opened is Immediate: no journal file to write.
    let store = RedbStoreBuilder::from_database(db).build().unwrap();
    assert!(format!("{store:?}").contains("Immediate"), "{store:?}");
    store.set("k", rec(1)).unwrap();
    assert_eq!(store.get("k").unwrap(), Some(rec(1)));
}

#[test]
fn capabilities_and_debug_describe_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("caps.redb");
    let store = RedbStore::open(&file).unwrap();
    let caps = store.capabilities();
    assert!(caps.persistent && caps.scan);
    assert!(!caps.lossy && !caps.shared && !caps.native_expiry);
    assert_eq!(store.name(), "redb");
    assert_eq!(store.path(), Some(file.as_path()));
    let debug = format!("{store:?}");
    assert!(
        debug.contains("caps.redb") && debug.contains("\"memo\""),
        "{debug}"
    );
    drop(store);
    let bounded = RedbStore::builder(&file)
        .max_bytes(1 << 20)
        .build()
        .unwrap();
    assert!(bounded.capabilities().lossy);
    assert!(format!("{bounded:?}").contains("1048576"));
}

#[test]
fn a_file_damaged_outside_redb_is_moved_aside_and_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("damaged.redb");
    let store = RedbStore::open(&file).unwrap();
    for i in 0..2000 {
        store
            .set(&format!("k{i}"), Record::new(0.0, None, vec![7; 200]))
            .unwrap();
    }
    drop(store);
    let mut bytes = std::fs::read(&file).unwrap();
    let third = bytes.len() / 3;
    for byte in &mut bytes[third..] {
        *byte ^= 0x5a;
    }
    std::fs::write(&file, &bytes).unwrap();
    let store = RedbStore::open(&file).unwrap();
    assert!(store.is_caching());
    assert!(store.is_empty().unwrap(), "a fresh cache");
    store.set("k", rec(3)).unwrap();
    assert_eq!(store.get("k").unwrap(), Some(rec(3)));
    let aside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("damaged.redb.damaged-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(
        std::fs::read(&aside[0]).unwrap(),
        bytes,
        "moved aside as it was"
    );
}
