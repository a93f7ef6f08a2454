//! `ucall-run` as a libtest harness, as a process: the exact lines libtest prints for each
//! outcome and flag, on the hand-written test program `test_table` (one test per outcome), and
//! hostile tables refused with exit status 2. Needs the guests (`cargo xtask build-guests`)
//! and the `runner` feature.

use goblin::elf::Elf;
use std::path::PathBuf;
use std::process::{Command, Output};

/// The built guest `name`: `$UCALL_GUEST_DIR`, else `target/guests/<arch>/`.
fn guest(name: &str) -> PathBuf {
    std::env::var_os("UCALL_GUEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../target/guests")
                .join(std::env::consts::ARCH)
        })
        .join(name)
}

/// Runs `ucall-run [runner args] test_table [libtest args]`, colors off.
fn run(runner_args: &[&str], elf: &std::path::Path, test_args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ucall-run"))
        .args(runner_args)
        .arg(elf)
        .args(test_args)
        .env("NO_COLOR", "1")
        .env_remove("CLICOLOR_FORCE")
        .output()
        .expect("ucall-run starts")
}

/// The test program's run with libtest's `args`, one test at a time (so in table order).
fn tests(args: &[&str]) -> (Option<i32>, Vec<String>) {
    let mut all = vec!["--test-threads", "1"];
    all.extend_from_slice(args);
    let output = run(&[], &guest("test_table"), &all);
    (output.status.code(), lines(&output.stdout))
}

fn lines(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The summary line without its time.
fn summary(lines: &[String]) -> &str {
    let line = lines
        .iter()
        .rev()
        .find(|line| line.starts_with("test result:"))
        .expect("a summary line");
    line.split("; finished in").next().unwrap_or(line)
}

#[test]
fn every_outcome_has_its_libtest_line_and_the_summary_counts_them() {
    let (code, lines) = tests(&[]);
    assert_eq!(code, Some(101), "{lines:#?}");
    assert_eq!(
        lines[..13],
        [
            "",
            "running 11 tests",
            "test tests::passes                 ... ok",
            "test tests::fails_with_output      ... FAILED",
            "test tests::panics                 ... ok",
            "test tests::panics_with_expected   ... ok",
            "test tests::panics_with_other_text ... FAILED",
            "test tests::does_not_panic         ... FAILED",
            "test tests::ignored                ... ignored (slow)",
            "test tests::times_out              ... FAILED",
            "test tests::faults                 ... FAILED",
            "test tests::writes_a_static        ... ok",
            "test tests::reads_the_static       ... ok",
        ]
    );
    assert_eq!(
        summary(&lines),
        "test result: FAILED. 5 passed; 5 failed; 1 ignored; 0 measured; 0 filtered out"
    );
}

/// The lines under `---- name ----` in the failures section.
fn failure<'a>(lines: &'a [String], name: &str) -> &'a [String] {
    let header = format!("---- {name} ----");
    let start = lines
        .iter()
        .position(|line| *line == header)
        .expect(&header)
        + 1;
    let len = lines[start..]
        .iter()
        .position(String::is_empty)
        .unwrap_or(0);
    &lines[start..start + len]
}

#[test]
fn failed_assertion_shows_what_the_test_printed_then_the_assertion_with_its_values() {
    let (code, lines) = tests(&["fails_with_output"]);
    assert_eq!(code, Some(101));
    let failure = failure(&lines, "tests::fails_with_output");
    assert_eq!(failure.len(), 2, "{failure:#?}");
    assert_eq!(failure[0], "hello from the test");
    assert!(
        failure[1]
            .ends_with(": assertion `left == right` failed: two == 3\\n  left: 2\\n right: 3"),
        "{failure:#?}"
    );
    assert!(
        failure[1].starts_with("src/bin/test_table.rs:"),
        "{failure:#?}"
    );
}

