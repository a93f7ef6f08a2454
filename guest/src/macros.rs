//! The macros guest programs use.

/// Sends formatted text to the host, like `print!`; see [`printf`](crate::printf).
///
/// ```no_run
/// ucall_guest::guest_printf!("{} + {} = {}", 1, 2, 1 + 2);
/// ```
#[macro_export]
macro_rules! guest_printf {
    ($($arg:tt)*) => {
        $crate::printf(::core::format_args!($($arg)*))
    };
}

/// Logs formatted text through the installed log ring, or as PRINTF without one; see
/// [`log_ring::log`](crate::log_ring::log).
///
/// ```no_run
/// ucall_guest::guest_log!("{} + {} = {}", 1, 2, 1 + 2);
/// ```
#[macro_export]
macro_rules! guest_log {
    ($($arg:tt)*) => {
        $crate::log_ring::log(::core::format_args!($($arg)*))
    };
}

/// Reports an ABORT to the host, with this file and line, unless the condition holds.
///
/// The message is `Failed guest assert: <condition>`, or the given format.
///
/// ```no_run
/// let stage = 3;
/// ucall_guest::guest_assert!(stage < 4);
/// ucall_guest::guest_assert!(stage < 4, "stage {} is too far", stage);
/// ```
#[macro_export]
macro_rules! guest_assert {
    ($cond:expr $(,)?) => {
        if !$cond {
            $crate::abort(
                ::core::format_args!("Failed guest assert: {}", ::core::stringify!($cond)),
                ::core::file!(),
                ::core::line!(),
                ::core::column!(),
            )
        }
    };
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            $crate::abort(::core::format_args!($($arg)+), ::core::file!(), ::core::line!(), ::core::column!())
        }
    };
}

/// Reports an ABORT to the host, with this file and line and both values, unless they are equal.
///
/// The message reads like the one of `assert_eq!`:
///
/// ```text
/// assertion `left == right` failed: a == b
///   left: 1
///  right: 2
/// ```
///
/// ```no_run
/// ucall_guest::guest_assert_eq!(1 + 1, 2);
/// ```
#[macro_export]
macro_rules! guest_assert_eq {
    ($left:expr, $right:expr $(,)?) => {
        match (&$left, &$right) {
            (left, right) => {
                if !(*left == *right) {
                    $crate::abort(
                        ::core::format_args!(
                            "assertion `left == right` failed: {} == {}\n  left: {:?}\n right: {:?}",
                            ::core::stringify!($left),
                            ::core::stringify!($right),
                            left,
                            right
                        ),
                        ::core::file!(),
                        ::core::line!(),
                        ::core::column!(),
                    )
                }
            }
        }
    };
}

/// Defines the program's entry point `_start`, which calls `main` with the vCPU's index (the host
/// passes it in the first argument register), sends DONE when `main` returns, and halts.
///
/// ```text
/// #![no_std]
/// #![no_main]
///
/// ucall_guest::entry!(main);
///
/// fn main(vcpu: usize) {
///     ucall_guest::sync(&[vcpu as u64]);
/// }
/// ```
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        /// The program's entry point, called by the host with the vCPU's index.
        #[unsafe(no_mangle)]
        pub extern "C" fn _start(vcpu: usize) -> ! {
            let main: fn(usize) = $main;
            main(vcpu);
            $crate::done();
            $crate::halt()
        }
    };
}
