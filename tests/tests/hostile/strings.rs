//! Hostile guests: string arguments.

use super::*;

#[test]
fn printf_of_an_unmapped_string_is_not_mapped() {
    not_mapped_at_the_missing_level_3_entry(Case::PrintfUnmapped);
}

#[test]
fn printf_of_a_non_canonical_string_is_refused() {
    refused_as_non_canonical(Case::PrintfNonCanonical, NON_CANONICAL);
}

fn unterminated(case: Case) {
    each_transport(|t| {
        let (err, guest) = Hostile::error(case, t);
        let text = guest.symbol("HOSTILE_TEXT");
        assert!(
            matches!(err, RunError::Decode(decode::Error::Paging(paging::Error::StringUnterminated { gva, max_len: 1024 })) if gva == text),
            "{err:?}"
        );
    });
}

#[test]
fn printf_without_nul_within_the_bound_is_unterminated() {
    unterminated(Case::PrintfUnterminated);
}

#[test]
fn printf_longer_than_the_bound_is_unterminated_and_not_read_past_it() {
    unterminated(Case::PrintfLongerThanTheBound);
}

#[test]
fn printf_of_exactly_the_bound_arrives_whole() {
    each_transport(|t| {
        let mut guest = Hostile::start(Case::PrintfExactlyTheBound, t);
        let (ucalls, error) = guest.run();
        assert!(error.is_none(), "{error:?}");
        assert_eq!(ucalls, [Ucall::Printf("x".repeat(1023)), Ucall::Done]);
        guest.neighbours_finish_normally();
    });
}

fn not_utf8(case: Case, offset: u64, valid: usize) {
    each_transport(|t| {
        let (err, guest) = Hostile::error(case, t);
        let text = guest.symbol("HOSTILE_TEXT") + offset;
        assert!(
            matches!(err, RunError::Decode(decode::Error::Paging(paging::Error::StringNotUtf8 { gva, valid_up_to })) if gva == text && valid_up_to == valid),
            "{err:?}"
        );
    });
}

#[test]
fn printf_of_invalid_utf8_says_where_it_goes_wrong() {
    not_utf8(Case::PrintfInvalidUtf8, 0, 2);
}

#[test]
fn printf_of_a_truncated_utf8_character_says_where_it_goes_wrong() {
    not_utf8(Case::PrintfTruncatedUtf8, 0, 2);
}

#[test]
fn abort_with_a_file_name_that_is_not_utf8_names_the_file_string() {
    not_utf8(Case::AbortFileInvalidUtf8, 0x100, 4);
}

#[test]
fn printf_running_off_the_end_of_memory_is_not_mapped_past_the_end() {
    each_transport(|t| {
        let (err, guest) = Hostile::error(Case::PrintfRunsOffTheEndOfMemory, t);
        let end = guest.memory_end();
        assert!(
            matches!(err, RunError::Decode(decode::Error::Paging(paging::Error::NotMapped { gva, level: 2, entry: 0, .. })) if gva == end),
            "{err:?}"
        );
    });
}

#[test]
fn printf_straddling_onto_an_unmapped_page_names_that_page() {
    not_mapped_on_the_page_it_straddles_onto(Case::PrintfStraddlesOntoAnUnmappedPage);
}

#[test]
fn abort_with_an_unmapped_message_is_not_mapped() {
    each_transport(|t| {
        let (err, _) = Hostile::error(Case::AbortMessageUnmapped, t);
        assert!(
            matches!(
                err,
                RunError::Decode(decode::Error::Paging(paging::Error::NotMapped {
                    gva: UNMAPPED,
                    level: 3,
                    entry: 0,
                    ..
                }))
            ),
            "{err:?}"
        );
    });
}
