//! Timed batches of a workload on one or two threads, calibrated to a target time, run in
//! interleaved rounds.

use std::hint::black_box;
use std::time::{Duration, Instant};

use memo_bench::on_two_threads;
use memo_bench::summary::{Batch, Summary, interleave, ratio_range};

/// An operation: `(thread, index)`; indexes run on from batch to batch, so a workload that
/// needs new keys never repeats one.
pub(crate) type Op<'a> = &'a (dyn Fn(usize, u64) + Sync);

/// How long a run is.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Plan {
    pub(crate) rounds: usize,
    /// The time one batch should take.
    pub(crate) batch_time: Duration,
}

/// Runs `op` for `count` indexes from `start` on each of `threads` threads (1 or 2) and
/// returns the wall time per operation in nanoseconds (at two threads, per operation of the
/// pair's combined throughput).
fn timed(op: Op<'_>, threads: usize, start: u64, count: u64) -> f64 {
    let elapsed = if threads >= 2 {
        on_two_threads(|t| {
            let base = start + t as u64 * count;
            for i in base..base + count {
                op(t, i);
            }
        })
    } else {
        let began = Instant::now();
        for i in start..start + count {
            op(0, i);
        }
        black_box(began.elapsed())
    };
    elapsed.as_nanos() as f64 / (count * threads.max(1) as u64) as f64
}

/// Operations per batch for the plan's batch time, found by doubling on `op`.
fn calibrate(op: Op<'_>, threads: usize, next: &mut u64, plan: &Plan) -> u64 {
    let mut count = 1_u64;
    loop {
        let ns = timed(op, threads, *next, count);
        *next += count * threads as u64;
        let spent = ns * (count * threads as u64) as f64;
        if spent * 4.0 >= plan.batch_time.as_nanos() as f64 || count >= 1 << 24 {
            let per_op = ns * threads as f64;
            return ((plan.batch_time.as_nanos() as f64 / per_op.max(0.1)) as u64).max(1);
        }
        count *= 2;
    }
}

/// One row's result: its summary and its raw per-round samples.
#[derive(Clone, Debug)]
pub(crate) struct Measured {
    pub(crate) summary: Summary,
    pub(crate) samples: Vec<f64>,
}

impl Measured {
    /// The per-round ratios of this row to `reference`'s, summarised.
    pub(crate) fn ratio_range(&self, reference: &Measured) -> Summary {
        ratio_range(&self.samples, &reference.samples).unwrap_or(Summary {
            median: f64::NAN,
            min: f64::NAN,
            max: f64::NAN,
        })
    }
}

/// Runs every op in interleaved rounds, with one batch size (calibrated on the first op, the
/// memo side) for all, and returns each op's result.
pub(crate) fn compare(ops: &[Op<'_>], threads: usize, plan: &Plan) -> Vec<Measured> {
    let mut next = vec![0_u64; ops.len()];
    let count = calibrate(ops[0], threads, &mut next[0], plan);
    let mut rows: Vec<Batch<'_>> = ops
        .iter()
        .zip(next.iter_mut())
        .map(|(&op, next)| -> Batch<'_> {
            Box::new(move || {
                let ns = timed(op, threads, *next, count);
                *next += count * threads as u64;
                ns
            })
        })
        .collect();
    interleave(&mut rows, plan.rounds)
        .into_iter()
        .map(|samples| Measured {
            summary: Summary::of(&samples).expect("at least one round"),
            samples,
        })
        .collect()
}
