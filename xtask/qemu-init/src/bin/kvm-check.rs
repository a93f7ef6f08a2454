//! A check that a VM's KVM answers, without the host crate: opens `/dev/kvm`, asks for the API
//! version (12 on every Linux since 2.6.22) and creates a VM. `cargo xtask kvm-check` runs it as
//! the only command in a QEMU machine, which proves the kernel, its modules and `/init` work
//! for that machine before any test suite runs there.

use std::fs::OpenOptions;
use std::os::fd::AsRawFd;
use std::process::ExitCode;

/// `_IO(KVMIO, 0x00)`: the same on every architecture.
const KVM_GET_API_VERSION: u64 = 0xAE00;
/// `_IO(KVMIO, 0x01)`.
const KVM_CREATE_VM: u64 = 0xAE01;
/// The only version Linux has had since KVM's ABI became stable.
const KVM_API_VERSION: libc::c_int = 12;

fn main() -> ExitCode {
    match check() {
        Ok(vm) => {
            println!("KVM API version {KVM_API_VERSION}; KVM_CREATE_VM gave fd {vm}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("kvm-check: {e}");
            ExitCode::FAILURE
        }
    }
}

fn check() -> Result<libc::c_int, String> {
    let kvm = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .map_err(|e| format!("cannot open /dev/kvm: {e}"))?;
    // SAFETY: an argument-less KVM ioctl on an open /dev/kvm fd; it reads and writes no memory.
    // The request's C type differs between libcs (c_ulong on glibc, c_int on musl), hence `as _`.
    let version = unsafe { libc::ioctl(kvm.as_raw_fd(), KVM_GET_API_VERSION as _, 0) };
    if version != KVM_API_VERSION {
        return Err(format!(
            "KVM_GET_API_VERSION gave {version} ({}), not {KVM_API_VERSION}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: as above; the argument is the VM type, 0 (the default) on every architecture.
    let vm = unsafe { libc::ioctl(kvm.as_raw_fd(), KVM_CREATE_VM as _, 0) };
    if vm < 0 {
        return Err(format!(
            "KVM_CREATE_VM failed: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(vm)
}
