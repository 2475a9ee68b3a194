//! Opening the store a URL names, the way a short-lived command needs it: a redb file is held
//! by one process at a time, so it is opened for moments, with retries, and a per-key lock file
//! beside it makes concurrent misses run a command once.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use memo::Store;
use memo::redb::{Durability, RedbStore};
use memo::redis::RedisStore;
use memo::url::StoreUrl;

use crate::fail::{Fail, error_chain};

/// How long opening a busy redb file is retried: other `memo` processes hold it for
/// milliseconds at a time.
const REDB_BUSY_FOR: Duration = Duration::from_secs(10);

/// How long a Redis lock is leased, and how long a miss waits for another process's run of the
/// same command: a command that runs longer may run twice at once.
pub(crate) const REDIS_LEASE: Duration = Duration::from_secs(600);

/// The store a URL names, parsed; `None` is the default redb file.
pub(crate) fn parse(url: Option<&str>) -> Result<StoreUrl, Fail> {
    match url {
        None => Ok(StoreUrl::Redb { path: None }),
        Some(url) => url.parse().map_err(Fail::from),
    }
}

/// An open store.
#[derive(Debug)]
pub(crate) enum Handle {
    /// A redb file, open in this process until dropped.
    Redb(RedbStore),
    /// Any other store.
    Any(Arc<dyn Store>),
}

impl Handle {
    /// The store behind the handle.
    pub(crate) fn store(&self) -> &dyn Store {
        match self {
            Handle::Redb(store) => store,
            Handle::Any(store) => &**store,
        }
    }
}

/// Opens the store. With `create` off, a redb file that does not exist is an empty store
/// instead of a new file, so that looking at a cache never makes one.
pub(crate) fn open(url: &StoreUrl, create: bool) -> Result<Handle, Fail> {
    match url {
        StoreUrl::Redb { path } => {
            let file = redb_file(url, path.is_none() && create)?;
            if !create && !file.exists() {
                return Ok(Handle::Any(Arc::new(memo::mem::MemStore::new())));
            }
            open_redb(&file).map(Handle::Redb)
        }
        StoreUrl::Redis { server, prefix } => {
            let mut builder = RedisStore::builder(server)
                .connect_timeout(Duration::from_millis(500))
                .lock_lease(REDIS_LEASE);
            if let Some(prefix) = prefix {
                builder = builder.prefix(prefix);
            }
            match builder.build() {
                Ok(store) => Ok(Handle::Any(Arc::new(store))),
                Err(memo::Error::Config(m)) => Err(Fail::Config(m)),
                Err(e) => Err(Fail::Down(format!(
                    "{} does not answer: {}",
                    url.redacted(),
                    error_chain(&e)
                ))),
            }
        }
        other => other.open().map(Handle::Any).map_err(Fail::from),
    }
}

/// The redb file of `url`, checked: its directory exists (made when `make_dir`) and it is not a
/// directory.
pub(crate) fn redb_file(url: &StoreUrl, make_dir: bool) -> Result<PathBuf, Fail> {
    let file = url
        .redb_path()?
        .ok_or_else(|| Fail::Unsupported(format!("{} is not a redb store", url.redacted())))?;
    let dir = file.parent().unwrap_or(Path::new("/"));
    if make_dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| Fail::Config(format!("cannot create {}: {e}", dir.display())))?;
    } else if !dir.is_dir() {
        return Err(Fail::Config(format!(
            "store URL {url}: the directory {} does not exist",
            dir.display()
        )));
    }
    if file.is_dir() {
        return Err(Fail::Config(format!(
            "store URL {url}: {} is a directory, not a cache file",
            file.display()
        )));
    }
    Ok(file)
}

/// Opens a redb cache file, retrying while another process holds it.
pub(crate) fn open_redb(file: &Path) -> Result<RedbStore, Fail> {
    let start = Instant::now();
    let mut pause = Duration::from_micros(500);
    loop {
        // Opens take turns: a process that finds the file half-written by another's first
        // open would call it foreign (or damaged, and move it aside). redb lets one process at
        // a time hold the file anyway.
        let turn = FileLock::acquire_named(file, "open")
            .map_err(|e| Fail::Down(format!("cannot lock {}: {e}", lock_dir(file).display())))?;
        let opened = RedbStore::builder(file)
            .require_file(true)
            .durability(Durability::Immediate)
            .build();
        drop(turn);
        match opened {
            Ok(store) => return Ok(store),
            Err(memo::Error::Config(m)) => return Err(Fail::Config(m)),
            Err(e) if start.elapsed() >= REDB_BUSY_FOR => {
                return Err(Fail::Down(format!(
                    "{} stayed unusable for {REDB_BUSY_FOR:?}: {}",
                    file.display(),
                    error_chain(&e)
                )));
            }
            Err(_) => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
        }
    }
}

/// The directory of a redb file's per-key lock files: `<file>.locks`.
pub(crate) fn lock_dir(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".locks");
    PathBuf::from(name)
}

/// A held lock on one key of a redb file, across processes; released when dropped.
#[derive(Debug)]
pub(crate) struct FileLock(#[expect(dead_code, reason = "held for its lock")] File);

impl FileLock {
    /// Waits for the lock of `key` beside `file`.
    pub(crate) fn acquire(file: &Path, key: &str) -> io::Result<Self> {
        let name = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(key.as_bytes()));
        Self::acquire_named(file, &name)
    }

    /// Waits for the lock file `name` beside `file`.
    pub(crate) fn acquire_named(file: &Path, name: &str) -> io::Result<Self> {
        let dir = lock_dir(file);
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(name);
        loop {
            let lock = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)?;
            lock.lock()?;
            // `memo purge` removes idle lock files: one removed between our open and our lock
            // is no longer the one others open, so take the lock again on the file there now.
            if same_file(&lock, &path) {
                return Ok(FileLock(lock));
            }
        }
    }
}

fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Removes the lock files beside `file` that no process holds; returns how many.
pub(crate) fn remove_idle_locks(file: &Path) -> io::Result<u64> {
    let entries = match std::fs::read_dir(lock_dir(file)) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut removed = 0;
    for entry in entries {
        let path = entry?.path();
        let Ok(lock) = OpenOptions::new().write(true).open(&path) else {
            continue;
        };
        // Removed while held, so that no one takes it between our check and the removal.
        if lock.try_lock().is_ok() && std::fs::remove_file(&path).is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}
