//! What a ucall costs, counted in vCPU ioctls (each about as costly as a whole exit on an
//! emulating or nested hypervisor): `ucall-guest`'s ucalls cost exactly one, the `KVM_RUN`, on
//! every architecture; a plain ucall (the seed's conventions) costs a register read more where
//! KVM syncs no registers.

use ucall_host::Ucall;
use ucall_host::vm::{TransportKind, Vcpu};
use ucall_tests::{transports, vm};

/// The ucalls `vcpu` makes up to DONE, each with the vCPU ioctls it cost.
fn ucalls_with_cost(vcpu: &mut Vcpu) -> Vec<(Ucall, u64)> {
    let mut ucalls = Vec::new();
    loop {
        let before = vcpu.ioctl_count();
        let ucall = vcpu.next_ucall().expect("a ucall");
        let end = matches!(ucall, Ucall::Done | Ucall::Abort(_));
        ucalls.push((ucall, vcpu.ioctl_count() - before));
        if end {
            return ucalls;
        }
    }
}

#[test]
fn a_sync_ucall_costs_one_vcpu_ioctl() {
    for &transport in transports() {
        let mut vcpu = vm("many_ucalls", transport, 1).take_vcpus().remove(0);
        let before = vcpu.ioctl_count();
        let ucalls = ucalls_with_cost(&mut vcpu);
        let syncs = ucalls
            .iter()
            .filter(|(ucall, _)| matches!(ucall, Ucall::Sync { .. }))
            .count();
        assert_eq!(syncs, 1000, "{transport:?}");
        // 1000 SYNCs and the DONE.
        assert_eq!(vcpu.ioctl_count() - before, 1001, "{transport:?}");
        assert!(ucalls.iter().all(|&(_, cost)| cost == 1), "{transport:?}");
    }
}

#[test]
fn a_printf_ucall_costs_one_vcpu_ioctl_strings_included() {
    for &transport in transports() {
        let mut vcpu = vm("printf", transport, 1).take_vcpus().remove(0);
        let ucalls = ucalls_with_cost(&mut vcpu);
        let expected = [
            (Ucall::Printf("hello host from 0xc0ffee".into()), 1),
            (Ucall::Done, 1),
        ];
        assert_eq!(ucalls, expected, "{transport:?}");
    }
}

/// A plain ucall's cost: the `KVM_RUN`, and where KVM syncs no registers (aarch64, riscv64) the
/// read of the table root that the host walks.
const PLAIN_UCALL_IOCTLS: u64 = if cfg!(target_arch = "x86_64") { 1 } else { 2 };

#[test]
fn a_plain_ucall_in_the_seeds_conventions_costs_a_root_read_without_synced_registers() {
    let mut vcpu = vm("seed_guest", TransportKind::Mmio, 1)
        .take_vcpus()
        .remove(0);
    let ucalls = ucalls_with_cost(&mut vcpu);
    assert!(matches!(ucalls[0].0, Ucall::Sync { .. }), "{ucalls:?}");
    assert!(
        ucalls.iter().all(|&(_, cost)| cost == PLAIN_UCALL_IOCTLS),
        "{ucalls:?}"
    );
}
