//! The functions generated beside the memoized one: its `Site`, the inspection helpers (one per
//! row of [`INSPECTIONS`]), `call_with` and the uncached original.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::{GenericParam, LitStr, parse_quote};

use crate::expand::{Function, Takes};

/// Builds tokens when the helper is generated (`quote!` is not `const`).
type Make<T> = fn() -> T;

/// One inspection helper: it writes the key of the given arguments and calls the `Site` method
/// of the same name, which applies the decorator's options.
struct Inspection {
    name: &'static str,
    /// What it does; `{f}` stands for the function and `{extra}` for the extra parameter.
    doc: &'static str,
    /// Errors beyond the key's and the store's.
    errors: &'static str,
    /// A parameter after the function's arguments: its name (made fresh) and type.
    extra: Option<(&'static str, Make<TokenStream>)>,
    /// A type parameter after the function's lifetimes.
    generic: Option<Make<GenericParam>>,
    returns: Make<TokenStream>,
}

const NOT_FOUND: &str = " `memo::Error::NotFound` when there is no cached value.";

const INSPECTIONS: [Inspection; 7] = [
    Inspection {
        name: "exists",
        doc: "Whether a call of {f} with these arguments would be answered from the cache.",
        errors: "",
        extra: None,
        generic: None,
        returns: || quote!(::memo::Result<bool>),
    },
    Inspection {
        name: "ttl",
        doc: "The time the cached value of {f} for these arguments has left: `None` when there \
              is none or it never expires.",
        errors: "",
        extra: None,
        generic: None,
        returns: || quote!(::memo::Result<::core::option::Option<::std::time::Duration>>),
    },
    Inspection {
        name: "expire",
        doc: "Makes the cached value of {f} for these arguments expire `{extra}` from now.",
        errors: NOT_FOUND,
        extra: Some(("after", || quote!(::std::time::Duration))),
        generic: None,
        returns: || quote!(::memo::Result<()>),
    },
    Inspection {
        name: "expire_at",
        doc: "Makes the cached value of {f} for these arguments expire at `{extra}`.",
        errors: NOT_FOUND,
        extra: Some(("at", || quote!(::std::time::SystemTime))),
        generic: None,
        returns: || quote!(::memo::Result<()>),
    },
    Inspection {
        name: "delete",
        doc: "Removes the cached value of {f} for these arguments; `false` when there was none.",
        errors: "",
        extra: None,
        generic: None,
        returns: || quote!(::memo::Result<bool>),
    },
    Inspection {
        name: "etag",
        doc: "The etag that the cached value of {f} for these arguments was computed under; \
              `None` when there is no cached value or it has no etag.",
        errors: " `memo::Error::Codec` when the etag is not an `Etag`.",
        extra: None,
        generic: Some(|| parse_quote!(Etag: ::memo::__private::DeserializeOwned)),
        returns: || quote!(::memo::Result<::core::option::Option<Etag>>),
    },
    Inspection {
        name: "key",
        doc: "The key under which the store keeps {f}'s value for these arguments, namespace \
              included.",
        errors: "",
        extra: None,
        generic: None,
        returns: || quote!(::memo::Result<::std::string::String>),
    },
];

const KEY_ARGS: &str = "\n\nTakes the function's arguments, or borrowed forms that key the same \
                        (`&str` for a `String`, `&[T]` for a `Vec<T>`, `&T` for a `T`; see \
                        `memo::arg`).";

const OWNED_ARGS: &str = "\n\nAn argument the function takes by value may be given borrowed \
                          (`&str` for a `String`, `&[T]` for a `Vec<T>`, `&T` for a `T`), and \
                          is then cloned.";

impl Function<'_> {
    /// Every generated function but the memoized one.
    pub(crate) fn helpers(&self) -> TokenStream {
        let site = self.site_fn();
        let inspections = INSPECTIONS.iter().map(|row| self.inspection(row));
        let call_with = self.call_with();
        let uncached = self.uncached();
        quote!(#site #(#inspections)* #call_with #uncached)
    }

    /// The function's `Site`, a `static` holding its name and its options, built on first use.
    fn site_fn(&self) -> TokenStream {
        let name = self.site_fn_name();
        let strict = self.args.strict.is_some();
        let setters = &self.args.setters;
        let log_name = LitStr::new(&self.plain_name, self.item.sig.ident.span());
        quote! {
            #[doc(hidden)]
            fn #name() -> &'static ::memo::__private::Site {
                static SITE: ::memo::__private::Site = ::memo::__private::Site::new(
                    ::core::concat!(::core::module_path!(), "::", #log_name),
                    #strict,
                    || ::memo::Options::new() #(#setters)* .strict(#strict),
                );
                &SITE
            }
        }
    }

    fn inspection(&self, row: &Inspection) -> TokenStream {
        let name = self.helper_name(row.name);
        // An async function's helpers that reach the store are async too, so that they never
        // block a runtime thread; `key` reaches nothing.
        let is_async = self.is_async() && row.name != "key";
        let (method, asyncness, awaited) = if is_async {
            let method = format_ident!("{}_async", row.name);
            (method, quote!(async), quote!(.await))
        } else {
            (format_ident!("{}", row.name), quote!(), quote!())
        };
        let vis = &self.item.vis;
        let companion = &self.companion;
        let mut generics = self.item.sig.generics.clone();
        if let Some(generic) = row.generic {
            generics.params.push(generic());
        }
        let where_clause = &generics.where_clause;
        let (extra_param, extra_arg, extra_name) = match row.extra {
            Some((base, ty)) => {
                let (extra, ty) = (self.fresh(base), ty());
                let shown = extra.to_string();
                (quote!(#extra: #ty), quote!(, #extra), shown)
            }
            None => (quote!(), quote!(), String::new()),
        };
        let doc = format!(
            "{}{KEY_ARGS}\n\n# Errors\nThe store's errors, and `memo::Error::Codec` when an \
             argument cannot be written into the key.{}",
            row.doc
                .replace("{f}", &self.shown())
                .replace("{extra}", &extra_name),
            row.errors,
        );
        let receiver = self.receiver();
        let typed = self.typed_params(Takes::Key);
        let returns = (row.returns)();
        let memo_let = self.memo_let();
        let ignore_skipped = self.ignore_skipped();
        let key = self.key_string();
        let site = self.site();
        quote! {
            #[doc = #doc]
            #(#companion)*
            #[allow(dead_code, clippy::needless_pass_by_value, clippy::too_many_arguments)]
            #vis #asyncness fn #name #generics (#receiver #(#typed,)* #extra_param) -> #returns
                #where_clause
            {
                #memo_let
                #ignore_skipped
                #site.#method(__memo, #key #extra_arg)#awaited
            }
        }
    }

    /// The memoized call with per-call options over the decorator's.
    fn call_with(&self) -> TokenStream {
        let name = self.helper_name("call_with");
        let options = self.fresh("options");
        let doc = format!(
            "Calls {} through the cache with `{options}` over the decorator's options (as \
             `Memoizer::get_with`).{OWNED_ARGS}",
            self.shown()
        );
        let (vis, sig, companion) = (&self.item.vis, &self.item.sig, &self.companion);
        let (generics, output, asyncness) = (&sig.generics, &sig.output, &sig.asyncness);
        let where_clause = &generics.where_clause;
        let receiver = self.receiver();
        let typed = self.typed_params(Takes::KeyInto);
        let memo_let = self.memo_let();
        let key = self.call_key(Takes::KeyInto);
        let serve = self.serve(&quote!(::core::option::Option::Some(#options)));
        quote! {
            #[doc = #doc]
            #(#companion)*
            #[allow(dead_code, clippy::needless_pass_by_value, clippy::too_many_arguments)]
            #vis #asyncness fn #name #generics (#receiver #options: &::memo::Options, #(#typed,)*)
                #output
                #where_clause
            {
                #memo_let
                let __memo_key = #key;
                #serve
            }
        }
    }

    /// The original function, body untouched. Arguments it takes by value come in through
    /// `IntoArg` and are bound to their original patterns before the body runs.
    fn uncached(&self) -> TokenStream {
        let name = self.helper_name("uncached");
        let doc = format!("{} itself, without the cache.{OWNED_ARGS}", self.shown());
        let (vis, sig, companion) = (&self.item.vis, &self.item.sig, &self.companion);
        let (generics, output, asyncness) = (&sig.generics, &sig.output, &sig.asyncness);
        let where_clause = &generics.where_clause;
        let receiver = sig.receiver().map(|r| quote!(#r,));
        let mut inputs = Vec::new();
        let mut binds = Vec::new();
        for p in &self.params {
            let (Some(ty), Some(pat)) = (&p.ty, &p.pat) else {
                continue;
            };
            let name = &p.name;
            if p.owned_ty().is_some() {
                inputs.push(quote!(#name: impl ::memo::arg::IntoArg<#ty>));
                binds.push(quote!(let #pat: #ty = ::memo::arg::IntoArg::<#ty>::into_arg(#name);));
            } else {
                inputs.push(quote!(#pat: #ty));
            }
        }
        let block = &self.item.block;
        let body = if binds.is_empty() {
            quote!(#block)
        } else {
            quote!({ #(#binds)* #block })
        };
        quote! {
            #[doc = #doc]
            #(#companion)*
            #[allow(dead_code, clippy::too_many_arguments)]
            #vis #asyncness fn #name #generics (#receiver #(#inputs),*) #output #where_clause #body
        }
    }
}
