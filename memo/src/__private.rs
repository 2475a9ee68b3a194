//! What `#[memoize]` expands to calls. Not a public API: it changes with the macro.
//!
//! The generated code calls into this module instead of carrying the logic itself, so that a
//! user's crate needs no dependency but `memo` (no `tracing`, no `serde` paths) and the fail-open
//! rules live in one place, as ordinary tested Rust.

use std::borrow::Cow;
use std::cell::Cell;
use std::future::Future;
use std::sync::LazyLock;
use std::time::{Duration, SystemTime};

use memo_core::{Error, Memoizer, Options, Result, TryError};
use serde::Serialize;

/// The arguments part of a key being written: what [`memo_core::key::KeyBuilder`] writes, into a
/// buffer the caller keeps, so that a call reuses one allocation per thread.
#[derive(Debug)]
pub struct KeyArgs<'a> {
    out: &'a mut String,
    args: usize,
}

/// Writes the key of one call, `name(arg, ...)`, into `out`; `name` comes in parts so that a
/// method's type name needs no allocation.
///
/// # Errors
/// [`Error::Codec`] when an argument's `Serialize` implementation fails.
pub fn write_key(
    out: &mut String,
    name: &[&str],
    args: impl FnOnce(&mut KeyArgs<'_>) -> Result<()>,
) -> Result<()> {
    for part in name {
        out.push_str(part);
    }
    out.push('(');
    args(&mut KeyArgs { out, args: 0 })?;
    out.push(')');
    Ok(())
}

/// The key of one call, as [`write_key`] writes it.
///
/// # Errors
/// As [`write_key`].
pub fn key(name: &[&str], args: impl FnOnce(&mut KeyArgs<'_>) -> Result<()>) -> Result<String> {
    let mut out = String::new();
    write_key(&mut out, name, args)?;
    Ok(out)
}

/// Appends one argument; a free function so that a non-serializable argument gets a message
/// about memo keys, at the argument.
///
/// # Errors
/// [`Error::Codec`] when the argument's `Serialize` implementation fails.
pub fn key_arg<T: KeyArg + ?Sized>(key: &mut KeyArgs<'_>, value: &T) -> Result<()> {
    if key.args > 0 {
        key.out.push_str(", ");
    }
    key.args += 1;
    memo_core::key::write_key(key.out, value)
}

thread_local! {
    /// The key buffer of the calls on this thread; taken while in use, so a memoized function
    /// called from inside another gets a buffer of its own.
    static KEY: Cell<String> = const { Cell::new(String::new()) };
}

/// The key of one call, written into this thread's buffer, which it gives back when dropped.
#[derive(Debug)]
pub struct CallKey {
    buf: String,
    written: Result<()>,
}

impl CallKey {
    /// Writes the key of a call.
    pub fn new(name: &[&str], args: impl FnOnce(&mut KeyArgs<'_>) -> Result<()>) -> Self {
        let mut buf = KEY.take();
        buf.clear();
        let written = write_key(&mut buf, name, args);
        CallKey { buf, written }
    }

    /// The key, or why it could not be written.
    fn take(&mut self) -> Result<&str> {
        std::mem::replace(&mut self.written, Ok(())).map(|()| self.buf.as_str())
    }
}

impl Drop for CallKey {
    fn drop(&mut self) {
        KEY.set(std::mem::take(&mut self.buf));
    }
}

pub use serde::de::DeserializeOwned;

/// What can be part of a memo key: anything `Serialize`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be part of a memo key: it does not implement `serde::Serialize`",
    label = "this argument is part of the key",
    note = "derive `serde::Serialize` for it, or leave it out of the key with `skip(name)`"
)]
pub trait KeyArg: Serialize {}

impl<T: Serialize + ?Sized> KeyArg for T {}

/// What a memoized function can return: anything that serde can write and read back.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be memoized: it must implement `serde::Serialize` and \
               `serde::de::DeserializeOwned`",
    label = "the memoized value"
)]
pub trait Value: Serialize + DeserializeOwned + 'static {}

impl<T: Serialize + DeserializeOwned + 'static> Value for T {}

/// A `Result`-like return type: only its `Ok` side is cached.
pub trait Fallible {
    /// The cached side.
    type Ok;
    /// The side that is returned and never cached.
    type Err;
    /// As a `Result`.
    ///
    /// # Errors
    /// The function's error.
    fn into_result(self) -> std::result::Result<Self::Ok, Self::Err>;
    /// From a `Result`.
    fn from_result(result: std::result::Result<Self::Ok, Self::Err>) -> Self;
}

