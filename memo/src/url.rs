//! Stores named by URL: [`open`] and [`StoreUrl`].
//!
//! | URL | Store | Feature |
//! |---|---|---|
//! | `redb:///abs/path/cache.redb` | `RedbStore` in that file | `redb` (default) |
//! | `redb:` or `redb://` | the default file: `$XDG_CACHE_HOME/memo/cache.redb`, else `$HOME/.cache/memo/cache.redb` | `redb` |
//! | `redis://[:pass@]host[:port][/db][?prefix=P]`, `rediss://…` | `RedisStore`, keys under `P` (default `memo:`) | `redis` |
//! | `mem:` | `MemStore` | `mem` (default) |
//! | `lru:?capacity=N` | `LruStore` of `N` records | `mem` |
//! | `moka:?max_bytes=N` | `MokaStore` of `N` bytes | `mem` |
//! | `rocks:///abs/path/dir` | `RocksStore` in that directory | `rocks` |
//!
//! A path may use `%XX` escapes (`%20` for a space). Parsing never needs a feature, so a
//! program can read and print any URL; opening a store whose feature is off is an
//! [`Error::Config`] that names the feature. A tiered store has no URL: build a
//! `memo::tiered::TieredStore` (feature `tiered`) from two opened stores.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use crate::{Error, Result, Store};

/// The schemes [`StoreUrl`] knows, and the feature each needs, for error messages.
const SCHEMES: &str = "redb: (feature redb), redis: and rediss: (feature redis), mem:, lru: and \
                       moka: (feature mem), rocks: (feature rocks)";

/// A parsed store URL: which store, and its settings. [`FromStr`] parses, [`Display`] prints
/// the URL back (a Redis password included: print [`StoreUrl::redacted`] in logs), and
/// [`StoreUrl::open`] opens the store.
///
/// ```
/// use memo::url::StoreUrl;
///
/// let url: StoreUrl = "redis://cache.internal:6379/2?prefix=ci:".parse()?;
/// assert!(matches!(&url, StoreUrl::Redis { prefix: Some(p), .. } if p == "ci:"));
/// assert_eq!(url.to_string(), "redis://cache.internal:6379/2?prefix=ci:");
///
/// let url: StoreUrl = "redb:///var/cache/app/memo.redb".parse()?;
/// assert_eq!(url, StoreUrl::Redb { path: Some("/var/cache/app/memo.redb".into()) });
///
/// let err = "ftp://host/x".parse::<StoreUrl>().unwrap_err();
/// assert!(err.to_string().contains("unknown scheme"));
/// # Ok::<(), memo::Error>(())
/// ```
///
/// [`Display`]: std::fmt::Display
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreUrl {
    /// A redb file; `None` is the default file, [`default_redb_path`].
    Redb {
        /// The file, absolute.
        path: Option<PathBuf>,
    },
    /// A Redis server.
    Redis {
        /// The server's URL as the Redis client takes it (`redis://` or `rediss://`), without
        /// memo's own `prefix` parameter.
        server: String,
        /// The key prefix; `None` is the store's default, `memo:`.
        prefix: Option<String>,
    },
    /// An unbounded in-memory store.
    Mem,
    /// An in-memory store of at most `capacity` records.
    Lru {
        /// How many records it keeps.
        capacity: usize,
    },
    /// An in-memory store of at most `max_bytes` bytes.
    Moka {
        /// How many bytes of records it keeps.
        max_bytes: u64,
    },
    /// A directory of the `rocksdb` engine.
    Rocks {
        /// The directory, absolute.
        path: PathBuf,
    },
}

/// Opens the store that `url` names, with that store's default settings.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// let url = format!("redb://{}", dir.path().join("cache.redb").display());
/// let memo = memo::Memoizer::builder_arc(memo::url::open(&url)?).build();
/// assert_eq!(memo.get("answer", || 42_u32)?, 42);
/// # Ok::<(), memo::Error>(())
/// ```
///
/// # Errors
/// [`Error::Config`] naming the URL when it does not parse, names a store whose feature is
/// off, or the store refuses its settings; the store's own errors when it cannot open (see
/// [`StoreUrl::open`]).
pub fn open(url: &str) -> Result<Arc<dyn Store>> {
    url.parse::<StoreUrl>()?.open()
}

