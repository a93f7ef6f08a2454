//! Calls the host and reports what came back as a SYNC, then DONE: the host's answer, or, from
//! a host that does not answer, the arguments it sent.
#![no_std]
#![no_main]

use ucall_guest::{Command, call, sync};

ucall_guest::entry!(main);

fn main(_vcpu: usize) {
    let answer = call(Command::Sync, &[40, 2]);
    sync(&answer);
}
