//! Hostile guests: several vCPUs, one record.

use super::*;

#[test]
fn vcpus_racing_on_one_record_each_get_well_formed_syncs_and_finish() {
    each_transport(|t| {
        let mut guest = Hostile::start_with(Case::SharedRecord, t, 4, TIMEOUT);
        let mut results = vec![(0, guest.run())];
        results.extend(guest.neighbours.drain(..).map(|thread| {
            let (index, ucalls, error) = thread.join().expect("vCPU thread");
            (index, (ucalls, error))
        }));
        for (index, (ucalls, error)) in results {
            assert!(error.is_none(), "vCPU {index}: {error:?}");
            let (last, syncs) = ucalls.split_last().expect("ucalls");
            assert_eq!(last, &Ucall::Done, "vCPU {index}");
            assert_eq!(syncs.len() as u64, SYNCS, "vCPU {index}");
            // Which vCPU's values a SYNC carries depends on the race; their shape does not.
            for ucall in syncs {
                assert!(
                    matches!(ucall, Ucall::Sync { args: [v, i, 0, 0, 0, 0] } if *v < 4 && *i < SYNCS),
                    "vCPU {index}: {ucall:?}"
                );
            }
        }
    });
}
