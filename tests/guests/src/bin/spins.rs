//! Spins forever without a ucall: only the host's watchdog ends it.
#![no_std]
#![no_main]

ucall_guest::entry!(main);

fn main(_vcpu: usize) {
    loop {
        core::hint::spin_loop();
    }
}
