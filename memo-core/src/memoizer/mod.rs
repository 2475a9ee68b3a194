//! The Memoizer, one concern a file: [`call`] resolves a call's options, [`regions`] keeps the
//! named regions, [`read`] is the one read path, [`miss`] runs single-flight, locks and the
//! computation, [`lookup`] and [`inspect`] are the public calls, [`stats`] counts;
//! [`lookup_async`] and [`miss_async`] are the async calls over the same parts.

mod builder;
mod call;
mod inspect;
mod inspect_async;
mod lookup;
mod lookup_async;
mod miss;
mod miss_async;
mod read;
mod regions;
mod stats;

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::fault::{Fault, Reporter};
use crate::flight::Flights;
use crate::options::Options;
use crate::store::Store;

pub use builder::MemoizerBuilder;
pub use stats::Stats;

use call::Call;
use regions::Regions;
use stats::{Counter, Counters};

/// How long a caller waits for a lock or another caller's computation unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Memoizes computations into a [`Store`].
///
/// Cheap to clone: clones share regions, statistics and single-flight state.
///
/// ```
/// use std::time::Duration;
/// use memo_core::{ManualClock, Memoizer, Options};
/// # use memo_core::doc_store::DocStore;
///
/// let clock = ManualClock::new();
/// let memo = Memoizer::builder(DocStore::default()).clock(clock.clone()).build();
/// let opts = Options::new().max_age(Duration::from_secs(60));
///
/// let mut calls = 0;
/// let mut slow_square = |x: u64| { calls += 1; x * x };
/// assert_eq!(memo.get_with("square(12)", &opts, || slow_square(12)).unwrap(), 144);
/// assert_eq!(memo.get_with("square(12)", &opts, || slow_square(12)).unwrap(), 144);
/// clock.advance(Duration::from_secs(61));
/// assert_eq!(memo.get_with("square(12)", &opts, || slow_square(12)).unwrap(), 144);
/// assert_eq!(calls, 2);
/// assert_eq!(memo.stats().hits, 1);
/// ```
#[derive(Clone)]
pub struct Memoizer {
    inner: Arc<Inner>,
}

struct Inner {
    /// The default region's store.
    store: Arc<dyn Store>,
    /// The default region's options; fixed when built, so calls that name no region read
    /// them without taking a lock.
    default: Options,
    regions: RwLock<Regions>,
    clock: Arc<dyn Clock>,
    flights: Flights,
    counters: Counters,
    reporter: Reporter,
}

impl fmt::Debug for Memoizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let regions = self
            .inner
            .regions
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let mut names: Vec<&str> = regions.defs.keys().map(|k| &**k).collect();
        names.sort_unstable();
        f.debug_struct("Memoizer")
            .field("default", &self.inner.default)
            .field("regions", &names)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Memoizer {
    /// The statistics so far.
    pub fn stats(&self) -> Stats {
        let c = &self.inner.counters;
        Stats {
            hits: c.sum(|s| &s.hits),
            misses: c.sum(|s| &s.misses),
            computations: c.sum(|s| &s.computations),
            store_errors: c.sum(|s| &s.store_errors),
            codec_errors: c.sum(|s| &s.codec_errors),
            lock_timeouts: c.sum(|s| &s.lock_timeouts),
        }
    }

    /// The clock records are timed with.
    pub fn clock(&self) -> &dyn Clock {
        &*self.inner.clock
    }

    /// The default region's store.
    pub fn store(&self) -> Arc<dyn Store> {
        self.inner.store.clone()
    }

    /// Counts and logs a store fault; returns it in strict mode.
    fn fault(&self, call: &Call<'_>, operation: &str, error: Error) -> Result<()> {
        let counter: Counter = match error {
            Error::Codec(_) => |s| &s.codec_errors,
            _ => |s| &s.store_errors,
        };
        self.inner.counters.bump(counter);
        self.inner.reporter.report(&Fault {
            key: &call.key,
            store: call.cfg.store.name(),
            operation,
            error: &error,
        });
        if call.cfg.strict() {
            Err(error)
        } else {
            Ok(())
        }
    }
}

/// Error type for [`Memoizer::try_get`] with a function whose error type knows nothing of memo.
#[derive(Debug, thiserror::Error)]
pub enum TryError<E> {
    /// memo's own error.
    #[error(transparent)]
    Memo(#[from] Error),
    /// The function's error.
    #[error("{0}")]
    Func(E),
}
