//! The residency limit: front entries taken from a shared back leave the front after at most
//! `limit`, so a change another process makes in the back is seen within it.
//!
//! Keys are noted in time buckets `width` wide as they enter the front; a sweeper thread drops
//! a bucket's keys from the front when the bucket's first note is `limit` old. Dropping from
//! the front is always safe (the back still holds the truth), so a key noted twice is dropped
//! early, never late.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// The default residency limit of a front entry taken from a shared back.
pub const DEFAULT_MAX_RESIDENCY: Duration = Duration::from_secs(1);

/// Buckets per limit: an entry stays between `limit * 7/8` and `limit`.
const BUCKETS: u32 = 8;

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section here leaves its data whole, so a poisoned lock guards sound data.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

struct Bucket {
    start: Instant,
    keys: Vec<Box<str>>,
}

pub(crate) struct Residency {
    pub(crate) limit: Duration,
    width: Duration,
    buckets: Mutex<VecDeque<Bucket>>,
}

impl Residency {
    pub(crate) fn new(limit: Duration) -> Self {
        Residency {
            limit,
            width: (limit / BUCKETS).max(Duration::from_micros(100)),
            buckets: Mutex::new(VecDeque::new()),
        }
    }

    /// Notes that `key` enters the front now; call before the front write, so the entry can
    /// never be older than its bucket.
    pub(crate) fn note(&self, key: &str) {
        let now = Instant::now();
        let mut buckets = lock(&self.buckets);
        match buckets.back_mut() {
            Some(last) if now.saturating_duration_since(last.start) < self.width => {
                last.keys.push(key.into());
            }
            _ => buckets.push_back(Bucket {
                start: now,
                keys: vec![key.into()],
            }),
        }
    }

    /// The keys whose bucket has stayed the limit at `now`, and when the next bucket will have.
    pub(crate) fn due(&self, now: Instant) -> (Vec<Box<str>>, Option<Instant>) {
        let mut buckets = lock(&self.buckets);
        let mut keys = Vec::new();
        while let Some(first) = buckets.front() {
            let leaves = first.start + self.limit;
            if leaves > now {
                return (keys, Some(leaves));
            }
            if let Some(bucket) = buckets.pop_front() {
                keys.extend(bucket.keys);
            }
        }
        (keys, None)
    }

    /// Every key noted and not yet dropped: what the front may hold from the shared back.
    #[cfg(any(feature = "redis", test))]
    pub(crate) fn take_all(&self) -> Vec<Box<str>> {
        lock(&self.buckets).drain(..).flat_map(|b| b.keys).collect()
    }
}

/// A stop signal that sleeping background threads wake up for.
#[derive(Default)]
pub(crate) struct Halt {
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl Halt {
    pub(crate) fn stop(&self) {
        *lock(&self.stopped) = true;
        self.wake.notify_all();
    }

    #[cfg(any(feature = "redis", test))]
    pub(crate) fn is_stopped(&self) -> bool {
        *lock(&self.stopped)
    }

    /// Sleeps until `deadline` (or `max` from now without one); `true` when stopped.
    pub(crate) fn sleep_until(&self, deadline: Option<Instant>, max: Duration) -> bool {
        let mut stopped = lock(&self.stopped);
        let deadline = deadline.unwrap_or_else(|| Instant::now() + max);
        loop {
            if *stopped {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            stopped = self
                .wake
                .wait_timeout(stopped, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_leave_after_the_limit_and_not_before() {
        let residency = Residency::new(Duration::from_millis(800));
        let start = Instant::now();
        residency.note("a");
        residency.note("b");
        let (keys, next) = residency.due(start);
        assert!(keys.is_empty());
        let next = next.expect("a bucket is waiting");
        assert!(next >= start + Duration::from_millis(800) - Duration::from_millis(1));
        let (keys, next) = residency.due(next + Duration::from_millis(900));
        assert_eq!(keys, vec![Box::<str>::from("a"), Box::from("b")]);
        assert_eq!(next, None);
    }

    #[test]
    fn take_all_empties_every_bucket() {
        let residency = Residency::new(Duration::from_millis(1));
        residency.note("a");
        std::thread::sleep(Duration::from_millis(2));
        residency.note("b");
        let mut all = residency.take_all();
        all.sort();
        assert_eq!(all, vec![Box::from("a"), Box::from("b")]);
        assert!(residency.take_all().is_empty());
    }

    #[test]
    fn halt_wakes_a_sleeper() {
        let halt = std::sync::Arc::new(Halt::default());
        let sleeper = {
            let halt = halt.clone();
            std::thread::spawn(move || halt.sleep_until(None, Duration::from_secs(60)))
        };
        halt.stop();
        assert!(sleeper.join().unwrap());
        assert!(halt.is_stopped());
    }
}
