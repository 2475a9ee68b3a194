//! Borrowed arguments for the helpers that `#[memoize]` generates.
//!
//! A helper such as `fetch::exists(url)` only writes a key, so it need not own its arguments:
//! where the function takes a `String`, the helper takes a `&str` too, and keys it exactly as
//! the call keys the `String`. [`KeyAs<T>`] says "keys like a `T`" (for `exists`, `ttl`,
//! `expire`, `expire_at`, `delete`, `etag` and `key`); [`IntoArg<T>`] says "becomes a `T`" (for
//! `uncached` and `call_with`, which may run the function and so need the owned value).
//!
//! | the function takes | a helper also takes |
//! | --- | --- |
//! | `T` | `&T` |
//! | `String` | `&str` |
//! | `Vec<T>` | `&[T]`, `&[T; N]` |
//! | `PathBuf` | `&Path` |
//!
//! Arguments the function already takes by reference (`&str`, `&[T]`) keep their type, so
//! deref coercion applies as for the function itself (`&String` for `&str`).
//!
//! ```
//! use std::sync::LazyLock;
//! use memo::{Memoizer, memoize, mem::MemStore};
//!
//! static MEMO: LazyLock<Memoizer> = LazyLock::new(|| Memoizer::new(MemStore::new()));
//!
//! #[memoize(MEMO)]
//! fn fetch(url: String, retries: Vec<u8>) -> usize {
//!     url.len() + retries.len()
//! }
//!
//! assert_eq!(fetch("https://example.com".to_owned(), vec![1, 2]), 21);
//! assert!(fetch::exists("https://example.com", &[1, 2]).unwrap());
//! assert_eq!(
//!     fetch::key("https://example.com", &[1, 2]).unwrap(),
//!     fetch::key("https://example.com".to_owned(), vec![1, 2]).unwrap(),
//! );
//! assert_eq!(fetch::uncached("https://example.com", &[1, 2][..]), 21);
//! ```

use std::path::{Path, PathBuf};

use serde::Serialize;

/// A value that a helper keys exactly as the function's argument of type `T`.
///
/// An implementation for a type of your own must serialize [`view`](KeyAs::view) exactly as `T`
/// serializes: a helper given it then reaches the call's record.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot stand for this argument in a memo key: the function takes `{T}`",
    label = "the function takes `{T}` here",
    note = "pass the `{T}`, a reference to it, or its borrowed form (`&str` for `String`, \
            `&[T]` for `Vec<T>`, `&Path` for `PathBuf`)"
)]
pub trait KeyAs<T: ?Sized> {
    /// What is written into the key: `T` itself or a type that serializes the same.
    type View: Serialize + ?Sized;

    /// The value to write into the key.
    fn view(&self) -> &Self::View;
}

impl<T: Serialize> KeyAs<T> for T {
    type View = T;
    fn view(&self) -> &T {
        self
    }
}

impl<T: Serialize + ?Sized> KeyAs<T> for &T {
    type View = T;
    fn view(&self) -> &T {
        self
    }
}

impl KeyAs<String> for &str {
    type View = str;
    fn view(&self) -> &str {
        self
    }
}

impl<T: Serialize> KeyAs<Vec<T>> for &[T] {
    type View = [T];
    fn view(&self) -> &[T] {
        self
    }
}

/// An array serializes as a tuple, so it is keyed through its slice, which serializes as the
/// `Vec` does.
impl<T: Serialize, const N: usize> KeyAs<Vec<T>> for &[T; N] {
    type View = [T];
    fn view(&self) -> &[T] {
        self.as_slice()
    }
}

impl KeyAs<PathBuf> for &Path {
    type View = Path;
    fn view(&self) -> &Path {
        self
    }
}

/// A value that becomes the function's argument of type `T` when the function has to run.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be passed for this argument: the function takes `{T}`",
    label = "the function takes `{T}` here",
    note = "pass the `{T}`, a reference to it (when `{T}: Clone`), or its borrowed form (`&str` \
            for `String`, `&[T]` for `Vec<T>`, `&Path` for `PathBuf`)"
)]
pub trait IntoArg<T> {
    /// The argument, converted (cloned when borrowed).
    fn into_arg(self) -> T;
}

impl<T> IntoArg<T> for T {
    fn into_arg(self) -> T {
        self
    }
}

impl<T: Clone> IntoArg<T> for &T {
    fn into_arg(self) -> T {
        self.clone()
    }
}

impl IntoArg<String> for &str {
    fn into_arg(self) -> String {
        self.to_owned()
    }
}

impl<T: Clone> IntoArg<Vec<T>> for &[T] {
    fn into_arg(self) -> Vec<T> {
        self.to_vec()
    }
}

impl<T: Clone, const N: usize> IntoArg<Vec<T>> for &[T; N] {
    fn into_arg(self) -> Vec<T> {
        self.to_vec()
    }
}

impl IntoArg<PathBuf> for &Path {
    fn into_arg(self) -> PathBuf {
        self.to_path_buf()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use memo_core::key::to_key;

    use super::*;

    fn key_as<T: Serialize, A: KeyAs<T>>(arg: &A) -> String {
        to_key(arg.view()).unwrap()
    }

    #[test]
    fn borrowed_forms_key_as_their_owned_types() {
        let text = "a \"quoted\", text";
        assert_eq!(
            key_as::<String, _>(&text),
            to_key(&text.to_owned()).unwrap()
        );
        let items = vec![1_u32, 2, 3];
        let owned = to_key(&items).unwrap();
        assert_eq!(key_as::<Vec<u32>, _>(&items.as_slice()), owned);
        assert_eq!(key_as::<Vec<u32>, _>(&&[1_u32, 2, 3]), owned);
        assert_eq!(key_as::<Vec<u32>, _>(&&items), owned);
        let path = Path::new("/var/cache/memo");
        assert_eq!(
            key_as::<PathBuf, _>(&path),
            to_key(&path.to_path_buf()).unwrap()
        );
        let map = BTreeMap::from([(1_u8, "one")]);
        assert_eq!(
            key_as::<BTreeMap<u8, &str>, _>(&&map),
            to_key(&map).unwrap()
        );
    }

    #[test]
    fn an_array_is_keyed_as_a_sequence_not_a_tuple() {
        // serde writes arrays as tuples; the key of a `Vec` argument is a sequence.
        assert_ne!(to_key(&[1_u8, 2]).unwrap(), to_key(&vec![1_u8, 2]).unwrap());
        assert_eq!(
            key_as::<Vec<u8>, _>(&&[1_u8, 2]),
            to_key(&vec![1_u8, 2]).unwrap()
        );
    }

    #[test]
    fn borrowed_forms_convert_into_equal_owned_values() {
        let owned: String = "text".into_arg();
        assert_eq!(owned, "text");
        let items: Vec<u8> = [1_u8, 2].as_slice().into_arg();
        assert_eq!(items, [1, 2]);
        let items: Vec<u8> = (&[1_u8, 2]).into_arg();
        assert_eq!(items, [1, 2]);
        let path: PathBuf = Path::new("/tmp").into_arg();
        assert_eq!(path, PathBuf::from("/tmp"));
        let cloned: BTreeMap<u8, u8> = (&BTreeMap::from([(1, 2)])).into_arg();
        assert_eq!(cloned, BTreeMap::from([(1, 2)]));
    }
}
