//! The time one Memoizer call has spent inside its store, so that a networked store can give
//! the whole call one deadline however many round trips it makes.
//!
//! The [`Memoizer`](crate::Memoizer) opens a scope around every call that may touch its store
//! more than once (a miss, an inspection call). A store charges the time each of its operations
//! took with [`charge`], and reads [`spent`] to cap the next operation's timeout at what its own
//! budget has left. The memoized function's own running time is never charged: only stores
//! charge, and a memoized call nested inside the function opens a scope of its own.
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
    fn charges_outside_a_call_are_dropped() {
        charge(Duration::from_secs(5));
        assert_eq!(spent(), None);
    }
}
