//! Time, injectable so that tests advance a clock instead of sleeping.

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of wall-clock time in unix seconds.
pub trait Clock: Send + Sync + Debug + 'static {
    /// The current time in unix seconds.
    fn now(&self) -> f64;
}

/// The operating system's clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> f64 {
        to_unix(SystemTime::now())
    }
}

/// A clock that moves only when told to; clones share one time.
///
/// It starts at the system's current time, so stores with native expiry (which use the real
/// clock) see realistic times.
///
/// ```
/// use std::time::Duration;
/// use memo_core::{Clock, ManualClock};
///
/// let clock = ManualClock::new();
/// let start = clock.now();
/// clock.advance(Duration::from_secs(5));
/// assert_eq!(clock.now(), start + 5.0);
/// ```
#[derive(Clone, Debug)]
pub struct ManualClock {
    bits: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock set to the system's current time.
    pub fn new() -> Self {
        Self::at(SystemClock.now())
    }

    /// A clock set to `unix_seconds`.
    pub fn at(unix_seconds: f64) -> Self {
        ManualClock {
            bits: Arc::new(AtomicU64::new(unix_seconds.to_bits())),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let secs = by.as_secs_f64();
        // fetch_update never fails with a closure that always returns Some.
        let _ = self
            .bits
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |bits| {
                Some((f64::from_bits(bits) + secs).to_bits())
            });
    }

    /// Sets the clock to `unix_seconds`.
    pub fn set(&self, unix_seconds: f64) {
        self.bits.store(unix_seconds.to_bits(), Ordering::SeqCst);
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> f64 {
        f64::from_bits(self.bits.load(Ordering::SeqCst))
    }
}

/// A `SystemTime` as unix seconds (negative before 1970).
pub fn to_unix(time: SystemTime) -> f64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => after.as_secs_f64(),
        Err(before) => -before.duration().as_secs_f64(),
    }
}

/// Unix seconds as a `SystemTime`, saturating at the representable range.
pub fn from_unix(secs: f64) -> SystemTime {
    let magnitude = Duration::try_from_secs_f64(secs.abs()).unwrap_or(Duration::MAX);
    let shifted = if secs >= 0.0 {
        UNIX_EPOCH.checked_add(magnitude)
    } else {
        UNIX_EPOCH.checked_sub(magnitude)
    };
    shifted.unwrap_or(UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_conversions_round_trip() {
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_250);
        assert_eq!(to_unix(t), 1_700_000_000.25);
        assert_eq!(from_unix(1_700_000_000.25), t);
        assert_eq!(to_unix(UNIX_EPOCH - Duration::from_secs(2)), -2.0);
    }

    #[test]
    fn manual_clock_clones_share_time() {
        let a = ManualClock::at(100.0);
        let b = a.clone();
        a.advance(Duration::from_millis(1500));
        assert_eq!(b.now(), 101.5);
        b.set(7.0);
        assert_eq!(a.now(), 7.0);
    }
}
