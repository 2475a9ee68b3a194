//! `MemStore`: an unbounded map in a few read-write-locked shards.

use std::fmt;
use std::hash::BuildHasher;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use hashbrown::HashTable;
use hashbrown::hash_table::{Entry, OccupiedEntry};
use memo_core::{Capabilities, Record, Result, Store};

/// Enough shards that threads reading and writing different keys rarely meet on one lock.
const SHARDS: usize = 16;

/// Records by key, found by a hash computed once per operation: it picks the shard and the
/// slot in the shard's table, where a `HashMap` in each shard would hash the key again.
type Table = HashTable<(Box<str>, Record)>;
type Shard = RwLock<Table>;

/// A shard on cache lines of its own, so that threads locking neighbouring shards do not
/// contend for one line (128 bytes: adjacent-line prefetching pairs 64-byte lines).
#[derive(Default)]
#[repr(align(128))]
struct Padded(Shard);

/// An unbounded in-memory store: records stay until deleted, purged or dropped.
///
/// Readers share a lock, and keys are spread over 16 shards, so concurrent reads never wait
/// for each other and a write blocks only the readers of its own shard. Records are kept as
/// they are given (their bytes are shared, not copied, on every read).
///
/// Keys are hashed with foldhash under a random per-process seed (hashbrown's default), which
/// resists collision floods from callers who cannot observe the program's behaviour, though
/// less than std's default hasher would against one who studies it.
///
/// Capabilities: [`scan`](Capabilities::scan). Expired records stay until
/// [`Store::purge_expired`] or an overwrite; the `Memoizer` never returns them.
///
/// ```
/// use memo_core::Memoizer;
/// use memo_store_mem::MemStore;
///
/// let memo = Memoizer::new(MemStore::new());
/// assert_eq!(memo.get("answer", || 42_u32).unwrap(), 42);
/// ```
pub struct MemStore {
    shards: Box<[Padded]>,
    /// foldhash, randomly seeded, as hashbrown (and so `LruStore`) hashes: std's default
    /// hasher took a fifth of a hit on a short key.
    hasher: foldhash::fast::RandomState,
}

impl MemStore {
    /// An empty store.
    pub fn new() -> Self {
        MemStore {
            shards: (0..SHARDS).map(|_| Padded::default()).collect(),
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    /// How many records the store holds, expired ones included.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|shard| read(&shard.0).len()).sum()
    }

    /// Whether the store holds no record.
    pub fn is_empty(&self) -> bool {
        self.shards.iter().all(|shard| read(&shard.0).is_empty())
    }

    /// The key's hash and its shard.
    #[inline(always)]
    fn locate(&self, key: &str) -> (u64, &Shard) {
        let hash = self.hasher.hash_one(key);
        (hash, &self.shards[shard_index(hash)].0)
    }
}

impl Default for MemStore {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemStore")
            .field("len", &self.len())
            .finish()
    }
}

impl Store for MemStore {
    fn get(&self, key: &str) -> Result<Option<Record>> {
        let (hash, shard) = self.locate(key);
        Ok(read(shard)
            .find(hash, |(k, _)| **k == *key)
            .map(|(_, r)| r.clone()))
    }

    fn read(&self, key: &str, visit: &mut dyn FnMut(&Record)) -> Result<bool> {
        let (hash, shard) = self.locate(key);
        Ok(read(shard)
            .find(hash, |(k, _)| **k == *key)
            .map(|(_, r)| visit(r))
            .is_some())
    }

    fn set(&self, key: &str, record: Record) -> Result<()> {
        let (hash, shard) = self.locate(key);
        let rehash = |(k, _): &(Box<str>, Record)| self.hasher.hash_one(&**k);
        match write(shard).entry(hash, |(k, _)| **k == *key, rehash) {
            Entry::Occupied(mut found) => found.get_mut().1 = record,
            Entry::Vacant(free) => {
                free.insert((key.into(), record));
            }
        }
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<bool> {
        let (hash, shard) = self.locate(key);
        Ok(write(shard)
            .find_entry(hash, |(k, _)| **k == *key)
            .map(OccupiedEntry::remove)
            .is_ok())
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::none().scan(true)
    }

    fn scan(&self, prefix: &str) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        for shard in &self.shards {
            keys.extend(
                read(&shard.0)
                    .iter()
                    .filter(|(k, _)| k.starts_with(prefix))
                    .map(|(k, _)| k.to_string()),
            );
        }
        Ok(keys)
    }

