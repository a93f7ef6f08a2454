//! A PRINTF of 2000 characters: the guest truncates it to the string bound.
#![no_std]
#![no_main]

use ucall_guest::guest_printf;

ucall_guest::entry!(main);

fn main(_vcpu: usize) {
    guest_printf!("{:x<2000}", "");
}
