//! Integration tests of `RedbStore`: the conformance kit, real child processes (crashes, exits,
//! reopening, a second opener, damaged files), faults and recovery, purging, the size bound and
//! the options.

mod bound;
mod crash;
mod damage;
mod exit;
mod failing_commits;
mod faults;
mod model;
mod options;
mod process;
mod purge;

use std::path::Path;
use std::process::{Command, Stdio};

use memo_conformance::Harness;
use memo_core::{Record, Store};
use memo_store_redb::RedbStore;

fn harness() -> Harness {
    Harness::persistent(|dir| RedbStore::open(dir.join("cache.redb")))
}

memo_conformance::suite!(harness);

/// The same contract with every write durable on its own (no write queue).
mod immediate {
    use memo_conformance::Harness;
    use memo_store_redb::{Durability, RedbStore};

    fn harness() -> Harness {
        Harness::persistent(|dir| {
            RedbStore::builder(dir.join("cache.redb"))
                .durability(Durability::Immediate)
                .build()
        })
        .cases(16)
        // Every write waits for the disk here; the default harness above checks 2,048 records.
        .many(256)
    }

    memo_conformance::suite!(harness);
}

/// The same contract under a size bound that evicts (a lossy store).
mod bounded {
    use memo_conformance::Harness;
    use memo_store_redb::RedbStore;

    fn harness() -> Harness {
        Harness::persistent(|dir| {
            RedbStore::builder(dir.join("cache.redb"))
                .max_bytes(4 << 10)
                .build()
        })
    }

    memo_conformance::suite!(harness);
}

/// Set in a child process of this binary: which test's child part to run.
const CHILD: &str = "MEMO_REDB_TEST_CHILD";
/// The redb file the child works on.
const CHILD_FILE: &str = "MEMO_REDB_TEST_FILE";

/// The child part a test runs when this process was started by [`child`], if any.
fn child_role() -> Option<String> {
    std::env::var(CHILD).ok()
}

/// This test binary, running only the test `test` (a path such as `crash::name`) as the child
/// `role`, on the redb file `file`, its stdout piped.
fn child(test: &str, role: &str, file: &Path) -> Command {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut cmd = Command::new(exe);
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, role)
        .env(CHILD_FILE, file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    cmd
}

fn child_file() -> std::path::PathBuf {
    std::env::var_os(CHILD_FILE)
        .expect("a child gets its file")
        .into()
}

/// Every record decodes, and the store's live data is what its records add up to.
fn assert_consistent(store: &RedbStore) {
    let keys = store.scan("").expect("scan");
    assert_eq!(keys.len() as u64, store.len().expect("len"));
    let mut live = 0;
    for key in &keys {
        let record: Record = store
            .get(key)
            .unwrap_or_else(|e| panic!("record {key:?} does not decode: {e}"))
            .unwrap_or_else(|| panic!("scanned key {key:?} has no record"));
        live += (key.len() + record.encoded_len()) as u64;
    }
    assert_eq!(
        store.live_bytes().expect("live bytes"),
        live,
        "live data accounting"
    );
}
