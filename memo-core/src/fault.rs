//! Store faults: panics caught at the store boundary, and reporting that a person sees.

use std::any::Any;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::store::Store;

/// One store fault, as handed to a [`MemoizerBuilder::on_fault`](crate::MemoizerBuilder::on_fault)
/// hook.
#[derive(Debug)]
#[non_exhaustive]
pub struct Fault<'a> {
    /// The key as the store sees it (namespace included).
    pub key: &'a str,
    /// The failing store's [`name`](Store::name).
    pub store: &'static str,
    /// What the Memoizer was doing: `"read"`, `"write"`, `"acquiring the lock"`, ...
    pub operation: &'a str,
    /// What went wrong.
    pub error: &'a Error,
}

/// A function that receives every store fault of a Memoizer.
pub(crate) type Hook = Arc<dyn Fn(&Fault<'_>) + Send + Sync>;

/// How often a Memoizer warns about faults after the first.
pub(crate) const WARN_EVERY: Duration = Duration::from_secs(60);

/// Runs one store call; a panic inside it becomes [`Error::StorePanicked`], so that a broken
/// store never unwinds through the Memoizer into its caller.
pub(crate) fn guard<R>(
    store: &dyn Store,
    operation: &'static str,
    call: impl FnOnce() -> Result<R>,
) -> Result<R> {
    catch_unwind(AssertUnwindSafe(call)).unwrap_or_else(|payload| {
        Err(Error::StorePanicked {
            store: store.name(),
            operation,
            message: panic_message(&*payload),
        })
    })
}

pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_owned()
    }
}

/// Reports faults where a person sees them: the first at WARN, then at most one a
/// [`WARN_EVERY`] with the count in between (every fault is also at DEBUG). A program without a
/// tracing subscriber gets the first on stderr, once.
pub(crate) struct Reporter {
    hook: Option<Hook>,
    last_warn: Mutex<Option<Instant>>,
    unreported: AtomicU64,
    told_stderr: AtomicBool,
}

impl Reporter {
    pub(crate) fn new(hook: Option<Hook>) -> Self {
        Reporter {
            hook,
            last_warn: Mutex::new(None),
            unreported: AtomicU64::new(0),
            told_stderr: AtomicBool::new(false),
        }
    }

    pub(crate) fn report(&self, fault: &Fault<'_>) {
        if let Some(hook) = &self.hook {
            hook(fault);
        }
        let Fault {
            key,
            store,
            operation,
            error,
        } = fault;
        tracing::debug!(%key, store, %error, "memo: {operation} failed");
        let now = Instant::now();
        let since = {
            let mut last = self
                .last_warn
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match *last {
                Some(at) if now.duration_since(at) < WARN_EVERY => {
                    self.unreported.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                _ => {
                    *last = Some(now);
                    self.unreported.swap(0, Ordering::Relaxed)
                }
            }
        };
        if tracing::enabled!(tracing::Level::WARN) {
            tracing::warn!(%key, store, %error, faults_since_last_warning = since,
                "memo: {operation} failed; the cache fails open (computing instead)");
        } else if !self.told_stderr.swap(true, Ordering::Relaxed) {
            eprintln!(
                "memo: the {store} store failed ({operation} of {key:?}: {error}); \
                 caching fails open and computes instead. Install a tracing subscriber \
                 to see further faults, or read Memoizer::stats()."
            );
        }
    }
}

impl fmt::Debug for Reporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reporter")
            .field("hook", &self.hook.is_some())
            .finish_non_exhaustive()
    }
}
