//! Never a wrong value, never a panic through the Memoizer, clocks that step back, and faults a
//! person sees.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use memo_core::doc_store::DocStore;
use memo_core::{Error, ManualClock, Memoizer, Options, Record, Result, Store};

const MINUTE: Duration = Duration::from_secs(60);
const DAY: f64 = 86_400.0;

/// A store whose every call panics while `armed`, and works like [`DocStore`] otherwise.
#[derive(Debug, Default)]
struct Panicky {
    inner: DocStore,
    armed: AtomicBool,
}

impl Panicky {
    fn check(&self) {
        assert!(
            !self.armed.load(Ordering::SeqCst),
            "the engine hit unreachable code"
        );
    }
}

impl Store for Panicky {
    fn get(&self, key: &str) -> Result<Option<Record>> {
        self.check();
        self.inner.get(key)
    }
    fn set(&self, key: &str, record: Record) -> Result<()> {
        self.check();
        self.inner.set(key, record)
    }
    fn delete(&self, key: &str) -> Result<bool> {
        self.check();
        self.inner.delete(key)
    }
    fn name(&self) -> &'static str {
        "panicky"
    }
}

#[test]
fn a_panicking_store_is_a_counted_miss_and_never_reaches_the_caller() {
    let store = Arc::new(Panicky::default());
    let memo = Memoizer::builder_arc(store.clone()).build();
    store.armed.store(true, Ordering::SeqCst);

    let got = catch_unwind(AssertUnwindSafe(|| memo.get("k", || 7_u32)));
    assert_eq!(got.expect("no panic through get").unwrap(), 7);
    assert_eq!(memo.stats().store_errors, 2, "the read and the write");
    assert_eq!(memo.peek::<u32>("k").unwrap(), None);
    let tried = memo.try_get::<u32, Error, _>("k", || Ok(8)).unwrap();
    assert_eq!(tried, 8);

    store.armed.store(false, Ordering::SeqCst);
    assert_eq!(memo.get("k", || 9_u32).unwrap(), 9, "the store works again");
    assert_eq!(memo.get("k", || 10_u32).unwrap(), 9);
}

#[test]
fn strict_mode_and_inspection_calls_say_the_store_panicked() {
    let store = Arc::new(Panicky::default());
    let memo = Memoizer::builder_arc(store.clone()).build();
    store.armed.store(true, Ordering::SeqCst);
    let strict = Options::new().strict(true);
    let err = memo.get_with("k", &strict, || 1_u8).unwrap_err();
    assert!(
        matches!(&err, Error::StorePanicked { store: "panicky", operation: "read", message }
            if message.contains("unreachable")),
        "{err}"
    );
    assert!(matches!(memo.exists("k"), Err(Error::StorePanicked { .. })));
    assert!(matches!(memo.delete("k"), Err(Error::StorePanicked { .. })));
    assert!(matches!(memo.ttl("k"), Err(Error::StorePanicked { .. })));
}

#[test]
fn the_callers_own_panic_still_reaches_the_caller() {
    let memo = Memoizer::new(DocStore::default());
    let got = catch_unwind(AssertUnwindSafe(|| {
        memo.get::<u8, _>("k", || panic!("mine"))
    }));
    assert!(got.is_err());
    assert_eq!(memo.stats().store_errors, 0);
    assert_eq!(memo.get("k", || 3_u8).unwrap(), 3, "nothing was stored");
}

#[test]
fn etags_of_different_types_never_compare_equal() {
    let memo = Memoizer::new(DocStore::default());
    let etags = [
        Options::new().etag(&0_i32),
        Options::new().etag(&0_u8),
        Options::new().etag(""),
        Options::new().etag(&false),
        Options::new().etag(&None::<u8>),
        Options::new().etag(&()),
    ];
    for (i, stored) in etags.iter().enumerate() {
        memo.get_with("k", stored, || i).unwrap();
        for (j, asked) in etags.iter().enumerate() {
            assert_eq!(
                memo.exists_with("k", asked).unwrap(),
                i == j,
                "stored {i}, asked {j}"
            );
        }
    }
}

#[test]
fn a_reference_to_an_etag_is_the_same_etag() {
    let memo = Memoizer::new(DocStore::default());
    memo.get_with("k", &Options::new().etag("v1"), || 1_u8)
        .unwrap();
    assert!(memo.exists_with("k", &Options::new().etag(&"v1")).unwrap());
    assert!(memo.exists_with("k", &Options::new().etag(&&"v1")).unwrap());
    assert!(!memo.exists_with("k", &Options::new().etag("v2")).unwrap());
    assert_eq!(
        memo.etag::<String>("k").unwrap().as_deref(),
        Some("v1"),
        "the etag reads back as its value"
    );
}

