//! The Redis server the tests run against, the skip-or-fail policy, child processes, and a
//! private `redis-server` that a test may kill.

use std::process::{Command, Stdio};
use std::time::Duration;

use memo_store_redis::RedisStore;
pub(crate) use memo_test_support::{LocalServer, has_redis_server, server, skip, url, wait_until};

/// Set in a child process: which role the re-executed test plays.
const CHILD_VAR: &str = "MEMO_TIERED_TEST_CHILD";
/// Set in a child process: what the parent passes (a path, a prefix).
const ARG_VAR: &str = "MEMO_TIERED_TEST_ARG";

/// A prefix no other test or run uses.
pub(crate) fn unique_prefix() -> String {
    memo_test_support::unique_prefix("memo-tiered-test")
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
