//! Nothing acknowledged is lost when the process ends without dropping the store: a `static`
//! Memoizer whose program returns from `main`, calls `std::process::exit`, or is killed (`SIGKILL`) while
//! writing. The next process (this one) hits every key the child acknowledged.

use std::io::{BufRead, BufReader};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use memo_core::Memoizer;
use memo_store_redb::RedbStore;

use crate::process::finish;
use crate::{child, child_file, child_role};

/// The store of a child, opened with the default options, as the crate docs show.
static STORE: LazyLock<Arc<RedbStore>> =
    LazyLock::new(|| Arc::new(RedbStore::open(child_file()).expect("the child opens its file")));
static MEMO: LazyLock<Memoizer> = LazyLock::new(|| Memoizer::new(STORE.clone()));

fn key(i: u64) -> String {
    format!("square({i})")
}

/// Computes the key of `i` through the static Memoizer, and reports it acknowledged only when
/// the store took the write (the Memoizer fails open, so its store errors are checked).
fn compute(i: u64) -> u64 {
    let value: u64 = MEMO.get(&key(i), || i * i).expect("a computed value");
    assert_eq!(value, i * i);
    assert_eq!(MEMO.stats().store_errors, 0, "the store refused a write");
    value
}

/// The child: computes keys `0..n` quickly (well within the one-second durability interval),
/// reports how many writes are not yet durable in the database, and ends as `how` says.
fn write_then_end(how: &str) {
    let n: u64 = std::env::var("MEMO_REDB_TEST_N").unwrap().parse().unwrap();
    for i in 0..n {
        compute(i);
    }
    println!("pending: {}", STORE.pending_writes());
    match how {
        "return" => {}
        "exit" => std::process::exit(0),
        other => panic!("unknown way to end: {other}"),
    }
}

/// Opens `file` in this process and checks that every key in `0..n` is a hit.
fn assert_every_key_hits(file: &std::path::Path, n: u64) -> RedbStore {
    let store = Arc::new(RedbStore::open(file).expect("reopen"));
    let memo = Memoizer::new(store.clone());
    for i in 0..n {
        let value: u64 = memo
            .get(&key(i), || {
                panic!("key {i} of {n} was lost and is computed again")
            })
            .unwrap();
        assert_eq!(value, i * i);
    }
    assert_eq!(memo.stats().hits, n);
    drop(memo);
    crate::assert_consistent(&store);
    Arc::into_inner(store).expect("the last handle")
}

fn ended_child_loses_nothing(test: &str, how: &str) {
    if let Some(role) = child_role() {
        write_then_end(&role);
        return;
    }
    const N: u64 = 5;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("exit.redb");
    let (output, _) = finish(
        child(test, how, &file)
            .env("MEMO_REDB_TEST_N", N.to_string())
            .spawn()
            .unwrap(),
        Duration::from_secs(60),
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "child failed:\n{stdout}");
    let pending: u64 = crate::process::line(&stdout, "pending: ").parse().unwrap();
    // The writes were not durable in the database when the child ended: the journal kept them.
    assert_eq!(pending, N, "{stdout}");
    let store = assert_every_key_hits(&file, N);
    assert_eq!(store.stats().replayed_writes, N);
}

#[test]
fn a_static_memoizer_returning_from_main_loses_nothing() {
    ended_child_loses_nothing(
        "exit::a_static_memoizer_returning_from_main_loses_nothing",
        "return",
    );
}

#[test]
fn a_static_memoizer_calling_process_exit_loses_nothing() {
    ended_child_loses_nothing(
        "exit::a_static_memoizer_calling_process_exit_loses_nothing",
        "exit",
    );
}

/// The child: computes keys from `MEMO_REDB_TEST_START` on until killed, printing `acked i`
/// after each.
fn compute_until_killed() -> ! {
    let start: u64 = std::env::var("MEMO_REDB_TEST_START")
        .unwrap()
        .parse()
        .unwrap();
    for i in start.. {
        compute(i);
        println!("acked {i}");
    }
    unreachable!("keys run out")
}

/// The key a line of the writer acknowledges; `None` for the test harness's own lines.
fn acked_in(line: &str) -> Option<u64> {
    line.strip_prefix("acked ").map(|n| n.parse().unwrap())
}

#[test]
fn a_sigkilled_static_memoizer_loses_no_acknowledged_write() {
    const TEST: &str = "exit::a_sigkilled_static_memoizer_loses_no_acknowledged_write";
    if child_role().is_some() {
        compute_until_killed();
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("killed.redb");
    let mut acked = 0_u64;
    let mut replayed = 0;
    for round in 0..6_u64 {
        let mut writer = child(TEST, "writer", &file)
            .env("MEMO_REDB_TEST_START", acked.to_string())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(writer.stdout.take().unwrap()).lines();
        // Kill at a different point each round, some rounds mid-burst, within the interval.
        let wait_for = 1 + round * 97 % 400;
        let mut last = None;
        for line in lines.by_ref() {
            let Some(n) = acked_in(&line.unwrap()) else {
                continue;
            };
            last = Some(n);
            if n + 1 >= acked + wait_for {
                break;
            }
        }
        writer.kill().expect("SIGKILL the writer");
        writer.wait().unwrap();
        // Lines printed before the kill acknowledge writes too.
        for line in lines {
            if let Some(n) = acked_in(&line.unwrap()) {
                last = Some(n);
            }
        }
        acked = last.expect("the writer acknowledged writes") + 1;
        let store = assert_every_key_hits(&file, acked);
        replayed += store.stats().replayed_writes;
        println!("round {round}: {acked} keys acknowledged, all hit");
    }
    assert!(
        replayed > 0,
        "the kills left writes for the journal to replay"
    );
}

#[test]
fn a_journal_is_replayed_only_into_its_own_table() {
    use memo_core::{Record, Store};
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tables.redb");
    let a = RedbStore::builder(&file).table("a").build().unwrap();
    a.set("k", Record::new(1.0, None, vec![1])).unwrap();
    assert_eq!(a.pending_writes(), 1);
    let killed = crate::model::copy_as_killed(&file, dir.path(), 0);
    drop(a);

    let b = RedbStore::builder(&killed).table("b").build().unwrap();
    assert_eq!(b.get("k").unwrap(), None, "table a's journal is not b's");
    assert_eq!(b.stats().replayed_writes, 0);
    drop(b);
    let a = RedbStore::builder(&killed).table("a").build().unwrap();
    assert_eq!(a.stats().replayed_writes, 1);
    assert_eq!(a.get("k").unwrap(), Some(Record::new(1.0, None, vec![1])));
}
