//! Hostile guests: rooted ucalls (`ucall_abi::rooted`) whose call block or root is bad. The
//! host checks the block's guest-physical address and walks the named root like any other.

use super::*;

#[test]
fn rooted_call_block_not_16_byte_aligned_is_refused_with_its_address() {
    let (err, guest) = Hostile::error(Case::RootedCallMisaligned, TransportKind::Mmio);
    let block = guest.symbol("HOSTILE_TEXT") + 8;
    assert!(
        matches!(err, RunError::Decode(decode::Error::RootedCallMisaligned { gpa }) if gpa == block),
        "{err:?}"
    );
}

#[test]
fn rooted_call_block_outside_guest_memory_is_refused_with_its_address() {
    let (err, _) = Hostile::error(Case::RootedCallOutsideMemory, TransportKind::Mmio);
    assert!(
        matches!(
            err,
            RunError::Decode(decode::Error::RootedCallOutsideMemory {
                gpa: 0x1234_5678_9abc_def0
            })
        ),
        "{err:?}"
    );
}

/// The walk starts at the named root (level 4), as it would at a live TTBR0 or CR3. On
/// riscv64 the named root is a `satp` value, and this one selects no translation mode the host
/// walks (Bare), which is refused before any walk.
#[test]
fn rooted_call_naming_a_root_outside_memory_is_a_table_outside_memory() {
    let (err, guest) = Hostile::error(Case::RootedCallWithARootOutsideMemory, TransportKind::Mmio);
    if cfg!(target_arch = "riscv64") {
        assert!(
            matches!(err, RunError::UnsupportedPagingMode { vcpu: 0, .. }),
            "{err:?}"
        );
        return;
    }
    let record = guest.symbol("HOSTILE_RECORD");
    assert!(
        matches!(err, RunError::Decode(decode::Error::Paging(paging::Error::TableOutsideMemory { gva, level: 4, table_gpa: BEYOND_MEMORY })) if gva == record),
        "{err:?}"
    );
}
