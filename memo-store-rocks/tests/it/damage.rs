//! A database damaged outside RocksDB is moved aside and the cache starts empty; a directory
//! that is not a RocksDB database is never moved.

use memo_core::{Error, Record, Store};
use memo_store_rocks::{RocksError, RocksStore};

#[test]
fn a_damaged_database_is_moved_aside_and_the_cache_starts_empty() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let store = RocksStore::open(&path).unwrap();
        store.set("k", Record::new(1.0, None, vec![1])).unwrap();
        assert!(store.moved_aside().is_none());
    }
    let manifest = std::fs::read_dir(&path)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("MANIFEST-")
        })
        .expect("a MANIFEST file");
    let len = std::fs::metadata(&manifest).unwrap().len() as usize;
    std::fs::write(&manifest, vec![0xA5; len]).unwrap();

    let store = RocksStore::open(&path).unwrap();
    let aside = store.moved_aside().expect("moved aside").to_owned();
    assert!(
        aside
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("db.damaged-"),
        "{}",
        aside.display()
    );
    assert!(
        aside.join("CURRENT").is_file(),
        "the damaged files are kept there"
    );
    assert_eq!(store.get("k").unwrap(), None, "an empty cache");
    store.set("k", Record::new(2.0, None, vec![2])).unwrap();
    assert_eq!(store.scan("").unwrap(), ["k"]);
}

#[test]
fn a_directory_that_is_not_a_database_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-directory");
    std::fs::write(&file, b"someone else's data").unwrap();
    let error = RocksStore::open(&file).unwrap_err();
    assert!(
        matches!(&error, Error::Backend { source, .. }
            if matches!(source.downcast_ref::<RocksError>(), Some(RocksError::Open { .. }))),
        "{error}"
    );
    assert_eq!(std::fs::read(&file).unwrap(), b"someone else's data");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "nothing moved or added"
    );
}
