//! A store's record lock: the Memoizer prefers it to the plain lock, takes the record it read
//! as the double check, and lets it carry the write; faults of either stay faults.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use memo_core::doc_store::DocStore;
use memo_core::{Acquired, Error, Lock, Memoizer, Record, Result, Store};

#[derive(Debug, Default)]
struct Shared {
    records: DocStore,
    log: Mutex<Vec<&'static str>>,
    /// What the next acquire reads instead of the record: an error, say.
    read_fails: AtomicBool,
    write_fails: AtomicBool,
    /// What the next acquire reports as written by the holder while it waited.
    written: Mutex<Option<Record>>,
}

impl Shared {
    fn log(&self, event: &'static str) {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(event);
    }
    fn take_log(&self) -> Vec<&'static str> {
        std::mem::take(&mut self.log.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// A store whose record lock reads and writes its records as its own get and set.
#[derive(Debug, Clone, Default)]
struct Fused(Arc<Shared>);

impl Store for Fused {
    fn get(&self, key: &str) -> Result<Option<Record>> {
        self.0.log("get");
        self.0.records.get(key)
    }
    fn set(&self, key: &str, record: Record) -> Result<()> {
        self.0.log("set");
        self.0.records.set(key, record)
    }
    fn delete(&self, key: &str) -> Result<bool> {
        self.0.records.delete(key)
    }
    fn lock(&self, key: &str) -> Option<Box<dyn Lock>> {
        let _ = key;
        self.0.log("plain lock");
        None
    }
    fn record_lock(&self, key: &str) -> Option<Box<dyn Lock>> {
        Some(Box::new(FusedLock {
            shared: self.0.clone(),
            key: key.to_owned(),
            held: AtomicBool::new(false),
        }))
    }
}

#[derive(Debug)]
struct FusedLock {
    shared: Arc<Shared>,
    key: String,
    held: AtomicBool,
}

impl Lock for FusedLock {
    fn acquire(&self, _: Duration) -> Result<bool> {
        self.shared.log("acquire");
        self.held.store(true, Ordering::SeqCst);
        Ok(true)
    }
    /// A no-op unless held, as the contract says.
    fn release(&self) -> Result<()> {
        if self.held.swap(false, Ordering::SeqCst) {
            self.shared.log("release");
        }
        Ok(())
    }
    fn acquire_reading(&self, _: Duration) -> Result<Acquired> {
        let written = self
            .shared
            .written
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(record) = written {
            self.shared.log("written while waiting");
            return Ok(Acquired::Written(record));
        }
        self.shared.log("acquire reading");
        self.held.store(true, Ordering::SeqCst);
        if self.shared.read_fails.load(Ordering::SeqCst) {
            return Ok(Acquired::Read(Err(Error::backend("fused", "read failed"))));
        }
        Ok(Acquired::Read(self.shared.records.get(&self.key)))
    }
    fn release_writing(&self, record: &Record) -> Result<bool> {
        if self.shared.write_fails.load(Ordering::SeqCst) {
            self.shared.log("write failed");
            return Err(Error::backend("fused", "write failed"));
        }
        self.shared.log("write and release");
        self.shared.records.set(&self.key, record.clone())?;
        self.held.store(false, Ordering::SeqCst);
        Ok(true)
    }
}

#[test]
fn a_miss_reads_and_writes_through_the_record_lock() {
    let store = Fused::default();
    let memo = Memoizer::new(store.clone());
    assert_eq!(memo.get("k", || 1_u8).unwrap(), 1);
    assert_eq!(
        store.0.take_log(),
        ["get", "acquire reading", "write and release"],
        "no plain lock, no second read, no separate write or release"
    );
    assert_eq!(memo.get("k", || 2_u8).unwrap(), 1);
    assert_eq!(memo.stats().computations, 1);
}

#[test]
fn a_record_found_as_the_lock_is_taken_is_a_hit_without_computing() {
    let store = Fused::default();
    // Another process wrote the key between our read and our lock: the lock's read finds it.
    let theirs = Memoizer::new(DocStore::default());
    let _: u8 = theirs.get("k", || 7).unwrap();
    let written = theirs.store().get("k").unwrap().unwrap();
    let racing = Racing {
        inner: store.clone(),
        record: written,
    };
    let memo_racing = Memoizer::new(racing);
    assert_eq!(memo_racing.get("k", || 0_u8).unwrap(), 7);
    assert_eq!(memo_racing.stats().computations, 0);
    assert_eq!(
        store.0.take_log(),
        ["acquire reading", "release"],
        "the double check came from the lock's read"
    );
}

#[test]
fn faults_of_the_lock_s_read_and_write_are_counted_and_the_lock_released() {
    let store = Fused::default();
    let memo = Memoizer::new(store.clone());
    store.0.read_fails.store(true, Ordering::SeqCst);
    store.0.write_fails.store(true, Ordering::SeqCst);
    assert_eq!(memo.get("k", || 3_u8).unwrap(), 3);
    assert_eq!(
        store.0.take_log(),
        ["get", "acquire reading", "write failed", "release"],
        "a failed carried write is not retried, and the lock is released on its own"
    );
    let stats = memo.stats();
    assert_eq!((stats.store_errors, stats.computations), (2, 1));
    assert!(store.get("k").unwrap().is_none());
}

/// Misses the first read, as if another process wrote just after it.
#[derive(Debug)]
struct Racing {
    inner: Fused,
    record: Record,
}

impl Store for Racing {
    fn get(&self, _: &str) -> Result<Option<Record>> {
        Ok(None)
    }
    fn set(&self, key: &str, record: Record) -> Result<()> {
        self.inner.set(key, record)
    }
    fn delete(&self, key: &str) -> Result<bool> {
        self.inner.delete(key)
    }
    fn record_lock(&self, key: &str) -> Option<Box<dyn Lock>> {
        self.inner.0.records.set(key, self.record.clone()).ok()?;
        self.inner.record_lock(key)
    }
}

/// The record a value computes to, as another process's Memoizer would write it.
fn record_of(value: u8) -> Record {
    let theirs = Memoizer::new(DocStore::default());
    let _: u8 = theirs.get("k", || value).unwrap();
    theirs.store().get("k").unwrap().unwrap()
}

#[test]
fn a_record_written_while_waiting_is_a_hit_without_the_lock() {
    let store = Fused::default();
    *store.0.written.lock().unwrap() = Some(record_of(7));
    let memo = Memoizer::new(store.clone());
    assert_eq!(memo.get("k", || 0_u8).unwrap(), 7);
    assert_eq!(memo.stats().computations, 0);
    assert_eq!(
        store.0.take_log(),
        ["get", "written while waiting"],
        "no lock taken, so none released, and nothing written"
    );
}

#[test]
fn a_record_written_while_waiting_that_is_no_hit_for_the_call_waits_for_the_lock() {
    let store = Fused::default();
    // Long expired: written by the holder, but stale for this call.
    let stale = Record::new(1.0, Some(2.0), record_of(7).value.to_vec());
    *store.0.written.lock().unwrap() = Some(stale);
    let memo = Memoizer::new(store.clone());
    assert_eq!(memo.get("k", || 5_u8).unwrap(), 5);
    assert_eq!(memo.stats().computations, 1);
    assert_eq!(
        store.0.take_log(),
        [
            "get",
            "written while waiting",
            "acquire reading",
            "write and release"
        ]
    );
}
