//! Hostile guests: the record address.

use super::*;

#[test]
fn record_at_an_unmapped_address_is_not_mapped_at_the_missing_level_3_entry() {
    not_mapped_at_the_missing_level_3_entry(Case::RecordUnmapped);
}

#[test]
fn record_at_a_non_canonical_address_is_refused_before_any_walk() {
    refused_as_non_canonical(Case::RecordNonCanonical, NON_CANONICAL);
}

#[test]
fn record_at_a_non_canonical_upper_half_address_is_refused() {
    refused_as_non_canonical(Case::RecordNonCanonicalHigh, NON_CANONICAL_HIGH);
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
    not_mapped_on_the_page_it_straddles_onto(Case::RecordStraddlesOntoAnUnmappedPage);
}
