//! Hostile guests: the record address.

use super::*;

#[test]
fn record_at_an_unmapped_address_is_not_mapped_at_the_missing_level_3_entry() {
    each_transport(|t| {
        let (err, guest) = Hostile::error(Case::RecordUnmapped, t);
        let expected_entry = entry_gpa(&guest.vm, UNMAPPED, 3);
        assert!(
            matches!(err, RunError::Decode(decode::Error::Paging(paging::Error::NotMapped { gva: UNMAPPED, level: 3, entry_gpa, entry: 0 })) if entry_gpa == expected_entry),
            "{err:?}"
        );
    });
}

#[test]
fn record_at_a_non_canonical_address_is_refused_before_any_walk() {
    each_transport(|t| {
        let (err, _) = Hostile::error(Case::RecordNonCanonical, t);
        assert!(
            matches!(
                err,
                RunError::Decode(decode::Error::Paging(paging::Error::NonCanonical {
                    gva: NON_CANONICAL,
                    bits: 48
                }))
            ),
            "{err:?}"
        );
    });
}

#[test]
fn record_at_a_non_canonical_upper_half_address_is_refused() {
    each_transport(|t| {
        let (err, _) = Hostile::error(Case::RecordNonCanonicalHigh, t);
        assert!(
            matches!(
                err,
                RunError::Decode(decode::Error::Paging(paging::Error::NonCanonical {
                    gva: NON_CANONICAL_HIGH,
                    bits: 48
                }))
            ),
            "{err:?}"
        );
    });
}

#[test]
fn record_in_the_ucall_page_is_outside_guest_memory() {
    let (err, guest) = Hostile::error(Case::RecordInTheUcallPage, TransportKind::Mmio);
    let mmio = guest.mmio();
    assert!(
        matches!(err, RunError::Decode(decode::Error::Paging(paging::Error::OutsideMemory { gva, gpa })) if gva == mmio && gpa == mmio),
        "{err:?}"
    );
}

#[cfg(target_arch = "x86_64")]
#[test]
fn record_at_address_zero_reads_zeros_and_is_an_unknown_command_0() {
    each_transport(|t| {
        let (err, _) = Hostile::error(Case::RecordAtNull, t);
        assert!(
            matches!(
                err,
                RunError::Decode(decode::Error::UnknownCommand {
                    cmd: 0,
                    record_gva: 0
                })
            ),
            "{err:?}"
        );
    });
}

#[cfg(not(target_arch = "x86_64"))]
#[test]
fn record_at_address_zero_is_not_mapped_below_ram() {
    each_transport(|t| {
        let (err, guest) = Hostile::error(Case::RecordAtNull, t);
        let expected_entry = entry_gpa(&guest.vm, 0, 3);
        assert!(
            matches!(err, RunError::Decode(decode::Error::Paging(paging::Error::NotMapped { gva: 0, level: 3, entry_gpa, entry: 0 })) if entry_gpa == expected_entry),
            "{err:?}"
        );
    });
}

#[test]
fn record_straddling_the_end_of_memory_is_not_mapped_past_the_end() {
    each_transport(|t| {
        let (err, guest) = Hostile::error(Case::RecordStraddlesEndOfMemory, t);
        let end = guest.memory_end();
        let expected_entry = entry_gpa(&guest.vm, end, 2);
        assert!(
            matches!(err, RunError::Decode(decode::Error::Paging(paging::Error::NotMapped { gva, level: 2, entry_gpa, entry: 0 })) if gva == end && entry_gpa == expected_entry),
            "{err:?}"
        );
    });
}

#[test]
fn record_that_would_wrap_around_the_top_of_the_address_space_is_refused() {
    each_transport(|t| {
        let (err, _) = Hostile::error(Case::RecordWrapsAroundTheTop, t);
        assert!(
            matches!(err, RunError::Decode(decode::Error::Paging(paging::Error::WrapsAround { gva, len: 56 })) if gva == u64::MAX - 7),
            "{err:?}"
        );
    });
}

#[test]
fn record_straddling_a_page_boundary_onto_an_unmapped_page_names_that_page() {
    each_transport(|t| {
        let (err, guest) = Hostile::error(Case::RecordStraddlesOntoAnUnmappedPage, t);
        let last_table = guest.symbol("HOSTILE_TABLES") + 2 * 0x1000;
        assert!(
            matches!(err, RunError::Decode(decode::Error::Paging(paging::Error::NotMapped { gva, level: 1, entry_gpa, entry: 0 })) if gva == SLOT_BASE + 0x1000 && entry_gpa == last_table + 8),
            "{err:?}"
        );
    });
}
