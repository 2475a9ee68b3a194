//! In-process single-flight: one caller computes a missing key, the others wait for its record.
//! Threads (blocking calls) and tasks (async calls) share the flights: a waiting thread sleeps
//! on a condition variable, a waiting task leaves its waker.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::record::Record;
use crate::timer;

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
    /// The wakers of waiting tasks, woken when the flight settles; a task keeps its slot.
    wakers: Mutex<Vec<Waker>>,
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

impl Flight {
    /// [`Flight::wait`] for a task: waits without blocking the thread.
    pub(crate) fn wait_async(self: Arc<Self>, timeout: Duration) -> Wait {
        Wait {
            deadline: Instant::now().checked_add(timeout),
            flight: self,
            slot: None,
            timer_set: false,
        }
    }

    fn settled(&self) -> Option<Outcome> {
        match &*lock(&self.state) {
            State::Done(record) => Some(Outcome::Done(record.clone())),
            State::Failed => Some(Outcome::Failed),
            State::Running => None,
        }
    }
}

/// A task's wait for a flight; see [`Flight::wait_async`]. Dropping it (the task was cancelled)
/// leaves at most a stale waker behind, which the flight's end wakes for nothing.
pub(crate) struct Wait {
    flight: Arc<Flight>,
    deadline: Option<Instant>,
    slot: Option<usize>,
    timer_set: bool,
}

impl Future for Wait {
    type Output = Outcome;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome> {
        if let Some(outcome) = self.flight.settled() {
            return Poll::Ready(outcome);
        }
        if self.deadline.is_some_and(|at| Instant::now() >= at) {
            return Poll::Ready(Outcome::TimedOut);
        }
        {
            let this = &mut *self;
            let mut wakers = lock(&this.flight.wakers);
            // A slot past the end: the flight settled meanwhile (checked again below).
            match this.slot.and_then(|slot| wakers.get_mut(slot)) {
                Some(waker) => waker.clone_from(cx.waker()),
                None => {
                    wakers.push(cx.waker().clone());
                    this.slot = Some(wakers.len() - 1);
                }
            }
        }
        // The flight may have settled before the waker was in place, and woken no one.
        if let Some(outcome) = self.flight.settled() {
            return Poll::Ready(outcome);
        }
        if let Some(at) = self.deadline
            && !self.timer_set
        {
            self.timer_set = true;
            timer::wake_at(at, cx.waker().clone());
        }
        Poll::Pending
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
            // Taken, not drained, so that the slots of waiters still polling stay valid.
            let wakers = std::mem::take(&mut *lock(&self.flight.wakers));
            wakers.into_iter().for_each(Waker::wake);
        }
    }
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        self.settle(State::Failed);
    }
}
