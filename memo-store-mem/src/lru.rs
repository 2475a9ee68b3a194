//! `LruStore`: a fixed number of records, the least recently used evicted first.

use std::fmt;
use std::num::NonZeroUsize;
use std::sync::{Mutex, MutexGuard, PoisonError};

use ::lru::LruCache;
use memo_core::{Capabilities, Error, Record, Result, Store};

/// An in-memory store of at most a fixed number of records (the `lru` crate): setting a new key
/// when full evicts the least recently read or written record.
///
/// A read moves its record to the front, so reads take the one lock exclusively; for stores
/// read from many threads at once, [`MokaStore`](crate::MokaStore) scales better.
///
/// Capabilities: [`lossy`](Capabilities::lossy), [`scan`](Capabilities::scan). Expired records
/// stay until evicted, overwritten or purged; the `Memoizer` never returns them.
///
/// ```
/// use memo_core::{Memoizer, Store};
/// use memo_store_mem::LruStore;
///
/// let memo = Memoizer::new(LruStore::with_capacity(2));
/// for n in 1..=3_u32 {
///     memo.get(&format!("square({n})"), || n * n).unwrap();
/// }
/// // The oldest of the three was evicted to make room for the third.
/// assert!(!memo.exists("square(1)").unwrap());
/// assert!(memo.exists("square(3)").unwrap());
/// ```
pub struct LruStore {
    cache: Mutex<LruCache<String, Record>>,
}

impl LruStore {
    /// A store of at most `capacity` records. A capacity of 0 is taken as 1: a store must be
    /// able to hold the record it was just given. [`LruStore::try_with_capacity`] rejects 0
    /// instead.
    pub fn with_capacity(capacity: usize) -> Self {
        Self::new(NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN))
    }

    /// A store of at most `capacity` records.
    ///
    /// # Errors
    /// [`Error::Config`] when `capacity` is 0.
    pub fn try_with_capacity(capacity: usize) -> Result<Self> {
        NonZeroUsize::new(capacity)
            .map(Self::new)
            .ok_or_else(|| Error::Config("LruStore needs a capacity of at least 1".into()))
    }

    /// A store of at most `capacity` records.
    pub fn new(capacity: NonZeroUsize) -> Self {
        LruStore {
            cache: Mutex::new(LruCache::new(capacity)),
        }
    }

    /// The most records the store holds.
    pub fn capacity(&self) -> usize {
        self.lock().cap().get()
    }

    /// How many records the store holds now, expired ones included.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether the store holds no record.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> MutexGuard<'_, LruCache<String, Record>> {
        // The cache's operations do not panic midway, so a poisoned lock guards a sound cache.
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for LruStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cache = self.lock();
        f.debug_struct("LruStore")
            .field("len", &cache.len())
            .field("capacity", &cache.cap())
            .finish()
    }
}

impl Store for LruStore {
    fn get(&self, key: &str) -> Result<Option<Record>> {
        Ok(self.lock().get(key).cloned())
    }

    fn read(&self, key: &str, visit: &mut dyn FnMut(&Record)) -> Result<bool> {
        Ok(self.lock().get(key).map(visit).is_some())
    }

