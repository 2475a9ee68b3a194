//! A correct store, small enough to read: the kit's doc examples use it, and a store author can
//! compare their own with it.
//!
//! [`ReferenceStore`] keeps its records in a `Mutex<BTreeMap>`; opened from a file, it also
//! writes every change to that file (a whole snapshot, written beside it and renamed over it, so a
//! crash leaves the old snapshot or the new one, never half of one). It passes the whole suite:
//!
//! ```
//! use memo_conformance::Harness;
//! use memo_conformance::reference::ReferenceStore;
//!
//! fn volatile() -> Harness {
//!     Harness::new(ReferenceStore::new)
//! }
//! fn persistent() -> Harness {
//!     Harness::persistent(|dir| ReferenceStore::open(dir.join("records")))
//! }
//! memo_conformance::suite!(volatile);
//! # fn main() {
//! #     memo_conformance::properties::get_after_set_returns_same_record(&volatile().cases(4))
//! #         .unwrap();
//! #     memo_conformance::properties::reopen_keeps_every_record(&persistent().cases(4)).unwrap();
//! # }
//! ```
//!
//! What makes it correct, and what real backends get wrong:
//! - the key is kept as the exact string, never normalised, case-folded, trimmed, escaped or cut,
//!   and compared byte for byte, so no two distinct keys can meet;
//! - the record is kept whole (here as the value itself; on disk as [`Record::encode`]'s bytes,
//!   which keep every `f64` bit for bit);
//! - `scan` compares prefixes literally (no glob), and `purge_expired` uses
//!   [`Record::is_expired`], the Memoizer's own test;
//! - a write that cannot reach the file is an error, never a silent loss.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use memo_core::{Capabilities, Error, Record, Result, Store};

/// A correct store: a `Mutex<BTreeMap>` of records, optionally kept in a snapshot file.
#[derive(Debug, Default)]
pub struct ReferenceStore {
    records: Mutex<BTreeMap<String, Record>>,
    file: Option<PathBuf>,
}

impl ReferenceStore {
    /// An empty store in memory.
    pub fn new() -> Self {
        Self::default()
    }

    /// The store kept in the file `path`: its records when the file exists, empty otherwise.
    /// Every change rewrites the file.
    ///
    /// # Errors
    /// [`Error::Backend`] when the file cannot be read, and [`Error::Codec`] when it is not a
    /// snapshot written by this store.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_owned();
        let records = match std::fs::read(&path) {
            Ok(bytes) => decode_snapshot(&bytes)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(Error::backend("reference", e)),
        };
        Ok(ReferenceStore {
            records: Mutex::new(records),
            file: Some(path),
        })
    }

    fn records(&self) -> MutexGuard<'_, BTreeMap<String, Record>> {
        // A panic elsewhere cannot leave the map half-changed: every change is one call on it.
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes the snapshot beside the file, then renames it over the file, so the file always
    /// holds a whole snapshot. Called with the lock held, so snapshots land in order.
    fn save(&self, records: &BTreeMap<String, Record>) -> Result<()> {
        let Some(path) = &self.file else {
            return Ok(());
        };
        let temp = path.with_extension("new");
        std::fs::write(&temp, encode_snapshot(records))
            .and_then(|()| std::fs::rename(&temp, path))
            .map_err(|e| Error::backend("reference", e))
    }
}

impl Store for ReferenceStore {
    fn get(&self, key: &str) -> Result<Option<Record>> {
        Ok(self.records().get(key).cloned())
    }

    fn read(&self, key: &str, visit: &mut dyn FnMut(&Record)) -> Result<bool> {
        Ok(self.records().get(key).map(visit).is_some())
    }

    fn set(&self, key: &str, record: Record) -> Result<()> {
        let mut records = self.records();
        let old = records.insert(key.to_owned(), record);
        self.save(&records).inspect_err(|_| {
            // Not written: the map goes back to what the file holds.
            match old {
                Some(old) => records.insert(key.to_owned(), old),
                None => records.remove(key),
            };
        })
    }

    fn delete(&self, key: &str) -> Result<bool> {
        let mut records = self.records();
        let Some(old) = records.remove(key) else {
            return Ok(false);
        };
        self.save(&records)
            .inspect_err(|_| {
                records.insert(key.to_owned(), old);
            })
            .map(|()| true)
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::none()
            .scan(true)
            .persistent(self.file.is_some())
    }

    fn scan(&self, prefix: &str) -> Result<Vec<String>> {
        Ok(self
            .records()
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(key, _)| key.starts_with(prefix))
            .map(|(key, _)| key.clone())
            .collect())
    }

    fn purge_expired(&self, now: f64) -> Result<u64> {
        let mut records = self.records();
        let before = records.clone();
        records.retain(|_, record| !record.is_expired(now));
        let purged = (before.len() - records.len()) as u64;
        if purged > 0 {
            self.save(&records).inspect_err(|_| *records = before)?;
        }
        Ok(purged)
    }

    fn flush(&self) -> Result<()> {
        // Every change is already in the file.
        Ok(())
    }

    fn name(&self) -> &'static str {
        "reference"
    }
}

/// The snapshot: for each record, the key's length and bytes, then the encoded record's length
/// and bytes, lengths as little-endian `u64`.
fn encode_snapshot(records: &BTreeMap<String, Record>) -> Vec<u8> {
    let mut out = Vec::new();
    for (key, record) in records {
        let record = record.encode();
        out.extend_from_slice(&(key.len() as u64).to_le_bytes());
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(&(record.len() as u64).to_le_bytes());
        out.extend_from_slice(&record);
    }
    out
}

fn decode_snapshot(mut bytes: &[u8]) -> Result<BTreeMap<String, Record>> {
    fn field<'a>(bytes: &mut &'a [u8]) -> Result<&'a [u8]> {
        let bad = || Error::Codec("a truncated reference snapshot".into());
        let (len, rest) = bytes.split_first_chunk::<8>().ok_or_else(bad)?;
        let len = usize::try_from(u64::from_le_bytes(*len)).map_err(|_| bad())?;
        let value = rest.get(..len).ok_or_else(bad)?;
        *bytes = &rest[len..];
        Ok(value)
    }
    let mut records = BTreeMap::new();
    while !bytes.is_empty() {
        let key = String::from_utf8(field(&mut bytes)?.to_vec())
            .map_err(|_| Error::Codec("a reference snapshot key is not UTF-8".into()))?;
        records.insert(key, Record::decode(field(&mut bytes)?)?);
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_round_trips_and_rejects_a_cut_file() {
        let mut records = BTreeMap::new();
        records.insert(String::new(), Record::new(f64::NAN, None, vec![1]));
        records.insert(
            "a\0é".to_owned(),
            Record::new(1.0, Some(2.0), vec![]).with_etag(vec![3]),
        );
        let bytes = encode_snapshot(&records);
        let back = decode_snapshot(&bytes).unwrap();
        assert_eq!(
            back.keys().collect::<Vec<_>>(),
            records.keys().collect::<Vec<_>>()
        );
        assert_eq!(back["a\0é"], records["a\0é"]);
        assert!(back[""].created.is_nan());
        assert!(matches!(
            decode_snapshot(&bytes[..bytes.len() - 1]),
            Err(Error::Codec(_))
        ));
    }
}
