#![doc = include_str!("../README.md")]

mod args;
mod expand;

use proc_macro::TokenStream;

/// Memoizes a function through a `memo::Memoizer`.
///
/// `#[memoize(MEMO, options...)]`: `MEMO` is any expression that dereferences to a `Memoizer`
/// (a `static` `LazyLock<Memoizer>`, `self.memo`, a call). The attribute keeps the function's
/// signature and generates helpers for given arguments. The full guide, with the options, the
/// key format and the generated names, is the `memo` crate's documentation.
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
/// ```
#[proc_macro_attribute]
pub fn memoize(attr: TokenStream, item: TokenStream) -> TokenStream {
    let args = syn::parse_macro_input!(attr as args::Args);
    let item = syn::parse_macro_input!(item as syn::ItemFn);
    expand::expand(&args, &item)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
