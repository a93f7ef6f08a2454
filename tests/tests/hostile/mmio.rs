//! Hostile guests: MMIO at the ucall address.

use super::*;

fn bad_mmio(case: Case, len: usize, is_write: bool) {
    let (err, guest) = Hostile::error(case, TransportKind::Mmio);
    let mmio = guest.mmio();
    assert!(
        matches!(err, RunError::Decode(decode::Error::BadMmioAccess { gpa, len: l, is_write: w }) if gpa == mmio && l == len && w == is_write),
        "{err:?}"
    );
}

#[test]
fn one_byte_write_to_the_ucall_address_is_a_bad_access() {
    bad_mmio(Case::MmioWrite1, 1, true);
}

#[test]
fn two_byte_write_to_the_ucall_address_is_a_bad_access() {
    bad_mmio(Case::MmioWrite2, 2, true);
}

#[test]
fn four_byte_write_to_the_ucall_address_is_a_bad_access() {
    bad_mmio(Case::MmioWrite4, 4, true);
}

#[test]
fn one_byte_read_of_the_ucall_address_is_a_bad_access() {
    bad_mmio(Case::MmioRead1, 1, false);
}

#[test]
fn eight_byte_read_of_the_ucall_address_is_a_bad_access() {
    bad_mmio(Case::MmioRead8, 8, false);
}

#[test]
fn write_beside_the_ucall_address_is_an_unexpected_exit() {
    let (err, guest) = Hostile::error(Case::MmioWriteBesideTheUcallAddress, TransportKind::Mmio);
    let exit = Exit::mmio_write(guest.mmio() + 16, &0x1234_5678_9abc_def0u64.to_le_bytes());
    assert!(
        matches!(err, RunError::UnexpectedExit { vcpu: 0, exit: ExitKind::Access(e) } if e == exit),
        "{err:?}"
    );
}