#[test]
fn should_panic_test_passes_by_panicking_and_fails_by_returning() {
    let (_, lines) = tests(&["panic"]);
    assert_eq!(lines[2], "test tests::panics                 ... ok");
    assert_eq!(
        failure(&lines, "tests::does_not_panic"),
        ["test did not panic as expected"]
    );
    assert_eq!(
        summary(&lines),
        "test result: FAILED. 2 passed; 2 failed; 0 ignored; 0 measured; 7 filtered out"
    );
}

#[test]
fn should_panic_with_expected_text_fails_on_another_message() {
    let (_, lines) = tests(&["panics_with"]);
    assert_eq!(lines[2], "test tests::panics_with_expected   ... ok");
    assert_eq!(lines[3], "test tests::panics_with_other_text ... FAILED");
    assert_eq!(
        failure(&lines, "tests::panics_with_other_text"),
        [
            "panic did not contain expected string: panic message \"boom\", expected substring \"overflow\""
        ]
    );
}

#[test]
fn test_past_its_own_timeout_fails_saying_so() {
    let (_, lines) = tests(&["times_out"]);
    assert_eq!(lines[2], "test tests::times_out ... FAILED");
    assert_eq!(
        failure(&lines, "tests::times_out"),
        ["timed out after 300 ms"]
    );
}

#[test]
fn unhandled_exception_fails_naming_it_and_the_faulting_address() {
    let (_, lines) = tests(&["faults"]);
    let failure = failure(&lines, "tests::faults");
    assert_eq!(failure.len(), 1, "{failure:#?}");
    let expected = if cfg!(target_arch = "x86_64") {
        "#PF"
    } else {
        ""
    };
    assert!(
        failure[0].starts_with(&format!("unhandled exception {expected}")),
        "{failure:#?}"
    );
    assert!(
        failure[0].contains("fault address 0x700000000000"),
        "{failure:#?}"
    );
}

#[test]
fn ignored_flag_runs_only_the_ignored_test() {
    let (code, lines) = tests(&["--ignored"]);
    assert_eq!(code, Some(0), "{lines:#?}");
    assert_eq!(
        lines[1..3],
        ["running 1 test", "test tests::ignored ... ok"]
    );
    assert_eq!(
        summary(&lines),
        "test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 10 filtered out"
    );
}

#[test]
fn ignored_test_is_reported_with_its_reason() {
    let (code, lines) = tests(&["ignored"]);
    assert_eq!(code, Some(0), "{lines:#?}");
    // libtest-mimic's form of libtest's `ignored, slow`.
    assert_eq!(
        lines[1..3],
        ["running 1 test", "test tests::ignored ... ignored (slow)"]
    );
    assert_eq!(
        summary(&lines),
        "test result: ok. 0 passed; 0 failed; 1 ignored; 0 measured; 10 filtered out"
    );
}

#[test]
fn include_ignored_runs_the_ignored_test_with_the_others() {
    let (code, lines) = tests(&["--include-ignored", "ignored"]);
    assert_eq!(code, Some(0), "{lines:#?}");
    assert_eq!(
        lines[1..3],
        ["running 1 test", "test tests::ignored ... ok"]
    );
}

#[test]
fn ignore_reason_cannot_forge_a_line() {
    let path = hostile("forged_reason", |elf, _, table| {
        // Entry 6 is `tests::ignored`; its reason, "slow", is rewritten in place.
        let at = table + 6 * 64 + 48;
        let address = u64::from_le_bytes(elf[at..at + 8].try_into().expect("8 bytes"));
        let offset = file_offset(elf, address);
        elf[offset..offset + 4].copy_from_slice(b"s\nw\x1b");
    });
    let output = run(&[], &path, &["--test-threads", "1", "ignored"]);
    assert_eq!(
        lines(&output.stdout)[2],
        "test tests::ignored ... ignored (s\\nw\\e)"
    );
}

/// Where the byte at virtual address `address` of `elf` is in the file.
fn file_offset(elf: &[u8], address: u64) -> usize {
    let parsed = Elf::parse(elf).expect("an ELF");
    let segment = parsed
        .program_headers
        .iter()
        .find(|p| p.p_vaddr <= address && address < p.p_vaddr + p.p_filesz)
        .expect("a segment holds the address");
    (segment.p_offset + (address - segment.p_vaddr)) as usize
}

