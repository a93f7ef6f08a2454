//! The attributes a function in a test module may carry, parsed and checked one by one.

use syn::spanned::Spanned;
use syn::{Attribute, Expr, ExprLit, Lit, LitStr, Meta};

/// One of the attributes this macro understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ours {
    /// `#[test]`
    Test,
    /// `#[init]`
    Init,
    /// `#[should_panic]`, with the `expected` text if given.
    ShouldPanic(Option<String>),
    /// `#[ignore]`, with the reason if given.
    Ignore(Option<String>),
    /// `#[timeout(seconds)]`, in milliseconds.
    TimeoutMs(u64),
}

impl Ours {
    /// The attribute's name, as written.
    pub fn name(&self) -> &'static str {
        match self {
            Ours::Test => "test",
            Ours::Init => "init",
            Ours::ShouldPanic(_) => "should_panic",
            Ours::Ignore(_) => "ignore",
            Ours::TimeoutMs(_) => "timeout",
        }
    }
}

/// The names this macro takes for its own: any other attribute is left on the item.
const NAMES: [&str; 5] = ["test", "init", "should_panic", "ignore", "timeout"];

/// Whether `attr` is one of ours (by its one-segment name).
pub fn is_ours(attr: &Attribute) -> bool {
    attr.path()
        .get_ident()
        .is_some_and(|ident| NAMES.iter().any(|name| ident == name))
}

/// Parses one of our attributes; `attr` must be one ([`is_ours`]).
pub fn parse(attr: &Attribute) -> syn::Result<Ours> {
    let name = attr
        .path()
        .get_ident()
        .map(ToString::to_string)
        .unwrap_or_default();
    match name.as_str() {
        "test" => bare(attr, Ours::Test),
        "init" => bare(attr, Ours::Init),
        "should_panic" => should_panic(attr),
        "ignore" => ignore(attr),
        "timeout" => timeout(attr),
        _ => Err(syn::Error::new(
            attr.span(),
            "not an attribute of ucall tests",
        )),
    }
}

/// An attribute without arguments.
fn bare(attr: &Attribute, what: Ours) -> syn::Result<Ours> {
    match &attr.meta {
        Meta::Path(_) => Ok(what),
        _ => Err(syn::Error::new(
            attr.meta.span(),
            format!("`#[{}]` takes no arguments", what.name()),
        )),
    }
}

/// `#[should_panic]`, `#[should_panic(expected = "text")]` or `#[should_panic = "text"]`.
fn should_panic(attr: &Attribute) -> syn::Result<Ours> {
    match &attr.meta {
        Meta::Path(_) => Ok(Ours::ShouldPanic(None)),
        Meta::NameValue(pair) => Ok(Ours::ShouldPanic(Some(string(&pair.value)?))),
        Meta::List(_) => {
            let mut expected = None;
            attr.parse_nested_meta(|meta| {
                if !meta.path.is_ident("expected") {
                    return Err(meta.error("expected `expected = \"text\"`"));
                }
                if expected.is_some() {
                    return Err(meta.error("`expected` is given twice"));
                }
                expected = Some(meta.value()?.parse::<LitStr>()?.value());
                Ok(())
            })?;
            match expected {
                Some(text) => Ok(Ours::ShouldPanic(Some(text))),
                None => Err(syn::Error::new(
                    attr.meta.span(),
                    "expected `#[should_panic(expected = \"text\")]`",
                )),
            }
        }
    }
}

/// `#[ignore]` or `#[ignore = "reason"]`.
fn ignore(attr: &Attribute) -> syn::Result<Ours> {
    match &attr.meta {
        Meta::Path(_) => Ok(Ours::Ignore(None)),
        Meta::NameValue(pair) => Ok(Ours::Ignore(Some(string(&pair.value)?))),
        Meta::List(list) => Err(syn::Error::new(
            list.span(),
            "expected `#[ignore]` or `#[ignore = \"reason\"]`",
        )),
    }
}

