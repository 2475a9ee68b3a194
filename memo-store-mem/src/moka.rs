//! `MokaStore`: a concurrent cache bounded by bytes, whose records expire natively.

use std::fmt;
use std::time::{Duration, Instant, SystemTime};

use memo_core::{Capabilities, Error, Record, Result, Store, span_rounded_up, to_unix};
use moka::Expiry;
use moka::ops::compute::{CompResult, Op};
use moka::sync::Cache;

/// The byte budget of [`MokaStoreBuilder`] unless [`max_bytes`](MokaStoreBuilder::max_bytes)
/// says otherwise: 64 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 64 << 20;

/// An in-memory store bounded by the bytes its records take (the `moka` crate).
///
/// Each record weighs its key's length plus its [encoded length](Record::encoded_len); when the
/// total passes the budget, moka evicts by its `TinyLFU` policy (recency and frequency), so a new
/// record may also be turned away. Records expire natively at their
/// [`expiry`](Record::expiry), measured on the real clock and rounded up, so an expired record
/// stops taking memory without waiting for a purge and never leaves early. Reads do not block
/// each other.
///
/// Capabilities: [`lossy`](Capabilities::lossy), [`native_expiry`](Capabilities::native_expiry),
/// [`scan`](Capabilities::scan).
///
/// ```
/// use std::time::Duration;
/// use memo_core::{Memoizer, Options};
/// use memo_store_mem::MokaStore;
///
/// let store = MokaStore::builder().max_bytes(16 << 20).build()?;
/// let memo = Memoizer::new(store);
/// let opts = Options::new().max_age(Duration::from_secs(60));
/// let greeting: String = memo.get_with("greet(ada)", &opts, || "hello, ada".to_owned())?;
/// assert_eq!(greeting, "hello, ada");
/// assert!(memo.ttl("greet(ada)")?.is_some_and(|left| left <= Duration::from_secs(60)));
/// # Ok::<(), memo_core::Error>(())
/// ```
///
/// # Limitations
/// - moka measures expiry on the monotonic clock from the moment of the write, so if the wall
///   clock is stepped back after a write, the record may leave before the wall clock reaches
///   its expiry (a miss, never a stale hit). A record set after its expiry is dropped at once.
/// - A record's weight is capped at `u32::MAX` bytes (moka's weigher is 32-bit).
/// - Eviction runs in moka's housekeeping, shortly after writes, so the byte total can pass the
///   budget for a moment.
pub struct MokaStore {
    cache: Cache<String, Record>,
    max_bytes: u64,
}

/// Builds a [`MokaStore`]: `MokaStore::builder().max_bytes(n).build()`.
#[derive(Clone, Debug)]
pub struct MokaStoreBuilder {
    max_bytes: u64,
}

impl MokaStoreBuilder {
    /// The most bytes of keys and encoded records the store keeps (default
    /// [`DEFAULT_MAX_BYTES`]).
    #[must_use]
    pub fn max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// The store.
    ///
    /// # Errors
    /// [`Error::Config`] when `max_bytes` is 0.
    pub fn build(self) -> Result<MokaStore> {
        if self.max_bytes == 0 {
            return Err(Error::Config(
                "MokaStore needs a max_bytes of at least 1".into(),
            ));
        }
        let cache = Cache::builder()
            .max_capacity(self.max_bytes)
            .weigher(|key: &String, record: &Record| weight(key, record))
            .expire_after(RecordExpiry)
            .build();
        Ok(MokaStore {
            cache,
            max_bytes: self.max_bytes,
        })
    }
}

impl Default for MokaStoreBuilder {
    fn default() -> Self {
        MokaStoreBuilder {
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

impl MokaStore {
    /// A builder with the defaults.
    pub fn builder() -> MokaStoreBuilder {
        MokaStoreBuilder::default()
    }

    /// A store of at most `max_bytes` bytes: `MokaStore::builder().max_bytes(max_bytes).build()`.
    ///
    /// # Errors
    /// [`Error::Config`] when `max_bytes` is 0.
    pub fn with_max_bytes(max_bytes: u64) -> Result<Self> {
        Self::builder().max_bytes(max_bytes).build()
    }

    /// The byte budget.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }
}

impl fmt::Debug for MokaStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MokaStore")
            .field("entries", &self.cache.entry_count())
            .field("bytes", &self.cache.weighted_size())
            .field("max_bytes", &self.max_bytes)
            .finish()
    }
}

impl Store for MokaStore {
    fn get(&self, key: &str) -> Result<Option<Record>> {
        Ok(self.cache.get(key))
    }

    /// moka lends no entry, so the record is cloned (its bytes are shared, not copied); this
    /// saves only the default's second call and its `Option<Record>` passed through memory.
    fn read(&self, key: &str, visit: &mut dyn FnMut(&Record)) -> Result<bool> {
        let record = self.cache.get(key);
        if let Some(record) = &record {
            visit(record);
        }
        Ok(record.is_some())
    }

