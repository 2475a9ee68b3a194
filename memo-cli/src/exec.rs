//! `memo exec`: replay a cached run of a command, or run it once and cache it.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use memo::url::StoreUrl;
use memo::{Lock, Record};
use serde::{Deserialize, Serialize};

use crate::cli::ExecArgs;
use crate::fail::{Fail, error_chain};
use crate::key::exec_key;
use crate::store::{self, FileLock, Handle, REDIS_LEASE};

/// The version of [`Captured`]'s layout; a record of another version is a miss.
const VERSION: u8 = 1;

/// memo's own failure before the command ran.
const MEMO_FAILED: i32 = 125;

/// Test-only: the unix time `memo exec` takes as now, so that tests move time instead of
/// sleeping. Not for use outside memo's own tests.
pub(crate) const TEST_NOW_VAR: &str = "MEMO_TEST_NOW";

/// A command's run as `memo exec` keeps it: the record's value, in postcard.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Captured {
    /// [`VERSION`].
    pub(crate) version: u8,
    /// stdout and stderr in the order they were read.
    pub(crate) chunks: Vec<Chunk>,
    /// The exit status; a signal death is 128 + the signal's number.
    pub(crate) code: i32,
    /// How long the command ran, in milliseconds.
    pub(crate) millis: u64,
}

/// Bytes the command wrote to one stream.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Chunk {
    /// Where they went.
    pub(crate) stream: Stream,
    /// What was written.
    pub(crate) bytes: Vec<u8>,
}

/// stdout or stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Stream {
    /// Standard output.
    Out,
    /// Standard error.
    Err,
}

impl Captured {
    /// The captured run in `value`, when it is one of this version.
    pub(crate) fn decode(value: &[u8]) -> Option<Self> {
        postcard::from_bytes::<Captured>(value)
            .ok()
            .filter(|c| c.version == VERSION)
    }

    /// Everything written to `stream`, concatenated.
    pub(crate) fn stream(&self, stream: Stream) -> Vec<u8> {
        self.chunks
            .iter()
            .filter(|c| c.stream == stream)
            .flat_map(|c| c.bytes.iter().copied())
            .collect()
    }
}

