//! What the attribute reads from the function's signature: its parameters, what it returns, and
//! the attributes its companions share with it.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{ToTokens, format_ident, quote};
use syn::spanned::Spanned;
use syn::{
    Attribute, FnArg, GenericArgument, GenericParam, Ident, Meta, Pat, PathArguments, ReturnType,
    Type,
};

use crate::args::Args;

/// One parameter of the function, as the generated functions see it.
pub(crate) struct Param {
    /// `self`, the argument's own name, or a generated one for a pattern.
    pub(crate) name: Ident,
    /// `None` for the receiver.
    pub(crate) ty: Option<Type>,
    /// The pattern as written, for the uncached original to bind.
    pub(crate) pat: Option<Pat>,
    pub(crate) keyed: bool,
    /// How many references lead to the value; the key takes the value itself, so that a
    /// non-serializable argument is named as written, not as a reference.
    pub(crate) refs: usize,
    /// A `HashSet`, keyed through `Unordered`.
    pub(crate) unordered: bool,
    pub(crate) span: Span,
}

impl Param {
    /// The type of an argument taken by value, which helpers also accept in borrowed forms.
    /// `None` for references, and for types with an elided lifetime (`Vec<&str>`), which cannot
    /// be named in an `impl Trait` parameter: those keep their type.
    pub(crate) fn owned_ty(&self) -> Option<&Type> {
        self.ty
            .as_ref()
            .filter(|ty| self.refs == 0 && !has_elided_lifetime(ty.to_token_stream()))
    }
}

/// Whether the type's tokens show an elided lifetime: `&` without a lifetime, `'_`, or a `Cow`
/// without its lifetime argument. Errs towards yes (a `&` inside a `fn(&str)` counts), which only
/// means that the argument keeps its type in the helpers.
fn has_elided_lifetime(tokens: TokenStream) -> bool {
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    tokens.iter().enumerate().any(|(i, token)| {
        let next_is_lifetime =
            || matches!(tokens.get(i + 1), Some(TokenTree::Punct(p)) if p.as_char() == '\'');
        match token {
            TokenTree::Punct(p) if p.as_char() == '&' => !next_is_lifetime(),
            TokenTree::Punct(p) if p.as_char() == '\'' => {
                matches!(tokens.get(i + 1), Some(TokenTree::Ident(id)) if id == "_")
            }
            TokenTree::Ident(id) if id == "Cow" => {
                matches!(tokens.get(i + 1), Some(TokenTree::Punct(p)) if p.as_char() == '<')
                    && !matches!(tokens.get(i + 2), Some(TokenTree::Punct(p)) if p.as_char() == '\'')
            }
            TokenTree::Group(group) => has_elided_lifetime(group.stream()),
            _ => false,
        }
    })
}

/// What the function returns, which decides what is cached.
pub(crate) enum Returns {
    Value,
    /// `Result`-like: only `Ok` is cached.
    Result,
    /// `Option` with `cache_none = false`: `None` is not cached.
    SomeOnly,
}

/// Where the generated helpers live: beside a free function in a same-named struct's `impl`
/// (`adder::exists(..)`), or beside a method in its `impl` block (`self.area_exists()`).
pub(crate) enum Mode {
    Free,
    Method,
}

impl Mode {
    pub(crate) fn of(args: &Args, sig: &syn::Signature) -> Self {
        if args.associated || sig.receiver().is_some() || mentions_self(sig) {
            Mode::Method
        } else {
            Mode::Free
        }
    }
}

pub(crate) fn reject_unsupported(sig: &syn::Signature) -> syn::Result<()> {
    if sig.asyncness.is_none()
        && let ReturnType::Type(_, ty) = &sig.output
        && let Type::ImplTrait(_) = &**ty
    {
        return Err(syn::Error::new(
            ty.span(),
            "#[memoize] cannot cache an `impl Trait` return value; for a future, write the \
             function as `async fn` and return its output",
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

pub(crate) fn params(args: &Args, sig: &syn::Signature) -> syn::Result<Vec<Param>> {
    let skipped = |name: &str| args.skip.iter().any(|s| s == name);
    let mut params = Vec::with_capacity(sig.inputs.len());
    for (i, input) in sig.inputs.iter().enumerate() {
        params.push(match input {
            FnArg::Receiver(receiver) => Param {
                name: Ident::new("self", receiver.self_token.span),
                ty: None,
                pat: None,
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
                    pat: Some((*typed.pat).clone()),
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

pub(crate) fn returns(args: &Args, output: &ReturnType) -> syn::Result<Returns> {
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

/// The attributes that the generated companions of the function share with it: `cfg`s, so they
/// exist together, and lint levels, so the original body lints the same (`expect` becomes
/// `allow`, as a copy need not trigger the lint).
pub(crate) fn companion_attrs(attrs: &[Attribute]) -> Vec<TokenStream> {
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

#[cfg(test)]
mod tests {
    use quote::ToTokens;
    use syn::Type;

    use super::has_elided_lifetime;

    fn elided(ty: &str) -> bool {
        let ty: Type = syn::parse_str(ty).unwrap();
        has_elided_lifetime(ty.to_token_stream())
    }

    #[test]
    fn elided_lifetimes_are_found_wherever_they_are_written() {
        for ty in [
            "Vec<&str>",
            "Option<(u8, &[u8])>",
            "Cow<str>",
            "std::borrow::Cow<[u8]>",
            "Cow<'_, str>",
            "HashMap<String, Vec<&&str>>",
        ] {
            assert!(elided(ty), "{ty}");
        }
    }

    #[test]
    fn owned_types_and_named_lifetimes_are_not_elided() {
        for ty in [
            "String",
            "Vec<u8>",
            "Vec<&'a str>",
            "Cow<'static, str>",
            "Option<(u8, &'a [u8])>",
            "HashSet<Cow<'a, str>>",
        ] {
            assert!(!elided(ty), "{ty}");
        }
    }
}
