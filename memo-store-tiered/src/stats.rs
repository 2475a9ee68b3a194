//! Per-tier counters, spread over cache lines by thread.

use std::sync::atomic::{AtomicU64, Ordering};

/// What a [`TieredStore`](crate::TieredStore) did, per tier, since it was made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TieredStats {
    /// Reads answered by the front.
    pub front_hits: u64,
    /// Reads the front missed and the back answered (in write-behind mode, also those answered
    /// by a write still queued for the back).
    pub back_hits: u64,
    /// Reads that found the key in no tier.
    pub misses: u64,
    /// Back hits copied into the front.
    pub promotions: u64,
    /// Back hits not copied into the front because a write, delete or invalidation of the key
    /// came in between (the generation check), or because the record had expired.
    pub promotions_skipped: u64,
    /// Calls to the front that failed (each then went to the back, or was ignored).
    pub front_errors: u64,
    /// Calls to the back that failed (reads and writes; in write-behind mode, also the
    /// background writer's attempts).
    pub back_errors: u64,
    /// Front entries dropped because they had stayed their residency limit.
    pub residency_drops: u64,
    /// Front entries dropped on an invalidation notice from Redis.
    pub invalidations: u64,
    /// Writes and deletes the background writer applied to the back (write-behind mode).
    pub written_behind: u64,
    /// Writes and deletes waiting for the background writer now (write-behind mode).
    pub pending: u64,
    /// Whether the Redis invalidation connection is subscribed now. It turns `false` only once
    /// the front has dropped what it took from the back, since notices may have been missed.
    pub tracking: bool,
}

/// One counter per field of [`TieredStats`] that the read path bumps.
#[derive(Clone, Copy)]
pub(crate) enum Counter {
    FrontHits,
    BackHits,
    Misses,
    Promotions,
    PromotionsSkipped,
    FrontErrors,
    BackErrors,
    ResidencyDrops,
    Invalidations,
    WrittenBehind,
}

const COUNTERS: usize = 10;
const STRIPES: usize = 8;

#[derive(Default)]
#[repr(align(128))]
struct Stripe([AtomicU64; COUNTERS]);

/// Counters striped by thread, so threads hitting the front at once do not fight over a line.
#[derive(Default)]
pub(crate) struct Counters {
    stripes: [Stripe; STRIPES],
}

impl Counters {
    #[inline]
    pub(crate) fn bump(&self, counter: Counter) {
        self.add(counter, 1);
    }

    #[inline]
    pub(crate) fn add(&self, counter: Counter, n: u64) {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        thread_local! {
            static SLOT: usize = (NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES as u64) as usize;
        }
        let stripe = &self.stripes[SLOT.with(|slot| *slot)];
        stripe.0[counter as usize].fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn get(&self, counter: Counter) -> u64 {
        self.stripes
            .iter()
            .map(|s| s.0[counter as usize].load(Ordering::Relaxed))
            .sum()
    }

    pub(crate) fn snapshot(&self) -> TieredStats {
        TieredStats {
            front_hits: self.get(Counter::FrontHits),
            back_hits: self.get(Counter::BackHits),
            misses: self.get(Counter::Misses),
            promotions: self.get(Counter::Promotions),
            promotions_skipped: self.get(Counter::PromotionsSkipped),
            front_errors: self.get(Counter::FrontErrors),
            back_errors: self.get(Counter::BackErrors),
            residency_drops: self.get(Counter::ResidencyDrops),
            invalidations: self.get(Counter::Invalidations),
            written_behind: self.get(Counter::WrittenBehind),
            pending: 0,
            tracking: false,
        }
    }
}
