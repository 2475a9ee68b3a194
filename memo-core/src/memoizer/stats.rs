//! [`Stats`]: counters striped by thread.

use std::sync::atomic::{AtomicU64, Ordering};

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

/// Counters spread over cache lines by thread, so that threads hitting at once do not
/// fight over one line.
#[derive(Default)]
pub(super) struct Counters {
    pub(super) stripes: [Stripe; STRIPES],
}

pub(super) const STRIPES: usize = 8;

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

impl Counters {
    #[inline(always)]
    pub(super) fn mine(&self) -> &Stripe {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        thread_local! {
            static SLOT: usize = (NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES as u64) as usize;
        }
        &self.stripes[SLOT.with(|slot| *slot)]
    }

    pub(super) fn sum(&self, counter: fn(&Stripe) -> &AtomicU64) -> u64 {
        self.stripes
            .iter()
            .map(|s| counter(s).load(Ordering::Relaxed))
            .sum()
    }
}

#[inline(always)]
pub(super) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}
