//! What memo's test suites share: the Redis server named by `MEMO_REDIS_URL`, the rule that a
//! test which cannot run fails under `CI=true` and says why elsewhere, key prefixes no other
//! run uses, and private `redis-server` processes a test may freeze or kill.
//!
//! A dev-dependency of the crates whose tests need Redis; never published.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The variable that names the shared server.
pub const URL_VAR: &str = "MEMO_REDIS_URL";

/// Under `CI=true` a test that cannot run fails; elsewhere it says why and passes.
///
/// # Panics
/// Under `CI=true`.
pub fn skip(why: &str) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "cannot run under CI=true: {why}"
    );
    eprintln!("skipped: {why} (set CI=true to make this a failure)");
}

/// The URL of the server [`URL_VAR`] names if it answers `PING`, or why there is none; asked
/// once per process.
pub fn server() -> Result<String, String> {
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
///
/// # Panics
/// Under `CI=true` when there is no server.
pub fn url() -> Option<String> {
    server().map_err(|why| skip(&why)).ok()
}

/// Connects to `url` and sends `PING`, two seconds at most for each.
///
/// # Errors
/// The connection's or the command's.
pub fn ping(url: &str) -> redis::RedisResult<()> {
    let mut c = redis::Client::open(url)?.get_connection_with_timeout(Duration::from_secs(2))?;
    c.set_read_timeout(Some(Duration::from_secs(2)))?;
    redis::cmd("PING").query::<String>(&mut c).map(drop)
}

/// A key prefix, `<tag>:<16 hex digits>:`, that no other test, process or run uses.
pub fn unique_prefix(tag: &str) -> String {
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let salt = (std::process::id(), COUNT.fetch_add(1, Ordering::Relaxed));
    format!("{tag}:{:016x}:", RandomState::new().hash_one(salt))
}

/// Waits until `done` holds, checking every 5 ms.
///
/// # Panics
/// After `limit`: a guard against a hang, far above the expected wait, never a timing claim.
pub fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < limit,
            "gave up waiting for {what} after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A port nothing listens on right now.
///
/// # Panics
/// When no port can be bound.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Whether a `redis-server` binary can be run.
pub fn has_redis_server() -> bool {
    Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A `redis-server` of the test's own on 127.0.0.1, without persistence; killed when dropped.
pub struct LocalServer {
    port: u16,
    child: Option<Child>,
}

impl LocalServer {
    /// Starts a server on a free port and waits until it answers.
    ///
    /// # Panics
    /// When `redis-server` does not start or does not answer within 20 s.
    pub fn start() -> Self {
        Self::start_on(free_port())
    }

    /// Starts a server on `port` (one a killed server used, say) and waits until it answers.
    ///
    /// # Panics
    /// When `redis-server` does not start or does not answer within 20 s.
    pub fn start_on(port: u16) -> Self {
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

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Sends `signal` with the `kill` command: `STOP` freezes the server without closing a
    /// connection, `CONT` thaws it.
    ///
    /// # Panics
    /// When the server was killed, or `kill` fails.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("a running server").id();
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .expect("the kill command runs");
        assert!(status.success(), "kill -{signal} {pid}: {status}");
    }

    /// Kills the server (SIGKILL: no goodbye to its clients) and reaps it.
    pub fn kill(&mut self) {
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
