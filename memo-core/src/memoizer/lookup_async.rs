//! The async lookup calls: `get_async`, `try_get_async` and `peek_async`, with their `*_with`
//! twins.

use std::convert::Infallible;
use std::future::Future;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Memoizer;
use super::miss::Fail;
use crate::error::{Error, Result};
use crate::options::Options;

impl Memoizer {
    /// [`Memoizer::get`] for async code: the value under `key`, computed by awaiting `f()` and
    /// stored on a miss, without blocking the executor's thread.
    ///
    /// A store with an [`AsyncStore`](crate::AsyncStore) twin (Redis) is awaited; any other
    /// store's calls are short and run inline. Concurrent misses of one key in this process,
    /// from tasks or threads, compute once; waiting tasks wait asynchronously, at most the
    /// `timeout` option, and receive the value in memory. If the computing task is cancelled
    /// (its future dropped), nothing is stored and one waiter computes instead. A panic in `f`
    /// reaches the caller and wakes the waiters, as in [`Memoizer::get`].
    ///
    /// The returned future is `Send` when `f` and its future are, and works on any executor;
    /// an async store may need its own runtime (Redis's needs tokio).
    ///
    /// ```
    /// use memo_core::Memoizer;
    /// # use memo_core::doc_store::DocStore;
    /// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     let mut f = std::pin::pin!(f);
    /// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    /// #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v } }
    /// # }
    ///
    /// let memo = Memoizer::new(DocStore::default());
    /// # block_on(async {
    /// let answer: u32 = memo.get_async("answer", || async { 42 }).await?;
    /// assert_eq!(answer, 42);
    /// assert_eq!(memo.get_async("answer", || async { 0 }).await?, 42_u32);
    /// # Ok::<(), memo_core::Error>(()) }).unwrap();
    /// ```
    ///
    /// # Errors
    /// As [`Memoizer::get`].
    pub fn get_async<T, F, Fut>(&self, key: &str, f: F) -> impl Future<Output = Result<T>>
    where
        T: Serialize + DeserializeOwned + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        self.get_async_inner(key, None, f)
    }

    /// [`Memoizer::get_async`] with per-call options.
    ///
    /// # Errors
    /// As [`Memoizer::get`].
    pub fn get_async_with<T, F, Fut>(
        &self,
        key: &str,
        options: &Options,
        f: F,
    ) -> impl Future<Output = Result<T>>
    where
        T: Serialize + DeserializeOwned + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        self.get_async_inner(key, Some(options), f)
    }

    fn get_async_inner<T, F, Fut>(
        &self,
        key: &str,
        options: Option<&Options>,
        f: F,
    ) -> impl Future<Output = Result<T>>
    where
        T: Serialize + DeserializeOwned + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        self.run_async(
            key,
            options,
            || async { Ok::<T, Infallible>(f().await) },
            |fail| match fail {
                Fail::Memo(error) => error,
                Fail::Func(never) => match never {},
            },
        )
    }

    /// [`Memoizer::try_get`] for async code: an `Err` of `f`'s future is returned and never
    /// cached; otherwise as [`Memoizer::get_async`].
    ///
    /// # Errors
    /// `f`'s error, or memo's as in [`Memoizer::get`].
    pub fn try_get_async<T, E, F, Fut>(
        &self,
        key: &str,
        f: F,
    ) -> impl Future<Output = std::result::Result<T, E>>
    where
        T: Serialize + DeserializeOwned + 'static,
        E: From<Error>,
        F: FnOnce() -> Fut,
        Fut: Future<Output = std::result::Result<T, E>>,
    {
        self.try_get_async_inner(key, None, f)
    }

    /// [`Memoizer::try_get_async`] with per-call options.
    ///
    /// # Errors
    /// As [`Memoizer::try_get_async`].
    pub fn try_get_async_with<T, E, F, Fut>(
        &self,
        key: &str,
        options: &Options,
        f: F,
    ) -> impl Future<Output = std::result::Result<T, E>>
    where
        T: Serialize + DeserializeOwned + 'static,
        E: From<Error>,
        F: FnOnce() -> Fut,
        Fut: Future<Output = std::result::Result<T, E>>,
    {
        self.try_get_async_inner(key, Some(options), f)
    }

    fn try_get_async_inner<T, E, F, Fut>(
        &self,
        key: &str,
        options: Option<&Options>,
        f: F,
    ) -> impl Future<Output = std::result::Result<T, E>>
    where
        T: Serialize + DeserializeOwned + 'static,
        E: From<Error>,
        F: FnOnce() -> Fut,
        Fut: Future<Output = std::result::Result<T, E>>,
    {
        self.run_async(key, options, f, |fail| match fail {
            Fail::Memo(error) => E::from(error),
            Fail::Func(error) => error,
        })
    }

    /// [`Memoizer::peek`] for async code.
    ///
    /// # Errors
    /// As [`Memoizer::get`].
    pub async fn peek_async<T: DeserializeOwned + 'static>(&self, key: &str) -> Result<Option<T>> {
        self.peek_async_inner(key, None).await
    }

    /// [`Memoizer::peek_async`] with per-call options.
    ///
    /// # Errors
    /// As [`Memoizer::get`].
    pub async fn peek_async_with<T: DeserializeOwned + 'static>(
        &self,
        key: &str,
        options: &Options,
    ) -> Result<Option<T>> {
        self.peek_async_inner(key, Some(options)).await
    }
}
