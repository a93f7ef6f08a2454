//! Calls a host that answers: `ADD` (the user range's first command) with 40 and 2, whose answer
//! the guest checks, then the last user command, which the host leaves unanswered. Over port I/O
//! it also checks the answer's first word in `rsi`. Reports the first answer as a SYNC, then
//! DONE; any wrong value is an ABORT.
#![no_std]
#![no_main]

use ucall_guest::{FIRST_USER_COMMAND, LAST_USER_COMMAND, call, guest_assert_eq, sync};

ucall_guest::entry!(main);

/// The host answers `[a + b, a * b, 0xfeed, 0, 0, 0]`.
const ADD: u64 = FIRST_USER_COMMAND;

fn main(_vcpu: usize) {
    let answer = call(ADD, &[40, 2]);
    guest_assert_eq!(answer, [42, 80, 0xfeed, 0, 0, 0]);
    #[cfg(target_arch = "x86_64")]
    if ucall_guest::mmio_address().is_none() {
        let record = ucall_guest::Record::with_cmd(ADD, &[1, 2]);
        guest_assert_eq!(ucall_guest::transport::pio_call(&record), 3);
    }
    let unanswered = call(LAST_USER_COMMAND, &[7, 8]);
    guest_assert_eq!(unanswered, [7, 8, 0, 0, 0, 0]);
    sync(&answer);
}
