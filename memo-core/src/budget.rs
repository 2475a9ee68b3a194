//! The time one Memoizer call has spent inside its store, so that a networked store can give
//! the whole call one deadline however many round trips it makes.
//!
//! The [`Memoizer`](crate::Memoizer) opens a scope around every call that may touch its store
//! more than once (a miss, an inspection call). A store charges the time each of its operations
//! took with [`charge`], and reads [`spent`] to cap the next operation's timeout at what its own
//! budget has left. The memoized function's own running time is never charged: only stores
//! charge, and a memoized call nested inside the function opens a scope of its own.
//!
//! An async call ([`Memoizer::get_async`](crate::Memoizer::get_async)) moves between threads at
//! its await points, so it keeps its total in its own future and makes it this thread's total
//! for the length of each poll of a store operation: a store's future reads and charges the
//! budget from inside `poll` exactly as a blocking store does from inside its method.
//!
//! ```
//! use std::time::Duration;
//! use memo_core::budget;
//!
//! assert_eq!(budget::spent(), None); // outside any call: every operation has a fresh budget
//! let scope = budget::Scope::enter();
//! budget::charge(Duration::from_millis(300));
//! budget::charge(Duration::from_millis(200));
//! assert_eq!(budget::spent(), Some(Duration::from_millis(500)));
//! drop(scope);
//! assert_eq!(budget::spent(), None);
//! ```

use std::cell::Cell;
use std::marker::PhantomData;
use std::time::Duration;

thread_local! {
    static SPENT: Cell<Option<Duration>> = const { Cell::new(None) };
}

/// A call's scope: while it lives, [`charge`] adds up on this thread. Scopes nest; dropping one
/// restores the enclosing call's total.
#[must_use = "the scope ends when dropped"]
#[derive(Debug)]
pub struct Scope {
    outer: Option<Duration>,
    /// The total lives in a thread-local, so the scope must end on the thread it began on.
    _not_send: PhantomData<*const ()>,
}

impl Scope {
    /// Begins a call's scope with nothing spent.
    pub fn enter() -> Self {
        let outer = SPENT.with(|spent| spent.replace(Some(Duration::ZERO)));
        Scope {
            outer,
            _not_send: PhantomData,
        }
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        SPENT.with(|spent| spent.set(self.outer));
    }
}

/// Runs `f` with `spent` as this thread's call total (an async call's total, carried between
/// polls), and keeps what `f` charged.
pub(crate) fn carry<R>(spent: &mut Duration, f: impl FnOnce() -> R) -> R {
    struct Restore<'a> {
        outer: Option<Duration>,
        spent: &'a mut Duration,
    }
    impl Drop for Restore<'_> {
        // Also on a panic in `f`: the thread's own total comes back.
        fn drop(&mut self) {
            let inner = SPENT.with(|spent| spent.replace(self.outer));
            *self.spent = inner.unwrap_or_default();
        }
    }
    let outer = SPENT.with(|cell| cell.replace(Some(*spent)));
    let _restore = Restore { outer, spent };
    f()
}

/// Adds `elapsed` to the current call's total; does nothing outside a call.
pub fn charge(elapsed: Duration) {
    SPENT.with(|spent| {
        if let Some(total) = spent.get() {
            spent.set(Some(total.saturating_add(elapsed)));
        }
    });
}

/// The time the current call has spent in its store so far; `None` outside a call.
pub fn spent() -> Option<Duration> {
    SPENT.with(Cell::get)
}

/// What is left of `budget` for the current call: all of it outside a call, never negative.
pub fn remaining(budget: Duration) -> Duration {
    budget.saturating_sub(spent().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_scopes_keep_their_own_totals() {
        let outer = Scope::enter();
        charge(Duration::from_millis(10));
        {
            let _inner = Scope::enter();
            assert_eq!(spent(), Some(Duration::ZERO));
            charge(Duration::from_millis(700));
            assert_eq!(
                remaining(Duration::from_secs(1)),
                Duration::from_millis(300)
            );
        }
        assert_eq!(spent(), Some(Duration::from_millis(10)));
        drop(outer);
        assert_eq!(remaining(Duration::from_secs(1)), Duration::from_secs(1));
    }

    #[test]
    fn carry_lends_a_total_to_the_thread_and_keeps_its_charges() {
        let outer = Scope::enter();
        charge(Duration::from_millis(1));
        let mut carried = Duration::from_millis(40);
        carry(&mut carried, || {
            assert_eq!(spent(), Some(Duration::from_millis(40)));
            charge(Duration::from_millis(2));
        });
        assert_eq!(carried, Duration::from_millis(42));
        assert_eq!(
            spent(),
            Some(Duration::from_millis(1)),
            "the thread's total is back"
        );
        drop(outer);
    }

    #[test]
    fn charges_outside_a_call_are_dropped() {
        charge(Duration::from_secs(5));
        assert_eq!(spent(), None);
    }
}
