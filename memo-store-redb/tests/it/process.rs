//! Real second processes: one that finds the file open, and a Memoizer that hits in the next
//! process what it computed in this one.

use std::io::Read;
use std::process::Output;
use std::time::{Duration, Instant};

use memo_core::{Error, Memoizer};
use memo_store_redb::RedbStore;

use crate::{child, child_file, child_role};

/// Waits for `child` at most `limit`, killing it after: a hang fails the test, never blocks it.
pub(crate) fn finish(mut child: std::process::Child, limit: Duration) -> (Output, Duration) {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stdout = Vec::new();
            child
                .stdout
                .take()
                .unwrap()
                .read_to_end(&mut stdout)
                .unwrap();
            let output = Output {
                status,
                stdout,
                stderr: Vec::new(),
            };
            return (output, started.elapsed());
        }
        if started.elapsed() > limit {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("the child process hung for {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub(crate) fn line<'a>(stdout: &'a str, prefix: &str) -> &'a str {
    stdout
        .lines()
        .find_map(|l| l.split_once(prefix).map(|(_, rest)| rest))
        .unwrap_or_else(|| panic!("no {prefix:?} line in the child's output:\n{stdout}"))
}

#[test]
fn second_process_gets_a_typed_error_or_runs_uncached() {
    const TEST: &str = "process::second_process_gets_a_typed_error_or_runs_uncached";
    if child_role().as_deref() == Some("opener") {
        let path = child_file();
        let error = RedbStore::builder(&path)
            .require_file(true)
            .build()
            .expect_err("the file is open in the parent");
        let already_open = matches!(&error, Error::Backend { store: "redb", .. })
            && std::iter::successors(std::error::Error::source(&error), |e| e.source()).any(|e| {
                matches!(
                    e.downcast_ref::<redb::DatabaseError>(),
                    Some(redb::DatabaseError::DatabaseAlreadyOpen)
                )
            });
        println!("already-open: {already_open}");
        println!("message: {error}");
        let uncached = RedbStore::open(&path).expect("by default, a store that runs uncached");
        println!("caching: {}", uncached.is_caching());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("held.redb");
    let store = RedbStore::open(&file).unwrap();
    let (output, took) = finish(
        child(TEST, "opener", &file).spawn().unwrap(),
        Duration::from_secs(60),
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "child failed:\n{stdout}");
    assert_eq!(line(&stdout, "already-open: "), "true");
    assert!(
        line(&stdout, "message: ").contains(&file.display().to_string()),
        "the error names the file: {stdout}"
    );
    assert_eq!(line(&stdout, "caching: "), "false");
    println!("the second process got its error after {took:?} (process start included)");
    drop(store);
}

#[test]
fn memoizer_hits_in_the_next_process() {
    const TEST: &str = "process::memoizer_hits_in_the_next_process";
    if child_role().as_deref() == Some("memoizer") {
        let memo = Memoizer::new(RedbStore::open(child_file()).unwrap());
        let mut computed = false;
        let value: Vec<u64> = memo
            .get("collatz_lengths(1..=10)", || {
                computed = true;
                (1..=10_u64)
                    .map(|mut n| {
                        let mut steps = 0;
                        while n != 1 {
                            n = if n % 2 == 0 { n / 2 } else { 3 * n + 1 };
                            steps += 1;
                        }
                        steps
                    })
                    .collect()
            })
            .unwrap();
        println!("computed: {computed}");
        println!("value: {value:?}");
        println!("hits: {}", memo.stats().hits);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("memo.redb");
    let run = || {
        let (output, _) = finish(
            child(TEST, "memoizer", &file).spawn().unwrap(),
            Duration::from_secs(60),
        );
        let stdout = String::from_utf8(output.stdout).unwrap();
        assert!(output.status.success(), "child failed:\n{stdout}");
        stdout
    };
    let first = run();
    assert_eq!(line(&first, "computed: "), "true");
    assert_eq!(line(&first, "hits: "), "0");
    let second = run();
    assert_eq!(line(&second, "computed: "), "false");
    assert_eq!(line(&second, "hits: "), "1");
    assert_eq!(line(&first, "value: "), "[0, 1, 7, 2, 5, 8, 16, 3, 19, 6]");
    assert_eq!(line(&second, "value: "), line(&first, "value: "));
}
