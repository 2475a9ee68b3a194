//! A full device: RocksDB latches the write error; the store reports it typed, keeps serving
//! reads, and recovers by itself once there is space again, losing no acknowledged write.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use memo_core::{Error, Record, Store};
use memo_store_rocks::{RocksError, RocksStore};

use crate::assert_every_record_decodes;

/// A tmpfs mounted for one test, unmounted when dropped (the test failing included).
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (`mount`'s syntax), or says why not: under `CI=true` that is a
    /// failure, elsewhere the test prints the reason and checks nothing.
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output();
        let why = match mounted {
            Ok(out) if out.status.success() => return Some(Tmpfs { dir }),
            Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            Err(e) => e.to_string(),
        };
        let reason = format!("cannot mount a tmpfs (needs root): {why}");
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{reason}");
        println!("skipped: {reason}");
        None
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let done = Command::new("umount").arg(self.dir.path()).status();
        if !done.is_ok_and(|s| s.success()) {
            let _ = Command::new("umount")
                .arg("-l")
                .arg(self.dir.path())
                .status();
        }
    }
}

/// Fills the device holding `file` until a write fails; returns the bytes written.
fn fill(file: &Path) -> u64 {
    let mut out = File::create(file).unwrap();
    let mut written = 0;
    for chunk in [1 << 20, 4096, 512, 1] {
        let bytes = vec![0xA5; chunk];
        while out.write_all(&bytes).and_then(|()| out.sync_data()).is_ok() {
            written += chunk as u64;
        }
    }
    written
}

fn record(i: u64) -> Record {
    Record::new(i as f64, None, i.to_le_bytes().repeat(32))
}

fn key(i: u64) -> String {
    format!("k{i:07}")
}

fn no_space(error: &Error) -> bool {
    matches!(error, Error::Backend { store: "rocksdb", source }
        if matches!(source.downcast_ref::<RocksError>(), Some(RocksError::NoSpace { .. })))
}

#[test]
fn a_full_device_is_a_typed_error_and_the_store_recovers_once_space_is_back() {
    let Some(tmpfs) = Tmpfs::mount("8m") else {
        return;
    };
    let db: PathBuf = tmpfs.path().join("db");
    let store = RocksStore::builder(&db).exclusive(true).build().unwrap();
    let mut acked = 0_u64;
    while acked < 200 {
        store.set(&key(acked), record(acked)).unwrap();
        acked += 1;
    }
    let filler = tmpfs.path().join("filler");
    let filled = fill(&filler);
    println!("filled the device with {filled} bytes");

    let error = loop {
        match store.set(&key(acked), record(acked)) {
            Ok(()) => acked += 1,
            Err(error) => break error,
        }
        assert!(acked < 1_000_000, "writes never failed on a full device");
    };
    assert!(no_space(&error), "a typed no-space error, got: {error}");
    println!("first failed write after {acked} acknowledged: {error}");
    // Still full: writes keep failing typed, reads go on.
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(120));
        let error = store.set(&key(acked), record(acked)).unwrap_err();
        assert!(no_space(&error), "still no space: {error}");
    }
    for i in (0..acked).step_by(7) {
        assert_eq!(
            store.get(&key(i)).unwrap(),
            Some(record(i)),
            "read {i} while full"
        );
    }

    std::fs::remove_file(&filler).unwrap();
    let freed = Instant::now();
    let recovered = loop {
        match store.set(&key(acked), record(acked)) {
            Ok(()) => break freed.elapsed(),
            Err(error) => assert!(
                freed.elapsed() < Duration::from_secs(30),
                "no recovery 30 s after space came back: {error}"
            ),
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    acked += 1;
    println!(
        "recovered {recovered:?} after space came back ({} reopens)",
        store.reopens()
    );
    for _ in 0..100 {
        store.set(&key(acked), record(acked)).unwrap();
        acked += 1;
    }
    for i in 0..acked {
        assert_eq!(store.get(&key(i)).unwrap(), Some(record(i)), "record {i}");
    }
    assert_eq!(assert_every_record_decodes(&store) as u64, acked);

    drop(store);
    let store = RocksStore::builder(&db).exclusive(true).build().unwrap();
    for i in 0..acked {
        assert_eq!(store.get(&key(i)).unwrap(), Some(record(i)), "reopened {i}");
    }
    // The store goes before the mount (declared after it, dropped first).
}
