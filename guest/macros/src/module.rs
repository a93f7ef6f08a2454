//! The test module as the macro sees it: its tests, its init function and everything else,
//! checked for misuse (each error points at what is wrong).

use crate::attributes::{self, Ours};
use quote::ToTokens;
use syn::spanned::Spanned;
use syn::{FnArg, Ident, Item, ItemFn, ItemMod, ReturnType, Signature, Type};

/// One `#[test]` function and its attributes.
#[derive(Debug)]
pub struct Test {
    /// The function.
    pub ident: Ident,
    /// Whether it takes the init function's value.
    pub takes_init: bool,
    /// `#[should_panic]`, with its expected text.
    pub should_panic: Option<Option<String>>,
    /// `#[ignore]`, with its reason.
    pub ignore: Option<Option<String>>,
    /// `#[timeout]` in milliseconds, 0 for the runner's default.
    pub timeout_ms: u64,
    /// Its `#[cfg(...)]` attributes (left on the function too): a test compiled out is not in
    /// the table either, as with libtest.
    pub cfgs: Vec<proc_macro2::TokenStream>,
}

/// The module, with our attributes taken off its items.
pub struct TestModule {
    /// The module, its items as the program keeps them.
    pub module: ItemMod,
    /// The tests, in the order they are written: the table's order.
    pub tests: Vec<Test>,
    /// The `#[init]` function, if any.
    pub init: Option<Ident>,
}

/// Reads the module, collecting every error rather than the first.
pub fn parse(mut module: ItemMod) -> syn::Result<TestModule> {
    let Some((_, items)) = module.content.as_mut() else {
        return Err(syn::Error::new(
            module.span(),
            "`#[ucall_guest::tests]` needs the module's items inline: `mod tests { ... }`",
        ));
    };
    let mut errors = Errors::default();
    let mut tests = Vec::new();
    let mut init: Option<Ident> = None;
    for item in items.iter_mut() {
        let Item::Fn(function) = item else {
            continue;
        };
        match take_ours(function) {
            Err(error) => errors.push(error),
            Ok(ours) if ours.is_empty() => {}
            Ok(ours) => match read_function(function, &ours) {
                Err(error) => errors.push(error),
                Ok(Role::Init) => {
                    if let Some(first) = &init {
                        errors.push(syn::Error::new(
                            function.sig.ident.span(),
                            format!("a test module has one `#[init]` function; `{first}` is one"),
                        ));
                    } else {
                        init = Some(function.sig.ident.clone());
                    }
                }
                Ok(Role::Test(test)) => tests.push((test, function.sig.inputs.span())),
            },
        }
    }
    let tests = tests
        .into_iter()
        .filter_map(|(test, inputs)| {
            if test.takes_init && init.is_none() {
                errors.push(syn::Error::new(
                    inputs,
                    "a test takes an argument only from an `#[init]` function, and this module has none",
                ));
                return None;
            }
            Some(test)
        })
        .collect();
    errors.finish()?;
    Ok(TestModule {
        module,
        tests,
        init,
    })
}

/// Errors, combined so that the compiler shows each.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(first) => first.combine(error),
            None => self.0 = Some(error),
        }
    }

    fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}

/// Takes our attributes off `function` and parses them; refuses one given twice.
fn take_ours(function: &mut ItemFn) -> syn::Result<Vec<Ours>> {
    let mut ours: Vec<Ours> = Vec::new();
    let mut errors = Errors::default();
    let mut kept = Vec::new();
    for attr in function.attrs.drain(..) {
        if !attributes::is_ours(&attr) {
            kept.push(attr);
            continue;
        }
        match attributes::parse(&attr) {
            Ok(one) if ours.iter().any(|o| o.name() == one.name()) => errors.push(syn::Error::new(
                attr.span(),
                format!("`#[{}]` is given twice", one.name()),
            )),
            Ok(one) => ours.push(one),
            Err(error) => errors.push(error),
        }
    }
    function.attrs = kept;
    errors.finish()?;
    Ok(ours)
}

/// What a function with our attributes is.
enum Role {
    Init,
    Test(Test),
}

/// Checks `function`'s attributes and signature for its role.
fn read_function(function: &ItemFn, ours: &[Ours]) -> syn::Result<Role> {
    let sig = &function.sig;
    let is_test = ours.contains(&Ours::Test);
    if ours.contains(&Ours::Init) {
        if let Some(other) = ours.iter().find(|o| **o != Ours::Init) {
            return Err(syn::Error::new(
                sig.ident.span(),
                format!(
                    "an `#[init]` function is no test: `#[{}]` does not apply",
                    other.name()
                ),
            ));
        }
        plain(sig, "an `#[init]` function")?;
        if let Some(input) = sig.inputs.first() {
            return Err(syn::Error::new(
                input.span(),
                "an `#[init]` function takes no arguments",
            ));
        }
        return Ok(Role::Init);
    }
    if !is_test {
        return Err(syn::Error::new(
            sig.ident.span(),
            format!(
                "`#[{}]` applies to `#[test]` functions only",
                ours[0].name()
            ),
        ));
    }
    plain(sig, "a test")?;
    if sig.inputs.len() > 1 {
        return Err(syn::Error::new(
            sig.inputs.span(),
            "a test takes no argument, or one: the `#[init]` function's value",
        ));
    }
    if let Some(FnArg::Receiver(receiver)) = sig.inputs.first() {
        return Err(syn::Error::new(receiver.span(), "a test takes no `self`"));
    }
    let returns_unit = match &sig.output {
        ReturnType::Default => true,
        ReturnType::Type(_, ty) => matches!(&**ty, Type::Tuple(tuple) if tuple.elems.is_empty()),
    };
    if !returns_unit {
        return Err(syn::Error::new(
            sig.output.span(),
            "a test returns nothing: it fails by a failed `guest_assert!` or a panic",
        ));
    }
    let mut test = Test {
        ident: sig.ident.clone(),
        takes_init: !sig.inputs.is_empty(),
        should_panic: None,
        ignore: None,
        timeout_ms: 0,
        cfgs: function
            .attrs
            .iter()
            .filter(|attr| attr.path().is_ident("cfg"))
            .map(ToTokens::to_token_stream)
            .collect(),
    };
    for one in ours {
        match one {
            Ours::ShouldPanic(expected) => test.should_panic = Some(expected.clone()),
            Ours::Ignore(reason) => test.ignore = Some(reason.clone()),
            Ours::TimeoutMs(ms) => test.timeout_ms = *ms,
            Ours::Test | Ours::Init => {}
        }
    }
    Ok(Role::Test(test))
}

