//! Opening the database: telling memo's cache from someone else's file without writing to it,
//! moving a damaged cache aside, and opening again after a fault.
//!
//! A file is memo's when redb can read its table list and that list holds a store's tables
//! (`<name>`, `<name>/expiry`, `<name>/meta`), or no table at all. The list is read through
//! [`Overlay`], which keeps every write redb makes while opening (a repair after a crash, say) in
//! memory, so a file that turns out not to be memo's is left byte for byte as it was.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io;
use std::ops::Bound;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use redb::backends::FileBackend;
use redb::{
    BackendError, DatabaseError, ReadableDatabase, StorageBackend, StorageError, TableHandle,
};

/// The first bytes of every redb file.
const MAGIC: [u8; 9] = [b'r', b'e', b'd', b'b', 0x1A, 0x0A, 0xA9, 0x0D, 0x0A];

/// Makes a fresh backend for each open; what [`RedbStoreBuilder::with_backend`] keeps.
///
/// [`RedbStoreBuilder::with_backend`]: crate::RedbStoreBuilder::with_backend
pub(crate) trait Opener: Send + Sync {
    /// Opens (or creates, when the storage is empty) a database on a fresh backend; with
    /// `scratch`, every write stays in memory.
    fn open(&self, builder: &redb::Builder, scratch: bool)
    -> Result<redb::Database, DatabaseError>;

    /// The storage's first bytes (at most `out.len()`) and its length.
    fn head(&self, out: &mut [u8]) -> io::Result<u64>;
}

/// A factory closure as an [`Opener`].
pub(crate) struct Factory<F>(pub(crate) F);

impl<B, F> Opener for Factory<F>
where
    B: StorageBackend,
    F: Fn() -> io::Result<B> + Send + Sync,
{
    fn open(
        &self,
        builder: &redb::Builder,
        scratch: bool,
    ) -> Result<redb::Database, DatabaseError> {
        let backend = (self.0)()?;
        if scratch {
            builder.create_with_backend(Overlay::new(backend)?)
        } else {
            builder.create_with_backend(backend)
        }
    }

    fn head(&self, out: &mut [u8]) -> io::Result<u64> {
        let backend = (self.0)()?;
        let len = backend.len()?;
        let n = out.len().min(usize::try_from(len).unwrap_or(usize::MAX));
        backend.read(0, &mut out[..n])?;
        backend.close()?;
        Ok(len)
    }
}

/// Where the store's database comes from, when the store can open it again.
#[derive(Clone)]
pub(crate) enum Origin {
    Path(PathBuf),
    Backend(Arc<dyn Opener>),
}

impl fmt::Debug for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Path(path) => f.debug_tuple("Path").field(path).finish(),
            Origin::Backend(_) => f.write_str("Backend(..)"),
        }
    }
}

/// Why an open gave no database.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Not memo's file: never written, never moved. The message names the file.
    Foreign(String),
    /// Not usable now (held by another process, not writable, an I/O error, a disk full, a
    /// damaged file that cannot be moved aside): the store may run uncached and try again.
    Unavailable(memo_core::Error),
    /// A mistake in the configuration (a missing directory, a directory as the file).
    Fatal(memo_core::Error),
}

/// A database, and where a damaged file it replaced went.
pub(crate) struct Opened {
    pub(crate) db: redb::Database,
    pub(crate) moved_aside: Option<PathBuf>,
}

fn redb_builder(check_integrity: bool) -> redb::Builder {
    let mut builder = redb::Database::builder();
    builder.set_check_integrity_on_open(check_integrity);
    builder
}

