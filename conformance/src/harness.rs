//! The harness: how the kit gets fresh stores, and reopens persistent ones.

use std::path::Path;
use std::sync::Arc;

use memo_core::{Capabilities, Lock, Record, Result, Store};

type Factory = dyn Fn(&Path) -> std::result::Result<Arc<dyn Store>, String> + Send + Sync;

/// How the kit makes the store under test.
///
/// ```
/// use memo_conformance::Harness;
/// # use memo_core::doc_store::DocStore;
///
/// fn harness() -> Harness {
///     Harness::new(DocStore::default)
/// }
/// let fixture = harness().fresh()?.expect("available");
/// assert!(fixture.store().get("k").unwrap().is_none());
/// # Ok::<(), String>(())
/// ```
#[derive(Clone)]
pub struct Harness {
    kind: Kind,
    lossy: Option<bool>,
    cases: u32,
    seed: Option<u64>,
    many: usize,
}

#[derive(Clone)]
enum Kind {
    Volatile(Arc<Factory>),
    Persistent(Arc<Factory>),
    Unavailable(String),
}

impl std::fmt::Debug for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.kind {
            Kind::Volatile(_) => "volatile".to_owned(),
            Kind::Persistent(_) => "persistent".to_owned(),
            Kind::Unavailable(why) => format!("unavailable: {why}"),
        };
        f.debug_struct("Harness")
            .field("kind", &kind)
            .field("lossy", &self.lossy)
            .field("cases", &self.cases)
            .field("seed", &self.seed)
            .field("many", &self.many)
            .finish()
    }
}

impl Harness {
    /// A harness whose `factory` makes a fresh, empty store on each call (for shared backends
    /// such as Redis: a store under a key prefix of its own).
    pub fn new<S: Store>(factory: impl Fn() -> S + Send + Sync + 'static) -> Self {
        Self::with(Kind::Volatile(Arc::new(move |_: &Path| {
            Ok(Arc::new(factory()) as Arc<dyn Store>)
        })))
    }

    /// A harness for a persistent store: `open(dir)` opens the store kept in `dir`, creating it
    /// when `dir` is empty. The kit gives each test its own temporary directory, and reopens by
    /// dropping every handle and calling `open` again with the same directory. An `Err` from
    /// `open` fails the property that asked for the store, with the error's text.
    ///
    /// ```
    /// use memo_conformance::Harness;
    /// use memo_conformance::reference::ReferenceStore;
    ///
    /// // A store kept in files of its own (here, the reference store's snapshot file).
    /// fn harness() -> Harness {
    ///     Harness::persistent(|dir| ReferenceStore::open(dir.join("records")))
    /// }
    /// # memo_conformance::properties::reopen_keeps_every_record(&harness().cases(2)).unwrap();
    /// ```
    pub fn persistent<S, E>(
        open: impl Fn(&Path) -> std::result::Result<S, E> + Send + Sync + 'static,
    ) -> Self
    where
        S: Store,
        E: std::fmt::Display,
    {
        Self::with(Kind::Persistent(Arc::new(move |dir: &Path| {
            open(dir)
                .map(|store| Arc::new(store) as Arc<dyn Store>)
                .map_err(|e| format!("opening the store in {} failed: {e}", dir.display()))
        })))
    }

    /// A harness that cannot run here (no server, say). Under `CI=true` every test then fails
    /// with `reason`; elsewhere each prints it and passes without checking anything.
    pub fn unavailable(reason: impl Into<String>) -> Self {
        Self::with(Kind::Unavailable(reason.into()))
    }

    fn with(kind: Kind) -> Self {
        Harness {
            kind,
            lossy: None,
            cases: 64,
            seed: None,
            many: crate::properties::MANY,
        }
    }

    /// Says whether the store may forget records (default: its [`Capabilities`]).
    ///
    /// [`Capabilities`]: memo_core::Capabilities
    #[must_use]
    pub fn lossy(mut self, lossy: bool) -> Self {
        self.lossy = Some(lossy);
        self
    }

    /// How many random cases each property runs (default 64).
    #[must_use]
    pub fn cases(mut self, cases: u32) -> Self {
        self.cases = cases;
        self
    }

    /// Draws every property's random cases from `seed`, so runs repeat exactly (default: a new
    /// seed each run, or `PROPTEST_RNG_SEED` when set).
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// How many records [`thousands_of_records_are_all_kept`] holds at once (default
    /// [`MANY`], 2,048). Lower it only for a harness whose every write waits for the disk, and
    /// keep the default in another harness of the same engine: the count-based faults it
    /// catches do not depend on durability.
    ///
    /// [`thousands_of_records_are_all_kept`]: crate::properties::thousands_of_records_are_all_kept
    /// [`MANY`]: crate::properties::MANY
    #[must_use]
    pub fn many(mut self, records: usize) -> Self {
        self.many = records;
        self
    }

    /// How many records the thousands property holds at once.
    pub fn many_count(&self) -> usize {
        self.many
    }

    /// The seed of the random cases, when fixed.
    pub fn fixed_seed(&self) -> Option<u64> {
        self.seed
    }

    /// The number of random cases per property.
    pub fn case_count(&self) -> u32 {
        self.cases
    }

