//! The circuit breaker: after some connection failures in a row the store fails at once for a
//! cool-down, then lets one probe through, whose success closes it again.
//!
//! Every method takes the current instant, so the tests step through time without sleeping.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// The breaker's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BreakerSettings {
    /// Connection failures in a row that open the breaker (at least 1).
    pub(crate) threshold: u32,
    /// How long the breaker stays open before it lets a probe through.
    pub(crate) cool_down: Duration,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        BreakerSettings {
            threshold: 3,
            cool_down: Duration::from_secs(5),
        }
    }
}

/// What the breaker has counted since the store was built.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct BreakerCounts {
    pub(crate) trips: u64,
    pub(crate) rejected: u64,
    pub(crate) open: bool,
}

#[derive(Debug, Default)]
struct State {
    /// Connection failures since the last round trip the server answered.
    failures: u32,
    /// While open: when the next probe may go.
    open_until: Option<Instant>,
    /// A probe is under way; the other callers keep failing fast until it ends.
    probing: bool,
    counts: BreakerCounts,
}

pub(crate) struct Breaker {
    settings: BreakerSettings,
    state: Mutex<State>,
}

/// Leave to make one round trip; hand it back to [`Breaker::record`] with the outcome.
#[must_use = "a permit reports its outcome to the breaker"]
pub(crate) struct Permit<'a> {
    breaker: &'a Breaker,
    probe: bool,
    recorded: bool,
}

/// What [`Breaker::record`] did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Change {
    None,
    Opened { failures: u32 },
    Closed,
}

impl Breaker {
    pub(crate) fn new(settings: BreakerSettings) -> Self {
        Breaker {
            settings,
            state: Mutex::new(State::default()),
        }
    }

    pub(crate) fn settings(&self) -> BreakerSettings {
        self.settings
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every update below is a few plain stores that a panic cannot leave half done.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn counts(&self) -> BreakerCounts {
        let state = self.state();
        BreakerCounts {
            open: state.open_until.is_some(),
            ..state.counts
        }
    }

    /// A permit for one round trip, or the time left of the cool-down (zero while a probe is
    /// under way) when the breaker is open.
    pub(crate) fn admit(&self, now: Instant) -> Result<Permit<'_>, Duration> {
        let mut state = self.state();
        let probe = match state.open_until {
            None => false,
            Some(until) if now < until => {
                state.counts.rejected += 1;
                return Err(until - now);
            }
            Some(_) if state.probing => {
                state.counts.rejected += 1;
                return Err(Duration::ZERO);
            }
            Some(_) => {
                state.probing = true;
                true
            }
        };
        Ok(Permit {
            breaker: self,
            probe,
            recorded: false,
        })
    }

    /// Reports whether the server answered the permitted round trip (any reply, an error reply
    /// too) or the connection failed (refused, reset, timed out).
    pub(crate) fn record(&self, mut permit: Permit<'_>, answered: bool, now: Instant) -> Change {
        permit.recorded = true;
        self.settle(permit.probe, answered, now)
    }

    fn settle(&self, probe: bool, answered: bool, now: Instant) -> Change {
        let mut state = self.state();
        if probe {
            state.probing = false;
        }
        if answered {
            state.failures = 0;
            // Any answer shows the server is back, not only the probe's.
            return if state.open_until.take().is_some() {
                state.probing = false;
                Change::Closed
            } else {
                Change::None
            };
        }
        state.failures = state.failures.saturating_add(1);
        let reopen = probe && state.open_until.is_some();
        let trip = state.open_until.is_none() && state.failures >= self.settings.threshold;
        if reopen || trip {
            // A cool-down too long for an Instant never ends: the breaker stays open.
            state.open_until = Some(
                now.checked_add(self.settings.cool_down)
                    .unwrap_or(now + Duration::from_secs(365 * 24 * 3600)),
            );
            state.counts.trips += 1;
            Change::Opened {
                failures: state.failures,
            }
        } else {
            Change::None
        }
    }
}

