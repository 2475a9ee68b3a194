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

/// Unix seconds as a `SystemTime`, saturating: a time beyond what `SystemTime` holds on this
/// platform gives the latest (or earliest) whole second it holds; NaN gives the epoch.
pub fn from_unix(secs: f64) -> SystemTime {
    if secs.is_nan() {
        return UNIX_EPOCH;
    }
    let shift = |by: Duration| {
        if secs >= 0.0 {
            UNIX_EPOCH.checked_add(by)
        } else {
            UNIX_EPOCH.checked_sub(by)
        }
    };
    let magnitude = Duration::try_from_secs_f64(secs.abs()).unwrap_or(Duration::MAX);
    if let Some(time) = shift(magnitude) {
        return time;
    }
    // Out of range: search for the farthest whole second that fits (`fits` always does).
    let (mut fits, mut too_far) = (0, magnitude.as_secs());
    while too_far - fits > 1 {
        let mid = fits + (too_far - fits) / 2;
        if shift(Duration::from_secs(mid)).is_some() {
            fits = mid;
        } else {
            too_far = mid;
        }
    }
    shift(Duration::from_secs(fits)).unwrap_or(UNIX_EPOCH)
}

/// The time from `from` to `to` (unix seconds), **rounded down** to the nanosecond: never more
/// than the truth, for reporting what is left (`ttl`). Zero when `to` is not after `from` or
/// either is NaN; `Duration::MAX` beyond what a `Duration` holds (still below the truth).
pub fn span_rounded_down(from: f64, to: f64) -> Duration {
    let secs = to - from;
    if secs.is_nan() || secs <= 0.0 {
        return Duration::ZERO;
    }
    let whole = secs.floor();
    if whole >= u64::MAX as f64 {
        return Duration::MAX;
    }
    // `secs - whole` is exact (Sterbenz), so the nanoseconds only ever round down.
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "whole is in 0..u64::MAX, the fraction's nanoseconds in 0..1e9"
    )]
    let (whole, nanos) = (
        whole as u64,
        (((secs - whole) * 1e9).floor() as u32).min(999_999_999),
    );
    Duration::new(whole, nanos)
}

/// The time from `from` to `to` (unix seconds), **rounded up** to the nanosecond: never less
/// than the truth, for telling an engine when to drop a record (it must never drop it early).
/// Zero when `to` is not after `from`; `None` (never) when either is NaN or the span is beyond
/// what a `Duration` holds.
pub fn span_rounded_up(from: f64, to: f64) -> Option<Duration> {
    let secs = to - from;
    if secs.is_nan() {
        return None;
    }
    if secs <= 0.0 {
        return Some(Duration::ZERO);
    }
    let whole = secs.ceil();
    if whole >= u64::MAX as f64 {
        return None;
    }
    let floor = secs.floor();
    // `secs - floor` is exact (Sterbenz); its nanoseconds round up, carrying into the seconds.
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "floor is in 0..u64::MAX, the fraction's nanoseconds in 0..=1e9"
    )]
    let (floor, nanos) = (floor as u64, ((secs - floor) * 1e9).ceil() as u64);
    Some(Duration::from_secs(floor).saturating_add(Duration::from_nanos(nanos)))
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
    fn from_unix_saturates_instead_of_wrapping_to_the_epoch() {
        let far = from_unix(1e300);
        assert!(far > from_unix(1e15), "{far:?}");
        assert_eq!(from_unix(f64::INFINITY), far);
        assert!(from_unix(-1e300) < from_unix(-1e15));
        assert_eq!(from_unix(f64::NAN), UNIX_EPOCH);
    }

    #[test]
    fn spans_round_down_and_up_by_name() {
        assert_eq!(span_rounded_down(10.0, 10.5), Duration::from_millis(500));
        assert_eq!(
            span_rounded_up(10.0, 10.5),
            Some(Duration::from_millis(500))
        );
        // 1e-10 s: down to nothing, up to a whole nanosecond.
        assert_eq!(span_rounded_down(100.0, 100.000_000_000_1), Duration::ZERO);
        assert_eq!(
            span_rounded_up(100.0, 100.000_000_000_1),
            Some(Duration::from_nanos(1))
        );
        let (from, to) = (1_700_000_000.0, 1_700_000_010.25);
        assert!(span_rounded_down(from, to).as_secs_f64() <= to - from);
        assert!(span_rounded_up(from, to).unwrap().as_secs_f64() >= to - from);
        assert_eq!(span_rounded_down(10.0, 5.0), Duration::ZERO);
        assert_eq!(span_rounded_up(10.0, 5.0), Some(Duration::ZERO));
        assert_eq!(span_rounded_down(10.0, f64::NAN), Duration::ZERO);
        assert_eq!(span_rounded_up(10.0, f64::NAN), None);
        assert_eq!(span_rounded_down(0.0, 1e300), Duration::MAX);
        assert_eq!(span_rounded_up(0.0, 1e300), None);
        assert_eq!(
            span_rounded_up(10.0, f64::NEG_INFINITY),
            Some(Duration::ZERO)
        );
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
