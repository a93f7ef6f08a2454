//! The test harness on this machine's KVM (in the QEMU VMs too): each test of the hand-written
//! test program `test_table` runs in a fresh VM with the outcome the ABI gives it, a static
//! written by one test is unchanged in the next, and a hostile table is refused with a typed
//! error; our own test programs (`aborting_tests`) give `ucall-run` the libtest outcome they
//! should. (`ucall-run`'s libtest lines for every flag are checked natively, in
//! host/tests/runner_harness.rs.)

use std::time::Duration;
use ucall_host::harness::{HarnessError, TestOptions, TestProgram, Verdict};
use ucall_host::vm::{TestCase, TestTableError, TextField};
use ucall_tests::{guest, libtest_lines};

/// Runs the test called `name` of `program`.
fn verdict(program: &TestProgram<'_>, name: &str) -> (Verdict, Vec<String>) {
    let test = program
        .tests()
        .iter()
        .find(|test| test.name == name)
        .unwrap_or_else(|| panic!("no test {name}"));
    let run = program.run(test, &TestOptions::default(), &|_, _| {});
    (run.verdict, run.output)
}

fn failed(verdict: Verdict) -> String {
    match verdict {
        Verdict::Failed(reason) => reason,
        Verdict::Passed => panic!("the test passed"),
    }
}

#[test]
fn the_table_is_read_from_the_elf_without_running_it() {
    let elf = guest("test_table");
    let program = TestProgram::parse(&elf).unwrap().expect("a test table");
    assert_eq!(program.tests().len(), 11);
    assert_eq!(
        program.tests()[6],
        TestCase {
            index: 6,
            name: "tests::ignored".into(),
            ignore: Some(Some("slow".into())),
            should_panic: None,
            timeout: None,
        }
    );
    assert_eq!(program.tests()[7].timeout, Some(Duration::from_millis(300)));
}

#[test]
fn a_plain_guest_has_no_table() {
    assert!(TestProgram::parse(&guest("demo")).unwrap().is_none());
}

#[test]
fn a_returning_test_passes() {
    let elf = guest("test_table");
    let program = TestProgram::parse(&elf).unwrap().unwrap();
    assert_eq!(verdict(&program, "tests::passes").0, Verdict::Passed);
}

#[test]
fn a_failed_assertion_fails_with_its_values_and_keeps_the_output() {
    let elf = guest("test_table");
    let program = TestProgram::parse(&elf).unwrap().unwrap();
    let (verdict, output) = verdict(&program, "tests::fails_with_output");
    assert_eq!(output, ["hello from the test"]);
    let reason = failed(verdict);
    assert!(
        reason.ends_with("assertion `left == right` failed: two == 3\n  left: 2\n right: 3"),
        "{reason}"
    );
}

#[test]
fn should_panic_tests_pass_by_panicking_with_the_expected_text() {
    let elf = guest("test_table");
    let program = TestProgram::parse(&elf).unwrap().unwrap();
    assert_eq!(verdict(&program, "tests::panics").0, Verdict::Passed);
    assert_eq!(
        verdict(&program, "tests::panics_with_expected").0,
        Verdict::Passed
    );
    assert_eq!(
        failed(verdict(&program, "tests::panics_with_other_text").0),
        "panic did not contain expected string: panic message \"boom\", expected substring \"overflow\""
    );
    assert_eq!(
        failed(verdict(&program, "tests::does_not_panic").0),
        "test did not panic as expected"
    );
}

#[test]
fn a_spinning_test_times_out_after_its_own_time() {
    let elf = guest("test_table");
    let program = TestProgram::parse(&elf).unwrap().unwrap();
    assert_eq!(
        failed(verdict(&program, "tests::times_out").0),
        "timed out after 300 ms"
    );
}

#[test]
fn a_faulting_test_fails_as_an_unhandled_exception_at_the_address() {
    let elf = guest("test_table");
    let program = TestProgram::parse(&elf).unwrap().unwrap();
    let reason = failed(verdict(&program, "tests::faults").0);
    assert!(reason.starts_with("unhandled exception "), "{reason}");
    assert!(reason.contains("fault address 0x700000000000"), "{reason}");
}