/// What [`classify`] found in a non-empty file with redb's magic number.
enum Kind {
    Mine,
    Foreign(&'static str),
    Damaged(String),
}

/// Opens the database at `origin`, creating it when the storage is missing or empty.
pub(crate) fn open(origin: &Origin, check_integrity: bool) -> Result<Opened, Failure> {
    match origin {
        Origin::Path(path) => open_path(path, check_integrity),
        Origin::Backend(opener) => open_backend(opener.as_ref(), check_integrity),
    }
}

fn open_path(path: &Path, check_integrity: bool) -> Result<Opened, Failure> {
    let unavailable =
        |source: DatabaseError| Failure::Unavailable(crate::error::open(path, source));
    let fatal = |source: io::Error| Failure::Fatal(crate::error::open(path, source.into()));
    let fresh = || {
        redb_builder(false)
            .create(path)
            .map(|db| Opened {
                db,
                moved_aside: None,
            })
            .map_err(|e| match e {
                DatabaseError::Storage(StorageError::Io(io)) if is_config_mistake(&io) => fatal(io),
                e => unavailable(e),
            })
    };
    let len = match std::fs::metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return fresh(),
        Err(e) => return Err(unavailable(e.into())),
        Ok(meta) if meta.is_dir() => {
            return Err(fatal(io::Error::new(
                io::ErrorKind::IsADirectory,
                "a directory, not a file",
            )));
        }
        Ok(meta) => meta.len(),
    };
    if len == 0 {
        return fresh();
    }
    let file = || OpenOptions::new().read(true).write(true).open(path);
    let head = read_head(&file().map_err(|e| unavailable(e.into()))?)
        .map_err(|e| unavailable(e.into()))?;
    let kind = if head == MAGIC {
        classify(|| {
            let backend = FileBackend::new(file()?)?;
            redb_builder(false).create_with_backend(Overlay::new(backend)?)
        })
        .map_err(unavailable)?
    } else {
        Kind::Foreign("it is not a redb database")
    };
    let reason = match kind {
        Kind::Foreign(why) => return Err(foreign(&path.display().to_string(), why)),
        Kind::Damaged(reason) => reason,
        Kind::Mine => match guarded_open(|| redb_builder(check_integrity).create(path)) {
            Ok(db) => {
                return Ok(Opened {
                    db,
                    moved_aside: None,
                });
            }
            Err(Refused::Damaged(reason)) => reason,
            Err(Refused::Failed(e)) => return Err(unavailable(e)),
        },
    };
    replace_path(path, &reason)
}

/// Moves memo's damaged cache at `origin` aside and creates a fresh one in its place.
pub(crate) fn replace(origin: &Origin, reason: &str) -> Result<Opened, Failure> {
    match origin {
        Origin::Path(path) => replace_path(path, reason),
        Origin::Backend(_) => Err(backend_damaged(reason)),
    }
}

fn replace_path(path: &Path, reason: &str) -> Result<Opened, Failure> {
    let aside = aside_name(path);
    tracing::warn!(file = %path.display(), moved_to = %aside.display(), %reason,
        "memo-redb: the cache file is damaged; moving it aside and starting a fresh one");
    std::fs::rename(path, &aside)
        .map_err(|e| Failure::Unavailable(crate::error::open(path, e.into())))?;
    let db = redb_builder(false)
        .create(path)
        .map_err(|e| Failure::Unavailable(crate::error::open(path, e)))?;
    Ok(Opened {
        db,
        moved_aside: Some(aside),
    })
}

fn backend_damaged(reason: &str) -> Failure {
    Failure::Unavailable(crate::error::unavailable(format!(
        "the database in the storage backend is damaged ({reason}); a backend cannot be moved \
         aside, so the store stays uncached until the backend holds a sound or empty database"
    )))
}

