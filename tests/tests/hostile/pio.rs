//! Hostile guests: port I/O on the ucall port (x86_64).

use super::*;

fn bad_pio(case: Case, size: usize, is_in: bool) {
    let (err, _) = Hostile::error(case, TransportKind::Pio);
    assert!(
        matches!(err, RunError::Decode(decode::Error::BadPioAccess { port: 0x1000, size: s, is_in: i }) if s == size && i == is_in),
        "{err:?}"
    );
}

#[test]
fn two_byte_in_on_the_ucall_port_is_a_bad_access() {
    bad_pio(Case::PioIn2, 2, true);
}

#[test]
fn four_byte_in_on_the_ucall_port_is_a_bad_access() {
    bad_pio(Case::PioIn4, 4, true);
}

#[test]
fn one_byte_out_on_the_ucall_port_is_a_bad_access() {
    bad_pio(Case::PioOut1, 1, false);
}

#[test]
fn four_byte_out_on_the_ucall_port_is_a_bad_access() {
    bad_pio(Case::PioOut4, 4, false);
}

#[test]
fn string_in_of_four_bytes_on_the_ucall_port_is_a_bad_access() {
    bad_pio(Case::PioRepIns4, 4, true);
}

#[test]
fn out_on_another_port_is_an_unexpected_exit() {
    let (err, _) = Hostile::error(Case::PioOtherPort, TransportKind::Pio);
    let exit = Exit::PioOut {
        port: 0x604,
        size: 1,
    };
    assert!(
        matches!(err, RunError::UnexpectedExit { vcpu: 0, exit: ExitKind::Access(e) } if e == exit),
        "{err:?}"
    );
}
