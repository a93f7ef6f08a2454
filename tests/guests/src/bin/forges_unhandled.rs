//! Sends an UNHANDLED record of its own making from its own code: a report that looks like the
//! host's account of a page fault but is not one. The runner must say who sent it.
#![no_std]
#![no_main]

use ucall_guest::{Command, Record, send};

ucall_guest::entry!(main);

fn main(_vcpu: usize) {
    // Vector 14 at 0x12345000, error code 2, fault address 0xdead0000 (a #PF on x86_64).
    send(&Record {
        cmd: Command::Unhandled as u64,
        args: [14, 0x1234_5000, 2, 0xdead_0000, 0, 0],
    });
}
