//! The server the tests run against, the skip-or-fail policy, child processes and a private
//! `redis-server` for the restart test.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use memo_store_redis::{RedisStore, RedisStoreBuilder};
pub(crate) use memo_test_support::{
    LocalServer, free_port, has_redis_server, server, skip, url, wait_until,
};

/// Set in a child process: which role the re-executed test plays.
pub(crate) const CHILD_VAR: &str = "MEMO_REDIS_TEST_CHILD";
/// Set in a child process: the key prefix its parent chose.
pub(crate) const PREFIX_VAR: &str = "MEMO_REDIS_TEST_PREFIX";

/// A prefix no other test or run uses.
pub(crate) fn unique_prefix() -> String {
    memo_test_support::unique_prefix("memo-test")
}

/// A builder on `url` under a fresh prefix.
pub(crate) fn builder(url: &str) -> RedisStoreBuilder {
    RedisStore::builder(url).prefix(&unique_prefix())
}

/// A store on `url` under a fresh prefix.
pub(crate) fn store(url: &str) -> RedisStore {
    builder(url).build().expect("a store on the test server")
}

/// A plain connection, to look at what the store wrote.
pub(crate) fn raw(url: &str) -> redis::Connection {
    let c = redis::Client::open(url)
        .expect("a valid URL")
        .get_connection_with_timeout(Duration::from_secs(5))
        .expect("a raw connection to the test server");
    c.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("a read timeout");
    c
}

/// A connection in `MONITOR` mode: every command the server runs from now on, a line each.
pub(crate) fn monitor(url: &str) -> redis::Connection {
    let mut monitor = raw(url);
    monitor
        .send_packed_command(&redis::cmd("MONITOR").get_packed_command())
        .expect("MONITOR is sent");
    assert_eq!(
        monitor.recv_response().expect("MONITOR's reply"),
        redis::Value::Okay
    );
    monitor
}

/// The role this process plays when a test re-executed the binary, if it did.
pub(crate) fn child_role() -> Option<String> {
    std::env::var(CHILD_VAR).ok()
}

/// Re-executes this test binary to run only `test` (its full path in the binary), as `role`.
pub(crate) fn spawn_child(test: &str, role: &str, prefix: &str) -> Child {
    Command::new(std::env::current_exe().expect("the test binary's path"))
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_VAR, role)
        .env(PREFIX_VAR, prefix)
        .stdin(Stdio::null())
        // The test harness's chatter; a failing child's panic goes to stderr.
        .stdout(Stdio::null())
        .spawn()
        .expect("a child process")
}

/// The prefix the parent passed to this child.
pub(crate) fn child_prefix() -> String {
    std::env::var(PREFIX_VAR).expect("the parent passes a prefix")
}