impl<T, E> Fallible for std::result::Result<T, E> {
    type Ok = T;
    type Err = E;
    fn into_result(self) -> Self {
        self
    }
    fn from_result(result: Self) -> Self {
        result
    }
}

/// Stands for a `None` that is not cached (`cache_none = false`).
#[derive(Debug)]
pub struct NoneReturned;

/// One decorated function: its name and its options, built once, on first use.
pub struct Site {
    name: &'static str,
    strict: bool,
    options: LazyLock<Options>,
}

impl std::fmt::Debug for Site {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Site")
            .field("name", &self.name)
            .field("strict", &self.strict)
            .finish_non_exhaustive()
    }
}

/// Runs the function kept in `pending`, which is there: the Memoizer runs its closure at most
/// once, and out of strict mode it fails only before running it (memo-core's `get` contract),
/// so the fail-open retry finds the function unused.
fn run<R>(pending: &mut Option<impl FnOnce() -> R>) -> R {
    let f = pending.take();
    f.expect("memo runs a function at most once and fails open only before running it")()
}

impl Site {
    /// A site named `name` (for logs). `options` are the decorator's options; `strict` says
    /// whether memo's errors reach the caller (else they are logged and the function runs
    /// uncached).
    pub const fn new(name: &'static str, strict: bool, options: fn() -> Options) -> Self {
        Site {
            name,
            strict,
            options: LazyLock::new(options),
        }
    }

