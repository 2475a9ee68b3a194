//! Stores for testing the kit: correct ones, and broken ones with one fault each.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use memo_core::{Capabilities, Clock, Error, Record, Result, Store, SystemClock};

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A correct store with every optional method: scan and purge included.
#[derive(Debug, Default)]
pub(crate) struct MapStore(Mutex<HashMap<String, Record>>);

impl Store for MapStore {
    fn get(&self, key: &str) -> Result<Option<Record>> {
        Ok(lock(&self.0).get(key).cloned())
    }
    fn set(&self, key: &str, record: Record) -> Result<()> {
        lock(&self.0).insert(key.to_owned(), record);
        Ok(())
    }
    fn delete(&self, key: &str) -> Result<bool> {
        Ok(lock(&self.0).remove(key).is_some())
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::none().scan(true)
    }
    fn scan(&self, prefix: &str) -> Result<Vec<String>> {
        Ok(lock(&self.0)
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect())
    }
    fn purge_expired(&self, now: f64) -> Result<u64> {
        let mut map = lock(&self.0);
        let before = map.len();
        map.retain(|_, r| !r.is_expired(now));
        Ok((before - map.len()) as u64)
    }
}

/// Forgets (removes) every `every`-th record it is given; lossy only if `declared`.
#[derive(Debug)]
pub(crate) struct Forgetful {
    inner: MapStore,
    every: u64,
    declared: bool,
    sets: AtomicU64,
}

impl Forgetful {
    pub(crate) fn new(every: u64, declared: bool) -> Self {
        Forgetful {
            inner: MapStore::default(),
            every,
            declared,
            sets: AtomicU64::new(0),
        }
    }
}

impl Store for Forgetful {
    fn get(&self, key: &str) -> Result<Option<Record>> {
        self.inner.get(key)
    }
    fn set(&self, key: &str, record: Record) -> Result<()> {
        if (self.sets.fetch_add(1, Ordering::Relaxed) + 1).is_multiple_of(self.every) {
            self.inner.delete(key).map(drop)
        } else {
            self.inner.set(key, record)
        }
    }
    fn delete(&self, key: &str) -> Result<bool> {
        self.inner.delete(key)
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities().lossy(self.declared)
    }
    fn scan(&self, prefix: &str) -> Result<Vec<String>> {
        self.inner.scan(prefix)
    }
}

/// Keeps its records in one file in its directory, rewritten on every change.
#[derive(Debug)]
pub(crate) struct FileStore {
    path: PathBuf,
    map: Mutex<HashMap<String, Record>>,
}

impl FileStore {
    pub(crate) fn open(dir: &Path) -> Self {
        let path = dir.join("records");
        let map = match std::fs::read(&path) {
            Ok(bytes) => decode_file(&bytes).expect("a readable records file"),
            Err(_) => HashMap::new(),
        };
        FileStore {
            path,
            map: Mutex::new(map),
        }
    }

    fn save(&self, map: &HashMap<String, Record>) -> Result<()> {
        let mut out = Vec::new();
        for (key, record) in map {
            let record = record.encode();
            out.extend_from_slice(&(key.len() as u64).to_le_bytes());
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(&(record.len() as u64).to_le_bytes());
            out.extend_from_slice(&record);
        }
        let temp = self.path.with_extension("new");
        std::fs::write(&temp, out).map_err(|e| Error::backend("file", e))?;
        std::fs::rename(&temp, &self.path).map_err(|e| Error::backend("file", e))
    }
}

fn decode_file(mut bytes: &[u8]) -> Result<HashMap<String, Record>> {
    fn take<'a>(bytes: &mut &'a [u8]) -> Result<&'a [u8]> {
        let bad = || Error::backend("file", "truncated records file");
        let len = u64::from_le_bytes(
            bytes
                .get(..8)
                .ok_or_else(bad)?
                .try_into()
                .map_err(|_| bad())?,
        );
        let len = usize::try_from(len).map_err(|_| bad())?;
        let field = bytes.get(8..8 + len).ok_or_else(bad)?;
        *bytes = &bytes[8 + len..];
        Ok(field)
    }
    let mut map = HashMap::new();
    while !bytes.is_empty() {
        let key =
            String::from_utf8(take(&mut bytes)?.to_vec()).map_err(|e| Error::backend("file", e))?;
        map.insert(key, Record::decode(take(&mut bytes)?)?);
    }
    Ok(map)
}

