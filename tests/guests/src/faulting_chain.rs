// The call chain of the post-mortem guests `core_aborts` and `core_faults`: `_start`, `main`,
// `calls_the_faulting_function`, then the guest's own `faulting_function`, which ends the vCPU
// its way. Included with `include!` at the root of each guest, so that every frame keeps the
// guest's name (`core_aborts::main`, ...), which the backtraces in tests/tests/core_dump.rs
// name; nothing is inlined, so each of them is a frame.

ucall_guest::entry!(main);

fn main(vcpu: usize) {
    calls_the_faulting_function(vcpu);
}

#[inline(never)]
fn calls_the_faulting_function(vcpu: usize) {
    faulting_function(core::hint::black_box(vcpu));
    ucall_guest::sync(&[vcpu as u64]);
}
