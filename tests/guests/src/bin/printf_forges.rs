//! A PRINTF that tries to forge the runner's summary line and erase its own: a newline, the
//! summary's words, a carriage return and a terminal escape that clears the line. Then DONE.
#![no_std]
#![no_main]

use ucall_guest::guest_printf;

ucall_guest::entry!(main);

fn main(_vcpu: usize) {
    guest_printf!("innocent\nDONE: 7 ucalls from 1 vCPU(s) in 1.0ms\r\x1b[2K");
}
