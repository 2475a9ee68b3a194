//! The inspection calls: they return store errors instead of failing open.

use std::time::{Duration, SystemTime};

use serde::de::DeserializeOwned;

use super::Memoizer;
use super::call::Call;
use crate::clock::{span_rounded_down, to_unix};
use crate::error::{Error, Result};
use crate::fault::guard;
use crate::options::{Options, etag_value};

impl Memoizer {
    /// Whether a [`Memoizer::get`] now would hit.
    ///
    /// # Errors
    /// Store errors are returned: this and the other inspection methods do not fail open.
    pub fn exists(&self, key: &str) -> Result<bool> {
        self.with_call(key, None, |call| Ok(self.live(call)?.is_some()))
    }

    /// [`Memoizer::exists`] with per-call options.
    ///
    /// # Errors
    /// As [`Memoizer::exists`].
    pub fn exists_with(&self, key: &str, options: &Options) -> Result<bool> {
        self.with_call(key, Some(options), |call| Ok(self.live(call)?.is_some()))
    }

    /// Removes the record under `key`; `false` when there was none.
    ///
    /// # Errors
    /// Store errors.
    pub fn delete(&self, key: &str) -> Result<bool> {
        self.with_call(key, None, |call| {
            call.store("delete", |s| s.delete(&call.key))
        })
    }

    /// [`Memoizer::delete`] with per-call options.
    ///
    /// # Errors
    /// Store errors.
    pub fn delete_with(&self, key: &str, options: &Options) -> Result<bool> {
        self.with_call(key, Some(options), |call| {
            call.store("delete", |s| s.delete(&call.key))
        })
    }

    /// The time the value under `key` has left: `None` when missing, expired or never expiring.
    /// Rounded down, never more than the truth.
    ///
    /// # Errors
    /// Store errors.
    pub fn ttl(&self, key: &str) -> Result<Option<Duration>> {
        self.with_call(key, None, |call| self.ttl_of(call))
    }

    /// [`Memoizer::ttl`] with per-call options (their `max_age` and `expiry` count).
    ///
    /// # Errors
    /// Store errors.
    pub fn ttl_with(&self, key: &str, options: &Options) -> Result<Option<Duration>> {
        self.with_call(key, Some(options), |call| self.ttl_of(call))
    }

    pub(super) fn ttl_of(&self, call: &Call<'_>) -> Result<Option<Duration>> {
        let Some(record) = self.live(call)? else {
            return Ok(None);
        };
        Ok(call
            .effective_expiry(&record)
            .map(|expiry| span_rounded_down(call.now(), expiry)))
    }

    /// Makes the value under `key` expire `after` from now.
    ///
    /// # Errors
    /// [`Error::NotFound`] when there is no live value; store errors.
    pub fn expire(&self, key: &str, after: Duration) -> Result<()> {
        self.with_call(key, None, |call| {
            self.expire_of(call, call.now() + after.as_secs_f64())
        })
    }

    /// [`Memoizer::expire`] with per-call options.
    ///
    /// # Errors
    /// As [`Memoizer::expire`].
    pub fn expire_with(&self, key: &str, options: &Options, after: Duration) -> Result<()> {
        self.with_call(key, Some(options), |call| {
            self.expire_of(call, call.now() + after.as_secs_f64())
        })
    }

    /// Makes the value under `key` expire at `at`.
    ///
    /// # Errors
    /// As [`Memoizer::expire`].
    pub fn expire_at(&self, key: &str, at: SystemTime) -> Result<()> {
        self.with_call(key, None, |call| self.expire_of(call, to_unix(at)))
    }

    /// [`Memoizer::expire_at`] with per-call options.
    ///
    /// # Errors
    /// As [`Memoizer::expire`].
    pub fn expire_at_with(&self, key: &str, options: &Options, at: SystemTime) -> Result<()> {
        self.with_call(key, Some(options), |call| self.expire_of(call, to_unix(at)))
    }

    pub(super) fn expire_of(&self, call: &Call<'_>, at: f64) -> Result<()> {
        let Some(mut record) = self.live(call)? else {
            return Err(Error::NotFound {
                key: call.key.to_string(),
            });
        };
        record.expiry = Some(at);
        call.store("write", |s| s.set(&call.key, record))
    }

    /// The etag the live value under `key` was computed under; `None` when there is no live
    /// value or it has no etag.
    ///
    /// # Errors
    /// Store errors; [`Error::Codec`] when the etag is not an `E`.
    pub fn etag<E: DeserializeOwned>(&self, key: &str) -> Result<Option<E>> {
        self.with_call(key, None, |call| self.etag_of(call))
    }

    /// [`Memoizer::etag`] with per-call options.
    ///
    /// # Errors
    /// As [`Memoizer::etag`].
    pub fn etag_with<E: DeserializeOwned>(
        &self,
        key: &str,
        options: &Options,
    ) -> Result<Option<E>> {
        self.with_call(key, Some(options), |call| self.etag_of(call))
    }

    pub(super) fn etag_of<E: DeserializeOwned>(&self, call: &Call<'_>) -> Result<Option<E>> {
        let Some(etag) = self.live(call)?.and_then(|record| record.etag) else {
            return Ok(None);
        };
        postcard::from_bytes(etag_value(&etag)?)
            .map(Some)
            .map_err(|e| Error::Codec(format!("etag of {:?}: {e}", call.key)))
    }

    /// The key as the store sees it, namespace included.
    ///
    /// # Errors
    /// [`Error::Config`] for an unknown region or a missing store.
    pub fn key_with(&self, key: &str, options: &Options) -> Result<String> {
        let region = self.region(Some(options))?;
        Ok(self
            .resolve(&region, Some(options))
            .full_key(key)
            .into_owned())
    }

    /// Removes every record of the options' namespace (every record of the store when there is
    /// none) and returns how many. Needs a store with [`scan`](crate::Store::scan).
    ///
    /// # Errors
    /// [`Error::Unsupported`] for a store without scan; store errors.
    pub fn clear_with(&self, options: &Options) -> Result<u64> {
        let region = self.region(Some(options))?;
        let cfg = self.resolve(&region, Some(options));
        let prefix = cfg
            .namespace
            .as_ref()
            .map(|ns| format!("{ns}:"))
            .unwrap_or_default();
        let mut removed = 0;
        let store = &**cfg.store;
        for key in guard(store, "scan", || store.scan(&prefix))? {
            removed += u64::from(guard(store, "delete", || store.delete(&key))?);
        }
        Ok(removed)
    }
}
