//! Hostile guests: more vCPUs than the host ever kept exception stacks for (64), faulting all at
//! once. Each report must name its own vCPU's fault, so each vCPU needs its own stack: the
//! reports are checked as they came, and again, deterministically, once every vCPU has stopped
//! in the host's handlers, from the record each one left on its exception stack (a stack two
//! vCPUs shared holds only the later one's).

use super::*;
use ucall_host::decode::Unhandled;
use ucall_host::vm::core_dump::Registers;
use vm_memory::{Bytes, GuestAddress};

/// Where vCPU `i` of `faults_per_vcpu` reads: `UNMAPPED + i * 0x1000`.
const FAULTS_FROM: u64 = 0x7000_0000_0000;

/// 128, or as many as this machine's KVM allows in a VM if that is fewer.
fn vcpus() -> usize {
    let kvm = kvm_ioctls::Kvm::new().expect("/dev/kvm");
    kvm.get_max_vcpus().min(128)
}

/// The record address the host's handler left in its ucall register: `rdi` (port I/O).
#[cfg(target_arch = "x86_64")]
fn record_address(registers: &Registers) -> u64 {
    registers.rdi
}

/// The record address the host's handler left in its ucall register: `x0` (the doorbell store).
#[cfg(target_arch = "aarch64")]
fn record_address(registers: &Registers) -> u64 {
    registers.regs[0]
}

/// The record address the host's handler left in its ucall register: `a0` (x10; the SBI call).
#[cfg(target_arch = "riscv64")]
fn record_address(registers: &Registers) -> u64 {
    registers.regs[9]
}

#[test]
fn each_of_128_vcpus_faulting_at_once_reports_its_own_fault_address() {
    let count = vcpus();
    let elf = guest("faults_per_vcpu");
    let mut vm = VmBuilder::new(&elf)
        .vcpus(count)
        .memory_size(64 << 20)
        .stack_size(16 << 10)
        .timeout(TIMEOUT)
        .build()
        .expect("VM for faults_per_vcpu");
    let threads: Vec<_> = vm
        .take_vcpus()
        .into_iter()
        .map(|mut vcpu| {
            std::thread::spawn(move || {
                let end = ucalls_until_end(&mut vcpu);
                (vcpu.index(), end, vcpu.core_registers())
            })
        })
        .collect();
    let mut reported = Vec::new();
    let mut left_behind = Vec::new();
    for thread in threads {
        let (index, (ucalls, error), registers) = thread.join().expect("vCPU thread");
        assert!(error.is_none(), "vCPU {index}: {error:?}");
        match ucalls[..] {
            [Ucall::Unhandled(Unhandled { fault_address, .. })] => {
                reported.push((index, fault_address));
            }
            _ => panic!("vCPU {index}: {ucalls:?}"),
        }
        let record = record_address(&registers.expect("registers"));
        let mut args = [0u64; 6];
        for (n, arg) in args.iter_mut().enumerate() {
            let at = GuestAddress(record + 8 * (n as u64 + 1));
            *arg = vm.memory().read_obj(at).expect("the record in memory");
        }
        left_behind.push((index, Unhandled::from_args(&args).fault_address));
    }
    let expected: Vec<(usize, u64)> = (0..count)
        .map(|index| (index, FAULTS_FROM + index as u64 * 0x1000))
        .collect();
    assert_eq!(reported, expected, "as reported");
    assert_eq!(left_behind, expected, "as left on the exception stacks");
}
