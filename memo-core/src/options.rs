//! Options and regions: where a call's store, namespace, expiry, etag and lock come from.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::clock::to_unix;
use crate::error::{Error, Result};
use crate::record::Bytes;
use crate::store::{LockProvider, Store};

/// One option's state: not said here (inherit), said to be nothing, or said to be a value.
#[derive(Clone, Default)]
pub(crate) enum Setting<T> {
    #[default]
    Unset,
    Cleared,
    Value(T),
}

impl<T: Clone> Setting<T> {
    /// `over` where it says something, `self` otherwise.
    fn overlay(&self, over: &Setting<T>) -> Setting<T> {
        match over {
            Setting::Unset => self.clone(),
            said => said.clone(),
        }
    }

    pub(crate) fn value(&self) -> Option<&T> {
        match self {
            Setting::Value(v) => Some(v),
            _ => None,
        }
    }
}

impl<T> Setting<T> {
    #[inline(always)]
    pub(crate) fn into_value(self) -> Option<T> {
        match self {
            Setting::Value(v) => Some(v),
            _ => None,
        }
    }
}

impl<T> Setting<T> {
    fn describe(&self, f: impl FnOnce(&T) -> String) -> String {
        match self {
            Setting::Unset => "unset".into(),
            Setting::Cleared => "none".into(),
            Setting::Value(v) => f(v),
        }
    }
}

/// A value fixed when the options were made, or computed once per call.
#[derive(Clone)]
pub(crate) enum Dynamic<T> {
    Fixed(T),
    Computed(Arc<dyn Fn() -> T + Send + Sync>),
}

impl<T: Copy> Dynamic<T> {
    pub(crate) fn resolve(&self) -> T {
        match self {
            Dynamic::Fixed(v) => *v,
            Dynamic::Computed(f) => f(),
        }
    }
}

/// Where a call's etag comes from.
#[derive(Clone)]
pub(crate) enum EtagSource {
    Fixed(Bytes),
    Computed(Arc<dyn Fn() -> Result<Bytes> + Send + Sync>),
    /// The etag given could not be serialized; reported on use.
    Invalid(Arc<str>),
}

impl EtagSource {
    pub(crate) fn resolve(&self) -> Result<Bytes> {
        match self {
            EtagSource::Fixed(bytes) => Ok(bytes.clone()),
            EtagSource::Computed(f) => f(),
            EtagSource::Invalid(why) => Err(Error::Codec(format!("etag: {why}"))),
        }
    }
}

/// An etag's stored bytes: its type's name (references peeled off, as serde peels them), then
/// its postcard bytes. postcard alone writes `0_u32`, `""`, `false` and `None` as the same byte
/// `0`; with the type in front they never compare equal.
pub(crate) fn encode_etag<E: Serialize + ?Sized>(etag: &E) -> Result<Bytes> {
    let name = std::any::type_name::<E>().trim_start_matches('&');
    let mut out = Vec::with_capacity(name.len() + 9);
    crate::record::put_bytes(&mut out, name.as_bytes());
    postcard::to_extend(etag, out)
        .map(Bytes::from)
        .map_err(|e| Error::Codec(format!("etag: {e}")))
}

/// The postcard bytes of an etag written by [`encode_etag`].
pub(crate) fn etag_value(stored: &[u8]) -> Result<&[u8]> {
    let (_type_name, value) = postcard::take_from_bytes::<&[u8]>(stored)
        .map_err(|e| Error::Codec(format!("etag: {e}")))?;
    Ok(value)
}

