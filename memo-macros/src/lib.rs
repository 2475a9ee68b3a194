#![doc = include_str!("../README.md")]

mod args;
mod expand;
mod helpers;
mod sig;

use proc_macro::TokenStream;

/// Memoizes a function through a `memo::Memoizer`.
///
/// `#[memoize(MEMO, options...)]`: `MEMO` is any expression that dereferences to a `Memoizer`
/// (a `static` `LazyLock<Memoizer>`, `self.memo`, a call). The attribute keeps the function's
/// signature and generates helpers for given arguments. The full guide is the `memo` crate's
/// documentation; in brief:
///
/// - Options: `max_age`, `expiry`, `etag`, `etagger`, `namespace`, `region`, `store`, `lock`,
///   `timeout`, `strict`, `no_max_age`, `no_expiry`, `no_etag`, `no_namespace`, `no_lock`, plus
///   `key = "name"`, `skip(arg, ...)`, `cache_none = false` and `associated`. They are built
///   once, on the first call.
/// - Key: `<module path>::<fn name>(<arg>, ...)`, arguments written by `memo::key`'s writer;
///   for methods, `<type name>::<method>(self, <arg>, ...)`. The module path starts with the
///   defining crate's name, so a function that moves to another module or crate, or is renamed,
///   keys apart from its old records; `key = "billing::invoice_total"` pins the name in its
///   place, and the key is then `billing::invoice_total(<arg>, ...)` wherever the function
///   lives, in any binary.
/// - Helpers, taking the function's arguments and honouring the decorator's options: for a free
///   function `f`, `f::exists`, `f::ttl`, `f::expire`, `f::expire_at`, `f::delete`, `f::etag`,
///   `f::key`, `f::call_with(&options, ..)` and `f::uncached`; for a method `m`, the methods
///   `m_exists`, `m_ttl`, ... `m_uncached` beside it. Where the function takes an argument by
///   value, they also take it borrowed (`&str` for `String`, `&[T]` for `Vec<T>`, `&T` for
///   `T`: `memo::arg`) and key it as the call does.
/// - `async fn` is memoized with `Memoizer::get_async`: the memoized function, `call_with` and
///   `uncached` stay async, and so do the helpers that reach the store (`key` does not).
/// - Memo's errors fail open (logged, the function runs uncached) unless `strict`.
///
/// ```
/// use std::sync::LazyLock;
/// use memo::{Memoizer, memoize, mem::MemStore};
///
/// static MEMO: LazyLock<Memoizer> = LazyLock::new(|| Memoizer::new(MemStore::new()));
///
/// #[memoize(MEMO, max_age = 60, namespace = "math")]
/// fn adder(a: i64, b: i64) -> i64 {
///     a + b
/// }
///
/// assert_eq!(adder(1, 2), 3);
/// assert!(adder::exists(1, 2).unwrap());
/// let key = adder::key(1, 2).unwrap();
/// assert!(key.starts_with("math:") && key.ends_with("::adder(1, 2)"), "{key}");
///
/// #[memoize(MEMO, key = "greetings::greet")]
/// fn greet(name: String) -> String {
///     format!("hello {name}")
/// }
///
/// assert_eq!(greet("ada".to_owned()), "hello ada");
/// assert!(greet::exists("ada").unwrap()); // a `&str` for the `String`
/// assert_eq!(greet::key("ada").unwrap(), r#"greetings::greet("ada")"#);
/// ```
#[proc_macro_attribute]
pub fn memoize(attr: TokenStream, item: TokenStream) -> TokenStream {
    let args = syn::parse_macro_input!(attr as args::Args);
    let item = syn::parse_macro_input!(item as syn::ItemFn);
    expand::expand(&args, &item)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
