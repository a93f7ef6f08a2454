//! Hostile guests: an UNHANDLED report of the guest's own making. Any guest can send one; the
//! host tells it apart from its handlers' report by where the vCPU stopped, and says so, in
//! the library, and in the runner's human and JSON output.

use super::*;
use ucall_host::decode::{Sender, Unhandled};
use ucall_tests::{guest_dir, ucall_run};

/// What the runner prints after a forged report's usual line.
const LABEL: &str = ", sent by the guest, not the host's exception handler";

#[test]
fn unhandled_sent_from_the_guests_own_code_is_labelled_as_the_guests() {
    each_transport(|t| {
        let mut guest = Hostile::start(Case::ForgedUnhandled, t);
        let (ucalls, error) = guest.run();
        assert!(error.is_none(), "{error:?}");
        let [vector, instruction_address, error_code, fault_address] = FORGED;
        let forged = Unhandled {
            vector,
            instruction_address,
            error_code,
            fault_address,
            sent_by: Sender::Guest,
        };
        assert_eq!(ucalls, [Ucall::Unhandled(forged)], "over {t:?}");
        guest.neighbours_finish_normally();
    });
}

/// The runner's stdout for `guest`, with its exit status.
fn run(args: &[&str], guest: &str) -> (Option<i32>, Vec<String>) {
    let output = ucall_run()
        .args(args)
        .arg(guest_dir().join(guest))
        .output()
        .expect("ucall-run starts");
    let lines = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    (output.status.code(), lines)
}

#[test]
fn runner_labels_a_forged_unhandled_as_sent_by_the_guest() {
    let (code, lines) = run(&[], "forges_unhandled");
    assert_eq!(code, Some(2), "{lines:?}");
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with("vcpu 0: UNHANDLED "), "{lines:?}");
    assert!(lines[0].ends_with(LABEL), "{lines:?}");
}

#[test]
fn runner_json_says_who_sent_each_unhandled() {
    for (guest, sender) in [("forges_unhandled", "guest"), ("faults", "host_handler")] {
        let (code, lines) = run(&["--json"], guest);
        assert_eq!(code, Some(2), "{lines:?}");
        let report = lines
            .iter()
            .find(|line| line.contains(r#""command":"UNHANDLED""#))
            .unwrap_or_else(|| panic!("{guest}: no UNHANDLED in {lines:?}"));
        assert!(
            report.contains(&format!(r#""sent_by":"{sender}""#)),
            "{guest}: {report}"
        );
    }
}

#[test]
fn runner_prints_a_real_fault_without_the_label() {
    let (code, lines) = run(&[], "faults");
    assert_eq!(code, Some(2), "{lines:?}");
    assert!(lines[0].starts_with("vcpu 0: UNHANDLED "), "{lines:?}");
    assert!(!lines[0].contains("sent by the guest"), "{lines:?}");
}