impl Drop for Permit<'_> {
    /// A probe dropped unreported (a panic during its round trip) counts as a failure, so that a
    /// lost probe never leaves the breaker waiting for it forever.
    fn drop(&mut self) {
        if !self.recorded && self.probe {
            self.breaker.settle(self.probe, false, Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOL: Duration = Duration::from_secs(5);

    fn breaker() -> Breaker {
        Breaker::new(BreakerSettings {
            threshold: 3,
            cool_down: COOL,
        })
    }

    fn fail(b: &Breaker, now: Instant) -> Change {
        let permit = b.admit(now).expect("admitted");
        b.record(permit, false, now)
    }

    fn answer(b: &Breaker, now: Instant) -> Change {
        let permit = b.admit(now).expect("admitted");
        b.record(permit, true, now)
    }

    #[test]
    fn opens_after_the_threshold_of_failures_in_a_row() {
        let b = breaker();
        let t = Instant::now();
        assert_eq!(fail(&b, t), Change::None);
        assert_eq!(fail(&b, t), Change::None);
        assert_eq!(fail(&b, t), Change::Opened { failures: 3 });
        assert_eq!(b.admit(t).err(), Some(COOL));
        let counts = b.counts();
        assert_eq!((counts.trips, counts.rejected, counts.open), (1, 1, true));
    }

    #[test]
    fn an_answer_resets_the_count_of_failures() {
        let b = breaker();
        let t = Instant::now();
        fail(&b, t);
        fail(&b, t);
        assert_eq!(answer(&b, t), Change::None);
        fail(&b, t);
        fail(&b, t);
        assert!(b.admit(t).is_ok(), "two failures after an answer opened it");
        assert_eq!(b.counts().trips, 0);
    }

    #[test]
    fn after_the_cool_down_one_probe_goes_and_its_answer_closes() {
        let b = breaker();
        let t = Instant::now();
        for _ in 0..3 {
            fail(&b, t);
        }
        assert_eq!(
            b.admit(t + COOL / 2).err(),
            Some(COOL / 2),
            "open during the cool-down"
        );
        let probe = b.admit(t + COOL).expect("the probe");
        assert_eq!(
            b.admit(t + COOL).err(),
            Some(Duration::ZERO),
            "a second caller went while the probe was under way"
        );
        assert_eq!(b.record(probe, true, t + COOL), Change::Closed);
        assert!(b.admit(t + COOL).is_ok());
        assert!(!b.counts().open);
    }

    #[test]
    fn a_failed_probe_opens_for_another_cool_down() {
        let b = breaker();
        let t = Instant::now();
        for _ in 0..3 {
            fail(&b, t);
        }
        let later = t + COOL + Duration::from_millis(1);
        assert_eq!(fail(&b, later), Change::Opened { failures: 4 });
        assert_eq!(b.admit(later).err(), Some(COOL));
        assert_eq!(b.counts().trips, 2);
        assert_eq!(answer(&b, later + COOL), Change::Closed, "no second probe");
    }

    #[test]
    fn late_failures_of_calls_admitted_before_the_trip_do_not_extend_it() {
        let b = breaker();
        let t = Instant::now();
        let mut permits: Vec<Permit<'_>> = (0..4).map(|_| b.admit(t).unwrap()).collect();
        let last = permits.pop().unwrap();
        let changes: Vec<Change> = permits
            .into_iter()
            .map(|permit| b.record(permit, false, t))
            .collect();
        assert_eq!(
            changes,
            [Change::None, Change::None, Change::Opened { failures: 3 }]
        );
        let later = t + Duration::from_secs(2);
        assert_eq!(b.record(last, false, later), Change::None);
        assert_eq!(b.admit(later).err(), Some(COOL - Duration::from_secs(2)));
        assert_eq!(b.counts().trips, 1);
    }

    #[test]
    fn a_probe_dropped_without_an_outcome_reopens_instead_of_blocking() {
        let b = breaker();
        let t = Instant::now();
        for _ in 0..3 {
            fail(&b, t);
        }
        drop(b.admit(t + COOL).expect("the probe"));
        assert!(b.counts().open);
        assert_eq!(b.counts().trips, 2);
        // The reopening used the real clock, long after `t + COOL`'s cool-down would end.
        assert!(b.admit(Instant::now() + 2 * COOL).is_ok());
    }
}
