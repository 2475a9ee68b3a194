//! Write-behind: the front takes a write at once, a background thread applies it to the back.
//!
//! The queue holds the latest operation per key (a later write to a key replaces the queued
//! one), so reads consult it between the front and the back and never see the back's older
//! record. The writer takes every queued operation in one round, applies it, and removes an
//! entry only if nothing replaced it meanwhile; a failed operation stays queued and is retried
//! after a pause.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use memo_core::{Error, Record, Result, Store};

use crate::residency::lock;
use crate::stats::{Counter, Counters};

/// A queued operation for the back.
#[derive(Clone, Debug)]
pub(crate) enum Op {
    Set(Record),
    Delete,
}

struct Pending {
    seq: u64,
    op: Op,
}

#[derive(Default)]
struct Queue {
    ops: HashMap<String, Pending>,
    seq: u64,
    started: u64,
    completed: u64,
    /// The round of the last failure and its error.
    error: Option<(u64, String)>,
    stop: bool,
}

pub(crate) struct Behind {
    queue: Mutex<Queue>,
    work: Condvar,
    progress: Condvar,
    capacity: usize,
    wait: Duration,
}

const FIRST_PAUSE: Duration = Duration::from_millis(10);
const LONGEST_PAUSE: Duration = Duration::from_secs(1);

impl Behind {
    pub(crate) fn new(capacity: usize, wait: Duration) -> Self {
        Behind {
            queue: Mutex::new(Queue::default()),
            work: Condvar::new(),
            progress: Condvar::new(),
            capacity,
            wait,
        }
    }

    /// Queues `op` for `key`, replacing any queued operation of the key; waits at most the
    /// configured time for room.
    pub(crate) fn push(&self, key: &str, op: Op) -> Result<()> {
        let mut queue = lock(&self.queue);
        let deadline = Instant::now() + self.wait;
        while queue.ops.len() >= self.capacity && !queue.ops.contains_key(key) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || queue.stop {
                return Err(Error::backend(
                    crate::store::NAME,
                    format!(
                        "the write-behind queue stayed full ({} keys) for {:?}: the back store \
                         is not keeping up",
                        self.capacity, self.wait
                    ),
                ));
            }
            queue = self
                .progress
                .wait_timeout(queue, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        queue.seq += 1;
        let seq = queue.seq;
        queue.ops.insert(key.to_owned(), Pending { seq, op });
        self.work.notify_one();
        Ok(())
    }

    /// The queued operation of `key`, if any.
    pub(crate) fn lookup(&self, key: &str) -> Option<Op> {
        lock(&self.queue).ops.get(key).map(|p| p.op.clone())
    }

    /// Queued operations of keys that start with `prefix`.
    pub(crate) fn with_prefix(&self, prefix: &str) -> Vec<(String, bool)> {
        lock(&self.queue)
            .ops
            .iter()
            .filter(|(key, _)| key.starts_with(prefix))
            .map(|(key, p)| (key.clone(), matches!(p.op, Op::Set(_))))
            .collect()
    }

    pub(crate) fn len(&self) -> usize {
        lock(&self.queue).ops.len()
    }

    /// Waits until every operation queued before the call has reached the back (one full
    /// round of the writer, which takes every queued operation, or an empty queue).
    ///
    /// # Errors
    /// The back's error when that round failed; the failed operations stay queued.
    pub(crate) fn barrier(&self) -> Result<()> {
        let mut queue = lock(&self.queue);
        let target = queue.started + 1;
        while !queue.ops.is_empty() && queue.completed < target && !queue.stop {
            queue = self
                .progress
                .wait(queue)
                .unwrap_or_else(PoisonError::into_inner);
        }
        match &queue.error {
            Some((round, error)) if !queue.ops.is_empty() && *round >= target => Err(
                Error::backend(crate::store::NAME, format!("write-behind: {error}")),
            ),
            _ => Ok(()),
        }
    }

    /// Asks the writer to finish: it makes one last attempt at what is queued, then returns.
    pub(crate) fn stop(&self) {
        lock(&self.queue).stop = true;
        self.work.notify_all();
        self.progress.notify_all();
    }

    /// The writer thread's loop.
    pub(crate) fn run<B: Store>(&self, back: &B, counters: &Counters) {
        let mut pause = FIRST_PAUSE;
        loop {
            let batch: Vec<(String, u64, Op)> = {
                let mut queue = lock(&self.queue);
                while queue.ops.is_empty() && !queue.stop {
                    queue = self
                        .work
                        .wait(queue)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                if queue.ops.is_empty() {
                    return;
                }
                queue.started += 1;
                queue
                    .ops
                    .iter()
                    .map(|(key, p)| (key.clone(), p.seq, p.op.clone()))
                    .collect()
            };
            let mut done = Vec::with_capacity(batch.len());
            let mut failed = None;
            for (key, seq, op) in batch {
                let outcome = catch_unwind(AssertUnwindSafe(|| match op {
                    Op::Set(record) => back.set(&key, record),
                    Op::Delete => back.delete(&key).map(drop),
                }));
                match outcome {
                    Ok(Ok(())) => done.push((key, seq)),
                    Ok(Err(error)) => failed = Some(error.to_string()),
                    Err(_) => failed = Some(format!("the {} store panicked", back.name())),
                }
            }
            counters.add(Counter::WrittenBehind, done.len() as u64);
            let stopping = {
                let mut queue = lock(&self.queue);
                for (key, seq) in done {
                    if queue.ops.get(&key).is_some_and(|p| p.seq == seq) {
                        queue.ops.remove(&key);
                    }
                }
                queue.completed += 1;
                if let Some(error) = &failed {
                    counters.bump(Counter::BackErrors);
                    tracing::warn!(
                        %error,
                        queued = queue.ops.len(),
                        "memo-tiered: the write-behind writer could not write to the back; retrying"
                    );
                    queue.error = Some((queue.completed, error.clone()));
                }
                self.progress.notify_all();
                queue.stop
            };
            if failed.is_none() {
                pause = FIRST_PAUSE;
                continue;
            }
            if stopping {
                let lost = self.len();
                tracing::error!(
                    lost,
                    "memo-tiered: the store is dropped and the back still fails; queued writes \
                     are lost"
                );
                return;
            }
            let queue = lock(&self.queue);
            let _ = self
                .work
                .wait_timeout_while(queue, pause, |q| !q.stop)
                .unwrap_or_else(PoisonError::into_inner);
            pause = (pause * 2).min(LONGEST_PAUSE);
        }
    }
}