#[test]
fn a_static_written_by_one_test_is_unchanged_in_the_next() {
    let elf = guest("test_table");
    let program = TestProgram::parse(&elf).unwrap().unwrap();
    // Each checks that the static is 7, then writes 8.
    assert_eq!(
        verdict(&program, "tests::writes_a_static").0,
        Verdict::Passed
    );
    assert_eq!(
        verdict(&program, "tests::reads_the_static").0,
        Verdict::Passed
    );
    assert_eq!(
        verdict(&program, "tests::writes_a_static").0,
        Verdict::Passed
    );
}

#[test]
fn every_way_of_aborting_passes_its_should_panic_test_under_the_harness() {
    // The ABORTs themselves, message and location, are checked test by test in ucalls.rs.
    let (code, lines) = libtest_lines("aborting_tests", &[]);
    assert_eq!(code, Some(0), "{lines:#?}");
    assert_eq!(
        lines,
        [
            "",
            "running 2 tests",
            "test tests::assert_eq_fails ... ok",
            "test tests::panics          ... ok",
            "",
            "test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out",
            "",
        ]
    );
}

/// A C test program's libtest lines (`c_tests.c`, tests declared with ucall.h's macros), linked
/// by us or where gcc links. The linker lays the table out in either order, so the per-test
/// lines are compared sorted.
#[test]
fn a_c_test_program_gives_libtest_its_outcomes_linked_either_way() {
    for program in ["c_tests", "c_tests_default_link"] {
        let (code, lines) = libtest_lines(program, &[]);
        assert_eq!(code, Some(101), "{program}: {lines:#?}");
        let mut outcomes: Vec<String> = lines
            .iter()
            .filter(|line| line.starts_with("test ") && !line.starts_with("test result"))
            .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        outcomes.sort();
        assert_eq!(
            outcomes,
            [
                "test aborts ... ok",
                "test aborts_with_the_expected_text ... ok",
                "test adds ... ok",
                "test fails_after_printing ... FAILED",
                "test has_its_own_timeout ... ok",
                "test ignored ... ignored (shows the reason in the list)",
            ],
            "{program}"
        );
        let failure = lines
            .iter()
            .skip_while(|line| *line != "---- fails_after_printing ----")
            .skip(1)
            .take(2);
        assert!(
            failure.eq([
                "about to compare 2 + 2 with 5",
                "c_tests.c:23: Failed guest assert: two + 2 == 5"
            ]),
            "{program}: {lines:#?}"
        );
        assert!(
            lines.contains(
                &"test result: FAILED. 4 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out"
                    .into()
            ),
            "{program}: {lines:#?}"
        );
    }
}

/// The test program's ELF, and where its table starts in it.
fn test_table_and_offset() -> (Vec<u8>, usize) {
    let elf = guest("test_table");
    let parsed = goblin::elf::Elf::parse(&elf).unwrap();
    let table = parsed
        .section_headers
        .iter()
        .find(|s| parsed.shdr_strtab.get_at(s.sh_name) == Some("ucall_tests"))
        .unwrap()
        .sh_offset as usize;
    (elf, table)
}

#[test]
fn a_table_with_unknown_flags_is_refused_with_a_typed_error() {
    let (mut elf, table) = test_table_and_offset();
    elf[table + 16..table + 24].copy_from_slice(&(1u64 << 9).to_le_bytes());
    assert!(matches!(
        TestProgram::parse(&elf),
        Err(HarnessError::Table(TestTableError::UnknownFlags {
            test: 0,
            flags: 0x200
        }))
    ));
}

#[test]
fn a_table_whose_name_is_outside_the_segments_is_refused_with_a_typed_error() {
    let (mut elf, table) = test_table_and_offset();
    elf[table..table + 8].copy_from_slice(&0x10u64.to_le_bytes());
    assert!(matches!(
        TestProgram::parse(&elf),
        Err(HarnessError::Table(TestTableError::OutsideSegments {
            test: 0,
            field: TextField::Name,
            address: 0x10,
            len: 13
        }))
    ));
}