#[test]
fn name_filter_runs_the_tests_whose_name_contains_it() {
    let (code, lines) = tests(&["static"]);
    assert_eq!(code, Some(0), "{lines:#?}");
    assert_eq!(
        lines[1..4],
        [
            "running 2 tests",
            "test tests::writes_a_static  ... ok",
            "test tests::reads_the_static ... ok",
        ]
    );
    assert_eq!(
        summary(&lines),
        "test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 9 filtered out"
    );
}

/// `writes_a_static` checks the static is 7 and writes 8; `reads_the_static`, after it in the
/// same process, checks it is still 7: its VM is a fresh one.
#[test]
fn static_written_by_one_test_is_unchanged_in_the_next() {
    let (code, lines) = tests(&["static"]);
    assert_eq!(code, Some(0), "{lines:#?}");
    assert_eq!(lines[3], "test tests::reads_the_static ... ok");
}

#[test]
fn exact_runs_only_the_test_of_that_whole_name() {
    let (_, lines) = tests(&["--exact", "tests::passes"]);
    assert_eq!(lines[1..3], ["running 1 test", "test tests::passes ... ok"]);
    let (_, lines) = tests(&["--exact", "passes"]);
    assert_eq!(lines[1], "running 0 tests");
}

#[test]
fn skip_leaves_out_the_tests_whose_name_contains_it() {
    let (_, lines) = tests(&["static", "--skip", "reads"]);
    assert_eq!(
        lines[1..3],
        ["running 1 test", "test tests::writes_a_static ... ok"]
    );
}

#[test]
fn list_names_every_test_and_runs_none() {
    let (code, lines) = tests(&["--list"]);
    assert_eq!(code, Some(0));
    assert_eq!(lines.len(), 11, "{lines:#?}");
    assert_eq!(lines[0], "tests::passes: test");
    assert_eq!(lines[10], "tests::reads_the_static: test");
}

#[test]
fn list_in_terse_format_of_the_ignored_tests_is_what_nextest_reads() {
    let (code, lines) = tests(&["--list", "--format", "terse", "--ignored"]);
    assert_eq!(code, Some(0));
    assert_eq!(lines, ["tests::ignored: test"]);
}

#[test]
fn quiet_prints_a_character_per_test() {
    let (_, lines) = tests(&["-q", "static"]);
    assert_eq!(lines[1..3], ["running 2 tests", ".."]);
}

#[test]
fn nocapture_prints_the_tests_output_as_it_comes_instead_of_with_the_failure() {
    let (_, lines) = tests(&["--nocapture", "fails_with_output"]);
    // One test at a time, libtest prints `test name ... ` before the test runs, and so its
    // output goes on that line.
    assert_eq!(
        lines[2],
        "test tests::fails_with_output ... hello from the test"
    );
    let failure = failure(&lines, "tests::fails_with_output");
    assert_eq!(failure.len(), 1, "{failure:#?}");
}

#[test]
fn runner_timeout_before_the_elf_is_the_default_time_of_each_test() {
    // times_out names its own 300 ms; the runner's --timeout does not change it.
    let output = run(&["--timeout", "1"], &guest("test_table"), &["times_out"]);
    assert_eq!(
        failure(&lines(&output.stdout), "tests::times_out"),
        ["timed out after 300 ms"]
    );
}