/// The default redb file: `$XDG_CACHE_HOME/memo/cache.redb`, else `$HOME/.cache/memo/cache.redb`
/// (relative values are ignored, as the XDG spec says).
///
/// # Errors
/// [`Error::Config`] when neither variable holds an absolute path.
pub fn default_redb_path() -> Result<PathBuf> {
    let absolute = |name: &str| {
        std::env::var_os(name)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    if let Some(dir) = absolute("XDG_CACHE_HOME") {
        return Ok(dir.join("memo").join("cache.redb"));
    }
    if let Some(home) = absolute("HOME") {
        return Ok(home.join(".cache").join("memo").join("cache.redb"));
    }
    Err(Error::Config(
        "store URL \"redb:\": no default file, since neither XDG_CACHE_HOME nor HOME is an \
         absolute path; name the file, as in redb:///path/to/cache.redb"
            .into(),
    ))
}

impl StoreUrl {
    /// The scheme, as written before the `:`.
    pub fn scheme(&self) -> &'static str {
        match self {
            StoreUrl::Redb { .. } => "redb",
            StoreUrl::Redis { server, .. } if server.starts_with("rediss:") => "rediss",
            StoreUrl::Redis { .. } => "redis",
            StoreUrl::Mem => "mem",
            StoreUrl::Lru { .. } => "lru",
            StoreUrl::Moka { .. } => "moka",
            StoreUrl::Rocks { .. } => "rocks",
        }
    }

    /// The URL with a Redis password replaced by `***`, for messages and logs.
    pub fn redacted(&self) -> String {
        let text = self.to_string();
        let StoreUrl::Redis { .. } = self else {
            return text;
        };
        let Some((scheme, rest)) = text.split_once("://") else {
            return text;
        };
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        match rest[..authority_end].rfind('@') {
            Some(at) => match rest[..at].find(':') {
                Some(colon) => format!("{scheme}://{}:***{}", &rest[..colon], &rest[at..]),
                None => format!("{scheme}://***{}", &rest[at..]),
            },
            None => text,
        }
    }

    /// Opens the store with its default settings. A redb file's directory is created when
    /// missing only for the default file.
    ///
    /// # Errors
    /// [`Error::Config`] when the store's feature is off or the store refuses its settings; a
    /// redb file that is not memo's; [`Error::Backend`] when Redis does not answer or a file
    /// cannot be opened (a redb file held by another process gives a store that runs uncached:
    /// see `RedbStoreBuilder::require_file`).
    pub fn open(&self) -> Result<Arc<dyn Store>> {
        match self {
            StoreUrl::Redb { path } => self.open_redb(path.as_deref()),
            StoreUrl::Redis { server, prefix } => self.open_redis(server, prefix.as_deref()),
            StoreUrl::Mem | StoreUrl::Lru { .. } | StoreUrl::Moka { .. } => self.open_mem(),
            StoreUrl::Rocks { path } => self.open_rocks(path),
        }
    }

    /// The redb file this URL names (the default file for `redb:`); `None` for other stores.
    ///
    /// # Errors
    /// As [`default_redb_path`].
    pub fn redb_path(&self) -> Result<Option<PathBuf>> {
        match self {
            StoreUrl::Redb { path: Some(path) } => Ok(Some(path.clone())),
            StoreUrl::Redb { path: None } => default_redb_path().map(Some),
            _ => Ok(None),
        }
    }

    #[cfg_attr(
        all(
            feature = "redb",
            feature = "redis",
            feature = "mem",
            feature = "rocks"
        ),
        expect(dead_code, reason = "every store's feature is on")
    )]
    fn feature_off(&self, feature: &str) -> Error {
        Error::Config(format!(
            "store URL {:?}: the {} store needs memo's cargo feature `{feature}`, which this \
             build lacks",
            self.redacted(),
            self.scheme()
        ))
    }

    #[cfg(feature = "redb")]
    fn open_redb(&self, path: Option<&Path>) -> Result<Arc<dyn Store>> {
        let path = match path {
            Some(path) => path.to_owned(),
            None => {
                let path = default_redb_path()?;
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        Error::backend("redb", format!("creating {}: {e}", dir.display()))
                    })?;
                }
                path
            }
        };
        Ok(Arc::new(crate::redb::RedbStore::open(path)?))
    }

    #[cfg(not(feature = "redb"))]
    fn open_redb(&self, _: Option<&Path>) -> Result<Arc<dyn Store>> {
        Err(self.feature_off("redb"))
    }

    #[cfg(feature = "redis")]
    fn open_redis(&self, server: &str, prefix: Option<&str>) -> Result<Arc<dyn Store>> {
        let mut builder = crate::redis::RedisStore::builder(server);
        if let Some(prefix) = prefix {
            builder = builder.prefix(prefix);
        }
        Ok(Arc::new(builder.build()?))
    }

    #[cfg(not(feature = "redis"))]
    fn open_redis(&self, _: &str, _: Option<&str>) -> Result<Arc<dyn Store>> {
        Err(self.feature_off("redis"))
    }

    #[cfg(feature = "mem")]
    fn open_mem(&self) -> Result<Arc<dyn Store>> {
        use crate::mem::{LruStore, MemStore, MokaStore};
        Ok(match *self {
            StoreUrl::Lru { capacity } => Arc::new(LruStore::try_with_capacity(capacity)?),
            StoreUrl::Moka { max_bytes } => Arc::new(MokaStore::with_max_bytes(max_bytes)?),
            _ => Arc::new(MemStore::new()),
        })
    }

    #[cfg(not(feature = "mem"))]
    fn open_mem(&self) -> Result<Arc<dyn Store>> {
        Err(self.feature_off("mem"))
    }

    #[cfg(feature = "rocks")]
    fn open_rocks(&self, path: &Path) -> Result<Arc<dyn Store>> {
        Ok(Arc::new(crate::rocks::RocksStore::open(path)?))
    }

    #[cfg(not(feature = "rocks"))]
    fn open_rocks(&self, _: &Path) -> Result<Arc<dyn Store>> {
        Err(self.feature_off("rocks"))
    }
}

