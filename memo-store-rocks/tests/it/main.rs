//! Integration tests of `RocksStore`: the conformance kit, real child processes (crashes, a
//! second reader, exclusive access), purging, a full device and scale.

mod crash;
mod damage;
mod full;
mod options;
mod process;
mod purge;
mod scale;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use memo_conformance::Harness;
use memo_core::{Record, Store};
use memo_store_rocks::RocksStore;

fn harness() -> Harness {
    // Exclusive: a handle the kit failed to drop before a reopen is an error, not a quiet
    // read-only store.
    Harness::persistent(|dir| {
        RocksStore::builder(dir.join("cache"))
            .exclusive(true)
            .build()
    })
}

memo_conformance::suite!(harness);

/// The same contract without the WAL, every write synced on its own schedule.
mod without_wal {
    use memo_conformance::Harness;
    use memo_store_rocks::{Compression, RocksStore, SyncPolicy};

    fn harness() -> Harness {
        Harness::persistent(|dir| {
            RocksStore::builder(dir.join("cache"))
                .wal(false)
                .sync(SyncPolicy::Never)
                .compression(Compression::None)
                .exclusive(true)
                .build()
        })
        .cases(16)
    }

    memo_conformance::suite!(harness);
}

/// Set in a child process of this binary: which test's child part to run.
const CHILD: &str = "MEMO_ROCKS_TEST_CHILD";
/// The database directory the child works on.
const CHILD_DIR: &str = "MEMO_ROCKS_TEST_DIR";

/// The child part a test runs when this process was started by [`child`], if any.
fn child_role() -> Option<String> {
    std::env::var(CHILD).ok()
}

/// This test binary, running only the test `test` (a path such as `crash::name`) as the child
/// `role`, on the database `dir`, its stdout piped.
fn child(test: &str, role: &str, dir: &Path) -> Command {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut cmd = Command::new(exe);
    cmd.args([
        test,
        "--exact",
        "--nocapture",
        "--test-threads=1",
        "--include-ignored",
    ])
    .env(CHILD, role)
    .env(CHILD_DIR, dir)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    cmd
}

fn child_dir() -> PathBuf {
    std::env::var_os(CHILD_DIR)
        .expect("a child gets its directory")
        .into()
}

/// Every record decodes; returns how many there are.
fn assert_every_record_decodes(store: &RocksStore) -> usize {
    let keys = store.scan("").expect("scan");
    for key in &keys {
        let _: Record = store
            .get(key)
            .unwrap_or_else(|e| panic!("record {key:?} does not decode: {e}"))
            .unwrap_or_else(|| panic!("scanned key {key:?} has no record"));
    }
    keys.len()
}
