//! The harness: how the kit gets fresh stores, and reopens persistent ones.

use std::path::Path;
use std::sync::Arc;

use memo_core::{Capabilities, Lock, Record, Result, Store};

type Factory = dyn Fn(&Path) -> Arc<dyn Store> + Send + Sync;

/// How the kit makes the store under test.
///
/// ```
/// use memo_conformance::Harness;
/// # use memo_core::doc_store::DocStore;
///
/// fn harness() -> Harness {
///     Harness::new(DocStore::default)
/// }
/// let fixture = harness().fresh().expect("available");
/// assert!(fixture.store().get("k").unwrap().is_none());
/// ```
#[derive(Clone)]
pub struct Harness {
    kind: Kind,
    lossy: Option<bool>,
    cases: u32,
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
            .finish()
    }
}

impl Harness {
    /// A harness whose `factory` makes a fresh, empty store on each call (for shared backends
    /// such as Redis: a store under a key prefix of its own).
    pub fn new<S: Store>(factory: impl Fn() -> S + Send + Sync + 'static) -> Self {
        Self::with(Kind::Volatile(Arc::new(move |_: &Path| {
            Arc::new(factory()) as Arc<dyn Store>
        })))
    }

    /// A harness for a persistent store: `open(dir)` opens the store kept in `dir`, creating it
    /// when `dir` is empty. The kit gives each test its own temporary directory, and reopens by
    /// dropping every handle and calling `open` again with the same directory.
    pub fn persistent<S: Store>(open: impl Fn(&Path) -> S + Send + Sync + 'static) -> Self {
        Self::with(Kind::Persistent(Arc::new(move |dir: &Path| {
            Arc::new(open(dir)) as Arc<dyn Store>
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
    /// # Panics
    /// When the harness is unavailable and `CI=true`: a store that cannot be tested in CI
    /// fails rather than passing silently.
    pub fn fresh(&self) -> Option<Fixture> {
        let factory = match &self.kind {
            Kind::Volatile(f) | Kind::Persistent(f) => f.clone(),
            Kind::Unavailable(why) => {
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "store unavailable under CI=true: {why}"
                );
                eprintln!("skipped: {why} (set CI=true to make this a failure)");
                return None;
            }
        };
        let dir = Arc::new(tempfile::tempdir().expect("a temporary directory for the store"));
        let store = InDir::open(&*factory, &dir);
        Some(Fixture {
            factory,
            dir,
            store: Some(store),
            persistent: self.is_persistent(),
        })
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
    /// # Panics
    /// When another handle to the store is still alive: a clean reopen needs every handle gone.
    pub fn reopen(&mut self) {
        assert!(self.persistent, "reopen needs Harness::persistent");
        let store = self.store.take().expect("a store to reopen");
        assert_eq!(
            Arc::strong_count(&store),
            1,
            "drop every handle to the store before reopening"
        );
        drop(store);
        self.store = Some(InDir::open(&*self.factory, &self.dir));
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
    fn open(factory: &Factory, dir: &Arc<tempfile::TempDir>) -> Arc<dyn Store> {
        Arc::new(InDir {
            store: factory(dir.path()),
            _dir: Arc::clone(dir),
        })
    }
}

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