#[test]
fn a_clock_stepped_back_a_day_never_extends_max_age() {
    let clock = ManualClock::at(1_700_000_000.0);
    let memo = Memoizer::builder(DocStore::default())
        .clock(clock.clone())
        .build();
    let opts = Options::new().max_age(MINUTE);
    let mut runs = 0;
    memo.get_with("k", &opts, || {
        runs += 1;
        runs
    })
    .unwrap();
    clock.set(1_700_000_000.0 - DAY);
    assert_eq!(memo.ttl_with("k", &opts).unwrap(), None);
    let again = memo
        .get_with("k", &opts, || {
            runs += 1;
            runs
        })
        .unwrap();
    assert_eq!(again, 2, "the record from the future is stale");
    let ttl = memo.ttl_with("k", &opts).unwrap().unwrap();
    assert!(ttl <= MINUTE, "ttl {ttl:?}");
    clock.advance(MINUTE);
    assert!(
        !memo.exists_with("k", &opts).unwrap(),
        "fresh no longer than max_age"
    );
}

#[test]
fn a_record_from_a_clock_ahead_is_stale_and_its_ttl_is_never_reported() {
    let now = 1_700_000_000.0;
    let store = Arc::new(DocStore::default());
    let memo = Memoizer::builder_arc(store.clone())
        .clock(ManualClock::at(now))
        .build();
    // Written by a machine whose clock runs a day ahead, with a one-minute life.
    let value = postcard::to_stdvec(&5_u8).unwrap();
    store
        .set("k", Record::new(now + DAY, Some(now + DAY + 60.0), value))
        .unwrap();
    assert_eq!(memo.ttl("k").unwrap(), None, "never 86,460 s");
    assert!(!memo.exists("k").unwrap());
    assert_eq!(memo.get("k", || 6_u8).unwrap(), 6);
    assert!(
        memo.ttl("k").unwrap().is_none(),
        "never expires: written without max_age"
    );
}

#[test]
fn waiters_take_a_value_computed_after_they_read_the_clock() {
    // The leader's record is created after a waiter first read the clock: it is not "from the
    // future" for the waiter.
    let memo = Memoizer::new(DocStore::default());
    let opts = Options::new().max_age(MINUTE);
    let runs = AtomicU64::new(0);
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                let v = memo
                    .get_with("k", &opts, || {
                        runs.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(50));
                        1_u8
                    })
                    .unwrap();
                assert_eq!(v, 1);
            });
        }
    });
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

/// A store that always fails.
#[derive(Debug)]
struct Down;

impl Store for Down {
    fn get(&self, _: &str) -> Result<Option<Record>> {
        Err(Error::backend("down", "unplugged"))
    }
    fn set(&self, _: &str, _: Record) -> Result<()> {
        Err(Error::backend("down", "unplugged"))
    }
    fn delete(&self, _: &str) -> Result<bool> {
        Err(Error::backend("down", "unplugged"))
    }
    fn name(&self) -> &'static str {
        "down"
    }
}

#[test]
fn the_fault_hook_sees_every_fault() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let memo = Memoizer::builder(Down)
        .on_fault(move |fault| {
            log.lock()
                .unwrap()
                .push(format!("{} {} {}", fault.store, fault.operation, fault.key));
        })
        .build();
    for i in 0..5 {
        assert_eq!(memo.get(&format!("k{i}"), || i).unwrap(), i);
    }
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 10);
    assert_eq!(seen[0], "down read k0");
    assert_eq!(seen[1], "down write k0");
    assert_eq!(memo.stats().store_errors, 10);
}

/// Counts WARN events.
struct Warnings(Arc<AtomicU64>);

impl tracing::Subscriber for Warnings {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        if *event.metadata().level() == tracing::Level::WARN {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn the_first_fault_warns_and_then_at_most_one_a_minute() {
    let warnings = Arc::new(AtomicU64::new(0));
    let memo = Memoizer::new(Down);
    tracing::subscriber::with_default(Warnings(warnings.clone()), || {
        for i in 0..50_u32 {
            memo.get(&i.to_string(), || i).unwrap();
        }
    });
    assert_eq!(warnings.load(Ordering::SeqCst), 1);
    assert_eq!(
        memo.stats().store_errors,
        100,
        "every fault is still counted"
    );
}

const CHILD: &str = "MEMO_CORE_FAULT_CHILD";

#[test]
#[ignore = "run as a child process by without_a_subscriber_the_first_fault_goes_to_stderr_once"]
fn child_faults_without_a_subscriber() {
    assert!(std::env::var_os(CHILD).is_some(), "run by its parent test");
    let memo = Memoizer::new(Down);
    for i in 0..20_u32 {
        assert_eq!(memo.get(&i.to_string(), || i).unwrap(), i);
    }
}

#[test]
fn without_a_subscriber_the_first_fault_goes_to_stderr_once() {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "trust::child_faults_without_a_subscriber",
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed: {stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "the child test ran: {stdout}");
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("memo:")).collect();
    assert_eq!(lines.len(), 1, "stderr: {stderr}");
    assert!(lines[0].contains("down store failed"), "{}", lines[0]);
}