    /// Whether the store may forget records.
    pub fn is_lossy(&self, store: &dyn Store) -> bool {
        self.lossy.unwrap_or_else(|| store.capabilities().lossy)
    }

    /// Whether the harness reopens stores.
    pub fn is_persistent(&self) -> bool {
        matches!(self.kind, Kind::Persistent(_))
    }

    /// A fresh, empty store, or `None` when the harness is unavailable outside CI.
    ///
    /// # Errors
    /// The account of a failed open (see [`Harness::persistent`]), or of a missing temporary
    /// directory.
    ///
    /// # Panics
    /// When the harness is unavailable and `CI=true`: a store that cannot be tested in CI
    /// fails rather than passing silently.
    pub fn fresh(&self) -> std::result::Result<Option<Fixture>, String> {
        let factory = match &self.kind {
            Kind::Volatile(f) | Kind::Persistent(f) => f.clone(),
            Kind::Unavailable(why) => {
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "store unavailable under CI=true: {why}"
                );
                eprintln!("skipped: {why} (set CI=true to make this a failure)");
                return Ok(None);
            }
        };
        let dir = tempfile::tempdir()
            .map_err(|e| format!("no temporary directory for the store: {e}"))?;
        let dir = Arc::new(dir);
        let store = InDir::open(&*factory, &dir)?;
        Ok(Some(Fixture {
            factory,
            dir,
            store: Some(store),
            persistent: self.is_persistent(),
        }))
    }
}

/// One store under test, with the directory it lives in.
pub struct Fixture {
    factory: Arc<Factory>,
    dir: Arc<tempfile::TempDir>,
    store: Option<Arc<dyn Store>>,
    persistent: bool,
}

impl std::fmt::Debug for Fixture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fixture")
            .field("dir", &self.dir.path())
            .field("store", &self.store)
            .finish()
    }
}

impl Fixture {
    /// The store under test.
    ///
    /// # Panics
    /// After a [`Fixture::reopen`] that failed.
    pub fn store(&self) -> Arc<dyn Store> {
        self.store
            .clone()
            .expect("the fixture holds a store between reopens")
    }

    /// Whether [`Fixture::reopen`] really reopens.
    pub fn is_persistent(&self) -> bool {
        self.persistent
    }

    /// Drops the store and opens it again from its directory (persistent harnesses only).
    ///
    /// # Errors
    /// The account of a failed open; the fixture then holds no store, and [`Fixture::store`]
    /// panics until a later `reopen` succeeds.
    ///
    /// # Panics
    /// When the harness is not persistent, or another handle to the store is still alive: a
    /// clean reopen needs every handle gone.
    pub fn reopen(&mut self) -> std::result::Result<(), String> {
        assert!(self.persistent, "reopen needs Harness::persistent");
        if let Some(store) = self.store.take() {
            assert_eq!(
                Arc::strong_count(&store),
                1,
                "drop every handle to the store before reopening"
            );
        }
        self.store = Some(InDir::open(&*self.factory, &self.dir)?);
        Ok(())
    }
}

/// The store under test, holding on to its directory: a handle kept after the [`Fixture`] is
/// dropped still finds its files. Forwards every method, defaults included.
#[derive(Debug)]
struct InDir {
    store: Arc<dyn Store>,
    _dir: Arc<tempfile::TempDir>,
}

impl InDir {
    fn open(
        factory: &Factory,
        dir: &Arc<tempfile::TempDir>,
    ) -> std::result::Result<Arc<dyn Store>, String> {
        Ok(Arc::new(InDir {
            store: factory(dir.path())?,
            _dir: Arc::clone(dir),
        }))
    }
}

/// Forwards every method, defaults included, so the kit checks the store's own `read`, `ttl`
/// and the rest, never a trait default standing in for them.
#[deny(clippy::missing_trait_methods)]
impl Store for InDir {
    fn get(&self, key: &str) -> Result<Option<Record>> {
        self.store.get(key)
    }
    fn read(&self, key: &str, visit: &mut dyn FnMut(&Record)) -> Result<bool> {
        self.store.read(key, visit)
    }
    fn set(&self, key: &str, record: Record) -> Result<()> {
        self.store.set(key, record)
    }
    fn delete(&self, key: &str) -> Result<bool> {
        self.store.delete(key)
    }
    fn ttl(&self, key: &str) -> Result<Option<std::time::Duration>> {
        self.store.ttl(key)
    }
    fn lock(&self, key: &str) -> Option<Box<dyn Lock>> {
        self.store.lock(key)
    }
    fn record_lock(&self, key: &str) -> Option<Box<dyn Lock>> {
        self.store.record_lock(key)
    }
    fn capabilities(&self) -> Capabilities {
        self.store.capabilities()
    }
    fn scan(&self, prefix: &str) -> Result<Vec<String>> {
        self.store.scan(prefix)
    }
    fn purge_expired(&self, now: f64) -> Result<u64> {
        self.store.purge_expired(now)
    }
    fn flush(&self) -> Result<()> {
        self.store.flush()
    }
    fn name(&self) -> &'static str {
        self.store.name()
    }
    fn as_async(&self) -> Option<&dyn memo_core::AsyncStore> {
        self.store.as_async()
    }
}
