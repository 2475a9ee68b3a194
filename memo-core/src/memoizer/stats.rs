//! [`Stats`]: counters striped by thread.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

/// Counts of what the Memoizer did, since it was made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Calls answered from the store.
    pub hits: u64,
    /// Calls that found no usable record.
    pub misses: u64,
    /// Times a memoized function ran.
    pub computations: u64,
    /// Store operations that failed (reads that became misses, writes that were skipped).
    pub store_errors: u64,
    /// Records or values that did not decode, and values or etags that did not encode.
    pub codec_errors: u64,
    /// Locks or waits for another caller that timed out.
    pub lock_timeouts: u64,
}

/// Counters in stripes on cache lines of their own: one stripe for each of the first
/// [`OWNED`] threads alive at once, which alone writes it, and one that the threads beyond
/// share.
///
/// A thread counts in its own stripe with a plain load and store instead of a locked
/// read-modify-write: the locked instruction cost a hit about a sixth of its time, for one
/// counter. Readers sum the stripes with relaxed loads; counts are exact, since each owned
/// stripe has one writer and the shared one is written with `fetch_add`.
pub(super) struct Counters {
    stripes: Box<[Stripe]>,
}

/// Threads that may own a stripe at once; the stripes take 128 bytes each per Memoizer.
pub(super) const OWNED: usize = 32;

#[derive(Default)]
#[repr(align(128))]
pub(super) struct Stripe {
    pub(super) hits: AtomicU64,
    pub(super) misses: AtomicU64,
    pub(super) computations: AtomicU64,
    pub(super) store_errors: AtomicU64,
    pub(super) codec_errors: AtomicU64,
    pub(super) lock_timeouts: AtomicU64,
}

/// One of a stripe's counters.
pub(super) type Counter = fn(&Stripe) -> &AtomicU64;

impl Default for Counters {
    fn default() -> Self {
        Counters {
            stripes: (0..=OWNED).map(|_| Stripe::default()).collect(),
        }
    }
}

impl Counters {
    /// Adds one to `counter` in this thread's stripe.
    #[inline(always)]
    pub(super) fn bump(&self, counter: Counter) {
        match Slot::mine() {
            Some(slot) => {
                // This thread is the stripe's only writer while it holds the slot.
                let count = counter(&self.stripes[slot]);
                count.store(count.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
            }
            None => {
                counter(&self.stripes[OWNED]).fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub(super) fn sum(&self, counter: Counter) -> u64 {
        self.stripes
            .iter()
            .map(|s| counter(s).load(Ordering::Relaxed))
            .sum()
    }
}

/// A thread's stripe number, the same in every Memoizer: taken from the lowest free number
/// when the thread first counts, and freed when it ends. The free list's lock orders the last
/// writes of a stripe's old owner before the first of its next.
struct Slot(usize);

static FREE: Mutex<BinaryHeap<Reverse<usize>>> = Mutex::new(BinaryHeap::new());
static NEXT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static SLOT: Slot = Slot::take();
}

impl Slot {
    fn take() -> Self {
        let free = FREE.lock().unwrap_or_else(PoisonError::into_inner).pop();
        Slot(free.map_or_else(|| NEXT.fetch_add(1, Ordering::Relaxed), |Reverse(n)| n))
    }

    /// This thread's owned stripe; `None` beyond [`OWNED`] threads, or while the thread's
    /// locals are being destroyed (a memoized call from another local's destructor).
    #[inline(always)]
    fn mine() -> Option<usize> {
        SLOT.try_with(|slot| slot.0)
            .ok()
            .filter(|&slot| slot < OWNED)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        FREE.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Reverse(self.0));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn counts_from_more_threads_than_stripes_are_exact() {
        let counters = Arc::new(Counters::default());
        let threads: Vec<_> = (0..OWNED + 8)
            .map(|_| {
                let counters = counters.clone();
                std::thread::spawn(move || {
                    for _ in 0..1_000 {
                        counters.bump(|s| &s.hits);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        // Threads that ended gave their stripes to these, which add to the same counts.
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| counters.bump(|s| &s.hits));
            }
        });
        assert_eq!(counters.sum(|s| &s.hits), (OWNED as u64 + 8) * 1_000 + 4);
        assert_eq!(counters.sum(|s| &s.misses), 0);
    }
}
