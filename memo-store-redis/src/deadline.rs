//! The store's side of a Memoizer call's deadline: what is left of it before a round trip, and
//! the charge after one.
//!
//! memo-core's [`budget`] adds up the store time of a call from when the Memoizer opens the
//! call's scope. A miss begins with the read that found nothing, made before the scope opens
//! (a hit is that read alone, and pays nothing for a scope). So that a frozen server costs a
//! miss one deadline and not two, the time of an operation made outside any call is remembered
//! on its thread, and charged to a call whose first operation on the same store follows it
//! within one deadline: in a Memoizer, that operation's call is the one the read began.

use std::cell::Cell;
use std::time::{Duration, Instant};

use memo_core::budget;

/// The last operation made outside a call on this thread.
#[derive(Clone, Copy, Debug)]
struct Loose {
    /// The pool it ran on (its address): another store's time is not this one's.
    store: usize,
    ended: Instant,
    spent: Duration,
}

thread_local! {
    static LOOSE: Cell<Option<Loose>> = const { Cell::new(None) };
}

/// What the current call has left of `deadline` for an operation of `store` starting `now`:
/// all of it outside a call.
pub(crate) fn left(store: usize, deadline: Duration, now: Instant) -> Duration {
    let Some(spent) = budget::spent() else {
        return deadline;
    };
    if let Some(loose) = LOOSE.take()
        && spent.is_zero()
        && loose.store == store
        && now.saturating_duration_since(loose.ended) <= deadline
    {
        budget::charge(loose.spent);
    }
    budget::remaining(deadline)
}

/// Charges `elapsed`, the time of an operation of `store` that ended `now`, to the current call,
/// or remembers it outside a call.
pub(crate) fn spend(store: usize, elapsed: Duration, now: Instant) {
    if budget::spent().is_some() {
        budget::charge(elapsed);
    } else {
        LOOSE.set(Some(Loose {
            store,
            ended: now,
            spent: elapsed,
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEADLINE: Duration = Duration::from_secs(1);
    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn outside_a_call_every_operation_has_the_whole_deadline() {
        let t = Instant::now();
        spend(1, 900 * MS, t);
        assert_eq!(left(1, DEADLINE, t), DEADLINE);
        spend(1, 900 * MS, t);
        assert_eq!(left(1, DEADLINE, t), DEADLINE);
    }

    #[test]
    fn a_call_pays_for_the_read_just_before_it_once() {
        let t = Instant::now();
        spend(1, 700 * MS, t);
        let scope = budget::Scope::enter();
        assert_eq!(left(1, DEADLINE, t + MS), 300 * MS);
        spend(1, 100 * MS, t + MS);
        assert_eq!(left(1, DEADLINE, t + MS), 200 * MS);
        drop(scope);
        // The next call starts afresh: the read was charged once.
        let _scope = budget::Scope::enter();
        assert_eq!(left(1, DEADLINE, t + MS), DEADLINE);
    }

    #[test]
    fn another_stores_read_or_an_old_one_is_not_charged() {
        let t = Instant::now();
        spend(1, 700 * MS, t);
        {
            let _scope = budget::Scope::enter();
            assert_eq!(left(2, DEADLINE, t), DEADLINE);
        }
        spend(1, 700 * MS, t);
        let _scope = budget::Scope::enter();
        assert_eq!(left(1, DEADLINE, t + DEADLINE + MS), DEADLINE);
    }

    #[test]
    fn inside_a_call_an_operation_is_charged_at_once_and_does_not_linger() {
        let t = Instant::now();
        let _scope = budget::Scope::enter();
        spend(1, 100 * MS, t);
        assert_eq!(left(1, DEADLINE, t), 900 * MS);
        let _inner = budget::Scope::enter();
        assert_eq!(left(1, DEADLINE, t), DEADLINE);
    }
}
