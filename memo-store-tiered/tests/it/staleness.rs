//! Two processes over one Redis, each with a Moka front: after one deletes a key, the other
//! stops serving it within the residency limit, and within milliseconds when it listens to
//! Redis's invalidation notices. Each round measures the window from the deleter's clock
//! reading after its `delete` returned to the reader's first miss (one machine, one clock).

use std::io::Read;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout};
use std::time::{Duration, Instant, SystemTime};

use memo_core::{Record, Store, to_unix};
use memo_store_mem::MokaStore;
use memo_store_redis::RedisStore;
use memo_store_tiered::TieredStore;

use crate::support;

const RESIDENCY_TEST: &str =
    "staleness::a_delete_in_another_process_stops_being_served_within_the_residency_limit";
const TRACKING_TEST: &str =
    "staleness::a_delete_in_another_process_stops_being_served_within_ms_with_tracking";
/// The residency limit of the reader in these tests.
const LIMIT: Duration = Duration::from_millis(500);
/// Room for the sweeper's wake-up and a busy machine: the issue asks for the bound itself,
/// and 2 cores shared by other jobs can delay a thread by tens of milliseconds.
const SLACK: Duration = Duration::from_millis(250);
/// The bound asserted with tracking on: generous for the same reason; the figures printed
/// are the measurement.
const TRACKING_BOUND: Duration = Duration::from_millis(250);
const ROUNDS: usize = 6;

fn now() -> f64 {
    to_unix(SystemTime::now())
}

fn front() -> MokaStore {
    MokaStore::with_max_bytes(1 << 20).unwrap()
}

/// The deleting process: deletes each key read from stdin through its own tiered store and
/// prints when the delete returned.
fn deleter(arg: &str) {
    let (url, prefix) = arg.split_once('|').unwrap();
    let store = TieredStore::new(front(), support::redis_store(url, prefix)).unwrap();
    let mut out = std::io::stdout().lock();
    for line in std::io::stdin().lock().lines() {
        let key = line.unwrap();
        assert!(store.delete(&key).unwrap(), "{key} was not there to delete");
        writeln!(out, "deleted {}", now()).unwrap();
        out.flush().unwrap();
    }
}

struct Deleter {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Deleter {
    fn spawn(test: &str, url: &str, prefix: &str) -> Self {
        let mut child = support::child(test, "deleter", &format!("{url}|{prefix}"))
            .spawn()
            .unwrap();
        Deleter {
            stdin: child.stdin.take().unwrap(),
            stdout: BufReader::new(child.stdout.take().unwrap()),
            child,
        }
    }

    /// Ends the deleter (its stdin closes) and checks it succeeded.
    fn finish(self) {
        let Deleter {
            mut child,
            stdin,
            mut stdout,
        } = self;
        drop(stdin);
        let mut rest = String::new();
        stdout.read_to_string(&mut rest).unwrap();
        let status = child.wait().unwrap();
        assert!(status.success(), "the deleter failed: {status}");
    }

