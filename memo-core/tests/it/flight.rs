//! Single-flight: concurrent misses of one key compute once, a panic reaches only its caller
//! and frees the waiters, and a waiter under another etag computes its own value.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use memo_core::doc_store::DocStore;
use memo_core::{Memoizer, Options};

/// A Memoizer over a fresh in-memory store.
fn fresh_memo() -> Memoizer {
    Memoizer::new(DocStore::default())
}

/// Counts calls of a memoized function.
#[derive(Clone, Default)]
struct Calls(Arc<AtomicUsize>);

impl Calls {
    fn run<T>(&self, value: T) -> T {
        self.0.fetch_add(1, Ordering::SeqCst);
        value
    }
    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// 64 threads asking for one cold key: the function runs once and all get its value.
#[test]
fn sixty_four_threads_compute_once() {
    let memo = fresh_memo();
    let calls = Calls::default();
    let barrier = Barrier::new(64);
    let values: Vec<u64> = thread::scope(|scope| {
        let handles: Vec<_> = (0..64)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    memo.get("cold", || {
                        thread::sleep(Duration::from_millis(50));
                        calls.run(4242_u64)
                    })
                    .unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(values, vec![4242; 64]);
    assert_eq!(calls.count(), 1);
}

/// A panic reaches its caller and stores nothing; a waiter does not hang and gets a value.
#[test]
fn panic_reaches_caller_and_waiters_recover() {
    let memo = fresh_memo();
    let started = Barrier::new(2);
    let (panicked, waited) = thread::scope(|scope| {
        let leader = scope.spawn(|| {
            catch_unwind(AssertUnwindSafe(|| {
                memo.get("k", || -> u8 {
                    started.wait();
                    // Give the waiter time to join the flight before we fail.
                    thread::sleep(Duration::from_millis(100));
                    panic!("user function failed")
                })
            }))
        });
        let waiter = scope.spawn(|| {
            started.wait();
            memo.get("k", || 7_u8)
        });
        (leader.join().unwrap(), waiter.join().unwrap())
    });
    let message = panicked.expect_err("the panic reaches the caller");
    assert_eq!(
        message.downcast_ref::<&str>(),
        Some(&"user function failed")
    );
    assert_eq!(waited.unwrap(), 7);
    assert_eq!(
        memo.get("k", || 8_u8).unwrap(),
        7,
        "the waiter's value was stored"
    );
    let fresh = fresh_memo();
    let result = catch_unwind(AssertUnwindSafe(|| {
        fresh.get("p", || -> u8 { panic!("x") })
    }));
    assert!(result.is_err());
    assert!(!fresh.exists("p").unwrap(), "a panic stores nothing");
}

/// A caller waiting on a computation under another etag does not take its value.
#[test]
fn waiter_under_another_etag_computes_its_own() {
    let memo = fresh_memo();
    let started = Barrier::new(2);
    let (old, new) = thread::scope(|scope| {
        let leader = scope.spawn(|| {
            memo.get_with("k", &Options::new().etag(&1_u8), || {
                started.wait();
                thread::sleep(Duration::from_millis(100));
                "under etag 1".to_owned()
            })
        });
        let waiter = scope.spawn(|| {
            started.wait();
            memo.get_with("k", &Options::new().etag(&2_u8), || {
                "under etag 2".to_owned()
            })
        });
        (leader.join().unwrap(), waiter.join().unwrap())
    });
    assert_eq!(old.unwrap(), "under etag 1");
    assert_eq!(new.unwrap(), "under etag 2");
    assert_eq!(memo.stats().computations, 2);
}
