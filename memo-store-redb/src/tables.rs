//! The store's three redb tables and the edits a write transaction makes to them.
//!
//! - `<table>`: key -> `(write sequence, ordered expiry, Record::encode bytes + key tag)`;
//! - `<table>/expiry`: `(ordered expiry, write sequence, key)` -> `()`, the index that purging
//!   walks instead of the records, and whose order is the eviction order;
//! - `<table>/meta`: `"live_bytes"`, `"next_seq"` and `"journal"` (the newest journal
//!   generation the database holds), saved by each durable commit.

use memo_core::Result;
use redb::{ReadableTable, Table, TableDefinition};

use crate::error::{self, engine};

/// A record as stored. The sequence and expiry repeat the record's index key, so removing a
/// record never needs to decode it (a record of a later protocol does not decode).
pub(crate) type Entry = (u64, u64, &'static [u8]);
/// An expiry index key.
pub(crate) type Slot = (u64, u64, &'static str);

const LIVE_BYTES: &str = "live_bytes";
const NEXT_SEQ: &str = "next_seq";
const JOURNAL: &str = "journal";

/// What each durable commit saves in the meta table.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Saved {
    /// Keys plus encoded records, in bytes.
    pub(crate) live: u64,
    /// The next write sequence number.
    pub(crate) next_seq: u64,
    /// The newest journal generation whose every entry the database holds.
    pub(crate) journal: u64,
}

/// The names of one store's tables.
pub(crate) struct Names {
    pub(crate) records: String,
    expiry: String,
    meta: String,
}

impl Names {
    pub(crate) fn new(table: &str) -> Self {
        Names {
            records: table.to_owned(),
            expiry: format!("{table}/expiry"),
            meta: format!("{table}/meta"),
        }
    }

    pub(crate) fn records(&self) -> TableDefinition<'_, &'static str, Entry> {
        TableDefinition::new(&self.records)
    }

    fn expiry(&self) -> TableDefinition<'_, Slot, ()> {
        TableDefinition::new(&self.expiry)
    }

    fn meta(&self) -> TableDefinition<'_, &'static str, u64> {
        TableDefinition::new(&self.meta)
    }

    /// Creates the tables if missing and reads what the last durable commit saved.
    pub(crate) fn create(&self, txn: &redb::WriteTransaction) -> Result<Saved> {
        drop(Writer::open(txn, self, 0, 0)?);
        let meta = txn
            .open_table(self.meta())
            .map_err(|e| error::table(&self.meta, e))?;
        let read =
            |name| -> Result<u64> { Ok(meta.get(name).map_err(engine)?.map_or(0, |g| g.value())) };
        Ok(Saved {
            live: read(LIVE_BYTES)?,
            next_seq: read(NEXT_SEQ)?,
            journal: read(JOURNAL)?,
        })
    }

    pub(crate) fn save(&self, txn: &redb::WriteTransaction, saved: Saved) -> Result<()> {
        let mut meta = txn
            .open_table(self.meta())
            .map_err(|e| error::table(&self.meta, e))?;
        meta.insert(LIVE_BYTES, saved.live).map_err(engine)?;
        meta.insert(NEXT_SEQ, saved.next_seq).map_err(engine)?;
        meta.insert(JOURNAL, saved.journal).map_err(engine)?;
        Ok(())
    }
}

/// Maps an expiry to a `u64` whose order is the expiry's: never-expiring records (and NaN
/// expiries, which never come) sort last; -0.0 and 0.0 are one time.
pub(crate) fn order(expiry: Option<f64>) -> u64 {
    match expiry {
        Some(at) if !at.is_nan() => {
            let bits = if at == 0.0 { 0 } else { at.to_bits() };
            if bits >> 63 == 1 {
                !bits
            } else {
                bits | 1 << 63
            }
        }
        _ => u64::MAX,
    }
}

/// What a record counts for in the live data: its key and its encoded bytes.
fn footprint(key: &str, encoded: usize) -> u64 {
    (key.len() + encoded) as u64
}

/// The length of the tag after each stored record: the xxh3-64 of its key, little-endian.
///
/// The record's checksum covers the record, not the key it is stored under; a changed byte in a
/// key of the file's B-tree would otherwise serve one key's sound record as another key's value.
const KEY_TAG: usize = 8;

fn key_tag(key: &str) -> [u8; KEY_TAG] {
    xxhash_rust::xxh3::xxh3_64(key.as_bytes()).to_le_bytes()
}

/// The bytes stored for `encoded` under `key`.
fn seal(key: &str, encoded: &[u8]) -> Vec<u8> {
    let mut stored = Vec::with_capacity(encoded.len() + KEY_TAG);
    stored.extend_from_slice(encoded);
    stored.extend_from_slice(&key_tag(key));
    stored
}

/// The encoded record in `stored`, read under `key`.
///
/// # Errors
/// [`memo_core::Error::Codec`] when the tag does not match `key` (the file is damaged).
pub(crate) fn unseal<'a>(key: &str, stored: &'a [u8]) -> Result<&'a [u8]> {
    match stored
        .len()
        .checked_sub(KEY_TAG)
        .map(|at| stored.split_at(at))
    {
        Some((encoded, tag)) if tag == key_tag(key) => Ok(encoded),
        _ => Err(memo_core::Error::Codec(
            "redb: the record is not the one stored under this key (damaged file)".into(),
        )),
    }
}