    fn set(&self, key: &str, record: Record) -> Result<()> {
        self.cache.insert(key.to_owned(), record);
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<bool> {
        Ok(self.cache.remove(key).is_some())
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::none()
            .lossy(true)
            .native_expiry(true)
            .scan(true)
    }

    fn scan(&self, prefix: &str) -> Result<Vec<String>> {
        Ok(self
            .cache
            .iter()
            .filter(|(key, _)| key.starts_with(prefix))
            .map(|(key, _)| String::clone(&key))
            .collect())
    }

    /// Removes the records whose expiry is at or before `now`, which may be ahead of the real
    /// clock (native expiry has removed those behind it already), and runs moka's housekeeping.
    fn purge_expired(&self, now: f64) -> Result<u64> {
        let mut removed = 0;
        for (key, _) in &self.cache {
            // Decided under moka's lock on the key, so a record written since the scan stays.
            let outcome =
                self.cache
                    .entry_by_ref(key.as_str())
                    .and_compute_with(|entry| match entry {
                        Some(entry) if entry.value().is_expired(now) => Op::Remove,
                        _ => Op::Nop,
                    });
            removed += u64::from(matches!(outcome, CompResult::Removed(_)));
        }
        self.cache.run_pending_tasks();
        Ok(removed)
    }

    fn name(&self) -> &'static str {
        "moka"
    }
}

fn weight(key: &str, record: &Record) -> u32 {
    u32::try_from(key.len().saturating_add(record.encoded_len())).unwrap_or(u32::MAX)
}

/// Gives each entry the lifetime its record's expiry leaves.
struct RecordExpiry;

impl Expiry<String, Record> for RecordExpiry {
    fn expire_after_create(
        &self,
        _: &String,
        record: &Record,
        created: Instant,
    ) -> Option<Duration> {
        lifetime(record, created)
    }

    fn expire_after_update(
        &self,
        _: &String,
        record: &Record,
        updated: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        lifetime(record, updated)
    }
}

/// The record's lifetime counted from moka's timestamp of the write, `since`.
fn lifetime(record: &Record, since: Instant) -> Option<Duration> {
    let expiry = record.expiry?;
    let left = time_left(expiry, to_unix(SystemTime::now()))?;
    // moka counts from `since`, which is already behind us; count from there, or the record
    // would leave early by the gap.
    Some(left.saturating_add(Instant::now().saturating_duration_since(since)))
}

/// Slack for the rounding of unix times held as `f64` (about 0.24 µs apart today).
const F64_SLACK: Duration = Duration::from_micros(1);

/// The time from `now` to `expiry` (unix seconds), rounded up so that it is never short, plus
/// the slack of `f64` times; `None` (never) when `expiry` is NaN or too far to count (the
/// Memoizer counts a NaN expiry as stale; keeping such a record is the safe side for a store).
fn time_left(expiry: f64, now: f64) -> Option<Duration> {
    // moka counts in u64 nanoseconds: a longer life is "never".
    let countable = |left: &Duration| left.as_nanos() < u128::from(u64::MAX);
    span_rounded_up(now, expiry).filter(countable).map(|left| {
        if left.is_zero() {
            left
        } else {
            left.saturating_add(F64_SLACK)
        }
    })
}

#[cfg(test)]
mod tests {
    use std::thread;

    use super::*;

    fn now() -> f64 {
        to_unix(SystemTime::now())
    }

    #[test]
    fn time_left_rounds_up_and_handles_odd_expiries() {
        let left = time_left(100.000_000_000_5, 100.0).unwrap();
        assert!(left >= Duration::from_nanos(1), "{left:?}");
        let left = time_left(1_700_000_010.25, 1_700_000_000.0).unwrap();
        assert!(left >= Duration::from_millis(10_250), "{left:?}");
        assert!(left <= Duration::from_millis(10_251), "{left:?}");
        assert_eq!(time_left(5.0, 10.0), Some(Duration::ZERO));
        assert_eq!(time_left(10.0, 10.0), Some(Duration::ZERO));
        assert_eq!(time_left(f64::NAN, 10.0), None);
        assert_eq!(time_left(f64::INFINITY, 10.0), None);
        assert_eq!(time_left(1e300, 10.0), None);
        assert_eq!(time_left(f64::NEG_INFINITY, 10.0), Some(Duration::ZERO));
    }

    #[test]
    fn lifetime_counts_from_moka_timestamp() {
        let expiry = now() + 2.0;
        let since = Instant::now()
            .checked_sub(Duration::from_millis(500))
            .unwrap();
        let record = Record::new(0.0, Some(expiry), vec![1]);
        let life = lifetime(&record, since).unwrap();
        // `since + life` must not come before the expiry: at least 2 s left plus the 0.5 s gap.
        assert!(life >= Duration::from_millis(2_499), "{life:?}");
        assert_eq!(lifetime(&Record::new(0.0, None, vec![1]), since), None);
    }