impl FromStr for StoreUrl {
    type Err = Error;

    fn from_str(url: &str) -> Result<Self> {
        let bad = |what: &str| Error::Config(format!("store URL {url:?}: {what}"));
        let Some((scheme, rest)) = url.split_once(':') else {
            return Err(bad(&format!(
                "no scheme; expected one of {SCHEMES}, as in redb:///path/to/cache.redb"
            )));
        };
        let (body, query) = match rest.split_once('?') {
            Some((body, query)) => (body, Some(query)),
            None => (rest, None),
        };
        let params = |allowed: &[&str]| -> Result<Vec<(String, String)>> {
            let mut out = Vec::new();
            for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                if !allowed.contains(&name) {
                    return Err(bad(&format!(
                        "unknown parameter {name:?} for {scheme}: (known: {})",
                        if allowed.is_empty() {
                            "none".to_owned()
                        } else {
                            allowed.join(", ")
                        }
                    )));
                }
                let value = percent_decode(value).ok_or_else(|| bad("bad %-escape"))?;
                out.push((name.to_owned(), value));
            }
            Ok(out)
        };
        let number = |params: &[(String, String)], name: &str| -> Result<u64> {
            let value = params
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
                .ok_or_else(|| bad(&format!("{scheme}: needs ?{name}=N")))?;
            value
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| bad(&format!("{name}={value:?} is not a positive integer")))
        };
        let path = |required: bool| -> Result<Option<PathBuf>> {
            let path = match body.strip_prefix("//") {
                Some(path) => path,
                None if body.is_empty() => "",
                None => return Err(bad(&format!("expected {scheme}:///absolute/path"))),
            };
            if path.is_empty() {
                return if required {
                    Err(bad(&format!("expected {scheme}:///absolute/path")))
                } else {
                    Ok(None)
                };
            }
            if !path.starts_with('/') {
                return Err(bad(&format!(
                    "the path must be absolute, with three slashes: {scheme}:///{path}"
                )));
            }
            let decoded = percent_decode(path).ok_or_else(|| bad("bad %-escape in the path"))?;
            Ok(Some(PathBuf::from(decoded)))
        };
        let no_body = || {
            if body.is_empty() || body == "//" {
                Ok(())
            } else {
                Err(bad(&format!("{scheme}: takes no path or host")))
            }
        };
        match scheme {
            "redb" => {
                params(&[])?;
                Ok(StoreUrl::Redb { path: path(false)? })
            }
            "rocks" => {
                params(&[])?;
                Ok(StoreUrl::Rocks {
                    path: path(true)?.unwrap_or_default(),
                })
            }
            "redis" | "rediss" => {
                if !body.starts_with("//") {
                    return Err(bad(&format!("expected {scheme}://host[:port][/db]")));
                }
                let mut prefix = None;
                let mut others = Vec::new();
                for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
                    match pair.strip_prefix("prefix=") {
                        Some(value) => {
                            prefix = Some(
                                percent_decode(value)
                                    .ok_or_else(|| bad("bad %-escape in the prefix"))?,
                            );
                        }
                        None => others.push(pair),
                    }
                }
                let mut server = format!("{scheme}:{body}");
                if !others.is_empty() {
                    server.push('?');
                    server.push_str(&others.join("&"));
                }
                Ok(StoreUrl::Redis { server, prefix })
            }
            "mem" => {
                no_body()?;
                params(&[])?;
                Ok(StoreUrl::Mem)
            }
            "lru" => {
                no_body()?;
                let params = params(&["capacity"])?;
                let capacity = number(&params, "capacity")?;
                Ok(StoreUrl::Lru {
                    capacity: usize::try_from(capacity).map_err(|_| bad("capacity too large"))?,
                })
            }
            "moka" => {
                no_body()?;
                let params = params(&["max_bytes"])?;
                Ok(StoreUrl::Moka {
                    max_bytes: number(&params, "max_bytes")?,
                })
            }
            other => Err(bad(&format!("unknown scheme {other:?}; known: {SCHEMES}"))),
        }
    }
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreUrl::Redb { path: None } => f.write_str("redb:"),
            StoreUrl::Redb { path: Some(path) } => write!(f, "redb://{}", PathText(path)),
            StoreUrl::Rocks { path } => write!(f, "rocks://{}", PathText(path)),
            StoreUrl::Redis { server, prefix } => {
                f.write_str(server)?;
                if let Some(prefix) = prefix {
                    let sep = if server.contains('?') { '&' } else { '?' };
                    write!(f, "{sep}prefix={}", Escaped(prefix))?;
                }
                Ok(())
            }
            StoreUrl::Mem => f.write_str("mem:"),
            StoreUrl::Lru { capacity } => write!(f, "lru:?capacity={capacity}"),
            StoreUrl::Moka { max_bytes } => write!(f, "moka:?max_bytes={max_bytes}"),
        }
    }
}