    fn purge_expired(&self, now: f64) -> Result<u64> {
        let mut removed = 0;
        for shard in &self.shards {
            let mut map = write(&shard.0);
            let before = map.len();
            map.retain(|(_, record)| !record.is_expired(now));
            removed += before - map.len();
        }
        Ok(removed as u64)
    }

    fn name(&self) -> &'static str {
        "memory"
    }
}

// A panic while a shard is locked cannot leave its map half-updated (std's map operations are
// panic-safe), so a poisoned lock is still usable.
fn read(shard: &Shard) -> RwLockReadGuard<'_, Table> {
    shard.read().unwrap_or_else(PoisonError::into_inner)
}

fn write(shard: &Shard) -> RwLockWriteGuard<'_, Table> {
    shard.write().unwrap_or_else(PoisonError::into_inner)
}

/// The shard of a key's hash: four of its middle bits, which a shard's table never reads (it
/// picks a slot with the low bits and tags it with the top seven), so the keys of one shard
/// spread over its table as well as any.
#[inline(always)]
fn shard_index(hash: u64) -> usize {
    (hash >> 32) as usize % SHARDS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(expiry: Option<f64>, value: u8) -> Record {
        Record::new(1.0, expiry, vec![value])
    }

    #[test]
    fn shard_index_is_in_range_and_spreads_memoizer_keys() {
        let store = MemStore::new();
        let shard_of = |key: &str| shard_index(store.hasher.hash_one(key));
        let mut used = [0_usize; SHARDS];
        for i in 0..1_000 {
            let key = format!("my_crate::module::function({i}, \"x\")");
            used[shard_of(&key)] += 1;
        }
        assert!(shard_of("") < SHARDS);
        assert!(shard_of(&"k".repeat(5_000)) < SHARDS);
        // Every shard gets some of 1000 keys that differ only in their middle digits.
        assert!(used.iter().all(|&n| n > 0), "{used:?}");
    }

    #[test]
    fn keys_in_different_shards_are_all_found_and_counted() {
        let store = MemStore::new();
        assert!(store.is_empty());
        for i in 0..100_u8 {
            store.set(&format!("k{i}"), record(None, i)).unwrap();
        }
        assert_eq!(store.len(), 100);
        for i in 0..100_u8 {
            assert_eq!(store.get(&format!("k{i}")).unwrap(), Some(record(None, i)));
        }
        let mut scanned = store.scan("k1").unwrap();
        scanned.sort();
        let mut expected: Vec<String> = ["k1".to_owned()]
            .into_iter()
            .chain((10..20).map(|i| format!("k{i}")))
            .collect();
        expected.sort();
        assert_eq!(scanned, expected);
    }

    #[test]
    fn purge_removes_exactly_the_records_expired_at_now() {
        let store = MemStore::default();
        store.set("past", record(Some(5.0), 1)).unwrap();
        store.set("at_now", record(Some(10.0), 2)).unwrap();
        store.set("future", record(Some(10.5), 3)).unwrap();
        store.set("forever", record(None, 4)).unwrap();
        assert_eq!(store.purge_expired(10.0).unwrap(), 2);
        assert_eq!(store.get("past").unwrap(), None);
        assert_eq!(store.get("at_now").unwrap(), None);
        assert_eq!(store.get("future").unwrap(), Some(record(Some(10.5), 3)));
        assert_eq!(store.get("forever").unwrap(), Some(record(None, 4)));
        assert_eq!(store.purge_expired(10.0).unwrap(), 0);
    }

    #[test]
    fn debug_shows_the_size_not_the_records() {
        let store = MemStore::new();
        store.set("secret", record(None, 7)).unwrap();
        assert_eq!(format!("{store:?}"), "MemStore { len: 1 }");
    }
}