/// The options of a call, a decorator or a region.
///
/// Every option is unset (inherited), set to nothing (`no_*`) or set to a value. Precedence:
/// call > decorator > region > its parents > default region.
///
/// ```
/// use std::time::Duration;
/// use memo_core::{Memoizer, Options};
/// # use memo_core::doc_store::DocStore;
///
/// let memo = Memoizer::new(DocStore::default());
/// let opts = Options::new().namespace("users").max_age(Duration::from_secs(60)).etag(&3_u32);
/// let name: String = memo.get_with("42", &opts, || "Ada".to_owned()).unwrap();
/// assert_eq!(name, "Ada");
/// assert!(memo.exists_with("42", &opts).unwrap());
/// assert!(!memo.exists_with("42", &opts.clone().etag(&4_u32)).unwrap());
/// ```
#[derive(Clone, Default)]
pub struct Options {
    pub(crate) store: Setting<Arc<dyn Store>>,
    pub(crate) namespace: Setting<Arc<str>>,
    pub(crate) region: Option<Arc<str>>,
    pub(crate) max_age: Setting<Dynamic<Duration>>,
    pub(crate) expiry: Setting<Dynamic<f64>>,
    pub(crate) etag: Setting<EtagSource>,
    pub(crate) lock: Setting<Arc<dyn LockProvider>>,
    pub(crate) timeout: Setting<Duration>,
    pub(crate) strict: Setting<bool>,
}

impl Options {
    /// Options that say nothing: everything is inherited.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps records in `store`.
    #[must_use]
    pub fn store(self, store: impl Store) -> Self {
        self.store_arc(Arc::new(store))
    }

    /// Keeps records in a store shared with others.
    #[must_use]
    pub fn store_arc(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Setting::Value(store);
        self
    }

    /// Prefixes keys with `namespace:`.
    #[must_use]
    pub fn namespace(mut self, namespace: &str) -> Self {
        self.namespace = Setting::Value(namespace.into());
        self
    }

    /// No namespace, whatever a region says.
    #[must_use]
    pub fn no_namespace(mut self) -> Self {
        self.namespace = Setting::Cleared;
        self
    }

    /// Takes the options of the named region (and its parents) under these.
    #[must_use]
    pub fn region(mut self, region: &str) -> Self {
        self.region = Some(region.into());
        self
    }