    fn delete(&mut self, key: &str) {
        writeln!(self.stdin, "{key}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// When the delete returned, by the deleter's clock.
    fn deleted_at(&mut self) -> f64 {
        let mut line = String::new();
        loop {
            line.clear();
            assert_ne!(
                self.stdout.read_line(&mut line).unwrap(),
                0,
                "the deleter died"
            );
            if let Some(at) = line.trim().strip_prefix("deleted ") {
                return at.parse().unwrap();
            }
        }
    }
}

/// Puts `key` in the reader's front and checks the front serves it.
fn make_resident(store: &TieredStore<MokaStore, RedisStore>, key: &str, tracking: bool) {
    let record = Record::new(now(), Some(now() + 60.0), b"old".to_vec());
    store.set(key, record).unwrap();
    if tracking {
        // The notice of our own write drops the front copy; read until the front holds it
        // past the notice.
        support::wait_until(
            "the key to stay in the front",
            Duration::from_secs(10),
            || {
                store.get(key).unwrap();
                std::thread::sleep(Duration::from_millis(20));
                store.front().get(key).unwrap().is_some()
            },
        );
    }
    let before = store.stats().front_hits;
    assert!(store.get(key).unwrap().is_some());
    assert_eq!(
        store.stats().front_hits,
        before + 1,
        "the front serves {key}"
    );
}

/// Rounds of: make a key resident, have the other process delete it, poll until it is gone.
/// Returns each round's window, and whether a stale read was seen after the delete.
fn windows(
    store: &TieredStore<MokaStore, RedisStore>,
    deleter: &mut Deleter,
    tracking: bool,
) -> Vec<(Duration, bool)> {
    (0..ROUNDS)
        .map(|round| {
            let key = format!("k{round}");
            make_resident(store, &key, tracking);
            deleter.delete(&key);
            let start = Instant::now();
            let mut last_served = None;
            let gone = loop {
                let got = store.get(&key).unwrap();
                let at = now();
                if got.is_none() {
                    break at;
                }
                last_served = Some(at);
                assert!(
                    start.elapsed() < Duration::from_secs(10),
                    "{key} served for 10 s"
                );
                std::thread::sleep(Duration::from_micros(200));
            };
            let deleted = deleter.deleted_at();
            let stale = last_served.is_some_and(|at| at > deleted);
            (Duration::from_secs_f64((gone - deleted).max(0.0)), stale)
        })
        .collect()
}

fn report(what: &str, windows: &[(Duration, bool)]) -> Duration {
    let mut ms: Vec<f64> = windows.iter().map(|(w, _)| w.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    eprintln!("{what}: staleness windows (ms) {ms:.1?}");
    windows.iter().map(|(w, _)| *w).max().unwrap_or_default()
}

#[test]
fn a_delete_in_another_process_stops_being_served_within_the_residency_limit() {
    let Some(url) = support::url() else { return };
    if support::child_role().is_some() {
        return deleter(&support::child_arg());
    }
    let prefix = support::unique_prefix();
    let store = TieredStore::builder(front(), support::redis_store(&url, &prefix))
        .max_residency(LIMIT)
        .build()
        .unwrap();
    assert_eq!(store.max_residency(), Some(LIMIT));
    let mut deleter = Deleter::spawn(RESIDENCY_TEST, &url, &prefix);
    let windows = windows(&store, &mut deleter, false);
    deleter.finish();
    let worst = report("residency limit 500 ms, no tracking", &windows);
    assert!(worst <= LIMIT + SLACK, "served {worst:?} after the delete");
    // Without notices the front did go stale: the limit is what ended it.
    assert!(windows.iter().any(|(_, stale)| *stale), "{windows:?}");
    assert!(store.stats().residency_drops >= ROUNDS as u64);
}

#[test]
fn a_delete_in_another_process_stops_being_served_within_ms_with_tracking() {
    let Some(url) = support::url() else { return };
    if support::child_role().is_some() {
        return deleter(&support::child_arg());
    }
    let prefix = support::unique_prefix();
    let back = support::redis_store(&url, &prefix);
    let records = back.record_key("");
    let store = TieredStore::builder(front(), back)
        // Long, so that only a notice can explain a short window.
        .max_residency(Duration::from_secs(60))
        .invalidate_from_redis(&url, records)
        .build()
        .unwrap();
    support::wait_until("the tracking connection", Duration::from_secs(10), || {
        store.stats().tracking
    });
    let mut deleter = Deleter::spawn(TRACKING_TEST, &url, &prefix);
    let windows = windows(&store, &mut deleter, true);
    deleter.finish();
    let worst = report("tracking on (residency 60 s)", &windows);
    assert!(worst <= TRACKING_BOUND, "served {worst:?} after the delete");
    assert!(
        store.stats().invalidations >= ROUNDS as u64,
        "{:?}",
        store.stats()
    );
}