/// The encoded record's length in `stored` bytes.
fn encoded_len(stored: &[u8]) -> usize {
    stored.len().saturating_sub(KEY_TAG)
}

/// The record and index tables inside one write transaction, with the running totals.
pub(crate) struct Writer<'t> {
    records: Table<'t, &'static str, Entry>,
    expiry: Table<'t, Slot, ()>,
    pub(crate) live: u64,
    pub(crate) next_seq: u64,
}

impl<'t> Writer<'t> {
    pub(crate) fn open(
        txn: &'t redb::WriteTransaction,
        names: &Names,
        live: u64,
        next_seq: u64,
    ) -> Result<Self> {
        let records = txn
            .open_table(names.records())
            .map_err(|e| error::table(&names.records, e))?;
        let expiry = txn
            .open_table(names.expiry())
            .map_err(|e| error::table(&names.expiry, e))?;
        Ok(Writer {
            records,
            expiry,
            live,
            next_seq,
        })
    }

    /// Stores `encoded` (a record expiring at ordered time `expiry`) under `key`; a record that
    /// alone exceeds `bound` is not stored, and removes the key's older record.
    pub(crate) fn put(
        &mut self,
        key: &str,
        encoded: &[u8],
        expiry: u64,
        bound: Option<u64>,
    ) -> Result<(), redb::Error> {
        if bound.is_some_and(|bound| footprint(key, encoded.len()) > bound) {
            self.remove(key)?;
            return Ok(());
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let old = self
            .records
            .insert(key, (seq, expiry, seal(key, encoded).as_slice()))?
            .map(|guard| {
                let (seq, expiry, bytes) = guard.value();
                (seq, expiry, encoded_len(bytes))
            });
        if let Some((old_seq, old_expiry, len)) = old {
            self.expiry.remove((old_expiry, old_seq, key))?;
            self.live = self.live.saturating_sub(footprint(key, len));
        }
        self.expiry.insert((expiry, seq, key), ())?;
        self.live += footprint(key, encoded.len());
        Ok(())
    }

    /// Removes the record and its index entry; `false` when there was none.
    pub(crate) fn remove(&mut self, key: &str) -> Result<bool, redb::Error> {
        let old = self.records.remove(key)?.map(|guard| {
            let (seq, expiry, bytes) = guard.value();
            (seq, expiry, encoded_len(bytes))
        });
        let Some((seq, expiry, len)) = old else {
            return Ok(false);
        };
        self.expiry.remove((expiry, seq, key))?;
        self.live = self.live.saturating_sub(footprint(key, len));
        Ok(true)
    }

    /// Removes every record whose ordered expiry is below `end`, walking only the index.
    pub(crate) fn remove_expiring_before(&mut self, end: u64) -> Result<u64, redb::Error> {
        let mut keys = Vec::new();
        for slot in self
            .expiry
            .extract_from_if((0, 0, "")..(end, 0, ""), |_, ()| true)?
        {
            keys.push(slot?.0.value().2.to_owned());
        }
        for key in &keys {
            self.forget(key)?;
        }
        Ok(keys.len() as u64)
    }

    /// Evicts records in index order (earliest expiry, then least recently written) until the
    /// live data is at most `bound`; returns how many.
    pub(crate) fn evict_to(&mut self, bound: u64) -> Result<u64, redb::Error> {
        let mut evicted = 0;
        while self.live > bound {
            let Some(key) = self
                .expiry
                .pop_first()?
                .map(|(slot, _)| slot.value().2.to_owned())
            else {
                break;
            };
            self.forget(&key)?;
            evicted += 1;
        }
        Ok(evicted)
    }

    /// Removes the record of an index entry already removed.
    fn forget(&mut self, key: &str) -> Result<(), redb::Error> {
        if let Some(len) = self.records.remove(key)?.map(|g| encoded_len(g.value().2)) {
            self.live = self.live.saturating_sub(footprint(key, len));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_read_under_another_key_is_refused() {
        let stored = seal("k12", b"record");
        assert_eq!(unseal("k12", &stored).unwrap(), b"record");
        assert!(matches!(
            unseal("k13", &stored),
            Err(memo_core::Error::Codec(_))
        ));
        assert!(matches!(
            unseal("k12", b"short"),
            Err(memo_core::Error::Codec(_))
        ));
        assert_eq!(encoded_len(&stored), 6);
    }

    #[test]
    fn order_follows_the_expiry_order() {
        let times = [
            Some(f64::NEG_INFINITY),
            Some(-1e300),
            Some(-1.0),
            Some(0.0),
            Some(5e-324),
            Some(1.0),
            Some(1.7e9),
            Some(f64::INFINITY),
            None,
        ];
        for pair in times.windows(2) {
            assert!(order(pair[0]) < order(pair[1]), "{pair:?}");
        }
        assert_eq!(order(Some(-0.0)), order(Some(0.0)));
        assert_eq!(order(Some(f64::NAN)), order(None));
        assert_eq!(order(Some(-f64::NAN)), order(None));
    }
}
