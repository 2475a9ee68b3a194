//! The harness: fresh stores, reopening, and directories that outlive their fixture.

use std::panic::{AssertUnwindSafe, catch_unwind};

use memo_conformance::Harness;
use memo_core::{Record, Store};

use crate::stores::FileStore;

#[test]
fn store_handle_outlives_its_fixture() {
    let harness = Harness::persistent(FileStore::open);
    let store = harness.fresh().expect("available").store();
    // The fixture is gone; the store still writes its file in the directory.
    let record = Record::new(1.0, None, b"kept".to_vec());
    store.set("k", record.clone()).unwrap();
    assert_eq!(store.get("k").unwrap(), Some(record));
    assert_eq!(store.name(), "file");
    assert!(store.capabilities().persistent);
}

#[test]
fn reopen_reads_the_same_directory() {
    let harness = Harness::persistent(FileStore::open);
    let mut fixture = harness.fresh().expect("available");
    let record = Record::new(2.0, Some(3.0), b"v".to_vec()).with_etag(b"e".to_vec());
    fixture.store().set("k", record.clone()).unwrap();
    fixture.reopen();
    assert_eq!(fixture.store().get("k").unwrap(), Some(record));
    // Another fixture has another directory.
    assert_eq!(harness.fresh().unwrap().store().get("k").unwrap(), None);
}

#[test]
fn reopen_refuses_while_a_handle_is_alive() {
    let mut fixture = Harness::persistent(FileStore::open)
        .fresh()
        .expect("available");
    let held = fixture.store();
    let outcome = catch_unwind(AssertUnwindSafe(|| fixture.reopen()));
    assert!(outcome.is_err());
    drop(held);
}
