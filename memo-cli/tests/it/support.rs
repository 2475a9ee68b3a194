//! Running the binary, temp stores, and the Redis server the tests share.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A fresh directory and a redb store URL in it.
pub(crate) struct Sandbox {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) store: String,
}

impl Sandbox {
    /// A sandbox over a redb file.
    pub(crate) fn redb() -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = format!("redb://{}", dir.path().join("cache.redb").display());
        Sandbox { dir, store }
    }

    /// A sandbox over the Redis server under a fresh prefix; `None` after [`skip`].
    pub(crate) fn redis() -> Option<Self> {
        let url = redis_url()?;
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = format!("{}?prefix={}", url.trim_end_matches('/'), unique_prefix());
        Some(Sandbox { dir, store })
    }

    /// A path in the sandbox.
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `memo ARGS` over this sandbox's store, run in its directory.
    pub(crate) fn memo(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_memo"));
        command
            .args(args)
            .env("MEMO_STORE", &self.store)
            .env_remove("MEMO_TEST_NOW")
            .current_dir(self.dir.path());
        command
    }

    /// Runs `memo ARGS` and returns its output.
    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.memo(args).output().expect("memo runs")
    }

    /// Runs `memo ARGS` with the test clock at `now`.
    pub(crate) fn run_at(&self, now: f64, args: &[&str]) -> Output {
        self.memo(args)
            .env("MEMO_TEST_NOW", now.to_string())
            .output()
            .expect("memo runs")
    }

    /// How many lines a counter file that commands append to has.
    pub(crate) fn count(&self, name: &str) -> usize {
        lines(&self.path(name))
    }
}

/// The lines of a file; 0 when it is missing.
pub(crate) fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |s| s.lines().count())
}

/// stdout as text.
pub(crate) fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// stderr as text.
pub(crate) fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The exit code.
pub(crate) fn code(output: &Output) -> i32 {
    output.status.code().expect("exited, not killed")
}

/// stdout parsed as JSON, after checking that the command succeeded.
pub(crate) fn json(output: &Output) -> serde_json::Value {
    assert_eq!(code(output), 0, "stderr: {}", stderr(output));
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}

/// Waits until `done` holds; panics after a generous deadline (a hang, not a timing claim).
pub(crate) fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Under `CI=true` a test that cannot run fails; elsewhere it says why and passes.
pub(crate) fn skip(why: &str) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "cannot run under CI=true: {why}"
    );
    eprintln!("skipped: {why} (set CI=true to make this a failure)");
}

/// The URL of a Redis server that answers `PING`, or `None` after [`skip`].
pub(crate) fn redis_url() -> Option<String> {
    static CHECKED: OnceLock<Result<String, String>> = OnceLock::new();
    CHECKED
        .get_or_init(|| {
            let url = std::env::var("MEMO_REDIS_URL")
                .ok()
                .filter(|u| !u.is_empty())
                .ok_or_else(|| "MEMO_REDIS_URL is not set".to_owned())?;
            ping(&url).map_err(|e| format!("no redis server answers at {url}: {e}"))?;
            Ok(url)
        })
        .clone()
        .map_err(|why| skip(&why))
        .ok()
}

fn ping(url: &str) -> redis::RedisResult<()> {
    let mut c = redis::Client::open(url)?.get_connection_with_timeout(Duration::from_secs(2))?;
    c.set_read_timeout(Some(Duration::from_secs(2)))?;
    redis::cmd("PING").query::<String>(&mut c).map(drop)
}

/// A key prefix no other test or run uses.
pub(crate) fn unique_prefix() -> String {
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let salt = (std::process::id(), COUNT.fetch_add(1, Ordering::Relaxed));
    format!("memo-cli-test:{:016x}:", RandomState::new().hash_one(salt))
}