/// The time now in unix seconds (or the test clock's).
pub(crate) fn now() -> f64 {
    if let Some(now) = std::env::var(TEST_NOW_VAR)
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
    {
        return now;
    }
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Says once that the cache is not used, and why; the command still runs.
fn warn(why: &str) {
    static SAID: AtomicBool = AtomicBool::new(false);
    if !SAID.swap(true, Ordering::Relaxed) {
        eprintln!("memo: warning: {why}; running the command uncached");
    }
}

/// An opened store, `None` for a store that is down (said once: the command runs uncached), or
/// the exit code for memo's own failure (said, and the command does not run).
fn opened(opened: Result<Handle, Fail>) -> Result<Option<Handle>, i32> {
    match opened {
        Ok(handle) => Ok(Some(handle)),
        Err(Fail::Down(why)) => {
            warn(&why);
            Ok(None)
        }
        Err(e) => {
            eprintln!("memo: {e}");
            Err(MEMO_FAILED)
        }
    }
}

/// Runs `memo exec` and returns its exit code.
pub(crate) fn exec(url: Option<&str>, args: &ExecArgs) -> i32 {
    let prepared = exec_key(args).and_then(|key| Ok((key, store::parse(url)?)));
    let (key, url) = match prepared {
        Ok(prepared) => prepared,
        Err(e) => {
            eprintln!("memo: {e}");
            return MEMO_FAILED;
        }
    };
    let fresh_for = if args.refresh { args.stale } else { None };
    let finish = |found: &(f64, Captured)| {
        if args.refresh {
            0
        } else {
            serve(found, &url, args)
        }
    };
    let mut handle;
    let mut redb_file = None;
    let mut file_lock = None;
    let mut store_lock: Option<Box<dyn Lock>> = None;
    if let StoreUrl::Redb { path } = &url {
        let file = match store::redb_file(&url, path.is_none()) {
            Ok(file) => file,
            Err(e) => {
                eprintln!("memo: {e}");
                return MEMO_FAILED;
            }
        };
        // A hit reads the file read-only: no write and no fsync, where opening it as a store
        // marks it open and commits.
        if !args.force
            && let Ok(Some(found)) = peek(&file, &key, fresh_for)
        {
            return finish(&found);
        }
        // A miss (or a file busy or unclean just now): redb lets one process hold the file, so
        // wait for the key's lock with the file closed, then look again, read-only when the
        // file allows, else through a full open (which creates a missing file and repairs an
        // unclean one).
        match FileLock::acquire(&file, &key) {
            Ok(lock) => file_lock = Some(lock),
            Err(e) => warn(&format!("cannot lock {}: {e}", file.display())),
        }
        let again = if args.force {
            Ok(None)
        } else {
            peek(&file, &key, fresh_for)
        };
        handle = match again {
            Ok(Some(found)) => {
                drop(file_lock);
                return finish(&found);
            }
            Ok(None) => None,
            Err(_) => match opened(store::open_redb(&file).map(Handle::Redb)) {
                Ok(handle) => handle,
                Err(code) => return code,
            },
        };
        redb_file = Some(file);
    } else {
        handle = match opened(store::open(&url, true)) {
            Ok(handle) => handle,
            Err(code) => return code,
        };
        if !args.force
            && let Some(found) = lookup(handle.as_ref(), &key, now(), fresh_for)
        {
            drop(handle);
            return finish(&found);
        }
        // A miss: take the store's lock on the key (Redis's is shared by every machine on the
        // server), then look again: another process may have just run the command.
        if let Some(any) = handle.as_ref().map(Handle::store)
            && let Some(lock) = any.lock(&key)
        {
            match lock.acquire(REDIS_LEASE) {
                Ok(true) => store_lock = Some(lock),
                Ok(false) => {}
                Err(e) => warn(&error_chain(&e)),
            }
        }
    }
    if !args.force
        && let Some(found) = lookup(handle.as_ref(), &key, now(), fresh_for)
    {
        drop(handle);
        release(store_lock.as_deref());
        drop(file_lock);
        return finish(&found);
    }
    if redb_file.is_some() {
        handle = None;
    }

    let captured = match run(&args.command, !args.refresh) {
        Ok(captured) => captured,
        Err(e) => {
            let name = args.command[0].to_string_lossy();
            release(store_lock.as_deref());
            return if e.kind() == io::ErrorKind::NotFound {
                eprintln!("memo: {name}: command not found");
                127
            } else {
                eprintln!("memo: {name}: {e}");
                126
            };
        }
    };
    if !(args.discard_failures && captured.code != 0) {
        if let Some(file) = &redb_file {
            handle = reopen(file);
        }
        if let Some(handle) = &handle {
            let created = now();
            let expiry = args.ttl.map(|ttl| created + ttl.as_secs_f64());
            let value = postcard::to_stdvec(&captured).unwrap_or_default();
            if let Err(e) = handle
                .store()
                .set(&key, Record::new(created, expiry, value))
            {
                warn(&format!("the result was not cached: {}", error_chain(&e)));
            }
        }
    }
    drop(handle);
    release(store_lock.as_deref());
    drop(file_lock);
    captured.code
}

/// A redb file opened again; `None` (after a warning) when it cannot be.
fn reopen(file: &Path) -> Option<Handle> {
    match store::open_redb(file) {
        Ok(db) => Some(Handle::Redb(db)),
        Err(e) => {
            warn(&e.to_string());
            None
        }
    }
}

fn release(lock: Option<&dyn Lock>) {
    if let Some(lock) = lock
        && let Err(e) = lock.release()
    {
        eprintln!("memo: warning: releasing the lock: {}", error_chain(&e));
    }
}

/// A cached run under `key` that has not expired (and, with `fresh_for`, is younger than
/// that), with its record's creation time. A store error is a miss, after a warning.
fn lookup(
    handle: Option<&Handle>,
    key: &str,
    now: f64,
    fresh_for: Option<Duration>,
) -> Option<(f64, Captured)> {
    match handle?.store().get(key) {
        Ok(record) => usable(record?, now, fresh_for),
        Err(e) => {
            warn(&error_chain(&e));
            None
        }
    }
}

/// [`lookup`] over a redb file opened read-only; an error when the file cannot be opened so
/// (missing, busy, not closed cleanly), for the caller to open it as a store instead.
fn peek(
    file: &Path,
    key: &str,
    fresh_for: Option<Duration>,
) -> memo::Result<Option<(f64, Captured)>> {
    Ok(memo::redb::peek_file(file, "memo", key)?.and_then(|r| usable(r, now(), fresh_for)))
}

fn usable(record: Record, now: f64, fresh_for: Option<Duration>) -> Option<(f64, Captured)> {
    if record.is_expired(now) {
        return None;
    }
    if fresh_for.is_some_and(|fresh| now - record.created >= fresh.as_secs_f64()) {
        return None;
    }
    Some((record.created, Captured::decode(&record.value)?))
}

/// Replays a hit, starting a background refresh first when it is stale.
fn serve((created, captured): &(f64, Captured), url: &StoreUrl, args: &ExecArgs) -> i32 {
    if let Some(stale) = args.stale
        && now() - created >= stale.as_secs_f64()
    {
        refresh_in_background(url, args);
    }
    replay(captured);
    captured.code
}

/// Starts `memo exec --refresh …` detached, with its stdio on /dev/null, as bkt does.
fn refresh_in_background(url: &StoreUrl, args: &ExecArgs) {
    let started = std::env::current_exe().and_then(|exe| {
        Command::new(exe)
            .env("MEMO_STORE", url.to_string())
            .args(args.refresh_args())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group: a Ctrl-C meant for the caller does not stop it.
            .process_group(0)
            .spawn()
    });
    if let Err(e) = started {
        eprintln!("memo: warning: cannot start the background refresh: {e}");
    }
}

/// Writes a captured run to this process's stdout and stderr, in its order.
fn replay(captured: &Captured) {
    let mut out = io::stdout().lock();
    let mut err = io::stderr().lock();
    // A closed pipe downstream (`memo exec … | head`) ends the replay, not the exit status.
    let _ = (|| -> io::Result<()> {
        for chunk in &captured.chunks {
            match chunk.stream {
                Stream::Out => out.write_all(&chunk.bytes)?,
                Stream::Err => {
                    out.flush()?;
                    err.write_all(&chunk.bytes)?;
                }
            }
        }
        out.flush()
    })();
}

/// Runs the command, reading stdout and stderr on two threads into one list in arrival order,
/// and (with `tee`) passing them through as they come.
fn run(argv: &[OsString], tee: bool) -> io::Result<Captured> {
    let start = Instant::now();
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(if tee { Stdio::inherit() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let chunks = Mutex::new(Vec::<Chunk>::new());
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    std::thread::scope(|s| {
        if let Some(pipe) = stdout {
            s.spawn(|| pump(pipe, Stream::Out, &chunks, tee));
        }
        if let Some(pipe) = stderr {
            s.spawn(|| pump(pipe, Stream::Err, &chunks, tee));
        }
    });
    let status = child.wait()?;
    let code = status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    Ok(Captured {
        version: VERSION,
        chunks: chunks
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
        code,
        millis: u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

fn pump(mut pipe: impl Read, stream: Stream, chunks: &Mutex<Vec<Chunk>>, tee: bool) {
    let mut buf = vec![0; 64 << 10];
    loop {
        let n = match pipe.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        };
        let bytes = &buf[..n];
        let mut chunks = chunks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Written while holding the list, so the terminal sees the order the record keeps.
        if tee {
            let _ = match stream {
                Stream::Out => io::stdout().lock().write_all(bytes),
                Stream::Err => io::stderr().lock().write_all(bytes),
            };
            let _ = io::stdout().flush();
        }
        match chunks.last_mut() {
            Some(last) if last.stream == stream => last.bytes.extend_from_slice(bytes),
            _ => chunks.push(Chunk {
                stream,
                bytes: bytes.to_vec(),
            }),
        }
    }
}
