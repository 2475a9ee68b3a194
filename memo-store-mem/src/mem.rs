//! `MemStore`: an unbounded map in a few read-write-locked shards.

use std::collections::HashMap;
use std::fmt;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use memo_core::{Capabilities, Record, Result, Store};

/// Enough shards that threads reading and writing different keys rarely meet on one lock.
const SHARDS: usize = 16;

/// foldhash, randomly seeded, as hashbrown (and so `LruStore`) hashes: std's default hasher
/// took a fifth of a hit on a short key.
type Map = HashMap<String, Record, foldhash::fast::RandomState>;
type Shard = RwLock<Map>;

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
}

impl MemStore {
    /// An empty store.
    pub fn new() -> Self {
        MemStore {
            shards: (0..SHARDS).map(|_| Padded::default()).collect(),
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

    fn shard(&self, key: &str) -> &Shard {
        &self.shards[shard_index(key)].0
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
        Ok(read(self.shard(key)).get(key).cloned())
    }

    fn read(&self, key: &str, visit: &mut dyn FnMut(&Record)) -> Result<bool> {
        Ok(read(self.shard(key)).get(key).map(visit).is_some())
    }

    fn set(&self, key: &str, record: Record) -> Result<()> {
        write(self.shard(key)).insert(key.to_owned(), record);
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<bool> {
        Ok(write(self.shard(key)).remove(key).is_some())
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::none().scan(true)
    }

    fn scan(&self, prefix: &str) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        for shard in &self.shards {
            keys.extend(
                read(&shard.0)
                    .keys()
                    .filter(|k| k.starts_with(prefix))
                    .cloned(),
            );
        }
        Ok(keys)
    }

    fn purge_expired(&self, now: f64) -> Result<u64> {
        let mut removed = 0;
        for shard in &self.shards {
            let mut map = write(&shard.0);
            let before = map.len();
            map.retain(|_, record| !record.is_expired(now));
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
fn read(shard: &Shard) -> RwLockReadGuard<'_, Map> {
    shard.read().unwrap_or_else(PoisonError::into_inner)
}

fn write(shard: &Shard) -> RwLockWriteGuard<'_, Map> {
    shard.write().unwrap_or_else(PoisonError::into_inner)
}

/// Picks a shard from the key's length and up to 8 bytes at each end, in constant time: the
/// shard's map hashes the whole key again, so hashing it fully here would double the cost of
/// long keys. Keys built by the Memoizer share prefixes and differ near their end.
fn shard_index(key: &str) -> usize {
    let bytes = key.as_bytes();
    let (head, tail) = ends(bytes);
    let mixed = (bytes.len() as u64)
        ^ head.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ tail.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    // The top bits of a multiplicative hash are its best mixed.
    (mixed.wrapping_mul(0x1656_67B1_9E37_79F9) >> (64 - SHARDS.trailing_zeros())) as usize
}

/// Two words read from the key's ends, without a loop, as wyhash reads short inputs: 8 bytes
/// from each end, or 4 from each end, or the first, middle and last byte. Folding a short key
/// byte by byte took a seventh of a hit's instructions (81 of 548 on a 3-byte key); copying it into a stack buffer and
/// reading that back as a word stalls the CPU's store forwarding.
fn ends(bytes: &[u8]) -> (u64, u64) {
    let n = bytes.len();
    if n >= 8 {
        (le8(&bytes[..8]), le8(&bytes[n - 8..]))
    } else if n >= 4 {
        (le4(&bytes[..4]), le4(&bytes[n - 4..]))
    } else if n > 0 {
        let spread = u64::from(bytes[0]) << 16 | u64::from(bytes[n / 2]) << 8;
        (spread | u64::from(bytes[n - 1]), 0)
    } else {
        (0, 0)
    }
}

fn le8(eight: &[u8]) -> u64 {
    eight.try_into().map_or(0, u64::from_le_bytes)
}

fn le4(four: &[u8]) -> u64 {
    four.try_into()
        .map_or(0, |b| u64::from(u32::from_le_bytes(b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(expiry: Option<f64>, value: u8) -> Record {
        Record::new(1.0, expiry, vec![value])
    }

    #[test]
    fn shard_index_is_in_range_and_spreads_memoizer_keys() {
        let mut used = [0_usize; SHARDS];
        for i in 0..1_000 {
            let key = format!("my_crate::module::function({i}, \"x\")");
            used[shard_index(&key)] += 1;
        }
        assert!(shard_index("") < SHARDS);
        assert!(shard_index(&"k".repeat(5_000)) < SHARDS);
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