#[test]
fn core_dir_gets_a_core_named_for_each_failed_test() {
    let dir = std::env::temp_dir().join(format!("ucall-harness-cores-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let core_dir = dir.to_str().expect("a UTF-8 temp dir");
    let output = run(
        &["--core-dir", core_dir],
        &guest("test_table"),
        &["--test-threads", "1", "fault"],
    );
    assert_eq!(output.status.code(), Some(101));
    let mut cores: Vec<_> = std::fs::read_dir(&dir)
        .expect("the core folder exists")
        .map(|entry| entry.expect("an entry").file_name())
        .collect();
    cores.sort();
    assert_eq!(cores, ["tests__faults.core"]);
    let core = std::fs::read(dir.join("tests__faults.core")).expect("the core");
    assert_eq!(core[..4], *b"\x7fELF");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn plain_guest_with_libtest_arguments_is_refused() {
    let output = run(&[], &guest("demo"), &["--list"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        lines(&output.stderr)[0].ends_with(
            "has no test table: arguments after it and --core-dir are for test programs"
        ),
        "{:?}",
        lines(&output.stderr)
    );
}

/// The test program's ELF with `change` applied to its bytes, given the table's section
/// header offset and the table's file offset; written to a file of its own.
fn hostile(name: &str, change: impl FnOnce(&mut Vec<u8>, usize, usize)) -> PathBuf {
    let mut elf = std::fs::read(guest("test_table")).expect("the test_table guest");
    let (header, table) = {
        let parsed = Elf::parse(&elf).expect("an ELF");
        let index = parsed
            .section_headers
            .iter()
            .position(|s| parsed.shdr_strtab.get_at(s.sh_name) == Some("ucall_tests"))
            .expect("a ucall_tests section");
        let header = parsed.header.e_shoff as usize + index * 64;
        (header, parsed.section_headers[index].sh_offset as usize)
    };
    change(&mut elf, header, table);
    let dir = std::env::temp_dir().join(format!("ucall-harness-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let path = dir.join(name);
    std::fs::write(&path, elf).expect("the hostile ELF");
    path
}

fn put(elf: &mut [u8], at: usize, value: u64) {
    elf[at..at + 8].copy_from_slice(&value.to_le_bytes());
}

/// Runs the hostile ELF: exit status 2 and one line on stderr, never a panic.
fn refusal(path: &std::path::Path) -> String {
    let output = run(&[], path, &[]);
    let stderr = lines(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr:?}");
    assert_eq!(stderr.len(), 1, "{stderr:?}");
    assert!(output.stdout.is_empty());
    stderr[0].clone()
}

#[test]
fn table_with_unknown_flag_bits_is_refused() {
    let path = hostile("flags", |elf, _, table| put(elf, table + 16, 1 << 7));
    assert_eq!(
        refusal(&path),
        "ucall-run: test table: entry 0: unknown flag bits 0x80"
    );
}

#[test]
fn table_whose_name_is_outside_the_segments_is_refused() {
    let path = hostile("outside", |elf, _, table| put(elf, table, 0x10));
    assert_eq!(
        refusal(&path),
        "ucall-run: test table: entry 0: its name (13 bytes at 0x10) is not inside one loadable segment's file bytes"
    );
}

#[test]
fn table_with_more_than_4096_entries_is_refused() {
    let path = hostile("many", |elf, header, _| {
        let at = elf.len();
        elf.resize(at + 4097 * 64, 0);
        put(elf, header + 24, at as u64);
        put(elf, header + 32, 4097 * 64);
    });
    assert_eq!(
        refusal(&path),
        "ucall-run: test table: 4097 entries, more than the 4096 a table may have"
    );
}

#[test]
fn table_with_a_name_that_is_not_utf8_is_refused() {
    let path = hostile("utf8", |elf, _, table| {
        // The first name's first byte, through the segment that holds it.
        let name = u64::from_le_bytes(elf[table..table + 8].try_into().unwrap());
        let parsed = Elf::parse(elf).expect("an ELF");
        let offset = parsed
            .program_headers
            .iter()
            .find(|ph| ph.p_type == 1 && (ph.p_vaddr..ph.p_vaddr + ph.p_filesz).contains(&name))
            .map(|ph| (name - ph.p_vaddr + ph.p_offset) as usize)
            .expect("the name is in a segment");
        elf[offset] = 0xff;
    });
    assert_eq!(
        refusal(&path),
        "ucall-run: test table: entry 0: its name is not UTF-8"
    );
}

#[test]
fn table_section_of_a_size_not_a_multiple_of_64_is_refused() {
    let path = hostile("size", |elf, header, _| put(elf, header + 32, 63));
    assert_eq!(
        refusal(&path),
        "ucall-run: test table: section ucall_tests has 63 bytes, not a multiple of 64"
    );
}