fn open_backend(opener: &dyn Opener, check_integrity: bool) -> Result<Opened, Failure> {
    let unavailable = |source: DatabaseError| {
        Failure::Unavailable(crate::error::open(Path::new("the storage backend"), source))
    };
    let mut head = [0; MAGIC.len()];
    let len = opener.head(&mut head).map_err(|e| unavailable(e.into()))?;
    let kind = if len == 0 {
        Kind::Mine
    } else if head == MAGIC {
        classify(|| opener.open(&redb_builder(false), true)).map_err(unavailable)?
    } else {
        Kind::Foreign("it is not a redb database")
    };
    let reason = match kind {
        Kind::Foreign(why) => return Err(foreign("the storage backend", why)),
        Kind::Damaged(reason) => reason,
        Kind::Mine => match guarded_open(|| opener.open(&redb_builder(check_integrity), false)) {
            Ok(db) => {
                return Ok(Opened {
                    db,
                    moved_aside: None,
                });
            }
            Err(Refused::Damaged(reason)) => reason,
            Err(Refused::Failed(e)) => return Err(unavailable(e)),
        },
    };
    Err(backend_damaged(&reason))
}

fn foreign(what: &str, why: &str) -> Failure {
    Failure::Foreign(format!(
        "redb: {what} is not a memo cache ({why}); memo leaves it untouched: give the store \
         another file, or delete this one if it is yours to lose"
    ))
}

/// A missing directory or a directory as the file: configuration, not a passing fault.
fn is_config_mistake(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::IsADirectory | io::ErrorKind::NotADirectory
    )
}

fn read_head(file: &File) -> io::Result<[u8; MAGIC.len()]> {
    use std::os::unix::fs::FileExt;
    let mut head = [0; MAGIC.len()];
    match file.read_exact_at(&mut head, 0) {
        Ok(()) => Ok(head),
        // Shorter than the magic number: not redb's.
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok([0; MAGIC.len()]),
        Err(e) => Err(e),
    }
}

/// An open that failed: the file is damaged, or something else went wrong.
enum Refused {
    Damaged(String),
    Failed(DatabaseError),
}

/// Runs an open, telling damage (redb's `Corrupted`, an `InvalidData` read of a file whose magic
/// number is redb's, a panic inside redb) from other failures.
fn guarded_open(
    open: impl FnOnce() -> Result<redb::Database, DatabaseError>,
) -> Result<redb::Database, Refused> {
    match catch_unwind(AssertUnwindSafe(open)) {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(DatabaseError::Storage(StorageError::Corrupted(reason)))) => {
            Err(Refused::Damaged(reason))
        }
        // redb's magic number, then a structure that says nothing sound (InvalidData) or that
        // points past the end of the file (UnexpectedEof): damage, not a passing fault.
        Ok(Err(DatabaseError::Storage(StorageError::Io(e))))
            if matches!(
                e.kind(),
                io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof
            ) =>
        {
            Err(Refused::Damaged(e.to_string()))
        }
        Ok(Err(e)) => Err(Refused::Failed(e)),
        Err(panic) => Err(Refused::Damaged(format!(
            "redb panicked: {}",
            crate::error::panic_message(&*panic)
        ))),
    }
}

/// Opens a scratch copy (see [`Overlay`]) of a file with redb's magic number and reads its table
/// list. Errors are the failures that say nothing about whose the file is (held elsewhere, I/O).
fn classify(
    open: impl FnOnce() -> Result<redb::Database, DatabaseError>,
) -> Result<Kind, DatabaseError> {
    let db = match guarded_open(open) {
        Ok(db) => db,
        Err(Refused::Damaged(reason)) => return Ok(Kind::Damaged(reason)),
        Err(Refused::Failed(DatabaseError::UpgradeRequired(_))) => {
            return Ok(Kind::Foreign("it is in an older redb format"));
        }
        Err(Refused::Failed(e)) => return Err(e),
    };
    let listed = catch_unwind(AssertUnwindSafe(|| -> Result<_, redb::Error> {
        let txn = db.begin_read()?;
        let tables: Vec<String> = txn.list_tables()?.map(|t| t.name().to_owned()).collect();
        let multimap = txn.list_multimap_tables()?.count();
        Ok((tables, multimap))
    }));
    // Closing a scratch database writes nothing to the file.
    let _closed = catch_unwind(AssertUnwindSafe(|| drop(db)));
    Ok(match listed {
        Ok(Ok((tables, 0))) if tables.is_empty() => Kind::Mine,
        Ok(Ok((tables, _))) => {
            let has = |name: &str| tables.iter().any(|t| t == name);
            let memo = tables.iter().any(|t| {
                t.strip_suffix("/meta")
                    .is_some_and(|base| has(base) && has(&format!("{base}/expiry")))
            });
            if memo {
                Kind::Mine
            } else {
                Kind::Foreign("it is a redb database without memo's tables")
            }
        }
        Ok(Err(redb::Error::Corrupted(reason))) => Kind::Damaged(reason),
        Ok(Err(e)) => Kind::Damaged(e.to_string()),
        Err(panic) => Kind::Damaged(format!(
            "redb panicked: {}",
            crate::error::panic_message(&*panic)
        )),
    })
}