/// A path with the bytes a URL cannot hold as themselves `%`-escaped.
struct PathText<'a>(&'a Path);

impl fmt::Display for PathText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Escaped(&self.0.to_string_lossy()).fmt(f)
    }
}

struct Escaped<'a>(&'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0.bytes() {
            if byte.is_ascii_alphanumeric() || b"/-_.~:@+,=".contains(&byte) {
                write!(f, "{}", char::from(byte))?;
            } else {
                write!(f, "%{byte:02X}")?;
            }
        }
        Ok(())
    }
}

/// `%XX` escapes decoded; `None` for a malformed escape or bytes that are not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> StoreUrl {
        url.parse().unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    #[test]
    fn every_scheme_round_trips_through_display() {
        for url in [
            "redb:",
            "redb:///tmp/a%20b/c.redb",
            "redis://127.0.0.1:6379/2",
            "redis://:secret@h:1/0?prefix=ci%3Ax",
            "rediss://h/?protocol=resp3&prefix=p:",
            "mem:",
            "lru:?capacity=10",
            "moka:?max_bytes=1024",
            "rocks:///var/rocks",
        ] {
            let parsed = parse(url);
            assert_eq!(parse(&parsed.to_string()), parsed, "{url}");
        }
    }

    #[test]
    fn redb_paths_are_absolute_or_default() {
        assert_eq!(parse("redb:"), StoreUrl::Redb { path: None });
        assert_eq!(parse("redb://"), StoreUrl::Redb { path: None });
        assert_eq!(
            parse("redb:///a%20b/c.redb"),
            StoreUrl::Redb {
                path: Some("/a b/c.redb".into())
            }
        );
        for bad in ["redb://relative/x.redb", "redb:x.redb", "redb:///x?table=t"] {
            let err = bad.parse::<StoreUrl>().unwrap_err();
            assert!(
                matches!(err, Error::Config(ref m) if m.contains(bad)),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn redis_keeps_other_parameters_and_takes_the_prefix() {
        assert_eq!(
            parse("redis://h:1/3?protocol=resp3&prefix=team%3A"),
            StoreUrl::Redis {
                server: "redis://h:1/3?protocol=resp3".into(),
                prefix: Some("team:".into())
            }
        );
        assert!("redis:h".parse::<StoreUrl>().is_err());
    }

    #[test]
    fn unknown_schemes_list_the_known_ones_and_their_features() {
        let err = "s3://bucket/x".parse::<StoreUrl>().unwrap_err().to_string();
        assert!(err.contains("unknown scheme \"s3\""), "{err}");
        assert!(err.contains("rocks: (feature rocks)"), "{err}");
        let err = "/tmp/x.redb".parse::<StoreUrl>().unwrap_err().to_string();
        assert!(err.contains("no scheme"), "{err}");
    }

    #[test]
    fn bounded_memory_stores_need_a_positive_bound() {
        assert_eq!(parse("lru:?capacity=3"), StoreUrl::Lru { capacity: 3 });
        for bad in [
            "lru:",
            "lru:?capacity=0",
            "moka:?max_bytes=x",
            "lru:?size=3",
        ] {
            assert!(bad.parse::<StoreUrl>().is_err(), "{bad}");
        }
    }

    #[test]
    fn redacted_hides_a_redis_password() {
        assert_eq!(
            parse("redis://user:pw@h:1/0?prefix=p").redacted(),
            "redis://user:***@h:1/0?prefix=p"
        );
        assert_eq!(parse("redis://h:1/0").redacted(), "redis://h:1/0");
    }

    #[cfg(feature = "mem")]
    #[test]
    fn open_gives_a_working_store() {
        let store = open("lru:?capacity=2").unwrap();
        store
            .set("k", crate::Record::new(1.0, None, vec![1]))
            .unwrap();
        assert_eq!(store.get("k").unwrap().unwrap().value.as_ref(), &[1]);
    }
}
