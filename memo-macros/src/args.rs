//! The attribute's arguments: the Memoizer expression, then options.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, Ident, Lit, LitBool, LitStr, Token};

/// Every option the attribute accepts, for the "unknown option" message.
const KNOWN: &str = "max_age, no_max_age, expiry, no_expiry, etag, etagger, no_etag, namespace, \
                     no_namespace, region, store, lock, no_lock, timeout, strict, key, skip, \
                     cache_none, associated";

/// The parsed attribute.
pub(crate) struct Args {
    /// An expression yielding something that dereferences to a `Memoizer`.
    pub(crate) memo: Expr,
    /// `Options` setter calls, in the order given.
    pub(crate) setters: Vec<TokenStream>,
    /// `strict` or `strict = true`: memo's errors go to the caller through `From`.
    pub(crate) strict: Option<Span>,
    /// Replaces `module_path::name` in the key.
    pub(crate) key: Option<LitStr>,
    /// Arguments left out of the key (`self` included).
    pub(crate) skip: Vec<Ident>,
    /// `cache_none = false`: a `None` is returned, not stored.
    pub(crate) cache_none: Option<(bool, Span)>,
    /// The function is an associated function of an `impl` block.
    pub(crate) associated: bool,
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.is_empty() {
            return Err(input.error(
                "#[memoize] needs the Memoizer first: #[memoize(MEMO)] or #[memoize(MEMO, options...)]",
            ));
        }
        let memo: Expr = input.parse()?;
        if let Expr::Assign(assign) = &memo {
            return Err(syn::Error::new(
                assign.span(),
                "the first argument of #[memoize] is the Memoizer, then the options: \
                 #[memoize(MEMO, max_age = 60)]",
            ));
        }
        let mut args = Args {
            memo,
            setters: Vec::new(),
            strict: None,
            key: None,
            skip: Vec::new(),
            cache_none: None,
            associated: false,
        };
        let mut seen: Vec<(String, Span)> = Vec::new();
        while !input.is_empty() {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            let name: Ident = input.call(syn::ext::IdentExt::parse_any)?;
            let field = field_of(&name.to_string());
            if let Some((_, first)) = seen.iter().find(|(f, _)| *f == field) {
                let mut error = syn::Error::new(
                    name.span(),
                    format!("`{name}` repeats or contradicts an earlier option"),
                );
                error.combine(syn::Error::new(*first, "the earlier option is here"));
                return Err(error);
            }
            seen.push((field, name.span()));
            args.option(&name, input)?;
        }
        Ok(args)
    }
}

/// The `Options` field an attribute option sets, so that `etag` and `no_etag` conflict.
fn field_of(name: &str) -> String {
    match name.strip_prefix("no_").unwrap_or(name) {
        "etagger" => "etag".to_owned(),
        other => other.to_owned(),
    }
}

impl Args {
    fn option(&mut self, name: &Ident, input: ParseStream<'_>) -> syn::Result<()> {
        let span = name.span();
        let setter = match name.to_string().as_str() {
            "max_age" => {
                let value = value(input)?;
                match &value {
                    Expr::Closure(_) => quote_spanned!(value.span()=> .max_age_fn(#value)),
                    _ => {
                        let duration = duration(&value)?;
                        quote_spanned!(value.span()=> .max_age(#duration))
                    }
                }
            }
            "expiry" => {
                let value = value(input)?;
                match &value {
                    Expr::Closure(_) => quote_spanned!(value.span()=> .expiry_fn(#value)),
                    _ => quote_spanned!(value.span()=> .expiry(#value)),
                }
            }
            "etag" => {
                let value = value(input)?;
                quote_spanned!(value.span()=> .etag(&(#value)))
            }
            "etagger" => {
                let value = value(input)?;
                quote_spanned!(value.span()=> .etagger(#value))
            }
            "namespace" => {
                let value = value(input)?;
                quote_spanned!(value.span()=> .namespace(#value))
            }
            "region" => {
                let value = value(input)?;
                quote_spanned!(value.span()=> .region(#value))
            }
            "store" => {
                let value = value(input)?;
                quote_spanned!(value.span()=> .store(#value))
            }
            "lock" => {
                let value = value(input)?;
                quote_spanned!(value.span()=> .lock(#value))
            }
            "timeout" => {
                let value = value(input)?;
                let duration = duration(&value)?;
                quote_spanned!(value.span()=> .timeout(#duration))
            }
            "no_max_age" | "no_expiry" | "no_etag" | "no_namespace" | "no_lock" => {
                quote_spanned!(span=> .#name())
            }
            "strict" => {
                let on = if input.peek(Token![=]) {
                    input.parse::<Token![=]>()?;
                    input.parse::<LitBool>()?.value
                } else {
                    true
                };
                if on {
                    self.strict = Some(span);
                }
                return Ok(());
            }
            "key" => {
                input.parse::<Token![=]>()?;
                self.key = Some(input.parse::<LitStr>().map_err(|e| {
                    syn::Error::new(e.span(), "`key` takes a string literal: key = \"name\"")
                })?);
                return Ok(());
            }
            "skip" => {
                let content;
                syn::parenthesized!(content in input);
                let names: Punctuated<Ident, Token![,]> =
                    content.parse_terminated(syn::ext::IdentExt::parse_any, Token![,])?;
                self.skip.extend(names);
                return Ok(());
            }
            "cache_none" => {
                input.parse::<Token![=]>()?;
                let flag = input.parse::<LitBool>()?;
                self.cache_none = Some((flag.value, span));
                return Ok(());
            }
            "associated" => {
                self.associated = true;
                return Ok(());
            }
            other => {
                return Err(syn::Error::new(
                    span,
                    format!("unknown #[memoize] option `{other}`; the options are: {KNOWN}"),
                ));
            }
        };
        self.setters.push(setter);
        Ok(())
    }
}

fn value(input: ParseStream<'_>) -> syn::Result<Expr> {
    input.parse::<Token![=]>()?;
    input.parse()
}

/// Whole seconds or fractional seconds as a `Duration`; any other expression is taken to be one.
fn duration(value: &Expr) -> syn::Result<TokenStream> {
    let span = value.span();
    if let Expr::Lit(lit) = value {
        return match &lit.lit {
            Lit::Int(int) => {
                let secs: u64 = int.base10_parse()?;
                Ok(quote_spanned!(span=> ::std::time::Duration::from_secs(#secs)))
            }
            Lit::Float(float) => {
                let secs: f64 = float.base10_parse()?;
                if !secs.is_finite() || secs < 0.0 {
                    return Err(syn::Error::new(
                        span,
                        "a duration is finite and not negative",
                    ));
                }
                Ok(quote_spanned!(span=> ::std::time::Duration::from_secs_f64(#secs)))
            }
            _ => Err(syn::Error::new(
                span,
                "a duration is a number of seconds (60, 0.5) or a `std::time::Duration`",
            )),
        };
    }
    Ok(quote!(#value))
}
