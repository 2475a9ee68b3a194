//! A writer killed with SIGKILL at random points, WAL on: every write that returned survives,
//! and every record decodes.

use std::io::{BufRead, BufReader, Write};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use memo_core::{Record, Store};
use memo_store_rocks::RocksStore;

use crate::{assert_every_record_decodes, child, child_dir, child_role};

const TEST: &str = "crash::sigkill_never_loses_an_acknowledged_write";
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

fn acked(line: &str) -> Option<u64> {
    line.strip_prefix("acked ").map(|n| n.parse().unwrap())
}

#[test]
fn sigkill_never_loses_an_acknowledged_write() {
    if child_role().as_deref() == Some("writer") {
        write_until_killed();
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash");
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    println!("crash test seed {seed}");
    let mut rng = Rng(seed);
    let mut done = 0_u64;
    for kill in 0..KILLS {
        let mut writer = child(TEST, "writer", &db)
            .env("MEMO_ROCKS_TEST_START", done.to_string())
            .spawn()
            .expect("start the writer");
        let mut lines = BufReader::new(writer.stdout.take().unwrap()).lines();
        // Kill after 1 to 400 acknowledged iterations (some purges, at every 97th, included).
        let wanted = rng.below(400) + 1;
        let mut seen = 0;
        let mut reported = done;
        for line in lines.by_ref() {
            if let Some(n) = acked(&line.unwrap()) {
                reported = n;
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
        // Lines printed before the kill acknowledge writes too.
        for line in lines {
            if let Some(n) = acked(&line.unwrap()) {
                reported = n;
            }
        }
        assert!(reported >= done);
        done = reported;

        let opened = Instant::now();
        let store = RocksStore::builder(&db)
            .exclusive(true)
            .build()
            .expect("reopen after SIGKILL");
        let reopen_took = opened.elapsed();
        let records = assert_every_record_decodes(&store);
        for i in 0..done {
            assert_eq!(
                store.get(&key(i)).unwrap().as_ref(),
                Some(&record(i)),
                "kill {kill} (seed {seed}): acknowledged record {i} of {done}"
            );
        }
        if done > 0 {
            let hot = store.get("hot").unwrap().expect("the hot key survives");
            assert!(
                hot.created >= (done - 1) as f64,
                "kill {kill}: the hot key went back to {}",
                hot.created
            );
        }
        // Every "gone" record expired in 2001: a purge at 2033 drops them all and nothing else.
        let kept = store.scan("k").unwrap().len() + store.scan("hot").unwrap().len();
        let expired = store.scan("gone").unwrap().len() as u64;
        let purged = store.purge_expired(2e9).unwrap();
        assert!(
            purged <= expired,
            "purged {purged} of {expired} expired records"
        );
        assert!(store.scan("gone").unwrap().is_empty());
        assert_eq!(
            assert_every_record_decodes(&store),
            kept,
            "the purge dropped only expired records"
        );
        println!(
            "kill {kill}: {done} iterations acknowledged, {records} records, reopened in \
             {reopen_took:?}"
        );
    }
}

/// The child: writes forever, printing `acked N` once every write of iterations `0..N` returned.
fn write_until_killed() -> ! {
    let start: u64 = std::env::var("MEMO_ROCKS_TEST_START")
        .unwrap()
        .parse()
        .unwrap();
    let store = RocksStore::builder(child_dir())
        .exclusive(true)
        .build()
        .unwrap();
    let mut out = std::io::stdout().lock();
    let mut i = start;
    loop {
        store.set(&key(i), record(i)).unwrap();
        store.set("hot", record(i)).unwrap();
        if i.is_multiple_of(5) {
            store
                .set(
                    &format!("gone{i}"),
                    Record::new(0.0, Some(1e9), vec![1; 30]),
                )
                .unwrap();
        }
        if i.is_multiple_of(11) {
            store.delete(&format!("gone{}", i - i % 5)).unwrap();
        }
        if i.is_multiple_of(97) {
            store.purge_expired(2e9).unwrap();
        }
        i += 1;
        writeln!(out, "acked {i}").unwrap();
        out.flush().unwrap();
    }
}