    fn set(&self, key: &str, record: Record) -> Result<()> {
        self.lock().put(key.to_owned(), record);
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<bool> {
        Ok(self.lock().pop(key).is_some())
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::none().lossy(true).scan(true)
    }

    fn scan(&self, prefix: &str) -> Result<Vec<String>> {
        Ok(self
            .lock()
            .iter()
            .filter(|(key, _)| key.starts_with(prefix))
            .map(|(key, _)| key.clone())
            .collect())
    }

    fn purge_expired(&self, now: f64) -> Result<u64> {
        let mut cache = self.lock();
        let before = cache.len();
        cache.retain(|_, record| !record.is_expired(now));
        Ok((before - cache.len()) as u64)
    }

    fn name(&self) -> &'static str {
        "lru"
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::collection::vec;
    use proptest::prelude::*;

    use super::*;

    fn record(value: u8) -> Record {
        Record::new(1.0, None, vec![value])
    }

    #[test]
    fn full_store_evicts_the_least_recently_used() {
        let store = LruStore::with_capacity(3);
        for (i, key) in ["a", "b", "c"].into_iter().enumerate() {
            store.set(key, record(i as u8)).unwrap();
        }
        // Reading "a" makes "b" the least recently used.
        assert_eq!(store.get("a").unwrap(), Some(record(0)));
        store.set("d", record(3)).unwrap();
        assert_eq!(store.len(), 3);
        assert_eq!(store.get("b").unwrap(), None);
        for key in ["a", "c", "d"] {
            assert!(store.get(key).unwrap().is_some(), "{key} was evicted");
        }
    }

    #[test]
    fn overwriting_does_not_evict() {
        let store = LruStore::with_capacity(2);
        store.set("a", record(1)).unwrap();
        store.set("b", record(2)).unwrap();
        store.set("a", record(3)).unwrap();
        assert_eq!(store.get("a").unwrap(), Some(record(3)));
        assert_eq!(store.get("b").unwrap(), Some(record(2)));
    }

    #[test]
    fn zero_capacity_is_an_error_or_one() {
        assert!(matches!(
            LruStore::try_with_capacity(0),
            Err(Error::Config(m)) if m.contains("at least 1")
        ));
        let store = LruStore::with_capacity(0);
        assert_eq!(store.capacity(), 1);
        store.set("a", record(1)).unwrap();
        assert_eq!(store.get("a").unwrap(), Some(record(1)));
        store.set("b", record(2)).unwrap();
        assert_eq!(store.get("a").unwrap(), None);
        assert_eq!(LruStore::try_with_capacity(5).unwrap().capacity(), 5);
    }

    #[test]
    fn purge_removes_exactly_the_records_expired_at_now() {
        let store = LruStore::with_capacity(10);
        store
            .set("past", Record::new(0.0, Some(9.0), vec![1]))
            .unwrap();
        store
            .set("at_now", Record::new(0.0, Some(10.0), vec![2]))
            .unwrap();
        store
            .set("future", Record::new(0.0, Some(11.0), vec![3]))
            .unwrap();
        store.set("forever", record(4)).unwrap();
        assert_eq!(store.purge_expired(10.0).unwrap(), 2);
        let mut left = store.scan("").unwrap();
        left.sort();
        assert_eq!(left, ["forever", "future"]);
    }

    #[derive(Clone, Debug)]
    enum Op {
        Set(u8, u8),
        Get(u8),
        Delete(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..6_u8, any::<u8>()).prop_map(|(k, v)| Op::Set(k, v)),
            (0..6_u8).prop_map(Op::Get),
            (0..6_u8).prop_map(Op::Delete),
        ]
    }

    proptest! {
        /// Against a model that remembers every write and the order of use: the store returns
        /// exactly the records of the `capacity` most recently used keys.
        #[test]
        fn keeps_exactly_the_most_recently_used(ops in vec(op(), 1..60), capacity in 1..4_usize) {
            let store = LruStore::with_capacity(capacity);
            let mut model: HashMap<u8, u8> = HashMap::new();
            // Keys from least to most recently used.
            let mut recency: Vec<u8> = Vec::new();
            let touch = |recency: &mut Vec<u8>, k: u8| {
                recency.retain(|&x| x != k);
                recency.push(k);
            };
            for op in ops {
                match op {
                    Op::Set(k, v) => {
                        store.set(&k.to_string(), record(v)).unwrap();
                        model.insert(k, v);
                        touch(&mut recency, k);
                        if recency.len() > capacity {
                            model.remove(&recency.remove(0));
                        }
                    }
                    Op::Get(k) => {
                        let got = store.get(&k.to_string()).unwrap();
                        prop_assert_eq!(got, model.get(&k).map(|&v| record(v)));
                        if model.contains_key(&k) {
                            touch(&mut recency, k);
                        }
                    }
                    Op::Delete(k) => {
                        let was = store.delete(&k.to_string()).unwrap();
                        prop_assert_eq!(was, model.remove(&k).is_some());
                        recency.retain(|&x| x != k);
                    }
                }
                prop_assert_eq!(store.len(), model.len());
            }
        }
    }

    #[test]
    fn delete_reports_whether_a_record_was_there() {
        let store = LruStore::with_capacity(2);
        store.set("a", record(1)).unwrap();
        assert!(store.delete("a").unwrap());
        assert!(!store.delete("a").unwrap());
        assert!(store.is_empty());
    }
}
