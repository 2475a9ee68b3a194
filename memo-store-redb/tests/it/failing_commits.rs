//! A disk that fails (a fault-injecting redb backend over a real file): a failed commit keeps its
//! writes readable and queued, and once the queue is full every further write is refused with
//! an error that the Memoizer counts, one by one.

use std::fs::OpenOptions;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use memo_core::{Memoizer, Record, Store};
use memo_store_redb::{Durability, RedbStoreBuilder};
use redb::StorageBackend;
use redb::backends::FileBackend;

/// A file whose writes and syncs fail with "no space left" while `full` is set.
#[derive(Debug)]
struct FillingDisk {
    file: FileBackend,
    full: Arc<AtomicBool>,
}

impl FillingDisk {
    fn check(&self) -> std::io::Result<()> {
        if self.full.load(Ordering::SeqCst) {
            Err(std::io::Error::from_raw_os_error(28))
        } else {
            Ok(())
        }
    }
}

impl StorageBackend for FillingDisk {
    fn len(&self) -> std::io::Result<u64> {
        self.file.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
        self.file.read(offset, out)
    }

    fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.check()?;
        self.file.set_len(len)
    }

    fn sync_data(&self) -> std::io::Result<()> {
        self.check()?;
        self.file.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        self.check()?;
        self.file.write(offset, data)
    }
}

fn database(path: &Path, full: &Arc<AtomicBool>) -> Arc<redb::Database> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .unwrap();
    let disk = FillingDisk {
        file: FileBackend::new(file).unwrap(),
        full: full.clone(),
    };
    Arc::new(redb::Database::builder().create_with_backend(disk).unwrap())
}

fn rec(n: u64) -> Record {
    Record::new(n as f64, None, n.to_le_bytes().repeat(64))
}

#[test]
fn a_failed_commit_keeps_its_writes_readable_and_the_full_queue_refuses_each_write() {
    let dir = tempfile::tempdir().unwrap();
    let full = Arc::new(AtomicBool::new(false));
    let store = Arc::new(
        RedbStoreBuilder::from_database(database(&dir.path().join("full.redb"), &full))
            .durability(Durability::queued(Duration::from_secs(3600)))
            .build()
            .unwrap(),
    );
    store.set("before", rec(0)).unwrap();
    store.flush().unwrap();
    store.set("queued", rec(1)).unwrap();

    full.store(true, Ordering::SeqCst);
    assert!(store.flush().is_err(), "the disk is full");
    assert!(store.stats().failed_commits >= 1);
    assert_eq!(
        store.get("queued").unwrap(),
        Some(rec(1)),
        "a failed commit's write stays readable"
    );
    // The failed commit latched redb's I/O error, so the store dropped its handle, which a store
    // built from a database cannot reopen: a record only in the file is an error now, never a
    // wrong value.
    match store.get("before") {
        Err(_) => assert!(!store.is_caching()),
        Ok(found) => assert_eq!(found, Some(rec(0))),
    }

    // Writes go on until the queue holds four times its limit, then each is refused.
    let memo = Memoizer::new(store.clone());
    let calls = 6000_u64;
    for n in 0..calls {
        let value: u64 = memo.get(&format!("k{n}"), || n).unwrap();
        assert_eq!(value, n, "a failing store still returns the computed value");
    }
    let refused = store.stats().refused_writes;
    assert!(refused > 0, "the queue never filled: {:?}", store.stats());
    assert!(
        memo.stats().store_errors >= refused,
        "each refused write is a store error: {:?} {:?}",
        memo.stats(),
        store.stats()
    );
    assert!(
        store.pending_writes() >= 4096,
        "accepted writes stay queued"
    );
    assert_eq!(memo.stats().computations, calls, "every call computed once");
    println!(
        "{:?} {:?} pending {}",
        store.stats(),
        memo.stats(),
        store.pending_writes()
    );
    let k5: Option<u64> = memo.peek("k5").unwrap();
    assert_eq!(k5, Some(5), "an accepted write is still served");
}
