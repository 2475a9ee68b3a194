//! Turns a function into its memoized form, its uncached original and its helpers.
//!
//! [`expand`] reads the function ([`Function::new`]), generates its helpers (`helpers.rs`), then
//! the memoized function itself ([`Function::call_site`]), and places them ([`Function::place`]).

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Ident, ItemFn, Receiver, ReturnType};

use crate::args::Args;
use crate::sig::{self, Mode, Param, Returns};

pub(crate) fn expand(args: &Args, item: &ItemFn) -> syn::Result<TokenStream> {
    let function = Function::new(args, item)?;
    let helpers = function.helpers();
    let call_site = function.call_site();
    Ok(function.place(&helpers, &call_site))
}

/// The decorated function, read once; every generated item is built from it.
pub(crate) struct Function<'a> {
    pub(crate) args: &'a Args,
    pub(crate) item: &'a ItemFn,
    pub(crate) mode: Mode,
    pub(crate) params: Vec<Param>,
    pub(crate) returns: Returns,
    /// The name without `r#`: in keys, helper names and docs.
    pub(crate) plain_name: String,
    /// The function's attributes that its generated companions carry too.
    pub(crate) companion: Vec<TokenStream>,
}

/// How a generated function takes an argument that the function takes by value (arguments taken
/// by reference keep their type everywhere, so that deref coercion still applies).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Takes {
    /// As the function does: the memoized function itself.
    Owned,
    /// Anything that keys like it (`&str` for `String`): the inspection helpers.
    Key,
    /// Anything that keys like it and converts into it: `call_with`, which may run the function.
    KeyInto,
}

impl<'a> Function<'a> {
    fn new(args: &'a Args, item: &'a ItemFn) -> syn::Result<Self> {
        let sig = &item.sig;
        sig::reject_unsupported(sig)?;
        Ok(Function {
            args,
            item,
            mode: Mode::of(args, sig),
            params: sig::params(args, sig)?,
            returns: sig::returns(args, &sig.output)?,
            plain_name: sig.ident.unraw().to_string(),
            companion: sig::companion_attrs(&item.attrs),
        })
    }

    /// A generated function's name: `suffix` in a free function's struct, `<method>_<suffix>`
    /// beside a method.
    pub(crate) fn helper_name(&self, suffix: &str) -> Ident {
        match self.mode {
            Mode::Free => format_ident!("{}", suffix),
            Mode::Method => format_ident!("{}_{}", self.plain_name, suffix),
        }
    }

    /// The function as the generated docs name it.
    pub(crate) fn shown(&self) -> String {
        match self.mode {
            Mode::Free => format!("`{}`", self.plain_name),
            Mode::Method => format!("`Self::{}`", self.plain_name),
        }
    }

    /// Whether the function is an `async fn`: then the memoized function, `call_with`, the
    /// uncached original and the helpers that reach the store are `async` too.
    pub(crate) fn is_async(&self) -> bool {
        self.item.sig.asyncness.is_some()
    }

    /// A name for a generated parameter that no argument of the function already has.
    pub(crate) fn fresh(&self, base: &str) -> Ident {
        if self.params.iter().any(|p| p.name == base) {
            format_ident!("memo_{}", base)
        } else {
            format_ident!("{}", base)
        }
    }

    /// The name of the function returning the `Site` (the options, built once).
    pub(crate) fn site_fn_name(&self) -> Ident {
        match self.mode {
            Mode::Free => format_ident!("__site"),
            Mode::Method => format_ident!("__memo_{}_site", self.plain_name),
        }
    }

