//! The lookup calls: `get`, `try_get` and `peek`, with their `*_with` twins.

use std::convert::Infallible;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Memoizer;
use super::miss::Fail;
use super::stats::Counter;
use crate::error::{Error, Result};
use crate::options::Options;

impl Memoizer {
    /// The value under `key`, computed by `f` and stored on a miss.
    ///
    /// Concurrent misses of one key in this process run `f` once; the others wait for its value
    /// (at most the `timeout` option). Store faults and undecodable records are misses, and a
    /// failed write still returns the value (unless the options are strict); each is counted in
    /// [`Memoizer::stats`]. A panic in `f` reaches the caller, stores nothing and wakes the
    /// waiters, who then compute themselves.
    ///
    /// # Errors
    /// With default options, only when the options are inconsistent ([`Error::Config`]) or an
    /// etag does not encode ([`Error::Codec`]); in strict mode also store faults and timeouts.
    pub fn get<T, F>(&self, key: &str, f: F) -> Result<T>
    where
        T: Serialize + DeserializeOwned + 'static,
        F: FnOnce() -> T,
    {
        self.get_inner(key, None, f)
    }

    /// [`Memoizer::get`] with per-call options.
    ///
    /// # Errors
    /// As [`Memoizer::get`].
    pub fn get_with<T, F>(&self, key: &str, options: &Options, f: F) -> Result<T>
    where
        T: Serialize + DeserializeOwned + 'static,
        F: FnOnce() -> T,
    {
        self.get_inner(key, Some(options), f)
    }

    pub(super) fn get_inner<T, F>(&self, key: &str, options: Option<&Options>, f: F) -> Result<T>
    where
        T: Serialize + DeserializeOwned + 'static,
        F: FnOnce() -> T,
    {
        self.run(
            key,
            options,
            || Ok::<T, Infallible>(f()),
            |fail| match fail {
                Fail::Memo(error) => error,
                Fail::Func(never) => match never {},
            },
        )
    }

    /// Like [`Memoizer::get`] for a fallible function: an `Err` is returned and never cached.
    ///
    /// The error type takes memo's errors through `From` (as `anyhow::Error` and `Box<dyn Error>`
    /// do); for any other error type, map it into [`TryError`](crate::TryError).
    ///
    /// ```
    /// use memo_core::{Memoizer, TryError};
    /// # use memo_core::doc_store::DocStore;
    ///
    /// let memo = Memoizer::new(DocStore::default());
    /// let parsed: Result<u8, TryError<std::num::ParseIntError>> =
    ///     memo.try_get("parse(x)", || "x".parse::<u8>().map_err(TryError::Func));
    /// assert!(matches!(parsed, Err(TryError::Func(_))));
    /// assert!(!memo.exists("parse(x)").unwrap());
    /// ```
    ///
    /// # Errors
    /// `f`'s error, or memo's as in [`Memoizer::get`].
    pub fn try_get<T, E, F>(&self, key: &str, f: F) -> std::result::Result<T, E>
    where
        T: Serialize + DeserializeOwned + 'static,
        E: From<Error>,
        F: FnOnce() -> std::result::Result<T, E>,
    {
        self.try_get_inner(key, None, f)
    }

    /// [`Memoizer::try_get`] with per-call options.
    ///
    /// # Errors
    /// As [`Memoizer::try_get`].
    pub fn try_get_with<T, E, F>(
        &self,
        key: &str,
        options: &Options,
        f: F,
    ) -> std::result::Result<T, E>
    where
        T: Serialize + DeserializeOwned + 'static,
        E: From<Error>,
        F: FnOnce() -> std::result::Result<T, E>,
    {
        self.try_get_inner(key, Some(options), f)
    }

    pub(super) fn try_get_inner<T, E, F>(
        &self,
        key: &str,
        options: Option<&Options>,
        f: F,
    ) -> std::result::Result<T, E>
    where
        T: Serialize + DeserializeOwned + 'static,
        E: From<Error>,
        F: FnOnce() -> std::result::Result<T, E>,
    {
        self.run(key, options, f, |fail| match fail {
            Fail::Memo(error) => E::from(error),
            Fail::Func(error) => error,
        })
    }

    /// The cached value under `key` without computing: `Ok(None)` on a miss. Faults are misses
    /// unless strict.
    ///
    /// # Errors
    /// As [`Memoizer::get`].
    pub fn peek<T: DeserializeOwned + 'static>(&self, key: &str) -> Result<Option<T>> {
        self.peek_inner(key, None)
    }

    /// [`Memoizer::peek`] with per-call options.
    ///
    /// # Errors
    /// As [`Memoizer::get`].
    pub fn peek_with<T: DeserializeOwned + 'static>(
        &self,
        key: &str,
        options: &Options,
    ) -> Result<Option<T>> {
        self.peek_inner(key, Some(options))
    }

    pub(super) fn peek_inner<T: DeserializeOwned + 'static>(
        &self,
        key: &str,
        options: Option<&Options>,
    ) -> Result<Option<T>> {
        let region = self.region(options)?;
        let cfg = self.resolve(&region, options);
        let call = self.call(&cfg, key)?;
        let found = self.read(&call)?;
        let counter: Counter = if found.is_some() {
            |s| &s.hits
        } else {
            |s| &s.misses
        };
        self.inner.counters.bump(counter);
        Ok(found)
    }
}
