//! Criterion benchmarks for memo; see `benches/` and the README for how to run them.
//!
//! The library holds what several benchmark files and the report runner (`--bin report`)
//! share: timing helpers, the Zipf generator, and the report's table and chart writers.

pub mod decorated;
pub mod markdown;
pub mod summary;
pub mod svg;
pub mod zipf;

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

/// One benchmarked operation, run by [`paired`].
pub type Op<'a> = Box<dyn FnMut() + 'a>;

/// Each op's median and mean time per call over `rounds` rounds, each round running every
/// op `batch` times in turn (a batch keeps the clock's own cost out of nanosecond ops).
pub fn paired(ops: &mut [Op<'_>], rounds: usize, batch: u32) -> Vec<(Duration, Duration)> {
    let mut samples = vec![Vec::with_capacity(rounds); ops.len()];
    for _ in 0..rounds {
        for (op, times) in ops.iter_mut().zip(&mut samples) {
            let start = Instant::now();
            for _ in 0..batch {
                op();
            }
            times.push(start.elapsed() / batch);
        }
    }
    samples
        .into_iter()
        .map(|mut times| {
            let mean = times.iter().sum::<Duration>() / times.len().max(1) as u32;
            times.sort_unstable();
            (times[times.len() / 2], mean)
        })
        .collect()
}
