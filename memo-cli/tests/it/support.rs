//! Running the binary, temp stores, and the Redis server the tests share.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use memo_test_support::url as redis_url;
pub(crate) use memo_test_support::wait_until;

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

    /// A sandbox over the Redis server under a fresh prefix; `None` when there is none (a
    /// failure under `CI=true`).
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

/// A key prefix no other test or run uses.
pub(crate) fn unique_prefix() -> String {
    memo_test_support::unique_prefix("memo-cli-test")
}