impl Store for FileStore {
    fn get(&self, key: &str) -> Result<Option<Record>> {
        Ok(lock(&self.map).get(key).cloned())
    }
    fn set(&self, key: &str, record: Record) -> Result<()> {
        let mut map = lock(&self.map);
        map.insert(key.to_owned(), record);
        self.save(&map)
    }
    fn delete(&self, key: &str) -> Result<bool> {
        let mut map = lock(&self.map);
        let removed = map.remove(key).is_some();
        self.save(&map)?;
        Ok(removed)
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::none().persistent(true)
    }
    fn name(&self) -> &'static str {
        "file"
    }
}

/// Broken: loses the etag of every record.
#[derive(Debug, Default)]
pub(crate) struct DropsEtag(MapStore);

impl Store for DropsEtag {
    fn get(&self, key: &str) -> Result<Option<Record>> {
        self.0.get(key)
    }
    fn set(&self, key: &str, mut record: Record) -> Result<()> {
        record.etag = None;
        self.0.set(key, record)
    }
    fn delete(&self, key: &str) -> Result<bool> {
        self.0.delete(key)
    }
}

/// Broken: a read cache that `set` does not invalidate, so reads after an overwrite are stale.
#[derive(Debug, Default)]
pub(crate) struct StaleAfterOverwrite {
    inner: MapStore,
    cache: Mutex<HashMap<String, Record>>,
}

impl Store for StaleAfterOverwrite {
    fn get(&self, key: &str) -> Result<Option<Record>> {
        if let Some(record) = lock(&self.cache).get(key) {
            return Ok(Some(record.clone()));
        }
        let found = self.inner.get(key)?;
        if let Some(record) = &found {
            lock(&self.cache).insert(key.to_owned(), record.clone());
        }
        Ok(found)
    }
    fn set(&self, key: &str, record: Record) -> Result<()> {
        self.inner.set(key, record)
    }
    fn delete(&self, key: &str) -> Result<bool> {
        lock(&self.cache).remove(key);
        self.inner.delete(key)
    }
}

/// Broken: keys are cut to their first 256 bytes, so long keys sharing a prefix collide.
#[derive(Debug, Default)]
pub(crate) struct TruncatesKeys(Mutex<HashMap<Vec<u8>, Record>>);

fn cut(key: &str) -> Vec<u8> {
    key.as_bytes()[..key.len().min(256)].to_vec()
}

impl Store for TruncatesKeys {
    fn get(&self, key: &str) -> Result<Option<Record>> {
        Ok(lock(&self.0).get(&cut(key)).cloned())
    }
    fn set(&self, key: &str, record: Record) -> Result<()> {
        lock(&self.0).insert(cut(key), record);
        Ok(())
    }
    fn delete(&self, key: &str) -> Result<bool> {
        Ok(lock(&self.0).remove(&cut(key)).is_some())
    }
}

/// Broken: `ttl` reports a second more than the record has left.
#[derive(Debug, Default)]
pub(crate) struct OverReportsTtl(MapStore);

impl Store for OverReportsTtl {
    fn get(&self, key: &str) -> Result<Option<Record>> {
        self.0.get(key)
    }
    fn set(&self, key: &str, record: Record) -> Result<()> {
        self.0.set(key, record)
    }
    fn delete(&self, key: &str) -> Result<bool> {
        self.0.delete(key)
    }
    fn ttl(&self, key: &str) -> Result<Option<Duration>> {
        Ok(self.0.ttl(key)?.map(|left| left + Duration::from_secs(1)))
    }
}

