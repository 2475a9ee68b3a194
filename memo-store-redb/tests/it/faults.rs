//! Files that are not memo's, files memo cannot use now, and a disk that fills and empties,
//! through a backend that injects the faults (as redb's own fuzzer does), so no mount is needed.

use std::fs::OpenOptions;
use std::io;
use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use memo_core::{Error, Memoizer, Record, Store};
use memo_store_redb::{Durability, RedbStore, RedbStoreBuilder};
use redb::backends::FileBackend;
use redb::{BackendError, ReadableDatabase, StorageBackend};

use crate::{child, child_file, child_role};

const PEOPLE: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("people");

fn config_error(builder: RedbStoreBuilder) -> String {
    match builder.build() {
        Err(Error::Config(message)) => message,
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

/// Writes another program's redb database; `crash` leaves it as a killed writer does (its
/// next open must repair it, which writes).
fn foreign_database(file: &Path, crash: bool) {
    let db = redb::Database::create(file).unwrap();
    let txn = db.begin_write().unwrap();
    txn.open_table(PEOPLE).unwrap().insert("ada", 1815).unwrap();
    txn.commit().unwrap();
    if crash {
        let txn = db.begin_write().unwrap();
        txn.open_table(PEOPLE)
            .unwrap()
            .insert("alan", 1912)
            .unwrap();
        txn.commit().unwrap();
        // Ends the process without closing the database.
        std::process::exit(0);
    }
}

#[test]
fn a_foreign_redb_file_is_left_byte_for_byte_unchanged() {
    const TEST: &str = "faults::a_foreign_redb_file_is_left_byte_for_byte_unchanged";
    if child_role().as_deref() == Some("foreign writer") {
        foreign_database(&child_file(), true);
    }
    let dir = tempfile::tempdir().unwrap();
    let clean = dir.path().join("clean.redb");
    foreign_database(&clean, false);
    let crashed = dir.path().join("crashed.redb");
    let status = child(TEST, "foreign writer", &crashed).status().unwrap();
    assert!(status.success());
    assert!(
        redb::Database::builder().open_read_only(&crashed).is_err(),
        "the crashed database needs a repair (which writes) before it opens"
    );

    for file in [&clean, &crashed] {
        let before = std::fs::read(file).unwrap();
        let builders = [
            RedbStore::builder(file),
            RedbStore::builder(file).check_integrity(false),
            RedbStore::builder(file).require_file(true),
            RedbStore::builder(file).table("people"),
        ];
        for builder in builders {
            let message = config_error(builder);
            assert!(
                message.contains("not a memo cache") && message.contains("without memo's tables"),
                "{message}"
            );
            assert!(
                std::fs::read(file).unwrap() == before,
                "{} was modified",
                file.display()
            );
        }
    }
    // Still the other program's database, readable as it was.
    let db = redb::Database::open(&clean).unwrap();
    let txn = db.begin_read().unwrap();
    let people = txn.open_table(PEOPLE).unwrap();
    assert_eq!(people.get("ada").unwrap().unwrap().value(), 1815);
}

#[test]
fn a_file_that_is_not_redb_is_left_byte_for_byte_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("notes.redb");
    let mut x = 0x9E37_79B9_7F4A_7C15_u64;
    let bytes: Vec<u8> = (0..100_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    for content in [&bytes[..], b"x"] {
        std::fs::write(&file, content).unwrap();
        let message = config_error(RedbStore::builder(&file));
        assert!(message.contains("not a redb database"), "{message}");
        assert!(std::fs::read(&file).unwrap() == content, "modified");
    }
}

#[test]
fn a_damaged_redb_file_is_moved_aside_with_its_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cache.redb");
    drop(RedbStore::open(&file).unwrap());
    let mut bytes = std::fs::read(&file).unwrap();
    // redb's magic number, then nothing redb can read.
    for byte in &mut bytes[9..] {
        *byte = 0xA5;
    }
    std::fs::write(&file, &bytes).unwrap();
    let store = RedbStore::open(&file).unwrap();
    assert!(store.is_caching());
    store.set("k", Record::new(1.0, None, vec![1])).unwrap();
    assert!(store.get("k").unwrap().is_some());
    let moved: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.starts_with("cache.redb.damaged-"))
        .collect();
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert!(std::fs::read(dir.path().join(&moved[0])).unwrap() == bytes);
}

