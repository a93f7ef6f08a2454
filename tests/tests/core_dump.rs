//! Post-mortem with gdb: a core written at a guest's end is opened by gdb, which names the
//! signal the guest ended with and, in its backtrace, the functions the guest was in.
//!
//! gdb must be installed (`apt-get install gdb`): without it these tests fail. This binary runs
//! natively on x86_64 only, not in the QEMU VMs (which have no gdb).

use std::process::Command;
use std::time::Duration;
use ucall_tests::core_dump::{DumpedGuest, dump_guest};

/// What gdb says when it opens `dumped`'s core with its guest's symbols and runs `command`
/// (its standard output; warnings such as missing source files go to standard error).
fn gdb(dumped: &DumpedGuest, command: &str) -> String {
    gdb_on(&dumped.elf, &dumped.file, command)
}

/// What gdb says when it opens the core `core` of the guest `elf` and runs `command`.
fn gdb_on(elf: &std::path::Path, core: &std::path::Path, command: &str) -> String {
    let output = Command::new("gdb")
        .args(["-batch", "-nx", "-ex", command])
        .arg(elf)
        .arg(core)
        .output()
        .unwrap_or_else(|e| panic!("cannot run gdb ({e}): install it, `apt-get install gdb`"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "gdb failed: {stdout}{stderr}");
    stdout
}

/// The functions of the backtrace `bt` printed, innermost first, that are in module `module`.
/// gdb prints the innermost frame once on opening the core and again as `bt`'s first line.
fn frames_in(gdb: &str, module: &str) -> Vec<String> {
    let lines: Vec<&str> = gdb.lines().filter(|line| line.starts_with('#')).collect();
    let backtrace = lines
        .iter()
        .rposition(|line| line.starts_with("#0 "))
        .map_or(&lines[..], |start| &lines[start..]);
    backtrace
        .iter()
        .filter_map(|line| {
            // `#5  0x00000000002000b1 in module::function () at file:line`, or without the
            // address for inlined frames.
            let (_, rest) = line.split_once("  ")?;
            let rest = rest.split_once(" in ").map_or(rest, |(_, name)| name);
            let (function, _) = rest.split_once(" (")?;
            function.starts_with(module).then(|| function.to_owned())
        })
        .collect()
}

/// Asserts that gdb, on the core of `guest` run to its end on one vCPU, says the program
/// ended with `signal` (gdb's words) and shows `frames` of the guest's own crate, innermost first.
fn assert_gdb_shows(guest: &str, timeout: Duration, signal: &str, frames: &[&str]) {
    let dumped = dump_guest(guest, 1, timeout);
    let gdb = gdb(&dumped, "bt");
    let fate = format!("\nProgram terminated with signal {signal}.\n");
    assert!(gdb.contains(&fate), "{gdb}");
    assert_eq!(frames_in(&gdb, &format!("{guest}::")), frames, "{gdb}");
}

#[test]
fn gdb_shows_an_aborted_guest_ended_by_sigabrt_in_the_function_that_aborted() {
    assert_gdb_shows(
        "core_aborts",
        Duration::from_secs(30),
        "SIGABRT, Aborted",
        &[
            "core_aborts::faulting_function",
            "core_aborts::calls_the_faulting_function",
            "core_aborts::main",
            "core_aborts::_start",
        ],
    );
}

#[test]
fn gdb_shows_a_timed_out_guest_ended_by_sigalrm_in_the_function_that_spun() {
    assert_gdb_shows(
        "core_spins",
        Duration::from_secs(1),
        "SIGALRM, Alarm clock",
        &[
            "core_spins::spinning_function",
            "core_spins::calls_the_spinning_function",
            "core_spins::main",
            "core_spins::_start",
        ],
    );
}

#[test]
fn gdb_shows_a_guest_that_faulted_ended_by_sigsegv_in_the_function_that_faulted() {
    // The vCPU stopped in the host's exception handler; the core shows the interrupted frame.
    assert_gdb_shows(
        "core_faults",
        Duration::from_secs(30),
        "SIGSEGV, Segmentation fault",
        &[
            "core_faults::faulting_function",
            "core_faults::calls_the_faulting_function",
            "core_faults::main",
            "core_faults::_start",
        ],
    );
}

#[test]
fn gdb_shows_each_vcpu_as_a_thread_whose_id_is_its_index_plus_one() {
    let dumped = dump_guest("core_aborts", 2, Duration::from_secs(30));
    let gdb = gdb(&dumped, "info threads");
    // `* 1    LWP 1             0x... in ...`: gdb's thread number, then the core's thread id.
    let threads: Vec<(&str, &str)> = gdb
        .lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.trim_start_matches('*').split_whitespace().collect();
            match words[..] {
                [number, "LWP", id, ..] if number.bytes().all(|b| b.is_ascii_digit()) => {
                    Some((number, id))
                }
                _ => None,
            }
        })
        .collect();
    assert_eq!(threads, [("1", "1"), ("2", "2")], "{gdb}");
}

#[test]
fn gdb_opens_the_sparse_core_the_runner_wrote_of_a_1_gib_guest() {
    use std::os::unix::fs::MetadataExt;
    let elf = ucall_tests::guest_dir().join("core_faults");
    let core = std::env::temp_dir().join(format!("ucall-1gib-{}.core", std::process::id()));
    let output = ucall_tests::ucall_run()
        .args(["--memory-mib", "1024", "--core"])
        .arg(&core)
        .arg(&elf)
        .output()
        .expect("ucall-run starts");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "UNHANDLED: {stderr}");
    let blocks = std::fs::metadata(&core).expect("the core").blocks();
    let gdb = gdb_on(&elf, &core, "bt");
    let _ = std::fs::remove_file(&core);
    assert!(blocks * 512 < 64 << 20, "{blocks} blocks");
    assert!(
        gdb.contains("\nProgram terminated with signal SIGSEGV, Segmentation fault.\n"),
        "{gdb}"
    );
    assert_eq!(
        frames_in(&gdb, "core_faults::"),
        [
            "core_faults::faulting_function",
            "core_faults::calls_the_faulting_function",
            "core_faults::main",
            "core_faults::_start",
        ],
        "{gdb}"
    );
}
