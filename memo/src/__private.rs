//! What `#[memoize]` expands to calls. Not a public API: it changes with the macro.
//!
//! The generated code calls into this module instead of carrying the logic itself, so that a
//! user's crate needs no dependency but `memo` (no `tracing`, no `serde` paths) and the fail-open
//! rules live in one place, as ordinary tested Rust.

use std::borrow::Cow;
use std::sync::LazyLock;
use std::time::{Duration, SystemTime};

use memo_core::key::KeyBuilder;
use memo_core::{Error, Memoizer, Options, Result, TryError};
use serde::Serialize;

/// Builds the key of one call: `name(arg, ...)`.
///
/// # Errors
/// [`Error::Codec`] when an argument's `Serialize` implementation fails.
pub fn key(name: &str, args: impl FnOnce(&mut KeyBuilder) -> Result<()>) -> Result<String> {
    let mut builder = KeyBuilder::new(name);
    args(&mut builder)?;
    Ok(builder.finish())
}

/// The key name of a method: the type's name, then the method's.
pub fn method_name(type_name: &str, method: &str) -> String {
    format!("{type_name}::{method}")
}

pub use serde::de::DeserializeOwned;

/// Appends one argument; its own function so that a non-serializable argument gets a message
/// about memo keys, at the argument.
///
/// # Errors
/// As [`KeyBuilder::arg`].
pub fn key_arg<T: KeyArg + ?Sized>(builder: &mut KeyBuilder, value: &T) -> Result<()> {
    builder.arg(value).map(|_| ())
}

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
    pub fn call<T, F>(
        &self,
        memo: &Memoizer,
        key: Result<String>,
        call: Option<&Options>,
        f: F,
    ) -> T
    where
        T: Value,
        F: FnOnce() -> T,
    {
        let key = match key {
            Ok(key) => key,
            Err(error) => {
                self.fail_open(None, &error);
                return f();
            }
        };
        let options = self.effective(call);
        let mut pending = Some(f);
        match memo.get_with(&key, &options, || run(&mut pending)) {
            Ok(value) => value,
            Err(error) => {
                self.fail_open(Some(&key), &error);
                run(&mut pending)
            }
        }
    }

    /// A call of a function returning `Option<T>` with `cache_none = false`: a `None` is
    /// returned and not stored.
    pub fn call_option<T, F>(
        &self,
        memo: &Memoizer,
        key: Result<String>,
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
        key: Result<String>,
        call: Option<&Options>,
        f: F,
    ) -> R
    where
        R: Fallible,
        R::Ok: Value,
        F: FnOnce() -> R,
    {
        let key = match key {
            Ok(key) => key,
            Err(error) => {
                self.fail_open(None, &error);
                return f();
            }
        };
        let options = self.effective(call);
        let mut pending = Some(f);
        let got = memo.try_get_with(&key, &options, || {
            run(&mut pending).into_result().map_err(TryError::Func)
        });
        match got {
            Ok(value) => R::from_result(Ok(value)),
            Err(TryError::Func(error)) => R::from_result(Err(error)),
            Err(TryError::Memo(error)) => {
                self.fail_open(Some(&key), &error);
                run(&mut pending)
            }
        }
    }

    /// [`Site::call_result`] in strict mode: memo's errors are converted into the function's
    /// error type and returned.
    pub fn call_result_strict<R, F, C>(
        &self,
        memo: &Memoizer,
        key: Result<String>,
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
        let key = match key {
            Ok(key) => key,
            Err(error) => return R::from_result(Err(convert(error))),
        };
        let options = self.effective(call);
        let got = memo.try_get_with(&key, &options, || f().into_result().map_err(TryError::Func));
        R::from_result(got.map_err(|fail| match fail {
            TryError::Func(error) => error,
            TryError::Memo(error) => convert(error),
        }))
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