    /// An expression for the function's `Site`.
    pub(crate) fn site(&self) -> TokenStream {
        let site_fn = self.site_fn_name();
        match self.mode {
            Mode::Free => {
                let fn_name = &self.item.sig.ident;
                quote!(#fn_name::#site_fn())
            }
            Mode::Method => quote!(Self::#site_fn()),
        }
    }

    /// A call of the uncached original with the generated function's own arguments.
    pub(crate) fn run_uncached(&self) -> TokenStream {
        let uncached = self.helper_name("uncached");
        let forward = self.params.iter().map(|p| &p.name);
        match self.mode {
            Mode::Free => {
                let fn_name = &self.item.sig.ident;
                quote!(#fn_name::#uncached(#(#forward),*))
            }
            Mode::Method => quote!(Self::#uncached(#(#forward),*)),
        }
    }

    /// `let __memo = &MEMO;`, at the Memoizer expression, so that a wrong type is reported there.
    pub(crate) fn memo_let(&self) -> TokenStream {
        let memo = &self.args.memo;
        quote_spanned! {memo.span()=>
            let __memo: &::memo::Memoizer = &(#memo);
        }
    }

    /// The receiver of a generated function, without `mut` (the generated body does not mutate
    /// it), followed by a comma.
    pub(crate) fn receiver(&self) -> Option<TokenStream> {
        self.item.sig.receiver().map(|r| {
            let mut r: Receiver = r.clone();
            if r.reference.is_none() {
                r.mutability = None;
            }
            quote!(#r,)
        })
    }

    /// The typed parameters of a generated function (the receiver aside).
    pub(crate) fn typed_params(&self, takes: Takes) -> Vec<TokenStream> {
        self.params
            .iter()
            .filter_map(|p| {
                let name = &p.name;
                let ty = p.ty.as_ref()?;
                let Some(owned) = p.owned_ty() else {
                    return Some(quote!(#name: #ty));
                };
                // A hash set is keyed sorted, through `Unordered`, which needs the set itself.
                let key_as = if p.unordered {
                    quote!(::core::borrow::Borrow<#owned>)
                } else {
                    quote!(::memo::arg::KeyAs<#owned>)
                };
                let into = quote!(::memo::arg::IntoArg<#owned>);
                Some(match (takes, p.keyed) {
                    (Takes::Owned, _) | (Takes::Key, false) => quote!(#name: #ty),
                    (Takes::Key, true) => quote!(#name: impl #key_as),
                    (Takes::KeyInto, true) => quote!(#name: impl #key_as + #into),
                    (Takes::KeyInto, false) => quote!(#name: impl #into),
                })
            })
            .collect()
    }

    /// `let _ = &arg;` for each argument left out of the key, which a helper does not use.
    pub(crate) fn ignore_skipped(&self) -> TokenStream {
        let names = self.params.iter().filter(|p| !p.keyed).map(|p| &p.name);
        quote!(#(let _ = &#names;)*)
    }

    /// The key's name as string slices: `<module path>::<fn>`, the type's name then
    /// `::<method>`, or the pinned `key = "..."`.
    fn key_name(&self) -> TokenStream {
        let plain_name = &self.plain_name;
        match (&self.args.key, &self.mode) {
            (Some(key), _) => quote!(&[#key]),
            (None, Mode::Free) => quote! {
                &[::core::concat!(::core::module_path!(), "::", #plain_name)]
            },
            (None, Mode::Method) => quote! {
                &[::core::any::type_name::<Self>(), ::core::concat!("::", #plain_name)]
            },
        }
    }

    /// A closure writing the keyed arguments, which the generated function has in the form
    /// `takes` says.
    fn key_args(&self, takes: Takes) -> TokenStream {
        let pushes = self.params.iter().filter(|p| p.keyed).map(|p| {
            // At the argument's type, so that a type error there reads as "this argument".
            let mut name = p.name.clone();
            name.set_span(p.span);
            let value = match p.owned_ty() {
                Some(owned) if takes != Takes::Owned && p.unordered => quote_spanned! {p.span=>
                    ::core::borrow::Borrow::<#owned>::borrow(&#name)
                },
                Some(owned) if takes != Takes::Owned => quote_spanned! {p.span=>
                    ::memo::arg::KeyAs::<#owned>::view(&#name)
                },
                _ => {
                    let stars = (0..p.refs).map(|_| quote_spanned!(p.span=> *));
                    quote_spanned!(p.span=> &#(#stars)* #name)
                }
            };
            let value = if p.unordered {
                quote_spanned!(p.span=> &::memo::key::Unordered(#value))
            } else {
                value
            };
            quote_spanned! {p.span=>
                ::memo::__private::key_arg(__memo_builder, #value)?;
            }
        });
        quote! {
            |__memo_builder| {
                #(#pushes)*
                ::core::result::Result::Ok(())
            }
        }
    }

    /// The call's key in this thread's buffer, for the memoized call.
    pub(crate) fn call_key(&self, takes: Takes) -> TokenStream {
        let (name, args) = (self.key_name(), self.key_args(takes));
        quote!(::memo::__private::CallKey::new(#name, #args))
    }

    /// The call's key as a `memo::Result<String>`, for the inspection helpers.
    pub(crate) fn key_string(&self) -> TokenStream {
        let (name, args) = (self.key_name(), self.key_args(Takes::Key));
        quote!(::memo::__private::key(#name, #args))
    }

    /// The `Site` call that serves a memoized call: which one depends on what the function
    /// returns; `call_options` is an `Option<&Options>` over the decorator's.
    pub(crate) fn serve(&self, call_options: &TokenStream) -> TokenStream {
        let sig = &self.item.sig;
        let ret_span = match &sig.output {
            ReturnType::Type(_, ty) => ty.span(),
            ReturnType::Default => sig.ident.span(),
        };
        let is_async = self.is_async();
        let method = |name: &str| {
            if is_async {
                format_ident!("{}_async", name, span = ret_span)
            } else {
                Ident::new(name, ret_span)
            }
        };
        let site = self.site();
        let run = self.run_uncached();
        let f = quote!(move || #run);
        let served = match (&self.returns, self.args.strict) {
            (Returns::Value, _) => {
                let m = method("call");
                quote!(#site.#m(__memo, __memo_key, #call_options, #f))
            }
            (Returns::SomeOnly, _) => {
                let m = method("call_option");
                quote!(#site.#m(__memo, __memo_key, #call_options, #f))
            }
            (Returns::Result, None) => {
                let m = method("call_result");
                quote!(#site.#m(__memo, __memo_key, #call_options, #f))
            }
            (Returns::Result, Some(strict)) => {
                let m = method("call_result_strict");
                let convert = quote_spanned! {strict=>
                    |__memo_error: ::memo::Error| ::core::convert::From::from(__memo_error)
                };
                quote!(#site.#m(__memo, __memo_key, #call_options, #f, #convert))
            }
        };
        if is_async {
            quote!(#served.await)
        } else {
            served
        }
    }

    /// The memoized function: the original signature and attributes, a body that writes the
    /// key and asks the `Site`.
    fn call_site(&self) -> TokenStream {
        let ItemFn {
            attrs, vis, sig, ..
        } = self.item;
        let (name, generics, output) = (&sig.ident, &sig.generics, &sig.output);
        let asyncness = &sig.asyncness;
        let where_clause = &generics.where_clause;
        let receiver = self.receiver();
        let typed = self.typed_params(Takes::Owned);
        let memo_let = self.memo_let();
        let key = self.call_key(Takes::Owned);
        let serve = self.serve(&quote!(::core::option::Option::None));
        quote! {
            #(#attrs)*
            #vis #asyncness fn #name #generics (#receiver #(#typed),*) #output #where_clause {
                #memo_let
                let __memo_key = #key;
                #serve
            }
        }
    }

    /// Puts the helpers beside the memoized function: a method's in its `impl` block, a free
    /// function's in the `impl` of a same-named struct (a function and a struct do not clash).
    fn place(&self, helpers: &TokenStream, call_site: &TokenStream) -> TokenStream {
        let companion = &self.companion;
        match self.mode {
            Mode::Method => quote!(#helpers #call_site),
            Mode::Free => {
                let fn_name = &self.item.sig.ident;
                let vis = &self.item.vis;
                let plain_name = &self.plain_name;
                let doc = format!(
                    "Cache helpers of the memoized function `{plain_name}`: `{plain_name}::exists`, \
                     `ttl`, `expire`, `expire_at`, `delete`, `etag`, `key`, `call_with` and \
                     `uncached`, each taking the function's arguments or borrowed forms of them."
                );
                let strukt = quote_spanned! {fn_name.span()=>
                    #[doc = #doc]
                    #(#companion)*
                    #[allow(non_camel_case_types, dead_code)]
                    #vis struct #fn_name {}
                };
                quote! {
                    #strukt
                    #(#companion)*
                    impl #fn_name { #helpers }
                    #call_site
                }
            }
        }
    }
}
