//! Real second processes: a reader that follows the writer (a RocksDB secondary instance) and
//! hits, one that asks for exclusive access and gets a typed error at once, and a Memoizer that
//! hits in the next process what it computed in this one.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use memo_core::{Error, Memoizer, Record, Store};
use memo_store_rocks::{RocksError, RocksStore};

use crate::{child, child_dir, child_role};

/// Waits for `child` at most `limit`, killing it after: a hang fails the test, never blocks it.
fn finish(mut child: Child, limit: Duration) -> (Output, Duration) {
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

fn line<'a>(stdout: &'a str, prefix: &str) -> &'a str {
    stdout
        .lines()
        .find_map(|l| l.split_once(prefix).map(|(_, rest)| rest))
        .unwrap_or_else(|| panic!("no {prefix:?} line in the child's output:\n{stdout}"))
}

fn rocks_error(error: &Error) -> Option<&RocksError> {
    match error {
        Error::Backend {
            store: "rocksdb",
            source,
        } => source.downcast_ref::<RocksError>(),
        _ => None,
    }
}

#[test]
fn second_process_reads_the_writers_records_and_hits() {
    const TEST: &str = "process::second_process_reads_the_writers_records_and_hits";
    if child_role().as_deref() == Some("reader") {
        let store = std::sync::Arc::new(RocksStore::open(child_dir()).unwrap());
        println!("read-only: {}", store.is_read_only());
        let memo = Memoizer::new(store.clone());
        let before: u64 = memo.get("before", || 0).unwrap();
        println!("before: {before}");
        let refused = store
            .set("mine", Record::new(1.0, None, vec![1]))
            .unwrap_err();
        println!(
            "set refused as read-only: {}",
            matches!(rocks_error(&refused), Some(RocksError::ReadOnly { .. }))
        );
        println!("after missing: {}", store.get("after").unwrap().is_none());
        println!("ready");
        std::io::stdout().flush().unwrap();
        let mut go = String::new();
        std::io::stdin().read_line(&mut go).unwrap();
        store.catch_up().unwrap();
        let after: u64 = memo.get("after", || 0).unwrap();
        println!("after: {after}");
        println!("hits: {}", memo.stats().hits);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared");
    let writer = RocksStore::open(&db).unwrap();
    assert!(!writer.is_read_only());
    let memo = Memoizer::new(writer);
    assert_eq!(memo.get("before", || 41_u64).unwrap(), 41);

    let mut reader = child(TEST, "reader", &db)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(reader.stdout.take().unwrap());
    let mut head = String::new();
    while !head.ends_with("ready\n") {
        let read = stdout.read_line(&mut head).unwrap();
        assert!(read > 0, "the reader ended early:\n{head}");
    }
    // Written while the reader runs: in the writer's WAL only, seen after a catch-up.
    assert_eq!(memo.get("after", || 42_u64).unwrap(), 42);
    writeln!(reader.stdin.take().unwrap(), "go").unwrap();
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert!(
        reader.wait().unwrap().success(),
        "reader failed:\n{head}{rest}"
    );
    let out = head + &rest;
    assert_eq!(line(&out, "read-only: "), "true");
    assert_eq!(
        line(&out, "before: "),
        "41",
        "the reader hit the writer's record"
    );
    assert_eq!(line(&out, "set refused as read-only: "), "true");
    assert_eq!(line(&out, "after missing: "), "true");
    assert_eq!(line(&out, "after: "), "42", "the reader caught up and hit");
    assert_eq!(line(&out, "hits: "), "2");
}

#[test]
fn exclusive_second_process_gets_a_typed_error_at_once() {
    const TEST: &str = "process::exclusive_second_process_gets_a_typed_error_at_once";
    if child_role().as_deref() == Some("opener") {
        let started = Instant::now();
        let error = RocksStore::builder(child_dir())
            .exclusive(true)
            .build()
            .expect_err("the directory is open in the parent");
        println!("took: {:?}", started.elapsed());
        println!(
            "already-open: {}",
            matches!(rocks_error(&error), Some(RocksError::AlreadyOpen { .. }))
        );
        println!("message: {error}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("held");
    let store = RocksStore::open(&db).unwrap();
    let (output, took) = finish(
        child(TEST, "opener", &db).spawn().unwrap(),
        Duration::from_secs(60),
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "child failed:\n{stdout}");
    assert_eq!(line(&stdout, "already-open: "), "true");
    assert!(
        line(&stdout, "message: ").contains(&db.display().to_string()),
        "the error names the directory: {stdout}"
    );
    println!(
        "the second process got its error after {} (open call), {took:?} (process included)",
        line(&stdout, "took: ")
    );
    drop(store);
}

#[test]
fn a_second_store_in_one_process_is_read_only_or_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("twice");
    let writer = RocksStore::open(&db).unwrap();
    writer.set("k", Record::new(1.0, None, vec![7])).unwrap();
    let reader = RocksStore::open(&db).unwrap();
    assert!(reader.is_read_only());
    assert_eq!(
        reader.get("k").unwrap(),
        Some(Record::new(1.0, None, vec![7]))
    );
    let refused = reader.delete("k").unwrap_err();
    assert!(matches!(
        rocks_error(&refused),
        Some(RocksError::ReadOnly { .. })
    ));
    let refused = RocksStore::builder(&db)
        .exclusive(true)
        .build()
        .unwrap_err();
    assert!(matches!(
        rocks_error(&refused),
        Some(RocksError::AlreadyOpen { .. })
    ));
    drop(reader);
    drop(writer);
    let again = RocksStore::builder(&db).exclusive(true).build().unwrap();
    assert!(!again.is_read_only());
}

#[test]
fn memoizer_hits_in_the_next_process() {
    const TEST: &str = "process::memoizer_hits_in_the_next_process";
    if child_role().as_deref() == Some("memoizer") {
        let memo = Memoizer::new(RocksStore::open(child_dir()).unwrap());
        let mut computed = false;
        let value: Vec<u64> = memo
            .get("squares(1..=5)", || {
                computed = true;
                (1..=5_u64).map(|n| n * n).collect()
            })
            .unwrap();
        println!("computed: {computed}");
        println!("value: {value:?}");
        println!("hits: {}", memo.stats().hits);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("memo");
    let run = || {
        let (output, _) = finish(
            child(TEST, "memoizer", &db).spawn().unwrap(),
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
    assert_eq!(line(&first, "value: "), "[1, 4, 9, 16, 25]");
    assert_eq!(line(&second, "value: "), line(&first, "value: "));
}
