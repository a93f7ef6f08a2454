//! Hostile guests: and the host carries on.

use super::*;

#[test]
fn every_case_number_round_trips_and_the_host_runs_a_clean_guest_after_them_all() {
    for (n, case) in Case::ALL.iter().enumerate() {
        assert_eq!(Case::from_number(n as u64), Some(*case));
    }
    let mut guest = Hostile::start(Case::Behave, TransportKind::Mmio);
    let (ucalls, error) = guest.run();
    assert!(error.is_none(), "{error:?}");
    assert_eq!(ucalls.len() as u64, SYNCS + 1);
    guest.neighbours_finish_normally();
}