#[test]
fn a_file_held_by_another_process_runs_uncached_and_says_so_once() {
    const TEST: &str = "faults::a_file_held_by_another_process_runs_uncached_and_says_so_once";
    if child_role().as_deref() == Some("second opener") {
        let memo = Memoizer::new(RedbStore::open(child_file()).unwrap());
        for i in 0..20_u64 {
            assert_eq!(memo.get(&format!("k{i}"), || i * 2).unwrap(), i * 2);
        }
        println!("computations: {}", memo.stats().computations);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("held.redb");
    let holder = RedbStore::open(&file).unwrap();
    holder.set("k0", Record::new(0.0, None, vec![9])).unwrap();
    holder.flush().unwrap();
    let output = child(TEST, "second opener", &file)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("computations: 20"),
        "every get a miss:\n{stdout}"
    );
    let lines: Vec<_> = stderr.lines().filter(|l| l.contains("memo-redb")).collect();
    assert_eq!(lines.len(), 1, "one line on stderr:\n{stderr}");
    assert!(
        lines[0].contains("held.redb") && lines[0].contains("uncached"),
        "{}",
        lines[0]
    );
    assert_eq!(
        holder.scan("").unwrap(),
        ["k0"],
        "the holder is undisturbed"
    );
}

/// What the fault-injecting backend does to writes.
const HEALTHY: u8 = 0;
const FULL: u8 = 1;
const READ_ONLY: u8 = 2;

/// A real file backend whose writes, growth and syncs fail while the switch says so.
#[derive(Debug)]
struct FaultyDisk {
    inner: FileBackend,
    mode: Arc<AtomicU8>,
}

impl FaultyDisk {
    fn check(&self) -> io::Result<()> {
        match self.mode.load(Ordering::SeqCst) {
            FULL => Err(io::ErrorKind::StorageFull.into()),
            READ_ONLY => Err(io::ErrorKind::PermissionDenied.into()),
            _ => Ok(()),
        }
    }

    /// A factory for [`RedbStoreBuilder::with_backend`] over `path`.
    fn factory(
        path: &Path,
        mode: &Arc<AtomicU8>,
    ) -> impl Fn() -> io::Result<FaultyDisk> + Send + Sync + 'static {
        let path = path.to_owned();
        let mode = mode.clone();
        move || {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)?;
            Ok(FaultyDisk {
                inner: FileBackend::new(file).map_err(io::Error::other)?,
                mode: mode.clone(),
            })
        }
    }
}

impl StorageBackend for FaultyDisk {
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        self.inner.read(offset, out)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        if len > self.inner.len()? {
            self.check()?;
        }
        self.inner.set_len(len)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.check()?;
        self.inner.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.check()?;
        self.inner.write(offset, data)
    }

    fn close(&self) -> io::Result<()> {
        self.inner.close()
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.try_lock_range(start, end)
    }

    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, BackendError> {
        self.inner.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.query_lock_range(start, end)
    }
}

fn rec(i: u64) -> Record {
    Record::new(i as f64, None, i.to_le_bytes().repeat(32))
}