    /// A record older than `max_age` is a miss (checked when reading too), and new records expire
    /// `max_age` after they are computed.
    #[must_use]
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Setting::Value(Dynamic::Fixed(max_age));
        self
    }

    /// Like [`Options::max_age`], computed once per call, before any comparison.
    #[must_use]
    pub fn max_age_fn(mut self, max_age: impl Fn() -> Duration + Send + Sync + 'static) -> Self {
        self.max_age = Setting::Value(Dynamic::Computed(Arc::new(max_age)));
        self
    }

    /// No maximum age, whatever a region says.
    #[must_use]
    pub fn no_max_age(mut self) -> Self {
        self.max_age = Setting::Cleared;
        self
    }

    /// Records expire at `expiry`, and any record is a miss from then on.
    #[must_use]
    pub fn expiry(mut self, expiry: SystemTime) -> Self {
        self.expiry = Setting::Value(Dynamic::Fixed(to_unix(expiry)));
        self
    }

    /// Like [`Options::expiry`], computed once per call, before any comparison.
    #[must_use]
    pub fn expiry_fn(mut self, expiry: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        self.expiry = Setting::Value(Dynamic::Computed(Arc::new(move || to_unix(expiry()))));
        self
    }

    /// No absolute expiry, whatever a region says.
    #[must_use]
    pub fn no_expiry(mut self) -> Self {
        self.expiry = Setting::Cleared;
        self
    }

    /// Values are computed under `etag`; a record stored under another etag is a miss. Any value
    /// counts, `0` and `""` included. Replaces an [`Options::etagger`].
    #[must_use]
    pub fn etag<E: Serialize + ?Sized>(mut self, etag: &E) -> Self {
        self.etag = Setting::Value(match encode_etag(etag) {
            Ok(bytes) => EtagSource::Fixed(bytes),
            Err(e) => EtagSource::Invalid(e.to_string().into()),
        });
        self
    }

    /// Like [`Options::etag`], with the etag computed by `etagger` once per call.
    #[must_use]
    pub fn etagger<E: Serialize>(
        mut self,
        etagger: impl Fn() -> E + Send + Sync + 'static,
    ) -> Self {
        self.etag = Setting::Value(EtagSource::Computed(Arc::new(move || {
            encode_etag(&etagger())
        })));
        self
    }

    /// No etag, whatever a region says: records are not compared by etag.
    #[must_use]
    pub fn no_etag(mut self) -> Self {
        self.etag = Setting::Cleared;
        self
    }

    /// Takes a lock from `provider` around each computation (instead of the store's own lock).
    #[must_use]
    pub fn lock(mut self, provider: impl LockProvider) -> Self {
        self.lock = Setting::Value(Arc::new(provider));
        self
    }

    /// Takes no lock, not even the store's own: in-process single-flight only.
    #[must_use]
    pub fn no_lock(mut self) -> Self {
        self.lock = Setting::Cleared;
        self
    }

    /// How long to wait for a lock or for another caller's computation (default 10 s).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Setting::Value(timeout);
        self
    }

    /// Strict mode returns store faults, undecodable records and lock timeouts as errors instead
    /// of failing open (computing and returning the value).
    #[must_use]
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = Setting::Value(strict);
        self
    }

    /// These options with every option that `over` says replaced by what it says.
    #[must_use]
    pub fn overlay(&self, over: &Options) -> Options {
        Options {
            store: self.store.overlay(&over.store),
            namespace: self.namespace.overlay(&over.namespace),
            region: over.region.clone().or_else(|| self.region.clone()),
            max_age: self.max_age.overlay(&over.max_age),
            expiry: self.expiry.overlay(&over.expiry),
            etag: self.etag.overlay(&over.etag),
            lock: self.lock.overlay(&over.lock),
            timeout: self.timeout.overlay(&over.timeout),
            strict: self.strict.overlay(&over.strict),
        }
    }
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dynamic = |d: &Dynamic<_>| match d {
            Dynamic::Fixed(v) => format!("{v:?}"),
            Dynamic::Computed(_) => "<fn>".into(),
        };
        f.debug_struct("Options")
            .field("store", &self.store.describe(|s| format!("{s:?}")))
            .field("namespace", &self.namespace.describe(|n| format!("{n:?}")))
            .field("region", &self.region)
            .field("max_age", &self.max_age.describe(dynamic))
            .field(
                "expiry",
                &self.expiry.describe(|d| match d {
                    Dynamic::Fixed(v) => format!("{v:?}"),
                    Dynamic::Computed(_) => "<fn>".into(),
                }),
            )
            .field(
                "etag",
                &self.etag.describe(|e| match e {
                    EtagSource::Fixed(b) => format!("{b:?}"),
                    EtagSource::Computed(_) => "<fn>".into(),
                    EtagSource::Invalid(why) => format!("<invalid: {why}>"),
                }),
            )
            .field("lock", &self.lock.describe(|l| format!("{l:?}")))
            .field("timeout", &self.timeout.describe(|t| format!("{t:?}")))
            .field("strict", &self.strict.describe(ToString::to_string))
            .finish()
    }
}

/// A named set of options with a parent region (by default, the default region).
///
/// ```
/// use std::time::Duration;
/// use memo_core::{Memoizer, Options, Region};
/// # use memo_core::doc_store::DocStore;
///
/// let memo = Memoizer::new(DocStore::default());
/// memo.add_region(Region::new("users", Options::new().namespace("u"))).unwrap();
/// memo.add_region(
///     Region::new("hot-users", Options::new().max_age(Duration::from_secs(5))).parent("users"),
/// )
/// .unwrap();
/// let opts = Options::new().region("hot-users");
/// memo.get_with("42", &opts, || 1_u8).unwrap();
/// assert!(memo.exists_with("42", &Options::new().namespace("u")).unwrap());
/// ```
#[derive(Clone, Debug)]
pub struct Region {
    pub(crate) name: Arc<str>,
    pub(crate) parent: Option<Arc<str>>,
    pub(crate) options: Options,
}

impl Region {
    /// The name of the region every other region descends from.
    pub const DEFAULT: &'static str = "default";

    /// A region named `name` holding `options`, child of the default region.
    pub fn new(name: &str, options: Options) -> Self {
        Region {
            name: name.into(),
            parent: None,
            options,
        }
    }

    /// Makes the region a child of `parent`, which must already exist.
    #[must_use]
    pub fn parent(mut self, parent: &str) -> Self {
        self.parent = Some(parent.into());
        self
    }

    /// The region's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}
