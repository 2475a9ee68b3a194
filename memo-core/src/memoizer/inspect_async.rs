//! The inspection calls for async code: `exists_async`, `delete_async`, `ttl_async`,
//! `expire_async`, `expire_at_async` and `etag_async`, each with a `*_with` twin. Like their
//! blocking twins they return store errors instead of failing open.

use std::time::{Duration, SystemTime};

use serde::de::DeserializeOwned;

use super::Memoizer;
use super::call::Call;
use super::miss_async::{Spent, guarded};
use crate::clock::{span_rounded_down, to_unix};
use crate::error::{Error, Result};
use crate::fault::guard;
use crate::options::{Options, etag_value};
use crate::record::Record;

/// Resolves the call of `key` under `options` and evaluates `$body` with it (`$call`) and its
/// budget (`$spent`): a macro, since the call borrows locals of the calling future.
macro_rules! with_call {
    ($memo:expr, $key:expr, $options:expr, |$call:ident, $spent:ident| $body:expr) => {{
        let region = $memo.region($options)?;
        let cfg = $memo.resolve(&region, $options);
        let call = $memo.call(&cfg, $key)?;
        let ($call, $spent) = (&call, &Spent::default());
        $body
    }};
}

impl Memoizer {
    /// [`Memoizer::live`] for async code: the call's fresh record, store errors returned.
    async fn live_async(&self, call: &Call<'_>, spent: &Spent) -> Result<Option<Record>> {
        let store = &**call.cfg.store;
        match store.as_async() {
            None => spent.inline(store, || self.live(call)),
            Some(twin) => {
                let got = guarded(store, "read", spent, twin.get_async(&call.key)).await?;
                Ok(got.filter(|record| call.is_fresh(record)))
            }
        }
    }

    async fn delete_of_async(&self, call: &Call<'_>, spent: &Spent) -> Result<bool> {
        let store = &**call.cfg.store;
        match store.as_async() {
            None => spent.inline(store, || guard(store, "delete", || store.delete(&call.key))),
            Some(twin) => guarded(store, "delete", spent, twin.delete_async(&call.key)).await,
        }
    }

    async fn expire_of_async(&self, call: &Call<'_>, spent: &Spent, at: f64) -> Result<()> {
        let Some(mut record) = self.live_async(call, spent).await? else {
            return Err(Error::NotFound {
                key: call.key.to_string(),
            });
        };
        record.expiry = Some(at);
        let store = &**call.cfg.store;
        match store.as_async() {
            None => spent.inline(store, || {
                guard(store, "write", || store.set(&call.key, record))
            }),
            Some(twin) => guarded(store, "write", spent, twin.set_async(&call.key, record)).await,
        }
    }

    /// [`Memoizer::exists`] for async code.
    ///
    /// # Errors
    /// As [`Memoizer::exists`].
    pub async fn exists_async(&self, key: &str) -> Result<bool> {
        self.exists_async_inner(key, None).await
    }

    /// [`Memoizer::exists_with`] for async code.
    ///
    /// # Errors
    /// As [`Memoizer::exists`].
    pub async fn exists_async_with(&self, key: &str, options: &Options) -> Result<bool> {
        self.exists_async_inner(key, Some(options)).await
    }

    async fn exists_async_inner(&self, key: &str, options: Option<&Options>) -> Result<bool> {
        with_call!(self, key, options, |call, spent| Ok(self
            .live_async(call, spent)
            .await?
            .is_some()))
    }

    /// [`Memoizer::delete`] for async code.
    ///
    /// # Errors
    /// As [`Memoizer::delete`].
    pub async fn delete_async(&self, key: &str) -> Result<bool> {
        self.delete_async_inner(key, None).await
    }

    /// [`Memoizer::delete_with`] for async code.
    ///
    /// # Errors
    /// As [`Memoizer::delete`].
    pub async fn delete_async_with(&self, key: &str, options: &Options) -> Result<bool> {
        self.delete_async_inner(key, Some(options)).await
    }

