//! [`MemoizerBuilder`]: the store, clock, default options and fault hook of a Memoizer.

use std::fmt;
use std::sync::{Arc, RwLock};

use super::regions::Regions;
use super::stats::Counters;
use super::{Inner, Memoizer};
use crate::clock::{Clock, SystemClock};
use crate::fault::{Fault, Hook, Reporter};
use crate::flight::Flights;
use crate::options::Options;
use crate::store::Store;

/// Builds a [`Memoizer`] with a clock and default options.
pub struct MemoizerBuilder {
    store: Arc<dyn Store>,
    options: Options,
    clock: Arc<dyn Clock>,
    on_fault: Option<Hook>,
}

impl fmt::Debug for MemoizerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoizerBuilder")
            .field("store", &self.store)
            .field("options", &self.options)
            .field("on_fault", &self.on_fault.is_some())
            .finish_non_exhaustive()
    }
}

impl MemoizerBuilder {
    /// The clock records are timed with (default: [`SystemClock`]).
    #[must_use]
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Options of the default region, under the store given to [`Memoizer::builder`].
    #[must_use]
    pub fn options(mut self, options: Options) -> Self {
        self.options = self.options.overlay(&options);
        self
    }

    /// Calls `hook` with every store fault (a failed or panicking store call, an undecodable
    /// record), before the fault is counted and logged. For programs that page someone, or
    /// that count faults their own way; the Memoizer still fails open (or errs when strict).
    ///
    /// Without a hook, faults are reported where a person sees them: the first at WARN through
    /// `tracing`, then at most one a minute (with the number in between); a program with no
    /// tracing subscriber gets the first on stderr, once. Every fault is also at DEBUG.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use memo_core::{Memoizer, Result, Record, Store};
    ///
    /// #[derive(Debug)]
    /// struct Down;
    /// impl Store for Down {
    ///     fn get(&self, _: &str) -> Result<Option<Record>> { Err(memo_core::Error::backend("down", "unplugged")) }
    ///     fn set(&self, _: &str, _: Record) -> Result<()> { Err(memo_core::Error::backend("down", "unplugged")) }
    ///     fn delete(&self, _: &str) -> Result<bool> { Ok(false) }
    /// }
    ///
    /// let faults = Arc::new(AtomicU64::new(0));
    /// let seen = faults.clone();
    /// let memo = Memoizer::builder(Down)
    ///     .on_fault(move |fault| { seen.fetch_add(1, Ordering::Relaxed); })
    ///     .build();
    /// assert_eq!(memo.get("k", || 1_u8).unwrap(), 1); // computed: the store is down
    /// assert_eq!(faults.load(Ordering::Relaxed), 2); // the read and the write
    /// ```
    #[must_use]
    pub fn on_fault(mut self, hook: impl Fn(&Fault<'_>) + Send + Sync + 'static) -> Self {
        self.on_fault = Some(Arc::new(hook));
        self
    }

    /// The Memoizer.
    pub fn build(self) -> Memoizer {
        // The store given to `builder` is the default unless `options` named another.
        let store = self.options.store.value().cloned().unwrap_or(self.store);
        let default = self.options.store_arc(store.clone());
        Memoizer {
            inner: Arc::new(Inner {
                store,
                default,
                regions: RwLock::new(Regions::default()),
                clock: self.clock,
                flights: Flights::default(),
                counters: Counters::default(),
                reporter: Reporter::new(self.on_fault),
            }),
        }
    }
}

impl Memoizer {
    /// A Memoizer whose default region keeps records in `store`.
    pub fn new(store: impl Store) -> Self {
        Self::builder(store).build()
    }

    /// A builder whose default region keeps records in `store`.
    pub fn builder(store: impl Store) -> MemoizerBuilder {
        Self::builder_arc(Arc::new(store))
    }

    /// Like [`Memoizer::builder`], for a store that is shared with others.
    pub fn builder_arc(store: Arc<dyn Store>) -> MemoizerBuilder {
        MemoizerBuilder {
            store,
            options: Options::new(),
            clock: Arc::new(SystemClock),
            on_fault: None,
        }
    }
}
