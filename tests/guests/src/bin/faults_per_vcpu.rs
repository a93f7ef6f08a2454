//! Every vCPU reads its own unmapped address, `UNMAPPED + index * 0x1000`, at once: each fault
//! is reported on the vCPU's own exception stack, whatever the number of vCPUs.
#![no_std]
#![no_main]

ucall_guest::entry!(main);

/// Unmapped on every architecture, as in `faults.rs`; the test expects these addresses.
const UNMAPPED: usize = 0x7000_0000_0000;

fn main(vcpu: usize) {
    let address = UNMAPPED + vcpu * 0x1000;
    // SAFETY: it is not safe, and that is the point: the read faults, and the host must report
    // this vCPU's address.
    let value = unsafe { core::ptr::read_volatile(address as *const u64) };
    ucall_guest::sync(&[value]);
}
