//! Procedural macros of `ucall-guest`; use them through it, as `#[ucall_guest::tests]`.
//!
//! The generated code names `::ucall_guest`, so the test crate depends on `ucall-guest` under
//! that name.
#![deny(missing_docs)]
#![deny(missing_debug_implementations)]

mod attributes;
mod expand;
mod module;

use proc_macro::TokenStream;

/// Makes a module of `#[test]` functions a guest test program: each test runs in a fresh VM,
/// selected by the host, under a libtest-like runner (`ucall-run`).
///
/// ```text
/// #![no_std]
/// #![no_main]
///
/// #[ucall_guest::tests]
/// mod tests {
///     use ucall_guest::{guest_assert_eq, guest_printf};
///
///     #[init]
///     fn init() -> u64 {
///         41 // runs before each test; a test may take its value
///     }
///
///     #[test]
///     fn adds() {
///         guest_assert_eq!(1 + 1, 2);
///     }
///
///     #[test]
///     fn uses_the_init_value(answer: u64) {
///         guest_printf!("shown only when the test fails");
///         guest_assert_eq!(answer + 1, 42);
///     }
///
///     #[test]
///     #[should_panic(expected = "out of range")]
///     fn indexes_past_the_end() {
///         let v = [1, 2, 3];
///         let _ = v[core::hint::black_box(3)];
///     }
///
///     #[test]
///     #[ignore = "takes a while"]
///     #[timeout(10)]
///     fn slow() {}
/// }
/// ```
///
/// Inside the module:
///
/// | attribute | on | meaning |
/// |-----------|----|---------|
/// | `#[test]` | `fn name()` or `fn name(value: T)` | a test; it passes by returning, and fails by a failed `guest_assert*`, a panic, an unhandled exception or its timeout |
/// | `#[should_panic]`, `#[should_panic(expected = "text")]` | a test | it passes by failing (an ABORT), with `expected`: only when the message contains the text |
/// | `#[ignore]`, `#[ignore = "reason"]` | a test | it runs only when asked for (`--ignored`, `--include-ignored`) |
/// | `#[timeout(seconds)]` | a test | its own timeout, whole or fractional seconds; otherwise the runner's `--timeout` |
/// | `#[init]` | `fn init() -> T`, at most one | runs before each test; a test that takes one argument gets its value |
///
/// Tests are named as libtest names them: the module path without the crate, then the function
/// (`tests::adds`). A test under `#[cfg(...)]` that does not hold is neither compiled nor in the
/// table, as with libtest (`#[cfg(target_arch = "x86_64")]` on a test of an x86_64 instruction).
/// Other items of the module stay as they are. The macro provides the program's
/// entry point (`_start`, by [`entry!`](../ucall_guest/macro.entry.html)) and the test table
/// (the `ucall_tests` section, described by `ucall_abi::test_table`), so the crate needs
/// nothing else: no `main`, no `entry!`.
///
/// Misuse is a compile error at the offending item: an argument to a test without `#[init]`,
/// two `#[init]` functions, an async, const, generic or value-returning test, a test attribute
/// without `#[test]`, or an attribute given twice or with wrong arguments.
#[proc_macro_attribute]
pub fn tests(args: TokenStream, item: TokenStream) -> TokenStream {
    let args = proc_macro2::TokenStream::from(args);
    if !args.is_empty() {
        return syn::Error::new_spanned(args, "`#[ucall_guest::tests]` takes no arguments")
            .to_compile_error()
            .into();
    }
    let module = match syn::parse::<syn::ItemMod>(item) {
        Ok(module) => module,
        Err(error) => {
            return syn::Error::new(
                error.span(),
                "`#[ucall_guest::tests]` applies to a module: `mod tests { ... }`",
            )
            .to_compile_error()
            .into();
        }
    };
    match module::parse(module) {
        Ok(parsed) => expand::expand(parsed).into(),
        Err(error) => error.to_compile_error().into(),
    }
}
