//! Turns a function into its memoized form, its uncached original and its helpers.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{
    Attribute, FnArg, GenericArgument, GenericParam, Ident, ItemFn, LitStr, Meta, Pat,
    PathArguments, Receiver, ReturnType, Type,
};

use crate::args::Args;

/// One parameter of the function, as the generated functions see it.
struct Param {
    /// `self`, the argument's own name, or a generated one for a pattern.
    name: Ident,
    /// `None` for the receiver.
    ty: Option<Type>,
    keyed: bool,
    /// How many references lead to the value; the key takes the value itself, so that a
    /// non-serializable argument is named as written, not as a reference.
    refs: usize,
    /// A `HashSet`, keyed through `Unordered`.
    unordered: bool,
    span: Span,
}

/// What the function returns, which decides what is cached.
enum Returns {
    Value,
    /// `Result`-like: only `Ok` is cached.
    Result,
    /// `Option` with `cache_none = false`: `None` is not cached.
    SomeOnly,
}

/// Where the generated helpers live: beside a free function in a same-named struct's `impl`
/// (`adder::exists(..)`), or beside a method in its `impl` block (`self.area_exists()`).
enum Mode {
    Free,
    Method,
}

pub(crate) fn expand(args: &Args, item: &ItemFn) -> syn::Result<TokenStream> {
    let sig = &item.sig;
    reject_unsupported(sig)?;
    let mode = if args.associated || sig.receiver().is_some() || mentions_self(sig) {
        Mode::Method
    } else {
        Mode::Free
    };
    let params = params(args, sig)?;
    let returns = returns(args, &sig.output)?;

    let fn_name = &sig.ident;
    let plain_name = fn_name.unraw().to_string();
    let vis = &item.vis;
    let generics = &sig.generics;
    let where_clause = &generics.where_clause;
    let output = &sig.output;
    let ret_span = match output {
        ReturnType::Type(_, ty) => ty.span(),
        ReturnType::Default => fn_name.span(),
    };
    let companion = companion_attrs(&item.attrs);

    let (site, uncached) = match mode {
        Mode::Free => (quote!(#fn_name::__site()), quote!(#fn_name::uncached)),
        Mode::Method => {
            let site = format_ident!("__memo_{}_site", plain_name);
            let uncached = format_ident!("{}_uncached", plain_name);
            (quote!(Self::#site()), quote!(Self::#uncached))
        }
    };
    let helper_name = |suffix: &str| match mode {
        Mode::Free => format_ident!("{}", suffix),
        Mode::Method => format_ident!("{}_{}", plain_name, suffix),
    };

    let memo = &args.memo;
    let memo_let = quote_spanned! {memo.span()=>
        let __memo: &::memo::Memoizer = &(#memo);
    };
    let key = key_parts(args, &mode, &plain_name, &params);
    let key_expr = key.string();
    let (key_name, key_args) = (&key.name, &key.args);
    let unused_skipped = params.iter().filter(|p| !p.keyed).map(|p| {
        let name = &p.name;
        quote!(let _ = &#name;)
    });
    let unused_skipped = quote!(#(#unused_skipped)*);

    // The parameters of the generated functions: the receiver without `mut`, the rest by name.
    let receiver = sig.receiver().map(|r| {
        let mut r: Receiver = r.clone();
        if r.reference.is_none() {
            r.mutability = None;
        }
        quote!(#r,)
    });
    let typed: Vec<TokenStream> = params
        .iter()
        .filter_map(|p| {
            let name = &p.name;
            p.ty.as_ref().map(|ty| quote!(#name: #ty))
        })
        .collect();
    let forward: Vec<TokenStream> = params.iter().map(|p| p.name.to_token_stream()).collect();

    let taken: Vec<String> = params.iter().map(|p| p.name.to_string()).collect();
    let fresh = |base: &str| {
        if taken.iter().any(|t| t == base) {
            format_ident!("memo_{}", base)
        } else {
            format_ident!("{}", base)
        }
    };
    let after = fresh("after");
    let at = fresh("at");
    let options = fresh("options");

    let strict = args.strict.is_some();
    let setters = &args.setters;
    let log_name = LitStr::new(&plain_name, fn_name.span());
    let site_fn_name = match mode {
        Mode::Free => format_ident!("__site"),
        Mode::Method => format_ident!("__memo_{}_site", plain_name),
    };
    let site_fn = quote! {
        #[doc(hidden)]
        fn #site_fn_name() -> &'static ::memo::__private::Site {
            static SITE: ::memo::__private::Site = ::memo::__private::Site::new(
                ::core::concat!(::core::module_path!(), "::", #log_name),
                #strict,
                || ::memo::Options::new() #(#setters)* .strict(#strict),
            );
            &SITE
        }
    };

    let call = |call_options: TokenStream| {
        let method = |name: &str| Ident::new(name, ret_span);
        let f = quote!(move || #uncached(#(#forward),*));
        match (&returns, args.strict) {
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
        }
    };
    let main_call = call(quote!(::core::option::Option::None));
    let with_call = call(quote!(::core::option::Option::Some(#options)));

    let shown = match mode {
        Mode::Free => format!("`{plain_name}`"),
        Mode::Method => format!("`Self::{plain_name}`"),
    };
    let doc = |text: String| quote!(#[doc = #text]);
    let errors = "\n\n# Errors\nThe store's errors, and `memo::Error::Codec` when an argument \
                  cannot be written into the key.";
    let helpers_allow = quote! {
        #[allow(dead_code, clippy::needless_pass_by_value, clippy::too_many_arguments)]
    };

    let inspect = |suffix: &str, text: String, extra: Option<(&Ident, TokenStream)>, ret| {
        let name = helper_name(suffix);
        let method = format_ident!("{}", suffix);
        let doc = doc(text);
        let (extra_param, extra_arg) = match extra {
            Some((name, ty)) => (quote!(#name: #ty), quote!(, #name)),
            None => (quote!(), quote!()),
        };
        quote! {
            #doc
            #(#companion)*
            #helpers_allow
            #vis fn #name #generics (#receiver #(#typed,)* #extra_param) -> #ret #where_clause {
                #memo_let
                #unused_skipped
                let __memo_key = #key_expr;
                #site.#method(__memo, __memo_key #extra_arg)
            }
        }
    };

    let exists = inspect(
        "exists",
        format!(
            "Whether a call of {shown} with these arguments would be answered from the cache.{errors}"
        ),
        None,
        quote!(::memo::Result<bool>),
    );
    let ttl = inspect(
        "ttl",
        format!(
            "The time the cached value of {shown} for these arguments has left: `None` when there \
             is none or it never expires.{errors}"
        ),
        None,
        quote!(::memo::Result<::core::option::Option<::std::time::Duration>>),
    );
    let expire = inspect(
        "expire",
        format!(
            "Makes the cached value of {shown} for these arguments expire `{after}` from now.\
             {errors} `memo::Error::NotFound` when there is no cached value."
        ),
        Some((&after, quote!(::std::time::Duration))),
        quote!(::memo::Result<()>),
    );
    let expire_at = inspect(
        "expire_at",
        format!(
            "Makes the cached value of {shown} for these arguments expire at `{at}`.{errors} \
             `memo::Error::NotFound` when there is no cached value."
        ),
        Some((&at, quote!(::std::time::SystemTime))),
        quote!(::memo::Result<()>),
    );
    let delete = inspect(
        "delete",
        format!(
            "Removes the cached value of {shown} for these arguments; `false` when there was \
             none.{errors}"
        ),
        None,
        quote!(::memo::Result<bool>),
    );
    let key = inspect(
        "key",
        format!(
            "The key under which the store keeps {shown}'s value for these arguments, namespace \
             included.{errors}"
        ),
        None,
        quote!(::memo::Result<::std::string::String>),
    );
    let etag = {
        let name = helper_name("etag");
        let doc = doc(format!(
            "The etag that the cached value of {shown} for these arguments was computed under; \
             `None` when there is no cached value or it has no etag.{errors} \
             `memo::Error::Codec` when the etag is not an `Etag`."
        ));
        let mut etag_generics = generics.clone();
        etag_generics.params.push(syn::parse_quote!(
            Etag: ::memo::__private::DeserializeOwned
        ));
        let (etag_params, _, _) = etag_generics.split_for_impl();
        quote! {
            #doc
            #(#companion)*
            #helpers_allow
            #vis fn #name #etag_params (#receiver #(#typed,)*)
                -> ::memo::Result<::core::option::Option<Etag>> #where_clause
            {
                #memo_let
                #unused_skipped
                let __memo_key = #key_expr;
                #site.etag::<Etag>(__memo, __memo_key)
            }
        }
    };
    let call_with = {
        let name = helper_name("call_with");
        let doc = doc(format!(
            "Calls {shown} through the cache with `{options}` over the decorator's options (as \
             `Memoizer::get_with`)."
        ));
        quote! {
            #doc
            #(#companion)*
            #helpers_allow
            #vis fn #name #generics (#receiver #options: &::memo::Options, #(#typed,)*) #output
                #where_clause
            {
                #memo_let
                let __memo_key = ::memo::__private::CallKey::new(#key_name, #key_args);
                #with_call
            }
        }
    };
    let uncached_fn = {
        let name = helper_name("uncached");
        let doc = doc(format!("{shown} itself, without the cache."));
        let inputs = &sig.inputs;
        let block = &item.block;
        quote! {
            #doc
            #(#companion)*
            #[allow(dead_code, clippy::too_many_arguments)]
            #vis fn #name #generics (#inputs) #output #where_clause #block
        }
    };
    let attrs = &item.attrs;
    let main = quote! {
        #(#attrs)*
        #vis fn #fn_name #generics (#receiver #(#typed),*) #output #where_clause {
            #memo_let
            let __memo_key = ::memo::__private::CallKey::new(#key_name, #key_args);
            #main_call
        }
    };
    let helpers = quote! {
        #site_fn #exists #ttl #expire #expire_at #delete #etag #key #call_with #uncached_fn
    };

    Ok(match mode {
        Mode::Method => quote!(#helpers #main),
        Mode::Free => {
            let struct_doc = doc(format!(
                "Cache helpers of the memoized function `{plain_name}`: `{plain_name}::exists`, \
                 `ttl`, `expire`, `expire_at`, `delete`, `etag`, `key`, `call_with` and \
                 `uncached`, each taking the function's arguments."
            ));
            let name_span = fn_name.span();
            let strukt = quote_spanned! {name_span=>
                #struct_doc
                #(#companion)*
                #[allow(non_camel_case_types, dead_code)]
                #vis struct #fn_name {}
            };
            quote! {
                #strukt
                #(#companion)*
                impl #fn_name { #helpers }
                #main
            }
        }
    })
}

fn reject_unsupported(sig: &syn::Signature) -> syn::Result<()> {
    if let Some(token) = &sig.asyncness {
        return Err(syn::Error::new(
            token.span(),
            "#[memoize] does not support async fn yet: the Memoizer is synchronous",
        ));
    }
    if let Some(token) = &sig.constness {
        return Err(syn::Error::new(
            token.span(),
            "#[memoize] cannot memoize a const fn: caching happens at run time",
        ));
    }
    if let Some(token) = &sig.unsafety {
        return Err(syn::Error::new(
            token.span(),
            "#[memoize] does not support unsafe fn",
        ));
    }
    if let Some(abi) = &sig.abi {
        return Err(syn::Error::new(
            abi.span(),
            "#[memoize] does not support extern fn",
        ));
    }
    if let Some(variadic) = &sig.variadic {
        return Err(syn::Error::new(
            variadic.span(),
            "#[memoize] does not support variadic functions",
        ));
    }
    for param in &sig.generics.params {
        if !matches!(param, GenericParam::Lifetime(_)) {
            return Err(syn::Error::new(
                param.span(),
                "#[memoize] does not support generic functions: the instantiations would share \
                 keys (lifetime parameters are fine)",
            ));
        }
    }
    Ok(())
}

/// Whether the signature names `Self`, which only a function in an `impl` block can.
fn mentions_self(sig: &syn::Signature) -> bool {
    fn walk(tokens: TokenStream) -> bool {
        tokens.into_iter().any(|t| match t {
            TokenTree::Ident(i) => i == "Self",
            TokenTree::Group(g) => walk(g.stream()),
            _ => false,
        })
    }
    walk(sig.inputs.to_token_stream())
        || walk(sig.output.to_token_stream())
        || walk(sig.generics.where_clause.to_token_stream())
}

fn params(args: &Args, sig: &syn::Signature) -> syn::Result<Vec<Param>> {
    let skipped = |name: &str| args.skip.iter().any(|s| s == name);
    let mut params = Vec::with_capacity(sig.inputs.len());
    for (i, input) in sig.inputs.iter().enumerate() {
        params.push(match input {
            FnArg::Receiver(receiver) => Param {
                name: Ident::new("self", receiver.self_token.span),
                ty: None,
                keyed: !skipped("self"),
                refs: usize::from(receiver.reference.is_some()),
                unordered: false,
                span: receiver.self_token.span,
            },
            FnArg::Typed(typed) => {
                if let Some(span) = find_impl(&typed.ty) {
                    return Err(syn::Error::new(
                        span,
                        "#[memoize] does not support `impl Trait` arguments: name the type",
                    ));
                }
                let name = match &*typed.pat {
                    Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => p.ident.clone(),
                    _ => format_ident!("__arg{}", i),
                };
                Param {
                    keyed: !skipped(&name.to_string()),
                    refs: references(&typed.ty),
                    unordered: is_hash_set(&typed.ty),
                    span: referent(&typed.ty).span(),
                    ty: Some((*typed.ty).clone()),
                    name,
                }
            }
        });
    }
    for skip in &args.skip {
        if !params.iter().any(|p| p.name == *skip) {
            return Err(syn::Error::new(
                skip.span(),
                format!("`skip` names `{skip}`, which is not an argument of this function"),
            ));
        }
    }
    Ok(params)
}

/// The span of an `impl Trait` inside `ty`, if any.
fn find_impl(ty: &Type) -> Option<Span> {
    fn walk(tokens: TokenStream) -> Option<Span> {
        tokens.into_iter().find_map(|t| match t {
            TokenTree::Ident(i) if i == "impl" => Some(i.span()),
            TokenTree::Group(g) => walk(g.stream()),
            _ => None,
        })
    }
    walk(ty.to_token_stream())
}

/// The type behind any references, parentheses and invisible groups.
fn referent(ty: &Type) -> &Type {
    match ty {
        Type::Reference(r) => referent(&r.elem),
        Type::Paren(p) => referent(&p.elem),
        Type::Group(g) => referent(&g.elem),
        other => other,
    }
}

fn references(ty: &Type) -> usize {
    match ty {
        Type::Reference(r) => 1 + references(&r.elem),
        Type::Paren(p) => references(&p.elem),
        Type::Group(g) => references(&g.elem),
        _ => 0,
    }
}

/// Whether the type is written `HashSet<..>`, whose iteration order is random.
fn is_hash_set(ty: &Type) -> bool {
    match referent(ty) {
        Type::Path(p) if p.qself.is_none() => {
            p.path.segments.last().is_some_and(|s| s.ident == "HashSet")
        }
        _ => false,
    }
}

fn returns(args: &Args, output: &ReturnType) -> syn::Result<Returns> {
    let last = match output {
        ReturnType::Type(_, ty) => match &**ty {
            Type::Path(p) if p.qself.is_none() => p.path.segments.last(),
            _ => None,
        },
        ReturnType::Default => None,
    };
    let named = |name: &str| last.is_some_and(|s| s.ident == name);
    let is_option = named("Option")
        && last.is_some_and(|s| match &s.arguments {
            PathArguments::AngleBracketed(a) => {
                a.args.len() == 1 && matches!(a.args[0], GenericArgument::Type(_))
            }
            _ => false,
        });
    if let Some(strict) = args.strict
        && !named("Result")
    {
        return Err(syn::Error::new(
            strict,
            "`strict` returns memo's errors through the function's error type: it needs a \
             function returning Result<T, E> where E: From<memo::Error>",
        ));
    }
    if let Some((cache_none, span)) = args.cache_none {
        if !is_option {
            return Err(syn::Error::new(
                span,
                "`cache_none` applies to functions returning Option<T>",
            ));
        }
        if !cache_none {
            return Ok(Returns::SomeOnly);
        }
    }
    Ok(if named("Result") {
        Returns::Result
    } else {
        Returns::Value
    })
}

/// The key of a call in two parts: its name as string slices (`&[&str]`), and a closure that
/// writes the keyed arguments.
struct KeyParts {
    name: TokenStream,
    args: TokenStream,
}

impl KeyParts {
    /// The key as a `memo::Result<String>`, for the helpers.
    fn string(&self) -> TokenStream {
        let KeyParts { name, args } = self;
        quote!(::memo::__private::key(#name, #args))
    }
}

fn key_parts(args: &Args, mode: &Mode, plain_name: &str, params: &[Param]) -> KeyParts {
    let name = match (&args.key, mode) {
        (Some(key), _) => quote!(&[#key]),
        (None, Mode::Free) => quote! {
            &[::core::concat!(::core::module_path!(), "::", #plain_name)]
        },
        (None, Mode::Method) => quote! {
            &[::core::any::type_name::<Self>(), ::core::concat!("::", #plain_name)]
        },
    };
    let pushes = params.iter().filter(|p| p.keyed).map(|p| {
        // At the argument's type, so that a type error there reads as "this argument".
        let mut name = p.name.clone();
        name.set_span(p.span);
        let stars = (0..p.refs).map(|_| quote_spanned!(p.span=> *));
        let value = quote_spanned!(p.span=> &#(#stars)* #name);
        let value = if p.unordered {
            quote_spanned!(p.span=> &::memo::key::Unordered(#value))
        } else {
            value
        };
        quote_spanned! {p.span=>
            ::memo::__private::key_arg(__memo_builder, #value)?;
        }
    });
    KeyParts {
        name,
        args: quote! {
            |__memo_builder| {
                #(#pushes)*
                ::core::result::Result::Ok(())
            }
        },
    }
}

/// The attributes that the generated companions of the function share with it: `cfg`s, so they
/// exist together, and lint levels, so the original body lints the same (`expect` becomes
/// `allow`, as a copy need not trigger the lint).
fn companion_attrs(attrs: &[Attribute]) -> Vec<TokenStream> {
    attrs
        .iter()
        .filter_map(|attr| {
            let path = attr.path();
            if path.is_ident("cfg") || path.is_ident("allow") {
                Some(attr.to_token_stream())
            } else if path.is_ident("expect") {
                match &attr.meta {
                    Meta::List(list) => {
                        let tokens = &list.tokens;
                        Some(quote!(#[allow(#tokens)]))
                    }
                    _ => None,
                }
            } else {
                None
            }
        })
        .collect()
}
