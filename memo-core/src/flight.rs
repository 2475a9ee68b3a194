//! In-process single-flight: one caller computes a missing key, the others wait for its record.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::record::Record;

/// Identifies one key of one store.
pub(crate) type FlightKey = (usize, Box<str>);

#[derive(Default)]
pub(crate) struct Flights {
    running: Mutex<HashMap<FlightKey, Arc<Flight>>>,
    /// Bumped after each completed flight's record is written, so a caller that missed the store
    /// before a flight ended knows to look again before computing a second time.
    completions: AtomicU64,
}

#[derive(Default)]
pub(crate) struct Flight {
    state: Mutex<State>,
    done: Condvar,
}

#[derive(Default)]
enum State {
    #[default]
    Running,
    Done(Record),
    Failed,
}

/// What a waiter learns.
pub(crate) enum Outcome {
    Done(Record),
    /// The leader panicked or its function failed: look again, maybe lead.
    Failed,
    TimedOut,
}

pub(crate) enum Join<'a> {
    Leader(Leader<'a>),
    Waiter(Arc<Flight>),
}

/// Held by the computing caller; if dropped without [`Leader::finish`] (a panic, an `Err`), the
/// waiters are told to retry.
pub(crate) struct Leader<'a> {
    flights: &'a Flights,
    key: Option<FlightKey>,
    flight: Arc<Flight>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these locks cannot leave their data half-updated.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Flights {
    #[inline]
    pub(crate) fn epoch(&self) -> u64 {
        self.completions.load(Ordering::SeqCst)
    }

    pub(crate) fn join(&self, key: FlightKey) -> Join<'_> {
        let mut running = lock(&self.running);
        if let Some(flight) = running.get(&key) {
            return Join::Waiter(flight.clone());
        }
        let flight = Arc::new(Flight::default());
        running.insert(key.clone(), flight.clone());
        Join::Leader(Leader {
            flights: self,
            key: Some(key),
            flight,
        })
    }
}

impl Flight {
    pub(crate) fn wait(&self, timeout: Duration) -> Outcome {
        let deadline = Instant::now().checked_add(timeout);
        let mut state = lock(&self.state);
        loop {
            match &*state {
                State::Done(record) => return Outcome::Done(record.clone()),
                State::Failed => return Outcome::Failed,
                State::Running => {}
            }
            let left = match deadline {
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => left,
                    _ => return Outcome::TimedOut,
                },
                None => Duration::from_secs(3600),
            };
            state = self
                .done
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

impl Leader<'_> {
    /// Hands `record` to the waiters. Call after the record is written to the store.
    pub(crate) fn finish(mut self, record: Record) {
        self.flights.completions.fetch_add(1, Ordering::SeqCst);
        self.settle(State::Done(record));
    }

    fn settle(&mut self, outcome: State) {
        if let Some(key) = self.key.take() {
            lock(&self.flights.running).remove(&key);
            *lock(&self.flight.state) = outcome;
            self.flight.done.notify_all();
        }
    }
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        self.settle(State::Failed);
    }
}
