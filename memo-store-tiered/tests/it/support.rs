//! The Redis server the tests run against, the skip-or-fail policy, child processes, and a
//! private `redis-server` that a test may kill.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use memo_store_redis::RedisStore;

/// The variable that names the server.
const URL_VAR: &str = "MEMO_REDIS_URL";
/// Set in a child process: which role the re-executed test plays.
const CHILD_VAR: &str = "MEMO_TIERED_TEST_CHILD";
/// Set in a child process: what the parent passes (a path, a prefix).
const ARG_VAR: &str = "MEMO_TIERED_TEST_ARG";

/// Under `CI=true` a test that cannot run fails; elsewhere it says why and passes.
///
/// # Panics
/// Under `CI=true`.
pub(crate) fn skip(why: &str) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "cannot run under CI=true: {why}"
    );
    eprintln!("skipped: {why} (set CI=true to make this a failure)");
}

/// The URL of a server that answers `PING`, or why there is none.
pub(crate) fn server() -> Result<String, String> {
    static CHECKED: OnceLock<Result<String, String>> = OnceLock::new();
    CHECKED
        .get_or_init(|| {
            let url = std::env::var(URL_VAR)
                .ok()
                .filter(|u| !u.is_empty())
                .ok_or_else(|| format!("{URL_VAR} is not set"))?;
            ping(&url).map_err(|e| format!("no redis server answers at {url}: {e}"))?;
            Ok(url)
        })
        .clone()
}

/// The server's URL, or `None` after [`skip`].
pub(crate) fn url() -> Option<String> {
    server().map_err(|why| skip(&why)).ok()
}

fn ping(url: &str) -> redis::RedisResult<()> {
    let mut c = redis::Client::open(url)?.get_connection_with_timeout(Duration::from_secs(2))?;
    c.set_read_timeout(Some(Duration::from_secs(2)))?;
    redis::cmd("PING").query::<String>(&mut c).map(drop)
}

/// A prefix no other test or run uses.
pub(crate) fn unique_prefix() -> String {
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let salt = (std::process::id(), COUNT.fetch_add(1, Ordering::Relaxed));
    format!(
        "memo-tiered-test:{:016x}:",
        RandomState::new().hash_one(salt)
    )
}

/// A store on `url` under `prefix`, with short timeouts so a dead server fails fast.
pub(crate) fn redis_store(url: &str, prefix: &str) -> RedisStore {
    RedisStore::builder(url)
        .prefix(prefix)
        .connect_timeout(Duration::from_millis(300))
        .read_timeout(Duration::from_millis(500))
        .write_timeout(Duration::from_millis(500))
        .build()
        .expect("a store on the test server")
}

/// The role this process plays when a test re-executed the binary, if it did.
pub(crate) fn child_role() -> Option<String> {
    std::env::var(CHILD_VAR).ok()
}

/// What the parent passed to this child.
pub(crate) fn child_arg() -> String {
    std::env::var(ARG_VAR).expect("the parent passes an argument")
}

/// This test binary, running only `test` (its full path in the binary) as `role`, given
/// `arg`, with piped stdin and stdout.
pub(crate) fn child(test: &str, role: &str, arg: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("the test binary's path"));
    command
        .args([test, "--exact", "--nocapture", "--test-threads=1", "-q"])
        .env(CHILD_VAR, role)
        .env(ARG_VAR, arg)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    command
}

/// Waits until `done` holds, checking every 5 ms; panics after `limit` (a hang guard).
pub(crate) fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < limit,
            "gave up waiting for {what} after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Whether a `redis-server` binary can be run.
pub(crate) fn has_redis_server() -> bool {
    Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A `redis-server` of this test's own, without persistence; killed when dropped.
pub(crate) struct LocalServer {
    port: u16,
    child: Option<Child>,
}

impl LocalServer {
    /// Starts the server on a free port and waits until it answers.
    pub(crate) fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        Self::start_on(port)
    }

    /// Starts the server on `port` and waits until it answers.
    pub(crate) fn start_on(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        let server = LocalServer {
            port,
            child: Some(child),
        };
        let url = server.url();
        wait_until(
            "the local redis-server to answer",
            Duration::from_secs(20),
            || ping(&url).is_ok(),
        );
        server
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (SIGKILL) and reaps it.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.kill();
    }
}