/// `#[timeout(seconds)]`: whole or fractional seconds, more than 0, in milliseconds.
fn timeout(attr: &Attribute) -> syn::Result<Ours> {
    let Meta::List(_) = &attr.meta else {
        return Err(syn::Error::new(
            attr.meta.span(),
            "expected `#[timeout(seconds)]`",
        ));
    };
    let lit: Lit = attr.parse_args()?;
    let ms = match &lit {
        Lit::Int(int) => int
            .base10_parse::<u64>()?
            .checked_mul(1000)
            .ok_or_else(|| syn::Error::new(int.span(), "the timeout is too long"))?,
        Lit::Float(float) => {
            let seconds = float.base10_parse::<f64>()?;
            let ms = (seconds * 1000.0).round();
            if !(0.0..u64::MAX as f64).contains(&ms) {
                return Err(syn::Error::new(float.span(), "the timeout is out of range"));
            }
            ms as u64
        }
        other => {
            return Err(syn::Error::new(
                other.span(),
                "expected a number of seconds, such as `2` or `0.5`",
            ));
        }
    };
    if ms == 0 {
        return Err(syn::Error::new(
            lit.span(),
            "a timeout is at least a millisecond; leave it out for the runner's default",
        ));
    }
    Ok(Ours::TimeoutMs(ms))
}

/// A string literal's value.
fn string(value: &Expr) -> syn::Result<String> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(text),
            ..
        }) => Ok(text.value()),
        other => Err(syn::Error::new(other.span(), "expected a string literal")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    fn parsed(attr: Attribute) -> Result<Ours, String> {
        parse(&attr).map_err(|e| e.to_string())
    }

    #[test]
    fn test_and_init_take_no_arguments() {
        assert_eq!(parsed(parse_quote!(#[test])), Ok(Ours::Test));
        assert_eq!(parsed(parse_quote!(#[init])), Ok(Ours::Init));
        assert_eq!(
            parsed(parse_quote!(#[test(fast)])),
            Err("`#[test]` takes no arguments".into())
        );
    }

    #[test]
    fn should_panic_takes_an_optional_expected_text() {
        assert_eq!(
            parsed(parse_quote!(#[should_panic])),
            Ok(Ours::ShouldPanic(None))
        );
        assert_eq!(
            parsed(parse_quote!(#[should_panic(expected = "overflow")])),
            Ok(Ours::ShouldPanic(Some("overflow".into())))
        );
        assert_eq!(
            parsed(parse_quote!(#[should_panic = "overflow"])),
            Ok(Ours::ShouldPanic(Some("overflow".into())))
        );
        assert_eq!(
            parsed(parse_quote!(#[should_panic(reason = "x")])),
            Err("expected `expected = \"text\"`".into())
        );
    }

    #[test]
    fn ignore_takes_an_optional_reason() {
        assert_eq!(parsed(parse_quote!(#[ignore])), Ok(Ours::Ignore(None)));
        assert_eq!(
            parsed(parse_quote!(#[ignore = "slow"])),
            Ok(Ours::Ignore(Some("slow".into())))
        );
        assert_eq!(
            parsed(parse_quote!(#[ignore = 3])),
            Err("expected a string literal".into())
        );
    }

    #[test]
    fn timeout_is_whole_or_fractional_seconds_in_milliseconds() {
        assert_eq!(
            parsed(parse_quote!(#[timeout(2)])),
            Ok(Ours::TimeoutMs(2000))
        );
        assert_eq!(
            parsed(parse_quote!(#[timeout(0.25)])),
            Ok(Ours::TimeoutMs(250))
        );
    }

    #[test]
    fn timeout_refuses_zero_and_non_numbers() {
        assert!(parsed(parse_quote!(#[timeout(0)])).is_err_and(|e| e.contains("millisecond")));
        assert_eq!(
            parsed(parse_quote!(#[timeout("2")])),
            Err("expected a number of seconds, such as `2` or `0.5`".into())
        );
        assert_eq!(
            parsed(parse_quote!(#[timeout = 2])),
            Err("expected `#[timeout(seconds)]`".into())
        );
    }

    #[test]
    fn only_the_five_names_are_ours() {
        assert!(is_ours(&parse_quote!(#[timeout(1)])));
        assert!(!is_ours(&parse_quote!(#[inline])));
        assert!(!is_ours(&parse_quote!(#[core::prelude::v1::test])));
    }
}
