//! Every side of a comparison behind one interface: memo over each store, and each raw engine
//! or peer crate doing what a cache does with it (get an owned value; on a miss compute, put,
//! return).

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use cached::{Cached, LruCache as CachedLruCache, UnboundCache};
use memo_core::{Memoizer, Options, Record, Store};
use memo_store_mem::{LruStore, MemStore, MokaStore};
use memo_store_redb::RedbStore;
use memo_store_redis::RedisStore;
use memo_store_tiered::TieredStore;
use redb::{ReadableDatabase, TableDefinition};

/// Redis records and raw keys live this long, so an interrupted run cleans up after itself.
pub(crate) const REDIS_TTL_MS: u64 = 600_000;
const RAW: TableDefinition<'static, &str, &[u8]> = TableDefinition::new("raw");

/// A value factory: called on a miss.
pub(crate) type Make<'a> = &'a mut dyn FnMut() -> Vec<u8>;

/// One side of a comparison.
pub(crate) trait Cache: Send + Sync {
    /// The value under `key`, or `make`'s, stored first. `t` is the calling thread's index
    /// (sides with a connection per thread use it).
    fn get_or_make(&self, t: usize, key: &str, make: Make<'_>) -> Vec<u8>;

    /// Stores `value` under every key, as fast as the side allows (a bulk load, not timed).
    fn fill(&self, keys: &[String], value: &[u8]) {
        for key in keys {
            self.get_or_make(0, key, &mut || value.to_vec());
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// memo over a store: `Memoizer::get_with`.
pub(crate) struct Memo {
    memo: Memoizer,
    /// Per-call options (Redis's expiry); `None` calls `Memoizer::get`, as most users do.
    options: Option<Options>,
    /// Set for Redis, whose fill goes through a pipeline (one locked miss per key would take
    /// minutes for a million keys).
    redis: Option<(String, Arc<RedisStore>)>,
}

impl Memo {
    pub(crate) fn new(store: impl Store) -> Self {
        Self {
            memo: Memoizer::new(store),
            options: None,
            redis: None,
        }
    }

    pub(crate) fn redis(url: &str, prefix: &str, pool: usize) -> Self {
        let store = Arc::new(
            RedisStore::builder(url)
                .prefix(prefix)
                .pool_size(pool)
                .build()
                .expect("a RedisStore on the given URL"),
        );
        Self {
            memo: Memoizer::new(store.clone()),
            options: Some(Options::new().max_age(Duration::from_millis(REDIS_TTL_MS))),
            redis: Some((url.to_owned(), store)),
        }
    }
}

impl Cache for Memo {
    fn get_or_make(&self, _: usize, key: &str, make: Make<'_>) -> Vec<u8> {
        match &self.options {
            Some(options) => self.memo.get_with(key, options, make),
            None => self.memo.get(key, make),
        }
        .expect("memo's get fails open")
    }

    fn fill(&self, keys: &[String], value: &[u8]) {
        let Some((url, store)) = &self.redis else {
            for key in keys {
                self.get_or_make(0, key, &mut || value.to_vec());
            }
            return;
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        let record = Record::new(
            now,
            Some(now + REDIS_TTL_MS as f64 / 1e3),
            postcard::to_allocvec(value).expect("encode"),
        );
        let bytes = record.encode();
        let mut connection = redis_connection(url);
        for chunk in keys.chunks(10_000) {
            let mut pipe = redis::pipe();
            for key in chunk {
                pipe.cmd("SET")
                    .arg(store.record_key(key))
                    .arg(&bytes)
                    .arg("PX")
                    .arg(REDIS_TTL_MS)
                    .ignore();
            }
            pipe.exec(&mut connection).expect("SET pipeline");
        }
    }
}

/// A `Mutex<HashMap>`: the engine under `MemStore`.
#[derive(Default)]
pub(crate) struct RawMap(Mutex<HashMap<String, Vec<u8>>>);

impl Cache for RawMap {
    fn get_or_make(&self, _: usize, key: &str, make: Make<'_>) -> Vec<u8> {
        if let Some(v) = lock(&self.0).get(key) {
            return v.clone();
        }
        let v = make();
        lock(&self.0).insert(key.to_owned(), v.clone());
        v
    }
}

/// `cached`'s unbounded store through its `Cached` trait, in a `Mutex` as `#[cached]` keeps it.
pub(crate) struct CachedUnbound(Mutex<UnboundCache<String, Vec<u8>>>);

impl CachedUnbound {
    pub(crate) fn new() -> Self {
        Self(Mutex::new(UnboundCache::new()))
    }
}

impl Cache for CachedUnbound {
    fn get_or_make(&self, _: usize, key: &str, make: Make<'_>) -> Vec<u8> {
        if let Some(v) = lock(&self.0).cache_get(key) {
            return v.clone();
        }
        let v = make();
        lock(&self.0).cache_set(key.to_owned(), v.clone());
        v
    }
}

/// `cached`'s `LruCache` (called `SizedCache` before cached 4) through its `Cached` trait, in
/// a `Mutex`.
pub(crate) struct CachedSized(Mutex<CachedLruCache<String, Vec<u8>>>);

impl CachedSized {
    pub(crate) fn new(capacity: usize) -> Self {
        Self(Mutex::new(CachedLruCache::new(capacity.max(1))))
    }
}

impl Cache for CachedSized {
    fn get_or_make(&self, _: usize, key: &str, make: Make<'_>) -> Vec<u8> {
        if let Some(v) = lock(&self.0).cache_get(key) {
            return v.clone();
        }
        let v = make();
        lock(&self.0).cache_set(key.to_owned(), v.clone());
        v
    }
}

/// A raw `lru::LruCache` in a `Mutex`: the engine under `LruStore`.
pub(crate) struct RawLru(Mutex<lru::LruCache<String, Vec<u8>>>);

impl RawLru {
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        Self(Mutex::new(lru::LruCache::new(capacity)))
    }
}

impl Cache for RawLru {
    fn get_or_make(&self, _: usize, key: &str, make: Make<'_>) -> Vec<u8> {
        if let Some(v) = lock(&self.0).get(key) {
            return v.clone();
        }
        let v = make();
        lock(&self.0).put(key.to_owned(), v.clone());
        v
    }
}

/// A raw `moka::sync::Cache`: the engine under `MokaStore`, bounded by entries.
pub(crate) struct RawMoka(moka::sync::Cache<String, Vec<u8>>);

impl RawMoka {
    pub(crate) fn new(capacity: u64) -> Self {
        Self(moka::sync::Cache::new(capacity))
    }
}

impl Cache for RawMoka {
    fn get_or_make(&self, _: usize, key: &str, make: Make<'_>) -> Vec<u8> {
        if let Some(v) = self.0.get(key) {
            return v;
        }
        let v = make();
        self.0.insert(key.to_owned(), v.clone());
        v
    }
}

/// `quick_cache::sync::Cache`, bounded by entries.
pub(crate) struct Quick(quick_cache::sync::Cache<String, Vec<u8>>);

impl Quick {
    pub(crate) fn new(capacity: usize) -> Self {
        Self(quick_cache::sync::Cache::new(capacity.max(1)))
    }
}

impl Cache for Quick {
    fn get_or_make(&self, _: usize, key: &str, make: Make<'_>) -> Vec<u8> {
        if let Some(v) = self.0.get(key) {
            return v;
        }
        let v = make();
        self.0.insert(key.to_owned(), v.clone());
        v
    }
}

/// Raw redb: a read transaction per get; a miss puts in a write transaction of its own with
/// `Durability::None` (`RedbStore`'s default, journaled, is durable within a second; `None` is
/// the cheapest raw commit, `Immediate` an fsync per write).
pub(crate) struct RawRedb {
    db: redb::Database,
    durability: redb::Durability,
}

impl RawRedb {
    pub(crate) fn create(path: &Path, durability: redb::Durability) -> Self {
        let db = redb::Database::create(path).expect("create raw redb");
        let txn = db.begin_write().expect("write");
        txn.open_table(RAW).expect("table");
        txn.commit().expect("commit");
        Self { db, durability }
    }

    fn get(&self, key: &str) -> Option<Vec<u8>> {
        let txn = self.db.begin_read().expect("read");
        let table = txn.open_table(RAW).expect("table");
        table.get(key).expect("get").map(|v| v.value().to_vec())
    }

    fn put(&self, key: &str, value: &[u8]) {
        let mut txn = self.db.begin_write().expect("write");
        txn.set_durability(self.durability).expect("durability");
        txn.open_table(RAW)
            .expect("table")
            .insert(key, value)
            .expect("insert");
        txn.commit().expect("commit");
    }
}

impl Cache for RawRedb {
    fn get_or_make(&self, _: usize, key: &str, make: Make<'_>) -> Vec<u8> {
        if let Some(v) = self.get(key) {
            return v;
        }
        let v = make();
        self.put(key, &v);
        v
    }

    fn fill(&self, keys: &[String], value: &[u8]) {
        for chunk in keys.chunks(10_000) {
            let txn = self.db.begin_write().expect("write");
            {
                let mut table = txn.open_table(RAW).expect("table");
                for key in chunk {
                    table.insert(key.as_str(), value).expect("insert");
                }
            }
            txn.commit().expect("commit");
        }
    }
}

/// Raw moka in front of raw redb, as `TieredStore` puts `MokaStore` over `RedbStore`.
pub(crate) struct RawTiered {
    front: moka::sync::Cache<String, Vec<u8>>,
    back: RawRedb,
}

impl RawTiered {
    pub(crate) fn new(front_entries: u64, back: RawRedb) -> Self {
        Self {
            front: moka::sync::Cache::new(front_entries),
            back,
        }
    }
}

impl Cache for RawTiered {
    fn get_or_make(&self, _: usize, key: &str, make: Make<'_>) -> Vec<u8> {
        if let Some(v) = self.front.get(key) {
            return v;
        }
        let v = match self.back.get(key) {
            Some(v) => v,
            None => {
                let v = make();
                self.back.put(key, &v);
                v
            }
        };
        self.front.insert(key.to_owned(), v.clone());
        v
    }

    fn fill(&self, keys: &[String], value: &[u8]) {
        self.back.fill(keys, value);
    }
}

pub(crate) fn redis_connection(url: &str) -> redis::Connection {
    redis::Client::open(url)
        .and_then(|c| c.get_connection())
        .expect("a connection to the Redis server")
}

/// Raw Redis: `GET`, and on a miss `SET key value PX`, on a connection per thread.
pub(crate) struct RawRedis {
    connections: Vec<Mutex<redis::Connection>>,
    prefix: String,
}

impl RawRedis {
    pub(crate) fn new(url: &str, prefix: &str, threads: usize) -> Self {
        Self {
            connections: (0..threads.max(1))
                .map(|_| Mutex::new(redis_connection(url)))
                .collect(),
            prefix: prefix.to_owned(),
        }
    }
}

impl Cache for RawRedis {
    fn get_or_make(&self, t: usize, key: &str, make: Make<'_>) -> Vec<u8> {
        let mut c = lock(&self.connections[t % self.connections.len()]);
        let key = format!("{}{key}", self.prefix);
        let got: Option<Vec<u8>> = redis::cmd("GET").arg(&key).query(&mut *c).expect("GET");
        if let Some(v) = got {
            return v;
        }
        let v = make();
        redis::cmd("SET")
            .arg(&key)
            .arg(&v)
            .arg("PX")
            .arg(REDIS_TTL_MS)
            .exec(&mut *c)
            .expect("SET");
        v
    }

    fn fill(&self, keys: &[String], value: &[u8]) {
        let mut c = lock(&self.connections[0]);
        for chunk in keys.chunks(10_000) {
            let mut pipe = redis::pipe();
            for key in chunk {
                pipe.cmd("SET")
                    .arg(format!("{}{key}", self.prefix))
                    .arg(value)
                    .arg("PX")
                    .arg(REDIS_TTL_MS)
                    .ignore();
            }
            pipe.exec(&mut *c).expect("SET pipeline");
        }
    }
}

/// Raw rocksdb with its defaults (WAL on, no sync): get, and put on a miss.
#[cfg(feature = "rocks")]
pub(crate) struct RawRocks(rocksdb::DB);

#[cfg(feature = "rocks")]
impl RawRocks {
    pub(crate) fn open(path: &Path) -> Self {
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(true);
        Self(rocksdb::DB::open(&opts, path).expect("open raw rocksdb"))
    }
}

#[cfg(feature = "rocks")]
impl Cache for RawRocks {
    fn get_or_make(&self, _: usize, key: &str, make: Make<'_>) -> Vec<u8> {
        if let Some(v) = self.0.get_pinned(key).expect("get") {
            return v.to_vec();
        }
        let v = make();
        self.0.put(key, &v).expect("put");
        v
    }
}

/// One store beside its references: the raw engine first, then peer crates.
pub(crate) struct Subject {
    pub(crate) store: &'static str,
    pub(crate) memo: Box<dyn Cache>,
    pub(crate) references: Vec<(&'static str, Box<dyn Cache>)>,
}

/// Where the subjects live and how big they may grow.
pub(crate) struct Setup<'a> {
    pub(crate) dir: &'a Path,
    pub(crate) redis: Option<&'a str>,
    /// A prefix unique to this run (and workload), for Redis keys.
    pub(crate) prefix: String,
    /// Entries a bounded store holds (LRU, `quick_cache`, `cached`'s LRU, raw moka).
    pub(crate) entries: usize,
    /// Bytes `MokaStore` holds.
    pub(crate) moka_bytes: u64,
    /// Entries (raw) and bytes (memo) a tiered store's front holds.
    pub(crate) front_entries: usize,
    pub(crate) front_bytes: u64,
    pub(crate) threads: usize,
    /// Whether the bounded stores take part (the Zipf workload over a million keys measures
    /// only the stores that hold them all; the hit-ratio table covers the bounded ones).
    pub(crate) bounded: bool,
}

fn moka_store(bytes: u64) -> MokaStore {
    MokaStore::with_max_bytes(bytes).expect("a byte budget")
}

/// Every store on this build, each beside its raw engine and peers.
pub(crate) fn subjects(s: &Setup<'_>) -> Vec<Subject> {
    let mut out = vec![Subject {
        store: "MemStore",
        memo: Box::new(Memo::new(MemStore::new())),
        references: vec![
            ("Mutex<HashMap>", Box::new(RawMap::default())),
            ("cached UnboundCache", Box::new(CachedUnbound::new())),
        ],
    }];
    if s.bounded {
        out.push(Subject {
            store: "LruStore",
            memo: Box::new(Memo::new(LruStore::with_capacity(s.entries))),
            references: vec![
                ("Mutex<lru::LruCache>", Box::new(RawLru::new(s.entries))),
                ("cached LruCache", Box::new(CachedSized::new(s.entries))),
                ("quick_cache", Box::new(Quick::new(s.entries))),
            ],
        });
        out.push(Subject {
            store: "MokaStore",
            memo: Box::new(Memo::new(moka_store(s.moka_bytes))),
            references: vec![
                ("moka", Box::new(RawMoka::new(s.entries as u64))),
                ("quick_cache", Box::new(Quick::new(s.entries))),
            ],
        });
    }
    let stem: String = s
        .prefix
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let path = |name: &str| s.dir.join(format!("{stem}-{name}"));
    out.push(Subject {
        store: "RedbStore",
        memo: Box::new(Memo::new(
            RedbStore::open(path("memo.redb")).expect("open RedbStore"),
        )),
        references: vec![(
            "redb (Durability::None)",
            Box::new(RawRedb::create(&path("raw.redb"), redb::Durability::None)),
        )],
    });
    out.push(Subject {
        store: "TieredStore (Moka over redb)",
        memo: Box::new(Memo::new(
            TieredStore::new(
                moka_store(s.front_bytes),
                RedbStore::open(path("tiered.redb")).expect("open RedbStore"),
            )
            .expect("a tiered store"),
        )),
        references: vec![(
            "moka over redb",
            Box::new(RawTiered::new(
                s.front_entries as u64,
                RawRedb::create(&path("raw-tiered.redb"), redb::Durability::None),
            )),
        )],
    });
    #[cfg(feature = "rocks")]
    out.push(Subject {
        store: "RocksStore",
        memo: Box::new(Memo::new(
            memo_store_rocks::RocksStore::open(path("memo.rocks")).expect("open RocksStore"),
        )),
        references: vec![("rocksdb", Box::new(RawRocks::open(&path("raw.rocks"))))],
    });
    if let Some(url) = s.redis {
        out.push(Subject {
            store: "RedisStore",
            memo: Box::new(Memo::redis(url, &format!("{}m:", s.prefix), 8)),
            references: vec![(
                "Redis GET / SET PX",
                Box::new(RawRedis::new(url, &format!("{}r:", s.prefix), s.threads)),
            )],
        });
    }
    out
}
