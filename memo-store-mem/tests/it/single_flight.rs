//! 64 real threads miss one cold key at once: the function runs once and all get its value.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use memo_core::{Memoizer, Store};
use memo_store_mem::{LruStore, MemStore, MokaStore};

const THREADS: usize = 64;

fn sixty_four_threads_compute_once(store: impl Store) {
    let memo = Memoizer::new(store);
    let runs = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let (memo, runs, barrier) = (memo.clone(), runs.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                memo.get("cold", || {
                    runs.fetch_add(1, Ordering::SeqCst);
                    // Keeps the computation running while the other threads arrive.
                    thread::sleep(Duration::from_millis(50));
                    vec![7_u64; 100]
                })
            })
        })
        .collect();
    for thread in threads {
        let value = thread
            .join()
            .expect("no thread panics")
            .expect("get succeeds");
        assert_eq!(value, vec![7_u64; 100]);
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let stats = memo.stats();
    assert_eq!(stats.computations, 1);
    assert_eq!(stats.hits + stats.misses, THREADS as u64);
}

#[test]
fn mem_store_computes_once_for_sixty_four_threads() {
    sixty_four_threads_compute_once(MemStore::new());
}

#[test]
fn lru_store_computes_once_for_sixty_four_threads() {
    sixty_four_threads_compute_once(LruStore::with_capacity(16));
}

#[test]
fn moka_store_computes_once_for_sixty_four_threads() {
    sixty_four_threads_compute_once(MokaStore::with_max_bytes(1 << 20).unwrap());
}
