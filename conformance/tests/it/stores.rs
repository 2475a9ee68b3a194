//! Stores for testing the kit: correct ones, and broken ones with one fault each.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use memo_core::{Capabilities, Clock, Record, Result, Store, SystemClock};

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
        Ok(self
            .0
            .ttl(key)?
            .map(|left| left.saturating_add(Duration::from_secs(1))))
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

/// Broken: a backend that changes keys before using them, so distinct keys can meet. Each
/// constructor is one real backend's habit.
#[derive(Debug)]
pub(crate) struct MapsKeys {
    inner: MapStore,
    name: &'static str,
    map: fn(&str) -> String,
}

impl MapsKeys {
    fn new(name: &'static str, map: fn(&str) -> String) -> Self {
        MapsKeys {
            inner: MapStore::default(),
            name,
            map,
        }
    }

    /// A case-insensitive file system (macOS, Windows): `A` and `a` are one name.
    pub(crate) fn case_insensitive() -> Self {
        Self::new("case-insensitive", str::to_lowercase)
    }

    /// A normaliser to NFC (HFS+, some databases): `e` + U+0301 becomes U+00E9. Only the
    /// compositions the kit uses, which is all a test store needs.
    pub(crate) fn nfc() -> Self {
        Self::new("nfc", |key| {
            key.replace("e\u{301}", "\u{E9}")
                .replace("A\u{30A}", "\u{C5}")
                .replace('\u{212B}', "\u{C5}")
                .replace("n\u{303}", "\u{F1}")
        })
    }

    /// A URL path layer: percent-decodes, reads `\\` as `/`, drops empty and `.` segments and
    /// resolves `..`.
    pub(crate) fn url_path() -> Self {
        Self::new("url-path", |key| {
            let decoded = percent_decode(key).replace('\\', "/");
            let mut segments: Vec<&str> = Vec::new();
            for segment in decoded.split('/') {
                match segment {
                    "" | "." => {}
                    ".." => {
                        segments.pop();
                    }
                    s => segments.push(s),
                }
            }
            segments.join("/")
        })
    }

    /// Windows file names: trailing dots and spaces are dropped.
    pub(crate) fn windows_names() -> Self {
        Self::new("windows-names", |key| {
            key.trim_end_matches(['.', ' ']).to_owned()
        })
    }

    /// An SQL `CHAR`/PAD SPACE comparison: trailing spaces do not count.
    pub(crate) fn pad_space() -> Self {
        Self::new("pad-space", |key| key.trim_end_matches(' ').to_owned())
    }

    /// A C-string engine: a key ends at its first NUL.
    pub(crate) fn c_string() -> Self {
        Self::new("c-string", |key| {
            key.split('\0').next().unwrap_or_default().to_owned()
        })
    }

    /// A key-size limit met by keeping the first 250 bytes and the length of a longer key.
    pub(crate) fn key_limit() -> Self {
        Self::new("key-limit", |key| {
            if key.len() <= 250 {
                return key.to_owned();
            }
            let mut end = 250;
            while !key.is_char_boundary(end) {
                end -= 1;
            }
            format!("{}#{}", &key[..end], key.len())
        })
    }
}

fn percent_decode(key: &str) -> String {
    let bytes = key.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Store for MapsKeys {
    fn get(&self, key: &str) -> Result<Option<Record>> {
        self.inner.get(&(self.map)(key))
    }
    fn set(&self, key: &str, record: Record) -> Result<()> {
        self.inner.set(&(self.map)(key), record)
    }
    fn delete(&self, key: &str) -> Result<bool> {
        self.inner.delete(&(self.map)(key))
    }
    fn name(&self) -> &'static str {
        self.name
    }
}

/// Broken: silently ignores new keys once it holds `limit` records, while claiming to be exact.
#[derive(Debug)]
pub(crate) struct KeepsFirst {
    inner: MapStore,
    limit: usize,
}

impl KeepsFirst {
    pub(crate) fn new(limit: usize) -> Self {
        KeepsFirst {
            inner: MapStore::default(),
            limit,
        }
    }
}

impl Store for KeepsFirst {
    fn get(&self, key: &str) -> Result<Option<Record>> {
        self.inner.get(key)
    }
    fn set(&self, key: &str, record: Record) -> Result<()> {
        let mut map = lock(&self.inner.0);
        if map.len() < self.limit || map.contains_key(key) {
            map.insert(key.to_owned(), record);
        }
        Ok(())
    }
    fn delete(&self, key: &str) -> Result<bool> {
        self.inner.delete(key)
    }
    fn name(&self) -> &'static str {
        "keeps-first"
    }
}

/// Broken: a value limit of 1 MiB met by cutting longer values, as an engine with an item-size
/// limit might.
#[derive(Debug, Default)]
pub(crate) struct CutsValues(MapStore);

impl Store for CutsValues {
    fn get(&self, key: &str) -> Result<Option<Record>> {
        self.0.get(key)
    }
    fn set(&self, key: &str, mut record: Record) -> Result<()> {
        if record.value.len() > 1 << 20 {
            record.value = record.value[..1 << 20].into();
        }
        self.0.set(key, record)
    }
    fn delete(&self, key: &str) -> Result<bool> {
        self.0.delete(key)
    }
}

/// Broken: a `read` override that loses the etag while `get` keeps it.
#[derive(Debug, Default)]
pub(crate) struct LendsWithoutEtag(MapStore);

impl Store for LendsWithoutEtag {
    fn get(&self, key: &str) -> Result<Option<Record>> {
        self.0.get(key)
    }
    fn read(&self, key: &str, visit: &mut dyn FnMut(&Record)) -> Result<bool> {
        let Some(mut record) = self.0.get(key)? else {
            return Ok(false);
        };
        record.etag = None;
        visit(&record);
        Ok(true)
    }
    fn set(&self, key: &str, record: Record) -> Result<()> {
        self.0.set(key, record)
    }
    fn delete(&self, key: &str) -> Result<bool> {
        self.0.delete(key)
    }
}