/// Broken: `purge_expired` removes every record that has an expiry, expired or not.
#[derive(Debug, Default)]
pub(crate) struct PurgesLiveRecords(MapStore);

impl Store for PurgesLiveRecords {
    fn get(&self, key: &str) -> Result<Option<Record>> {
        self.0.get(key)
    }
    fn set(&self, key: &str, record: Record) -> Result<()> {
        self.0.set(key, record)
    }
    fn delete(&self, key: &str) -> Result<bool> {
        self.0.delete(key)
    }
    fn purge_expired(&self, _now: f64) -> Result<u64> {
        let mut map = lock(&(self.0).0);
        let before = map.len();
        map.retain(|_, r| r.expiry.is_none());
        Ok((before - map.len()) as u64)
    }
}

/// Broken: `scan` treats `*` in the prefix as a wildcard, as a naive glob translation would.
#[derive(Debug, Default)]
pub(crate) struct GlobScan(MapStore);

impl Store for GlobScan {
    fn get(&self, key: &str) -> Result<Option<Record>> {
        self.0.get(key)
    }
    fn set(&self, key: &str, record: Record) -> Result<()> {
        self.0.set(key, record)
    }
    fn delete(&self, key: &str) -> Result<bool> {
        self.0.delete(key)
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::none().scan(true)
    }
    fn scan(&self, prefix: &str) -> Result<Vec<String>> {
        let literal = prefix.split('*').next().unwrap_or_default();
        self.0.scan(literal)
    }
}

/// Broken: native expiry that rounds the expiry down to whole seconds, so records vanish early.
#[derive(Debug, Default)]
pub(crate) struct ExpiresEarly(MapStore);

impl Store for ExpiresEarly {
    fn get(&self, key: &str) -> Result<Option<Record>> {
        let now = SystemClock.now();
        Ok(self
            .0
            .get(key)?
            .filter(|r| !r.expiry.is_some_and(|e| now >= e.floor())))
    }
    fn set(&self, key: &str, record: Record) -> Result<()> {
        self.0.set(key, record)
    }
    fn delete(&self, key: &str) -> Result<bool> {
        Ok(self.get(key)?.is_some() & self.0.delete(key)?)
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::none().native_expiry(true)
    }
}

/// Broken: claims to be persistent but keeps nothing across a reopen.
#[derive(Debug, Default)]
pub(crate) struct ForgetsOnReopen(MapStore);

impl Store for ForgetsOnReopen {
    fn get(&self, key: &str) -> Result<Option<Record>> {
        self.0.get(key)
    }
    fn set(&self, key: &str, record: Record) -> Result<()> {
        self.0.set(key, record)
    }
    fn delete(&self, key: &str) -> Result<bool> {
        self.0.delete(key)
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::none().persistent(true)
    }
}

/// Broken: keeps the etag apart from the rest of the record, under a second lock, so a read
/// racing a write can pair one write's value with another's etag.
#[derive(Debug, Default)]
pub(crate) struct TornWrites {
    records: Mutex<HashMap<String, Record>>,
    etags: Mutex<HashMap<String, Option<memo_core::Bytes>>>,
}

impl Store for TornWrites {
    fn get(&self, key: &str) -> Result<Option<Record>> {
        let Some(mut record) = lock(&self.records).get(key).cloned() else {
            return Ok(None);
        };
        std::thread::yield_now();
        record.etag = lock(&self.etags).get(key).cloned().flatten();
        Ok(Some(record))
    }
    fn set(&self, key: &str, mut record: Record) -> Result<()> {
        let etag = record.etag.take();
        lock(&self.records).insert(key.to_owned(), record);
        std::thread::yield_now();
        lock(&self.etags).insert(key.to_owned(), etag);
        Ok(())
    }
    fn delete(&self, key: &str) -> Result<bool> {
        lock(&self.etags).remove(key);
        Ok(lock(&self.records).remove(key).is_some())
    }
}