/// `<file name>.damaged-<unix seconds>` beside the file, with `-<n>` added when that is taken.
fn aside_name(path: &Path) -> PathBuf {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let name = path
        .file_name()
        .map_or_else(|| "cache".into(), |n| n.to_string_lossy().into_owned());
    let mut aside = path.with_file_name(format!("{name}.damaged-{secs}"));
    let mut n = 1;
    while aside.exists() {
        aside = path.with_file_name(format!("{name}.damaged-{secs}-{n}"));
        n += 1;
    }
    aside
}

const BLOCK: u64 = 4096;

/// A backend that reads through to `inner` and keeps every write in memory, so opening a
/// database through it (and the repair that may come with that) never changes the storage.
/// Locks go to `inner`, so a database held elsewhere is reported as such.
#[derive(Debug)]
pub(crate) struct Overlay<B> {
    inner: B,
    state: Mutex<OverlayState>,
}

#[derive(Debug)]
struct OverlayState {
    /// The storage's length as redb sees it.
    len: u64,
    /// Bytes at and past this offset were never `inner`'s (cut by `set_len`, or added).
    inner_end: u64,
    /// Written blocks, by index.
    blocks: BTreeMap<u64, Box<[u8]>>,
}

impl<B: StorageBackend> Overlay<B> {
    pub(crate) fn new(inner: B) -> io::Result<Self> {
        let len = inner.len()?;
        Ok(Overlay {
            inner,
            state: Mutex::new(OverlayState {
                len,
                inner_end: len,
                blocks: BTreeMap::new(),
            }),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, OverlayState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads `out.len()` bytes at `offset` that lie within one block.
    fn read_in_block(&self, state: &OverlayState, offset: u64, out: &mut [u8]) -> io::Result<()> {
        let index = offset / BLOCK;
        let within = (offset % BLOCK) as usize;
        if let Some(block) = state.blocks.get(&index) {
            out.copy_from_slice(&block[within..within + out.len()]);
            return Ok(());
        }
        out.fill(0);
        if offset < state.inner_end {
            let n = (state.inner_end - offset).min(out.len() as u64) as usize;
            self.inner.read(offset, &mut out[..n])?;
        }
        Ok(())
    }
}

impl<B: StorageBackend> StorageBackend for Overlay<B> {
    fn len(&self) -> io::Result<u64> {
        Ok(self.state().len)
    }

    fn read(&self, mut offset: u64, mut out: &mut [u8]) -> io::Result<()> {
        let state = self.state();
        if offset.saturating_add(out.len() as u64) > state.len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "read past the end of the storage",
            ));
        }
        while !out.is_empty() {
            let n = ((BLOCK - offset % BLOCK) as usize).min(out.len());
            let (here, rest) = out.split_at_mut(n);
            self.read_in_block(&state, offset, here)?;
            out = rest;
            offset += n as u64;
        }
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut state = self.state();
        if len < state.len {
            state.blocks.retain(|&index, _| index * BLOCK < len);
            if let Some(block) = state.blocks.get_mut(&(len / BLOCK)) {
                block[(len % BLOCK) as usize..].fill(0);
            }
            state.inner_end = state.inner_end.min(len);
        }
        state.len = len;
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        Ok(())
    }

