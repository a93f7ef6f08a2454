//! The code a test module becomes: its items, the test table and the entry point that runs the
//! test the host selected.

use crate::module::{Test, TestModule};
use proc_macro2::TokenStream;
use quote::quote;
use syn::ext::IdentExt;

/// The module with the table and the entry point added to its items.
pub fn expand(parsed: TestModule) -> TokenStream {
    let TestModule {
        mut module,
        tests,
        init,
    } = parsed;
    let entries = tests.iter().map(|test| {
        let cfgs = &test.cfgs;
        let entry = entry(test);
        quote! { #(#cfgs)* #entry }
    });
    let counted = tests.iter().map(|test| {
        let cfgs = &test.cfgs;
        quote! { #(#cfgs)* () }
    });
    // A test's index is its place among the tests compiled in, counted as the dispatch goes,
    // since `#[cfg]` may leave any of them out of the table.
    let dispatch = tests.iter().map(|test| {
        let (ident, cfgs) = (&test.ident, &test.cfgs);
        let call = if test.takes_init {
            quote! { #ident(__ucall_init) }
        } else {
            quote! { #ident() }
        };
        quote! {
            #(#cfgs)*
            {
                if __ucall_index == __ucall_position {
                    return #call;
                }
                __ucall_position += 1;
            }
        }
    });
    let run_init = init.map(|init| quote! { let __ucall_init = #init(); });
    let added: syn::File = syn::parse_quote! {
        /// The test table, which the host reads from the ELF (see `ucall_abi::test_table`).
        #[used]
        #[unsafe(link_section = "ucall_tests")]
        static __UCALL_TEST_TABLE: [::ucall_guest::__private::Entry; __UCALL_TEST_COUNT] =
            [#(#entries),*];

        /// The tests compiled in: those whose `#[cfg]` holds.
        const __UCALL_TEST_COUNT: usize = <[()]>::len(&[#(#counted),*]);

        /// The selected test's index, written by the host before the vCPU runs.
        #[unsafe(export_name = "ucall_test_selected")]
        static __UCALL_TEST_SELECTED: ::core::sync::atomic::AtomicU64 =
            ::core::sync::atomic::AtomicU64::new(::ucall_guest::__private::NO_TEST_SELECTED);

        ::ucall_guest::entry!(__ucall_run_selected_test);

        /// Runs the test the host selected; returning sends DONE.
        #[allow(unused_mut, unused_assignments)]
        fn __ucall_run_selected_test(_vcpu: usize) {
            let __ucall_index = ::ucall_guest::__private::selected_test(
                &__UCALL_TEST_TABLE,
                &__UCALL_TEST_SELECTED,
            );
            #run_init
            let mut __ucall_position = 0usize;
            #(#dispatch)*
            ::ucall_guest::__private::out_of_range()
        }
    };
    if let Some((_, items)) = module.content.as_mut() {
        items.extend(added.items);
    }
    quote! { #module }
}

/// A test's entry: its name as libtest prints it (the module path without the crate), flags,
/// texts and timeout.
fn entry(test: &Test) -> TokenStream {
    let name = test.ident.unraw().to_string();
    let ignore = test.ignore.is_some();
    let reason = option(test.ignore.as_ref().and_then(Option::as_ref));
    let should_panic = test.should_panic.is_some();
    let expected = option(test.should_panic.as_ref().and_then(Option::as_ref));
    let timeout_ms = test.timeout_ms;
    quote! {
        ::ucall_guest::__private::Entry::new(
            ::ucall_guest::__private::test_name(
                ::core::concat!(::core::module_path!(), "::", #name)
            ),
            #ignore,
            #reason,
            #should_panic,
            #expected,
            #timeout_ms,
        )
    }
}

fn option(text: Option<&String>) -> TokenStream {
    match text {
        Some(text) => quote! { ::core::option::Option::Some(#text) },
        None => quote! { ::core::option::Option::None },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    fn expanded(module: syn::ItemMod) -> String {
        expand(crate::module::parse(module).unwrap()).to_string()
    }

    #[test]
    fn the_table_has_an_entry_per_test_in_its_section() {
        let code = expanded(parse_quote! { mod tests { #[test] fn a() {} #[test] fn b() {} } });
        assert!(code.contains("link_section = \"ucall_tests\""));
        assert!(code.contains("[:: ucall_guest :: __private :: Entry ; __UCALL_TEST_COUNT]"));
        assert!(code.contains("< [()] > :: len (& [() , ()])"));
    }

    #[test]
    fn each_test_is_dispatched_by_its_place_in_the_table() {
        let code = expanded(parse_quote! {
            mod tests { #[init] fn init() -> u8 { 1 } #[test] fn a() {} #[test] fn b(v: u8) {} }
        });
        assert!(code.contains("let __ucall_init = init () ;"));
        let a = code.find("return a () ;").expect("a is dispatched");
        let b = code
            .find("return b (__ucall_init) ;")
            .expect("b is dispatched");
        let step = "__ucall_position += 1 ;";
        assert!(a < b && code[a..b].contains(step));
    }

    #[test]
    fn a_tests_cfg_is_carried_onto_its_entry_count_and_dispatch() {
        let code = expanded(parse_quote! {
            mod tests {
                #[test] fn a() {}
                #[cfg(target_arch = "x86_64")] #[test] fn only_on_x86_64() {}
            }
        });
        let cfg = "# [cfg (target_arch = \"x86_64\")]";
        // The function itself, its table entry, its place in the count and its dispatch.
        assert_eq!(code.matches(cfg).count(), 4, "{code}");
        assert!(code.contains(&format!("[() , {cfg} ()]")), "{code}");
        assert!(code.contains(&format!(
            "{cfg} :: ucall_guest :: __private :: Entry :: new"
        )));
        assert!(code.contains(&format!(
            "{cfg} {{ if __ucall_index == __ucall_position {{ return only_on_x86_64 () ;"
        )));
    }

    #[test]
    fn raw_identifiers_are_named_without_their_prefix() {
        let code = expanded(parse_quote! { mod tests { #[test] fn r#match() {} } });
        assert!(code.contains("\"::\" , \"match\""));
    }
}
