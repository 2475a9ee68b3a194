//! A decorated function over a redb file: computed in one process, a hit in the next.
//!
//! The test re-runs this test binary as child processes (`std::env::current_exe()`), each
//! running only `persistence::child` with `MEMO_IT_ROLE` and `MEMO_IT_DIR` set.

use std::env;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use memo::redb::RedbStore;
use memo::{Memoizer, memoize};

const ROLE: &str = "MEMO_IT_ROLE";
const DIR: &str = "MEMO_IT_DIR";

static CHILD_DIR: LazyLock<PathBuf> =
    LazyLock::new(|| PathBuf::from(env::var_os(DIR).expect("the parent sets MEMO_IT_DIR")));

static DISK: LazyLock<Memoizer> = LazyLock::new(|| {
    let store = RedbStore::open(CHILD_DIR.join("cache.redb")).expect("the cache file opens");
    Memoizer::new(store)
});

static BODY_RUNS: AtomicUsize = AtomicUsize::new(0);

#[memoize(DISK, namespace = "persist")]
fn slow_square(x: u64) -> u64 {
    BODY_RUNS.fetch_add(1, Ordering::SeqCst);
    // A trace shared by the processes: the parent counts the computations of all of them.
    let mut runs = OpenOptions::new()
        .create(true)
        .append(true)
        .open(CHILD_DIR.join("runs.log"))
        .expect("the run log opens");
    writeln!(runs, "slow_square({x}) pid {}", std::process::id())
        .expect("the run log takes a line");
    x * x
}

/// One process's part; run by the parent test below, skipped in a normal run.
#[test]
#[ignore = "a child process of a_value_computed_in_one_process_is_a_hit_in_the_next"]
fn child() {
    let role = env::var(ROLE).expect("the parent sets MEMO_IT_ROLE");
    match role.as_str() {
        "compute" => {
            assert!(!slow_square::exists(21).unwrap(), "the file starts empty");
            assert_eq!(slow_square(21), 441);
            assert_eq!(BODY_RUNS.load(Ordering::SeqCst), 1);
        }
        "hit" => {
            assert!(
                slow_square::exists(21).unwrap(),
                "the first process's value is there"
            );
            assert_eq!(slow_square(21), 441);
            assert_eq!(BODY_RUNS.load(Ordering::SeqCst), 0, "the body did not run");
            assert!(!slow_square::exists(22).unwrap());
        }
        other => panic!("unknown role {other}"),
    }
    // A `static` is never dropped, and nothing flushes it: the journal keeps the writes.
}

fn run_child(dir: &std::path::Path, role: &str) {
    let output = Command::new(env::current_exe().unwrap())
        .args([
            "persistence::child",
            "--exact",
            "--ignored",
            "--test-threads=1",
        ])
        .env(ROLE, role)
        .env(DIR, dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "child {role} failed: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("1 passed"),
        "the child ran its test: {stdout}"
    );
}

#[test]
fn a_value_computed_in_one_process_is_a_hit_in_the_next() {
    let dir = tempfile::tempdir().unwrap();
    run_child(dir.path(), "compute");
    run_child(dir.path(), "hit");
    let runs = fs::read_to_string(dir.path().join("runs.log")).unwrap();
    assert_eq!(
        runs.lines().count(),
        1,
        "computed once across processes: {runs}"
    );
    assert!(runs.starts_with("slow_square(21) pid "), "{runs}");
}
