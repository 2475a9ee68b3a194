//! The harness: fresh stores, reopening, and directories that outlive their fixture.

use std::panic::{AssertUnwindSafe, catch_unwind};

use memo_conformance::Harness;
use memo_conformance::properties::get_after_set_returns_same_record;
use memo_conformance::reference::ReferenceStore;
use memo_core::{Record, Store};

fn in_file() -> Harness {
    Harness::persistent(|dir| ReferenceStore::open(dir.join("records")))
}

#[test]
fn store_handle_outlives_its_fixture() {
    let harness = in_file();
    let store = harness.fresh().unwrap().expect("available").store();
    // The fixture is gone; the store still writes its file in the directory.
    let record = Record::new(1.0, None, b"kept".to_vec());
    store.set("k", record.clone()).unwrap();
    assert_eq!(store.get("k").unwrap(), Some(record));
    assert_eq!(store.name(), "reference");
    assert!(store.capabilities().persistent);
}

#[test]
fn reopen_reads_the_same_directory() {
    let harness = in_file();
    let mut fixture = harness.fresh().unwrap().expect("available");
    let record = Record::new(2.0, Some(3.0), b"v".to_vec()).with_etag(b"e".to_vec());
    fixture.store().set("k", record.clone()).unwrap();
    fixture.reopen().unwrap();
    assert_eq!(fixture.store().get("k").unwrap(), Some(record));
    // Another fixture has another directory.
    let other = harness.fresh().unwrap().expect("available");
    assert_eq!(other.store().get("k").unwrap(), None);
}

#[test]
fn reopen_refuses_while_a_handle_is_alive() {
    let mut fixture = in_file().fresh().unwrap().expect("available");
    let held = fixture.store();
    let outcome = catch_unwind(AssertUnwindSafe(|| fixture.reopen()));
    assert!(outcome.is_err());
    drop(held);
}

#[test]
fn a_failed_open_fails_the_property_with_its_error() {
    let harness = Harness::persistent(|dir| ReferenceStore::open(dir));
    let why = get_after_set_returns_same_record(&harness).unwrap_err();
    assert!(why.starts_with("opening the store in "), "{why}");
    assert!(why.contains("reference store error"), "{why}");
}

#[test]
fn a_failed_reopen_is_an_error_not_a_panic() {
    let harness = Harness::persistent(|dir: &std::path::Path| {
        if dir.join("records").exists() {
            Err("the second open fails")
        } else {
            ReferenceStore::open(dir.join("records")).map_err(|_| "the first open fails")
        }
    });
    let mut fixture = harness.fresh().unwrap().expect("available");
    fixture
        .store()
        .set("k", Record::new(1.0, None, b"v".to_vec()))
        .unwrap();
    let why = fixture.reopen().unwrap_err();
    assert!(why.ends_with("the second open fails"), "{why}");
}
