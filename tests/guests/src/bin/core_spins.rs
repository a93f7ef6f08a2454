//! Spins forever inside a named function, for the post-mortem tests: the backtrace of a core
//! taken when the watchdog ends it names `spinning_function`.
#![no_std]
#![no_main]

ucall_guest::entry!(main);

fn main(vcpu: usize) {
    calls_the_spinning_function(vcpu);
}

#[inline(never)]
fn calls_the_spinning_function(vcpu: usize) {
    spinning_function(core::hint::black_box(vcpu));
    ucall_guest::sync(&[vcpu as u64]);
}

#[inline(never)]
fn spinning_function(vcpu: usize) {
    while core::hint::black_box(vcpu) < usize::MAX {
        core::hint::spin_loop();
    }
}
