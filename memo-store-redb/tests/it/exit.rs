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

/// Opens `file` in this process and checks that every key of `indices` is a hit.
fn assert_every_key_hits(file: &std::path::Path, indices: &[u64]) -> RedbStore {
    let store = Arc::new(RedbStore::open(file).expect("reopen"));
    let memo = Memoizer::new(store.clone());
    for &i in indices {
        let value: u64 = memo
            .get(&key(i), || panic!("key {i} was lost and is computed again"))
            .unwrap();
        assert_eq!(value, i * i);
    }
    assert_eq!(memo.stats().hits, indices.len() as u64);
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
    let store = assert_every_key_hits(&file, &(0..N).collect::<Vec<_>>());
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

/// Threads of the killed writer; thread `t` computes the keys `t * SPAN + i`.
const THREADS: u64 = 4;
const SPAN: u64 = 1_000_000;

/// The child: each thread computes its keys from its start in `MEMO_REDB_TEST_START` on until
/// the process is killed, printing `acked t i` after each.
fn compute_until_killed() -> ! {
    let starts: Vec<u64> = std::env::var("MEMO_REDB_TEST_START")
        .unwrap()
        .split(',')
        .map(|n| n.parse().unwrap())
        .collect();
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let start = starts[t as usize];
            std::thread::spawn(move || {
                for i in start.. {
                    compute(t * SPAN + i);
                    println!("acked {t} {i}");
                }
            })
        })
        .collect();
    for thread in threads {
        let _ = thread.join();
    }
    unreachable!("keys run out")
}

/// The thread and key a line of the writer acknowledges; `None` for the harness's own lines.
fn acked_in(line: &str) -> Option<(usize, u64)> {
    let (t, i) = line.strip_prefix("acked ")?.split_once(' ')?;
    Some((t.parse().unwrap(), i.parse().unwrap()))
}

#[test]
fn a_sigkilled_static_memoizer_loses_no_acknowledged_write() {
    const TEST: &str = "exit::a_sigkilled_static_memoizer_loses_no_acknowledged_write";
    if child_role().is_some() {
        compute_until_killed();
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("killed.redb");
    // Per thread, the keys below this are acknowledged.
    let mut acked = [0_u64; THREADS as usize];
    let mut replayed = 0;
    for round in 0..6_u64 {
        let starts: Vec<String> = acked.iter().map(u64::to_string).collect();
        let mut writer = child(TEST, "writer", &file)
            .env("MEMO_REDB_TEST_START", starts.join(","))
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(writer.stdout.take().unwrap()).lines();
        // Kill at a different point each round, within the one-second interval.
        let wait_for = 1 + round * 97 % 400;
        let mut seen = 0;
        for line in lines.by_ref() {
            let Some((t, i)) = acked_in(&line.unwrap()) else {
                continue;
            };
            acked[t] = acked[t].max(i + 1);
            seen += 1;
            if seen >= wait_for {
                break;
            }
        }
        writer.kill().expect("SIGKILL the writer");
        writer.wait().unwrap();
        // Lines printed before the kill acknowledge writes too.
        for line in lines {
            if let Some((t, i)) = acked_in(&line.unwrap()) {
                acked[t] = acked[t].max(i + 1);
            }
        }
        let keys: Vec<u64> = (0..THREADS)
            .flat_map(|t| (0..acked[t as usize]).map(move |i| t * SPAN + i))
            .collect();
        let store = assert_every_key_hits(&file, &keys);
        replayed += store.stats().replayed_writes;
        println!(
            "round {round}: {} keys acknowledged by {THREADS} threads, all hit",
            keys.len()
        );
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

#[test]
fn a_journal_left_by_a_kill_is_replayed_under_any_durability_and_then_deleted() {
    use memo_core::{Record, Store};
    use memo_store_redb::Durability;
    let journals = |file: &std::path::Path| {
        let prefix = format!("{}.journal.", file.file_name().unwrap().to_str().unwrap());
        std::fs::read_dir(file.parent().unwrap())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_str()
                    .unwrap()
                    .starts_with(&prefix)
            })
            .count()
    };
    for (n, durability) in [
        Durability::Immediate,
        Durability::queued(Duration::from_secs(3600)),
        Durability::journaled(Duration::from_secs(3600)),
    ]
    .into_iter()
    .enumerate()
    {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("any.redb");
        let store = RedbStore::open(&file).unwrap();
        store.set("kept", Record::new(1.0, None, vec![1])).unwrap();
        store.set("gone", Record::new(1.0, None, vec![2])).unwrap();
        assert!(store.delete("gone").unwrap());
        assert_eq!(journals(&file), 1, "the writes are journaled");
        let killed = crate::model::copy_as_killed(&file, dir.path(), n);
        drop(store);
        assert_eq!(journals(&file), 0, "a clean drop leaves no journal");

        let reopened = RedbStore::builder(&killed)
            .durability(durability)
            .build()
            .unwrap();
        assert_eq!(reopened.stats().replayed_writes, 3, "{durability:?}");
        assert_eq!(journals(&killed), 0, "replayed journals are deleted");
        assert_eq!(
            reopened.get("kept").unwrap(),
            Some(Record::new(1.0, None, vec![1]))
        );
        assert_eq!(
            reopened.get("gone").unwrap(),
            None,
            "the delete is replayed"
        );
        crate::assert_consistent(&reopened);
    }
}
