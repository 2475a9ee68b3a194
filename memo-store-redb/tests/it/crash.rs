//! A writer under queued durability killed with SIGKILL at random points never loses a durable
//! write nor corrupts the file.

use std::io::{BufRead, BufReader, Write};
use std::num::NonZeroU64;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use memo_core::{Record, Store};
use memo_store_redb::{Durability, RedbStore};

use crate::{assert_consistent, child, child_file, child_role};

const TEST: &str = "crash::sigkill_never_loses_a_durable_write";
const KILLS: usize = 24;

/// The record the writer stores for iteration `i`, rebuilt by the checker.
fn record(i: u64) -> Record {
    let expiry = i.is_multiple_of(3).then_some(4e9 + i as f64);
    let value: Vec<u8> = i.to_le_bytes().repeat((i % 40) as usize + 1);
    Record::new(i as f64, expiry, value)
}

fn key(i: u64) -> String {
    format!("k{i:09}")
}

/// xorshift64*: enough randomness for kill points, seeded per run and printed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

#[test]
fn sigkill_never_loses_a_durable_write() {
    if child_role().as_deref() == Some("writer") {
        write_until_killed();
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("crash.redb");
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    println!("crash test seed {seed}");
    let mut rng = Rng(seed);
    let mut durable = 0_u64;
    for kill in 0..KILLS {
        let mut writer = child(TEST, "writer", &file)
            .env("MEMO_REDB_TEST_START", durable.to_string())
            .spawn()
            .expect("start the writer");
        let mut lines = BufReader::new(writer.stdout.take().unwrap()).lines();
        let wanted = rng.below(6) + 1;
        let mut seen = 0;
        let mut reported = durable;
        for line in lines.by_ref() {
            if let Some(n) = line
                .unwrap()
                .split_once("durable ")
                .map(|(_, n)| n.to_owned())
            {
                reported = n.parse().unwrap();
                seen += 1;
                if seen == wanted {
                    break;
                }
            }
        }
        assert_eq!(seen, wanted, "kill {kill}: the writer stopped reporting");
        std::thread::sleep(Duration::from_millis(rng.below(15)));
        writer.kill().expect("SIGKILL the writer");
        writer.wait().unwrap();
        // Lines printed before the kill report durable points too.
        for line in lines {
            if let Some(n) = line
                .unwrap()
                .split_once("durable ")
                .map(|(_, n)| n.to_owned())
            {
                reported = n.parse().unwrap();
            }
        }
        assert!(reported >= durable);
        durable = reported;

        let opened = Instant::now();
        let store = RedbStore::open(&file).expect("reopen after SIGKILL");
        let reopen_took = opened.elapsed();
        assert_consistent(&store);
        for i in 0..durable {
            assert_eq!(
                store.get(&key(i)).unwrap().as_ref(),
                Some(&record(i)),
                "kill {kill} (seed {seed}): durable record {i} of {durable}"
            );
        }
        if durable > 0 {
            let hot = store.get("hot").unwrap().expect("the hot key is durable");
            assert!(
                hot.created >= (durable - 1) as f64,
                "kill {kill}: hot key went back"
            );
        }
        // The expiry index matches the records: purging finds exactly the expired ones.
        let expired = store.scan("gone").unwrap().len() as u64;
        assert_eq!(store.purge_expired(2e9).unwrap(), expired);
        assert!(store.scan("gone").unwrap().is_empty());
        assert_consistent(&store);
        println!("kill {kill}: {durable} durable, reopened in {reopen_took:?}");
    }
}

/// The child: writes records forever, printing `durable N` whenever records `0..N` are durable.
fn write_until_killed() -> ! {
    let start: u64 = std::env::var("MEMO_REDB_TEST_START")
        .unwrap()
        .parse()
        .unwrap();
    let store = RedbStore::builder(child_file())
        .durability(Durability::Queued {
            interval: Duration::from_millis(5),
            writes: NonZeroU64::new(97),
        })
        .build()
        .unwrap();
    let mut out = std::io::stdout().lock();
    // After iteration `start + n` completes, `ends[n]` writes have been made.
    let mut ends = Vec::new();
    let mut written = 0_u64;
    let mut reported = 0;
    let mut i = start;
    loop {
        store.set(&key(i), record(i)).unwrap();
        store.set("hot", record(i)).unwrap();
        written += 2;
        if i.is_multiple_of(5) {
            store
                .set(
                    &format!("gone{i}"),
                    Record::new(0.0, Some(1e9), vec![1; 30]),
                )
                .unwrap();
            written += 1;
        }
        if i.is_multiple_of(11) && store.delete(&format!("gone{}", i - i % 5)).unwrap() {
            written += 1;
        }
        if i.is_multiple_of(501) {
            store.flush().unwrap();
        }
        ends.push(written);
        let durable = written - store.pending_writes();
        let done = ends.partition_point(|&w| w <= durable);
        if done > reported {
            reported = done;
            writeln!(out, "durable {}", start + done as u64).unwrap();
            out.flush().unwrap();
        }
        i += 1;
    }
}
