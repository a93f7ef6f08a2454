//! Hostile guests: commands.

use super::*;

fn unknown_command(case: Case, cmd: u64) {
    each_transport(|t| {
        let (err, guest) = Hostile::error(case, t);
        let record = guest.symbol("HOSTILE_RECORD");
        assert!(
            matches!(err, RunError::Decode(decode::Error::UnknownCommand { cmd: c, record_gva }) if c == cmd && record_gva == record),
            "{err:?}"
        );
    });
}

#[test]
fn unknown_command_names_its_number_and_record() {
    unknown_command(Case::UnknownCommand, 77);
}

#[test]
fn command_none_is_not_a_ucall() {
    unknown_command(Case::CommandNone, 0);
}

#[test]
fn command_2_to_the_64_minus_1_is_unknown() {
    unknown_command(Case::CommandMax, u64::MAX);
}