/// Calls `get` until the store has its database again; how long that took.
fn until_caching(store: &RedbStore, probe: &str) -> Duration {
    let started = Instant::now();
    loop {
        let _ = store.get(probe);
        if store.is_caching() {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "caching never came back"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn disk_full_then_space_back_resumes_caching_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("full.redb");
    let disk = Arc::new(AtomicU8::new(FULL));

    // Fail open while full: the store runs uncached.
    let store = Arc::new(
        RedbStoreBuilder::with_backend(FaultyDisk::factory(&file, &disk))
            .durability(Durability::queued(Duration::from_millis(20)))
            .build()
            .unwrap(),
    );
    assert!(!store.is_caching());
    store.set("while full", rec(0)).unwrap();
    assert_eq!(store.get("while full").unwrap(), None);
    assert_eq!(store.stats().lost_writes, 1);
    let message = match RedbStoreBuilder::with_backend(FaultyDisk::factory(&file, &disk))
        .require_file(true)
        .build()
    {
        Err(error @ Error::Backend { .. }) => error.to_string(),
        other => panic!("expected a backend error, got {other:?}"),
    };
    assert!(
        message.to_lowercase().contains("no storage space"),
        "{message}"
    );

    disk.store(HEALTHY, Ordering::SeqCst);
    let took = until_caching(&store, "probe");
    println!("caching began {took:?} after space came back");
    const BEFORE: u64 = 100;
    for i in 0..BEFORE {
        store.set(&format!("k{i}"), rec(i)).unwrap();
    }
    store.flush().unwrap();

    // The disk fills: commits fail; writes queue until the queue is full, then are refused.
    disk.store(FULL, Ordering::SeqCst);
    const DURING: u64 = 400;
    let mut refused = 0;
    for i in BEFORE..BEFORE + DURING {
        if store.set(&format!("k{i}"), rec(i)).is_err() {
            refused += 1;
        }
        if i % 50 == 0 {
            let _ = store.flush();
        }
    }
    let _ = store.flush();
    assert!(
        !store.is_caching(),
        "the latched error took the handle down"
    );
    assert!(
        store.stats().failed_commits > 0,
        "the full disk went unnoticed"
    );
    let lost = store.stats().lost_writes - 1;

    disk.store(HEALTHY, Ordering::SeqCst);
    let took = until_caching(&store, "k0");
    println!("caching resumed {took:?} after space came back");
    for i in 0..BEFORE {
        assert_eq!(
            store.get(&format!("k{i}")).unwrap(),
            Some(rec(i)),
            "durable record {i}"
        );
    }
    let mut missing = 0;
    for i in BEFORE..BEFORE + DURING {
        match store.get(&format!("k{i}")).unwrap() {
            Some(record) => assert_eq!(record, rec(i)),
            None => missing += 1,
        }
    }
    println!(
        "while full: {DURING} writes, {refused} refused, {lost} acknowledged and lost, {missing} missing after"
    );
    assert!(
        missing <= refused + lost,
        "{missing} writes are missing but only {refused} refused + {lost} lost were counted"
    );

    // Caching works again, through a Memoizer too.
    let memo = Memoizer::new(store.clone());
    assert_eq!(memo.get("answer", || 42_u32).unwrap(), 42);
    assert_eq!(memo.get("answer", || 0_u32).unwrap(), 42);
    assert_eq!(memo.stats().hits, 1);
    store.flush().unwrap();
    drop(memo);
    drop(store);
    let reopened = RedbStore::open(&file).unwrap();
    assert_eq!(reopened.get("k0").unwrap(), Some(rec(0)));
}

#[test]
fn a_storage_that_refuses_writes_runs_uncached_or_errors_when_required() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("readonly.redb");
    let disk = Arc::new(AtomicU8::new(HEALTHY));
    {
        let store = RedbStoreBuilder::with_backend(FaultyDisk::factory(&file, &disk))
            .build()
            .unwrap();
        store.set("k", rec(1)).unwrap();
    }
    disk.store(READ_ONLY, Ordering::SeqCst);
    let before = std::fs::read(&file).unwrap();
    let store = RedbStoreBuilder::with_backend(FaultyDisk::factory(&file, &disk))
        .build()
        .unwrap();
    assert!(!store.is_caching());
    assert_eq!(store.get("k").unwrap(), None);
    store.set("k2", rec(2)).unwrap();
    assert_eq!(store.stats().lost_writes, 1);
    assert!(
        RedbStoreBuilder::with_backend(FaultyDisk::factory(&file, &disk))
            .require_file(true)
            .build()
            .is_err()
    );
    assert!(std::fs::read(&file).unwrap() == before);
    disk.store(HEALTHY, Ordering::SeqCst);
    until_caching(&store, "k");
    assert_eq!(store.get("k").unwrap(), Some(rec(1)));
}

#[test]
fn a_file_damaged_while_open_is_moved_aside_and_caching_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("open.redb");
    {
        let store = RedbStore::open(&file).unwrap();
        for i in 0..2000 {
            store.set(&format!("k{i}"), rec(i)).unwrap();
        }
    }
    // Opened sound (the check passes), then damaged under it: a cold cache reads the damage.
    let store = RedbStore::open(&file).unwrap();
    let len = std::fs::metadata(&file).unwrap().len() as usize;
    let mut bytes = std::fs::read(&file).unwrap();
    for byte in &mut bytes[len / 3..] {
        *byte ^= 0x5a;
    }
    std::fs::write(&file, &bytes).unwrap();
    let (mut served, mut failed) = (0, 0);
    for i in 0..2000 {
        match store.get(&format!("k{i}")) {
            Ok(Some(record)) => {
                assert_eq!(record, rec(i), "a wrong record for k{i}");
                served += 1;
            }
            Ok(None) => panic!("k{i} vanished without an error"),
            Err(_) => failed += 1,
        }
    }
    println!("{served} served, {failed} failed");
    assert!(failed > 0, "the damage went unnoticed");
    until_caching(&store, "k0");
    let moved: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.starts_with("open.redb.damaged-"))
        .collect();
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert_eq!(store.get("k0").unwrap(), None, "a fresh cache");
    store.set("k0", rec(0)).unwrap();
    assert_eq!(store.get("k0").unwrap(), Some(rec(0)));
}