    /// The decorator's options, with the decorator's strictness over any region's.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The decorator's options under a call's, the decorator's strictness on top: a call cannot
    /// make errors appear where the function's signature has no room for them.
    #[inline]
    fn effective(&self, call: Option<&Options>) -> Cow<'_, Options> {
        match call {
            None => Cow::Borrowed(&*self.options),
            Some(call) => Cow::Owned(
                self.options
                    .overlay(call)
                    .overlay(&Options::new().strict(self.strict)),
            ),
        }
    }

    /// The call's key, or `None` once the reason it could not be written is logged: the
    /// caller then runs the function uncached (fail open).
    #[inline]
    fn key_or_log<'k>(&self, key: &'k mut CallKey) -> Option<&'k str> {
        key.take()
            .map_err(|error| self.fail_open(None, &error))
            .ok()
    }

    /// Logs a memo error that the function's signature has no room for.
    fn fail_open(&self, key: Option<&str>, error: &Error) {
        tracing::warn!(
            function = self.name,
            key,
            %error,
            "memo: memoization failed; computing the value uncached"
        );
    }

    /// A call of a function returning a plain value: memo's errors are logged and the function
    /// runs uncached (fail open).
    pub fn call<T, F>(&self, memo: &Memoizer, mut key: CallKey, call: Option<&Options>, f: F) -> T
    where
        T: Value,
        F: FnOnce() -> T,
    {
        let Some(key) = self.key_or_log(&mut key) else {
            return f();
        };
        let options = self.effective(call);
        let mut pending = Some(f);
        match memo.get_with(key, &options, || run(&mut pending)) {
            Ok(value) => value,
            Err(error) => {
                self.fail_open(Some(key), &error);
                run(&mut pending)
            }
        }
    }

    /// A call of a function returning `Option<T>` with `cache_none = false`: a `None` is
    /// returned and not stored.
    pub fn call_option<T, F>(
        &self,
        memo: &Memoizer,
        key: CallKey,
        call: Option<&Options>,
        f: F,
    ) -> Option<T>
    where
        T: Value,
        F: FnOnce() -> Option<T>,
    {
        self.call_result(memo, key, call, || f().map(Some).ok_or(NoneReturned))
            .ok()
            .flatten()
    }

    /// A call of a function returning a `Result`: only `Ok` is stored; memo's errors are logged
    /// and the function runs uncached (fail open).
    pub fn call_result<R, F>(
        &self,
        memo: &Memoizer,
        mut key: CallKey,
        call: Option<&Options>,
        f: F,
    ) -> R
    where
        R: Fallible,
        R::Ok: Value,
        F: FnOnce() -> R,
    {
        let Some(key) = self.key_or_log(&mut key) else {
            return f();
        };
        let options = self.effective(call);
        let mut pending = Some(f);
        let got = memo.try_get_with(key, &options, || {
            run(&mut pending).into_result().map_err(TryError::Func)
        });
        match got {
            Ok(value) => R::from_result(Ok(value)),
            Err(TryError::Func(error)) => R::from_result(Err(error)),
            Err(TryError::Memo(error)) => {
                self.fail_open(Some(key), &error);
                run(&mut pending)
            }
        }
    }

    /// [`Site::call_result`] in strict mode: memo's errors are converted into the function's
    /// error type and returned.
    pub fn call_result_strict<R, F, C>(
        &self,
        memo: &Memoizer,
        mut key: CallKey,
        call: Option<&Options>,
        f: F,
        convert: C,
    ) -> R
    where
        R: Fallible,
        R::Ok: Value,
        F: FnOnce() -> R,
        C: FnOnce(Error) -> R::Err,
    {
        let key = match key.take() {
            Ok(key) => key,
            Err(error) => return R::from_result(Err(convert(error))),
        };
        let options = self.effective(call);
        let got = memo.try_get_with(key, &options, || f().into_result().map_err(TryError::Func));
        R::from_result(got.map_err(|fail| match fail {
            TryError::Func(error) => error,
            TryError::Memo(error) => convert(error),
        }))
    }

    /// [`Site::call`] for an `async fn`.
    pub async fn call_async<T, F, Fut>(
        &self,
        memo: &Memoizer,
        mut key: CallKey,
        call: Option<&Options>,
        f: F,
    ) -> T
    where
        T: Value,
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        let Some(key) = self.key_or_log(&mut key) else {
            return f().await;
        };
        let options = self.effective(call);
        let mut pending = Some(f);
        let got = memo
            .get_async_with(key, &options, || run(&mut pending))
            .await;
        match got {
            Ok(value) => value,
            Err(error) => {
                self.fail_open(Some(key), &error);
                run(&mut pending).await
            }
        }
    }

    /// [`Site::call_option`] for an `async fn`.
    pub async fn call_option_async<T, F, Fut>(
        &self,
        memo: &Memoizer,
        key: CallKey,
        call: Option<&Options>,
        f: F,
    ) -> Option<T>
    where
        T: Value,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        self.call_result_async(memo, key, call, || async {
            f().await.map(Some).ok_or(NoneReturned)
        })
        .await
        .ok()
        .flatten()
    }

    /// [`Site::call_result`] for an `async fn`.
    pub async fn call_result_async<R, F, Fut>(
        &self,
        memo: &Memoizer,
        mut key: CallKey,
        call: Option<&Options>,
        f: F,
    ) -> R
    where
        R: Fallible,
        R::Ok: Value,
        F: FnOnce() -> Fut,
        Fut: Future<Output = R>,
    {
        let Some(key) = self.key_or_log(&mut key) else {
            return f().await;
        };
        let options = self.effective(call);
        let mut pending = Some(f);
        let got = memo
            .try_get_async_with(key, &options, || {
                let fut = run(&mut pending);
                async { fut.await.into_result().map_err(TryError::Func) }
            })
            .await;
        match got {
            Ok(value) => R::from_result(Ok(value)),
            Err(TryError::Func(error)) => R::from_result(Err(error)),
            Err(TryError::Memo(error)) => {
                self.fail_open(Some(key), &error);
                run(&mut pending).await
            }
        }
    }

    /// [`Site::call_result_strict`] for an `async fn`.
    pub async fn call_result_strict_async<R, F, Fut, C>(
        &self,
        memo: &Memoizer,
        mut key: CallKey,
        call: Option<&Options>,
        f: F,
        convert: C,
    ) -> R
    where
        R: Fallible,
        R::Ok: Value,
        F: FnOnce() -> Fut,
        Fut: Future<Output = R>,
        C: FnOnce(Error) -> R::Err,
    {
        let key = match key.take() {
            Ok(key) => key,
            Err(error) => return R::from_result(Err(convert(error))),
        };
        let options = self.effective(call);
        let got = memo
            .try_get_async_with(key, &options, || async {
                f().await.into_result().map_err(TryError::Func)
            })
            .await;
        R::from_result(got.map_err(|fail| match fail {
            TryError::Func(error) => error,
            TryError::Memo(error) => convert(error),
        }))
    }

    /// [`Site::exists`] for an `async fn`'s helpers.
    ///
    /// # Errors
    /// As [`Site::exists`].
    pub async fn exists_async(&self, memo: &Memoizer, key: Result<String>) -> Result<bool> {
        memo.exists_async_with(&key?, self.options()).await
    }

    /// [`Site::ttl`] for an `async fn`'s helpers.
    ///
    /// # Errors
    /// As [`Site::ttl`].
    pub async fn ttl_async(
        &self,
        memo: &Memoizer,
        key: Result<String>,
    ) -> Result<Option<Duration>> {
        memo.ttl_async_with(&key?, self.options()).await
    }

    /// [`Site::expire`] for an `async fn`'s helpers.
    ///
    /// # Errors
    /// As [`Site::expire`].
    pub async fn expire_async(
        &self,
        memo: &Memoizer,
        key: Result<String>,
        after: Duration,
    ) -> Result<()> {
        memo.expire_async_with(&key?, self.options(), after).await
    }

    /// [`Site::expire_at`] for an `async fn`'s helpers.
    ///
    /// # Errors
    /// As [`Site::expire`].
    pub async fn expire_at_async(
        &self,
        memo: &Memoizer,
        key: Result<String>,
        at: SystemTime,
    ) -> Result<()> {
        memo.expire_at_async_with(&key?, self.options(), at).await
    }

    /// [`Site::delete`] for an `async fn`'s helpers.
    ///
    /// # Errors
    /// As [`Site::delete`].
    pub async fn delete_async(&self, memo: &Memoizer, key: Result<String>) -> Result<bool> {
        memo.delete_async_with(&key?, self.options()).await
    }

    /// [`Site::etag`] for an `async fn`'s helpers.
    ///
    /// # Errors
    /// As [`Site::etag`].
    pub async fn etag_async<E: DeserializeOwned>(
        &self,
        memo: &Memoizer,
        key: Result<String>,
    ) -> Result<Option<E>> {
        memo.etag_async_with(&key?, self.options()).await
    }

    /// Whether a call with this key would hit.
    ///
    /// # Errors
    /// The key's or the store's error.
    pub fn exists(&self, memo: &Memoizer, key: Result<String>) -> Result<bool> {
        memo.exists_with(&key?, self.options())
    }

    /// The time the value under this key has left.
    ///
    /// # Errors
    /// The key's or the store's error.
    pub fn ttl(&self, memo: &Memoizer, key: Result<String>) -> Result<Option<Duration>> {
        memo.ttl_with(&key?, self.options())
    }

    /// Makes the value under this key expire `after` from now.
    ///
    /// # Errors
    /// [`Error::NotFound`] when there is no live value; the key's or the store's error.
    pub fn expire(&self, memo: &Memoizer, key: Result<String>, after: Duration) -> Result<()> {
        memo.expire_with(&key?, self.options(), after)
    }

    /// Makes the value under this key expire at `at`.
    ///
    /// # Errors
    /// As [`Site::expire`].
    pub fn expire_at(&self, memo: &Memoizer, key: Result<String>, at: SystemTime) -> Result<()> {
        memo.expire_at_with(&key?, self.options(), at)
    }

    /// Removes the value under this key.
    ///
    /// # Errors
    /// The key's or the store's error.
    pub fn delete(&self, memo: &Memoizer, key: Result<String>) -> Result<bool> {
        memo.delete_with(&key?, self.options())
    }

    /// The etag the live value under this key was computed under.
    ///
    /// # Errors
    /// The key's or the store's error; [`Error::Codec`] when the etag is not an `E`.
    pub fn etag<E: DeserializeOwned>(
        &self,
        memo: &Memoizer,
        key: Result<String>,
    ) -> Result<Option<E>> {
        memo.etag_with(&key?, self.options())
    }

    /// The key as the store sees it, namespace included.
    ///
    /// # Errors
    /// The key's error; [`Error::Config`] for an unknown region.
    pub fn key(&self, memo: &Memoizer, key: Result<String>) -> Result<String> {
        memo.key_with(&key?, self.options())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use memo_core::key::KeyBuilder;

    use super::*;

    #[test]
    fn call_keys_are_what_the_key_builder_writes() {
        let map = BTreeMap::from([("b", 2), ("a", 1)]);
        let mut expected = KeyBuilder::new("app::f");
        expected
            .arg("x, y")
            .unwrap()
            .arg(&Some(1.5))
            .unwrap()
            .arg(&map)
            .unwrap();
        let expected = expected.finish();
        let written = |parts: &[&str]| {
            let mut key = CallKey::new(parts, |k| {
                key_arg(k, "x, y")?;
                key_arg(k, &Some(1.5))?;
                key_arg(k, &map)
            });
            key.take().unwrap().to_owned()
        };
        assert_eq!(written(&["app::f"]), expected);
        assert_eq!(written(&["app", "::f"]), expected);
        assert_eq!(
            key(&["app::f"], |_| Ok(())).unwrap(),
            KeyBuilder::new("app::f").finish()
        );
    }

    #[test]
    fn a_call_key_inside_another_gets_its_own_buffer() {
        let outer = CallKey::new(&["outer"], |k| key_arg(k, &1));
        let inner = CallKey::new(&["inner"], |k| key_arg(k, &2));
        assert_eq!(outer.buf, "outer(1)");
        assert_eq!(inner.buf, "inner(2)");
        drop(inner);
        drop(outer);
        let reused = KEY.take();
        assert!(reused.capacity() >= "outer(1)".len());
    }
}