    fn write(&self, mut offset: u64, mut data: &[u8]) -> io::Result<()> {
        let mut state = self.state();
        while !data.is_empty() {
            let index = offset / BLOCK;
            let within = (offset % BLOCK) as usize;
            let n = (BLOCK as usize - within).min(data.len());
            if !state.blocks.contains_key(&index) {
                let mut block = vec![0; BLOCK as usize].into_boxed_slice();
                self.read_in_block(&state, index * BLOCK, &mut block)?;
                state.blocks.insert(index, block);
            }
            let block = state.blocks.get_mut(&index).expect("inserted above");
            block[within..within + n].copy_from_slice(&data[..n]);
            data = &data[n..];
            offset += n as u64;
        }
        state.len = state.len.max(offset);
        Ok(())
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

#[cfg(test)]
mod tests {
    use redb::backends::InMemoryBackend;

    use super::*;

    fn inner(bytes: &[u8]) -> InMemoryBackend {
        let backend = InMemoryBackend::new();
        backend.set_len(bytes.len() as u64).unwrap();
        backend.write(0, bytes).unwrap();
        backend
    }

    fn read(backend: &impl StorageBackend, offset: u64, len: usize) -> Vec<u8> {
        let mut out = vec![0; len];
        backend.read(offset, &mut out).unwrap();
        out
    }

    #[test]
    fn an_overlay_reads_its_writes_and_leaves_the_storage_as_it_was() {
        let bytes: Vec<u8> = (0..3 * BLOCK).map(|i| (i % 251) as u8).collect();
        let overlay = Overlay::new(inner(&bytes)).unwrap();
        overlay.write(BLOCK - 2, &[0xEE; 4]).unwrap();
        let mut expected = bytes.clone();
        expected[BLOCK as usize - 2..BLOCK as usize + 2].fill(0xEE);
        assert_eq!(read(&overlay, 0, expected.len()), expected);
        assert_eq!(
            read(&overlay.inner, 0, bytes.len()),
            bytes,
            "storage unchanged"
        );

        // Cut, then grown again: the cut bytes read as zeros, as on a real file.
        overlay.set_len(BLOCK + 10).unwrap();
        overlay.set_len(3 * BLOCK + 5).unwrap();
        assert_eq!(overlay.len().unwrap(), 3 * BLOCK + 5);
        let back = read(&overlay, 0, (3 * BLOCK + 5) as usize);
        assert_eq!(back[..BLOCK as usize + 10], expected[..BLOCK as usize + 10]);
        assert!(back[BLOCK as usize + 10..].iter().all(|&b| b == 0));
        let mut past = [0; 8];
        assert!(overlay.read(3 * BLOCK, &mut past).is_err(), "past the end");
        overlay.write(4 * BLOCK, &[1, 2]).unwrap();
        assert_eq!(overlay.len().unwrap(), 4 * BLOCK + 2);
        assert_eq!(
            read(&overlay.inner, 0, bytes.len()),
            bytes,
            "storage unchanged"
        );
        assert_eq!(overlay.inner.len().unwrap(), bytes.len() as u64);
    }

    #[test]
    fn a_database_created_through_an_overlay_writes_nothing_to_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scratch.redb");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .unwrap();
        let overlay = Overlay::new(FileBackend::new(file).unwrap()).unwrap();
        let db = redb_builder(false).create_with_backend(overlay).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(redb::TableDefinition::<u64, u64>::new("t"))
            .unwrap()
            .insert(1, 2)
            .unwrap();
        txn.commit().unwrap();
        assert_eq!(db.begin_read().unwrap().list_tables().unwrap().count(), 1);
        drop(db);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    }
}