    #[test]
    fn native_expiry_drops_the_entry_after_its_expiry() {
        let start = Instant::now();
        let store = MokaStore::with_max_bytes(1 << 20).unwrap();
        let expiry = now() + 0.2;
        let record = Record::new(now(), Some(expiry), vec![7; 100]);
        let forever = Record::new(now(), None, vec![8]);
        store.set("short", record.clone()).unwrap();
        store.set("forever", forever.clone()).unwrap();
        assert_eq!(store.get("short").unwrap(), Some(record));
        thread::sleep(Duration::from_millis(300));
        assert!(now() > expiry);
        assert_eq!(store.get("short").unwrap(), None);
        assert_eq!(store.scan("").unwrap(), ["forever"]);
        // Reads check the exact time; memory is freed when moka's timer wheel, whose buckets
        // span 1.07 s from the cache's creation, passes the entry's bucket.
        let deadline = start + Duration::from_millis(1_450);
        loop {
            store.cache.run_pending_tasks();
            if store.cache.entry_count() == 1 || Instant::now() > deadline {
                break;
            }
            thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(
            store.cache.entry_count(),
            1,
            "the expired entry still takes memory"
        );
        assert_eq!(
            store.cache.weighted_size(),
            u64::from(weight("forever", &forever))
        );
    }

    #[test]
    fn native_expiry_never_drops_the_entry_early() {
        let store = MokaStore::with_max_bytes(1 << 20).unwrap();
        // A fractional expiry, so rounding it down to whole seconds or milliseconds would show.
        let expiry = now() + 0.777_777;
        let record = Record::new(now(), Some(expiry), vec![5]);
        store.set("k", record.clone()).unwrap();
        let mut polls = 0;
        loop {
            let before = now();
            let got = store.get("k").unwrap();
            if before >= expiry {
                break;
            }
            assert_eq!(
                got.as_ref(),
                Some(&record),
                "gone {} s early",
                expiry - before
            );
            polls += 1;
            thread::sleep(Duration::from_millis(5));
        }
        assert!(polls > 0);
        // moka's deadline is the expiry plus the rounding slack (a microsecond).
        thread::sleep(Duration::from_millis(10));
        assert_eq!(store.get("k").unwrap(), None);
    }

    #[test]
    fn overwrite_takes_the_new_records_expiry() {
        let store = MokaStore::with_max_bytes(1 << 20).unwrap();
        store
            .set("k", Record::new(now(), Some(now() + 0.2), vec![1]))
            .unwrap();
        let forever = Record::new(now(), None, vec![2]);
        store.set("k", forever.clone()).unwrap();
        thread::sleep(Duration::from_millis(300));
        assert_eq!(store.get("k").unwrap(), Some(forever));
    }

    #[test]
    fn record_set_after_its_expiry_is_not_returned() {
        let store = MokaStore::with_max_bytes(1 << 20).unwrap();
        store
            .set("late", Record::new(0.0, Some(now() - 1.0), vec![1]))
            .unwrap();
        assert_eq!(store.get("late").unwrap(), None);
    }

    #[test]
    fn eviction_keeps_the_bytes_within_budget() {
        let record = Record::new(1.0, None, vec![0; 1_000]);
        let each = u64::from(weight("key-00", &record));
        let store = MokaStore::with_max_bytes(10 * each).unwrap();
        for i in 0..100 {
            store.set(&format!("key-{i:02}"), record.clone()).unwrap();
        }
        store.cache.run_pending_tasks();
        let kept = store.scan("key-").unwrap().len() as u64;
        assert!(kept > 0 && kept <= 10, "kept {kept}");
        assert!(store.cache.weighted_size() <= 10 * each);
        assert_eq!(store.cache.weighted_size(), kept * each);
    }

    #[test]
    fn record_larger_than_the_budget_is_not_kept() {
        let store = MokaStore::with_max_bytes(1_000).unwrap();
        store
            .set("big", Record::new(1.0, None, vec![0; 2_000]))
            .unwrap();
        store.cache.run_pending_tasks();
        assert_eq!(store.get("big").unwrap(), None);
        assert_eq!(store.cache.weighted_size(), 0);
    }

    #[test]
    fn purge_counts_records_expired_by_a_clock_ahead_of_real_time() {
        let store = MokaStore::builder().build().unwrap();
        let t = now();
        store
            .set("soon", Record::new(t, Some(t + 100.0), vec![1]))
            .unwrap();
        store
            .set("later", Record::new(t, Some(t + 300.0), vec![2]))
            .unwrap();
        store.set("forever", Record::new(t, None, vec![3])).unwrap();
        assert_eq!(store.purge_expired(t + 200.0).unwrap(), 1);
        let mut left = store.scan("").unwrap();
        left.sort();
        assert_eq!(left, ["forever", "later"]);
    }

    #[test]
    fn zero_budget_is_a_config_error() {
        assert!(matches!(
            MokaStore::with_max_bytes(0),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            MokaStore::builder().max_bytes(0).build(),
            Err(Error::Config(_))
        ));
        assert_eq!(
            MokaStore::builder().build().unwrap().max_bytes(),
            DEFAULT_MAX_BYTES
        );
    }

    #[test]
    fn weight_is_key_plus_encoded_record() {
        let record = Record::new(1.0, Some(2.0), vec![0; 300]).with_etag(vec![1, 2]);
        assert_eq!(weight("abc", &record) as usize, 3 + record.encoded_len());
    }
}
