//! Criterion benchmarks for memo; see `benches/` and the README for how to run them.
//!
//! The library holds what several benchmark files share.

use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

/// Runs `work` on two threads at once, given each thread's index (0 or 1), and returns the
/// time until both are done. Both start together at a barrier, so neither is timed alone.
pub fn on_two_threads(work: impl Fn(usize) + Sync) -> Duration {
    let start = Barrier::new(3);
    thread::scope(|scope| {
        let workers: Vec<_> = (0..2)
            .map(|t| {
                let (start, work) = (&start, &work);
                scope.spawn(move || {
                    start.wait();
                    let began = Instant::now();
                    work(t);
                    began.elapsed()
                })
            })
            .collect();
        start.wait();
        workers
            .into_iter()
            .map(|w| w.join().expect("a worker panicked"))
            .max()
            .unwrap_or_default()
    })
}