    async fn delete_async_inner(&self, key: &str, options: Option<&Options>) -> Result<bool> {
        with_call!(self, key, options, |call, spent| self
            .delete_of_async(call, spent)
            .await)
    }

    /// [`Memoizer::ttl`] for async code.
    ///
    /// # Errors
    /// As [`Memoizer::ttl`].
    pub async fn ttl_async(&self, key: &str) -> Result<Option<Duration>> {
        self.ttl_async_inner(key, None).await
    }

    /// [`Memoizer::ttl_with`] for async code.
    ///
    /// # Errors
    /// As [`Memoizer::ttl`].
    pub async fn ttl_async_with(&self, key: &str, options: &Options) -> Result<Option<Duration>> {
        self.ttl_async_inner(key, Some(options)).await
    }

    async fn ttl_async_inner(
        &self,
        key: &str,
        options: Option<&Options>,
    ) -> Result<Option<Duration>> {
        with_call!(self, key, options, |call, spent| {
            let live = self.live_async(call, spent).await?;
            Ok(live.and_then(|record| {
                call.effective_expiry(&record)
                    .map(|expiry| span_rounded_down(call.now(), expiry))
            }))
        })
    }

    /// [`Memoizer::expire`] for async code.
    ///
    /// # Errors
    /// As [`Memoizer::expire`].
    pub async fn expire_async(&self, key: &str, after: Duration) -> Result<()> {
        self.expire_after_async_inner(key, None, after).await
    }

    /// [`Memoizer::expire_with`] for async code.
    ///
    /// # Errors
    /// As [`Memoizer::expire`].
    pub async fn expire_async_with(
        &self,
        key: &str,
        options: &Options,
        after: Duration,
    ) -> Result<()> {
        self.expire_after_async_inner(key, Some(options), after)
            .await
    }

    async fn expire_after_async_inner(
        &self,
        key: &str,
        options: Option<&Options>,
        after: Duration,
    ) -> Result<()> {
        with_call!(self, key, options, |call, spent| {
            let at = call.now() + after.as_secs_f64();
            self.expire_of_async(call, spent, at).await
        })
    }

    /// [`Memoizer::expire_at`] for async code.
    ///
    /// # Errors
    /// As [`Memoizer::expire`].
    pub async fn expire_at_async(&self, key: &str, at: SystemTime) -> Result<()> {
        with_call!(self, key, None, |call, spent| self
            .expire_of_async(call, spent, to_unix(at))
            .await)
    }

    /// [`Memoizer::expire_at_with`] for async code.
    ///
    /// # Errors
    /// As [`Memoizer::expire`].
    pub async fn expire_at_async_with(
        &self,
        key: &str,
        options: &Options,
        at: SystemTime,
    ) -> Result<()> {
        with_call!(self, key, Some(options), |call, spent| self
            .expire_of_async(call, spent, to_unix(at))
            .await)
    }

    /// [`Memoizer::etag`] for async code.
    ///
    /// # Errors
    /// As [`Memoizer::etag`].
    pub async fn etag_async<E: DeserializeOwned>(&self, key: &str) -> Result<Option<E>> {
        self.etag_async_inner(key, None).await
    }

    /// [`Memoizer::etag_with`] for async code.
    ///
    /// # Errors
    /// As [`Memoizer::etag`].
    pub async fn etag_async_with<E: DeserializeOwned>(
        &self,
        key: &str,
        options: &Options,
    ) -> Result<Option<E>> {
        self.etag_async_inner(key, Some(options)).await
    }

    async fn etag_async_inner<E: DeserializeOwned>(
        &self,
        key: &str,
        options: Option<&Options>,
    ) -> Result<Option<E>> {
        let record = with_call!(self, key, options, |call, spent| self
            .live_async(call, spent)
            .await?);
        let Some(etag) = record.and_then(|record| record.etag) else {
            return Ok(None);
        };
        postcard::from_bytes(etag_value(&etag)?)
            .map(Some)
            .map_err(|e| Error::Codec(format!("etag of {key:?}: {e}")))
    }
}