/// Refuses what a function called from the entry point cannot be: async, const, generic,
/// variadic or with a foreign ABI.
fn plain(sig: &Signature, what: &str) -> syn::Result<()> {
    let refuse = |span: proc_macro2::Span, why: &str| {
        Err(syn::Error::new(span, format!("{what} cannot be {why}")))
    };
    if let Some(token) = &sig.asyncness {
        return refuse(token.span(), "async");
    }
    if let Some(token) = &sig.constness {
        return refuse(token.span(), "const");
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return refuse(sig.generics.span(), "generic");
    }
    if let Some(variadic) = &sig.variadic {
        return refuse(variadic.span(), "variadic");
    }
    if let Some(abi) = &sig.abi {
        return refuse(abi.span(), "`extern`");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    fn error_of(module: ItemMod) -> String {
        parse(module).map(|_| ()).unwrap_err().to_string()
    }

    #[test]
    fn tests_are_listed_in_written_order_with_their_attributes() {
        let parsed = parse(parse_quote! {
            mod tests {
                use super::*;
                #[test] fn adds() {}
                #[test] #[should_panic(expected = "boom")] #[timeout(2)] fn explodes() {}
                #[test] #[ignore = "slow"] fn waits() {}
                fn helper() {}
            }
        })
        .unwrap();
        let names: Vec<String> = parsed.tests.iter().map(|t| t.ident.to_string()).collect();
        assert_eq!(names, ["adds", "explodes", "waits"]);
        assert_eq!(parsed.tests[1].should_panic, Some(Some("boom".into())));
        assert_eq!(parsed.tests[1].timeout_ms, 2000);
        assert_eq!(parsed.tests[2].ignore, Some(Some("slow".into())));
        assert!(parsed.init.is_none());
    }

    #[test]
    fn our_attributes_are_taken_off_and_others_kept() {
        let parsed = parse(parse_quote! {
            mod tests { #[test] #[inline(never)] #[ignore] fn adds() {} }
        })
        .unwrap();
        let Some((_, items)) = parsed.module.content else {
            panic!("inline module")
        };
        let Item::Fn(function) = &items[0] else {
            panic!("a function")
        };
        assert_eq!(function.attrs.len(), 1);
        assert!(function.attrs[0].path().is_ident("inline"));
    }

    #[test]
    fn a_test_takes_the_init_value() {
        let parsed = parse(parse_quote! {
            mod tests { #[init] fn init() -> u32 { 7 } #[test] fn uses(v: u32) {} }
        })
        .unwrap();
        assert_eq!(parsed.init.unwrap().to_string(), "init");
        assert!(parsed.tests[0].takes_init);
    }

    #[test]
    fn an_argument_without_init_is_refused() {
        assert!(
            error_of(parse_quote! { mod tests { #[test] fn uses(v: u32) {} } })
                .contains("this module has none")
        );
    }

    #[test]
    fn two_init_functions_are_refused() {
        assert_eq!(
            error_of(parse_quote! { mod tests { #[init] fn a() {} #[init] fn b() {} } }),
            "a test module has one `#[init]` function; `a` is one"
        );
    }

    #[test]
    fn async_and_generic_tests_are_refused() {
        assert_eq!(
            error_of(parse_quote! { mod tests { #[test] async fn a() {} } }),
            "a test cannot be async"
        );
        assert_eq!(
            error_of(parse_quote! { mod tests { #[test] fn a<T>() {} } }),
            "a test cannot be generic"
        );
    }

    #[test]
    fn test_attributes_without_test_are_refused() {
        assert_eq!(
            error_of(parse_quote! { mod tests { #[should_panic] fn a() {} } }),
            "`#[should_panic]` applies to `#[test]` functions only"
        );
    }

    #[test]
    fn an_attribute_given_twice_is_refused() {
        assert_eq!(
            error_of(parse_quote! { mod tests { #[test] #[ignore] #[ignore] fn a() {} } }),
            "`#[ignore]` is given twice"
        );
    }

    #[test]
    fn a_test_returning_a_value_is_refused() {
        assert!(
            error_of(parse_quote! { mod tests { #[test] fn a() -> u32 { 1 } } })
                .starts_with("a test returns nothing")
        );
    }

    #[test]
    fn a_module_without_inline_items_is_refused() {
        assert!(error_of(parse_quote! { mod tests; }).contains("inline"));
    }
}
