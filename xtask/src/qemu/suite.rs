//! The work of `cargo xtask test` inside the VMs: everything of one architecture built once
//! ([`ArchBuild`]), then on each of its machines one boot that runs all of that machine's
//! [`Work`]: the test binaries (the integration tests and the host's unit and property tests),
//! the external guest and the example guest tests under `ucall-run`.
//!
//! One way for all: static binaries for the VM's architecture, packed with the guests and
//! `/init` (`xtask/qemu-init`) into an initramfs, Debian's kernel booted with it (see
//! [`crate::qemu`]) and the results read from the console markers.

use super::image::{self, GUEST_DIR, Program, VmParts};
use super::{Kernel, RunReport, static_build};
use crate::arch::Arch;
use crate::machines::{Machine, Selection, Work};
use crate::shell::say;
use crate::{ecosystem, guest_tests, guests, timing};
use anyhow::{Context, Result, anyhow, bail};
use std::path::PathBuf;

/// Boots after a VM that hung (timed out without a failed test) before giving up. QEMU 7.2's
/// TCG occasionally hangs the whole x86_64 VM with nested SVM: no test fails, nothing is printed,
/// and even the watchdog inside stops. A test that fails is never retried.
const RETRIES_AFTER_HANG: usize = 1;

/// Test binaries that never open `/dev/kvm` (pure host logic, seconds of emulated CPU): they
/// run natively only ([`Work::Tests`] says why). Besides the property tests, the unit tests of
/// `/init` and the KVM check, built with them for the VMs.
const KVM_FREE_TESTS: [&str; 3] = ["properties", "ucall_qemu_init", "ucall_kvm_check"];

/// The host crate's unit tests (`<binary>`, `<filter>`): in the VMs only those of its KVM layer
/// (`vm::`); the rest of the crate is KVM-free, the same logic on every host, and runs natively
/// only ([`Work::Tests`] says why). A filter given on the command line replaces this one.
const HOST_UNIT_TESTS: (&str, &str) = ("ucall_host", "vm::");

/// Test binaries that do not run in the VMs: `core_dump` needs gdb, which the VMs lack,
/// `runner` and `runner_harness` start `ucall-run` by its path here and `runner_guests` builds
/// it with cargo; `ucall_run` (the runner's own unit tests) is built only because the runner's
/// feature is on for the VMs' builds. (The runner as a harness runs in the VMs anyway:
/// [`Work::GuestTests`].)
const HOST_ONLY_TESTS: [&str; 5] = [
    "core_dump",
    "runner",
    "runner_guests",
    "runner_harness",
    "ucall_run",
];

/// The runner commands of [`Work::ExternalGuest`]: for people, and with `--json`.
const EXTERNAL_GUEST_RUNS: [(&str, &[&str]); 2] = [
    ("external-guest", &[]),
    ("external-guest-json", &["--json"]),
];

/// Whether the test binary `name` (`<target>-<hash>`) is one of `targets`.
fn is_one_of(name: &str, targets: &[&str]) -> bool {
    name.rsplit_once('-')
        .is_some_and(|(target, _)| targets.contains(&target))
}

/// Everything the VMs of one architecture run, built once for all of them.
#[derive(Debug)]
pub struct ArchBuild {
    /// The kernel and the static programs.
    pub parts: VmParts,
    /// The guests, each packed at `/guests/<name>`.
    pub guests: Vec<PathBuf>,
    /// The test binaries the VMs run, with their names (`<target>-<hash>`).
    pub tests: Vec<(PathBuf, String)>,
    /// The external guest's ELF, when a machine runs [`Work::ExternalGuest`].
    pub external_guest: Option<PathBuf>,
    /// The test program of `examples/guest-tests`, when a machine runs [`Work::GuestTests`].
    pub guest_tests: Option<PathBuf>,
}

/// The runner command of [`Work::GuestTests`].
const GUEST_TESTS_RUN: &str = "guest-tests";

/// Builds what `machines` (all of architecture `arch`) run, each piece a timed step of the
/// lane `arch`, then takes the kernel from `kernel` (fetched meanwhile elsewhere).
pub fn build(
    arch: Arch,
    machines: &[&'static Machine],
    kernel: impl FnOnce() -> Result<Kernel>,
) -> Result<ArchBuild> {
    let lane = arch.name();
    let runs = |wanted: fn(Work) -> bool| machines.iter().any(|m| m.runs_any(wanted));
    // QEMU, and the linker and C library of static programs: installed in the background
    // meanwhile, waited for here.
    crate::install::ensure_packages(arch.host_packages())?;
    let guest_dir = timing::step(lane, "guests (Rust and C)", || guests::build(arch))?;
    let (programs, binaries) = match runs(|w| matches!(w, Work::Tests)) {
        true => timing::step(lane, "static programs and test binaries", || {
            static_build::build_static_with_tests(arch)
        })?,
        false => (
            timing::step(lane, "static programs", || super::build_static(arch))?,
            Vec::new(),
        ),
    };
    let mut tests = Vec::new();
    for binary in binaries {
        // Test binaries are named <crate>-<hash>; the hash keeps names unique.
        let name = image::file_name(&binary)?.to_string();
        if !is_one_of(&name, &HOST_ONLY_TESTS) {
            tests.push((binary, name));
        }
    }
    let external_guest = match machines.iter().any(|m| m.runs(Work::ExternalGuest)) {
        true => Some(timing::step(lane, "examples/external-guest", || {
            ecosystem::build_external_guest(arch)
        })?),
        false => None,
    };
    let guest_tests = match machines.iter().any(|m| m.runs(Work::GuestTests)) {
        true => Some(timing::step(lane, "examples/guest-tests", || {
            guest_tests::build(arch)
        })?),
        false => None,
    };
    let kernel = timing::step(lane, "kernel (cached in target/qemu)", kernel)?;
    Ok(ArchBuild {
        parts: VmParts { kernel, programs },
        guests: image::files_in(&guest_dir)?,
        tests,
        external_guest,
        guest_tests,
    })
}

/// The commands that run `work` on `machine`, from `build`; `test_args` go to every test binary.
fn programs(work: Work, build: &ArchBuild, test_args: &[String]) -> Result<Vec<Program>> {
    match work {
        Work::Tests => Ok(build
            .tests
            .iter()
            .filter(|(_, name)| !is_one_of(name, &KVM_FREE_TESTS))
            .map(|(binary, name)| {
                // One test at a time: every line on the one console stays whole.
                let mut args = vec!["--test-threads=1".to_string()];
                args.extend_from_slice(test_args);
                let (host_units, kvm_layer) = HOST_UNIT_TESTS;
                if test_args.is_empty() && is_one_of(name, &[host_units]) {
                    args.push(kvm_layer.to_string());
                }
                (binary.clone(), image::command(name, args, Vec::new()))
            })
            .collect()),
        Work::ExternalGuest => {
            let elf = build
                .external_guest
                .as_ref()
                .ok_or_else(|| anyhow!("the external guest was not built"))?;
            let guest = format!("{GUEST_DIR}/{}", image::file_name(elf)?);
            Ok(EXTERNAL_GUEST_RUNS
                .iter()
                .map(|(name, args)| {
                    let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
                    args.push(guest.clone());
                    let runner = build.parts.programs.runner.clone();
                    (runner, image::command(name, args, Vec::new()))
                })
                .collect())
        }
        Work::GuestTests => {
            let elf = build
                .guest_tests
                .as_ref()
                .ok_or_else(|| anyhow!("examples/guest-tests was not built"))?;
            let mut args = vec![format!("{GUEST_DIR}/{}", image::file_name(elf)?)];
            args.extend(guest_tests::VM_ARGS.map(String::from));
            let runner = build.parts.programs.runner.clone();
            Ok(vec![(
                runner,
                image::command(GUEST_TESTS_RUN, args, Vec::new()),
            )])
        }
        Work::ForeignVmm | Work::DecodeOnly => {
            bail!("{work:?} runs on this machine's own KVM only")
        }
    }
}

/// Checks what `work` printed on `machine`, beyond every command's exit status 0.
fn check(work: Work, machine: &'static Machine, report: &RunReport) -> Result<()> {
    match work {
        Work::ExternalGuest => {
            let [human, json] = EXTERNAL_GUEST_RUNS.map(|(name, _)| output_of(report, name));
            ecosystem::check_external_guest_in_vm(machine, human?, json?)
        }
        Work::GuestTests => {
            guest_tests::check_in_vm(machine.name, output_of(report, GUEST_TESTS_RUN)?)
        }
        Work::Tests | Work::ForeignVmm | Work::DecodeOnly => Ok(()),
    }
}

/// The exit status (2 when it did not finish) and console lines (stdout and stderr share the
/// console; blank lines dropped) of the command `name`.
fn output_of(report: &RunReport, name: &str) -> Result<(i32, String)> {
    let result = report
        .commands
        .iter()
        .find(|c| c.name == name)
        .ok_or_else(|| anyhow!("{name} did not run"))?;
    let code = match result.outcome {
        Some(ucall_init_protocol::Outcome::Exited(code)) => code,
        _ => 2,
    };
    let lines: Vec<&str> = result
        .output
        .lines()
        .map(str::trim_end)
        .filter(|line| !line.is_empty())
        .collect();
    Ok((code, lines.join("\n")))
}

/// `report` with the exit statuses that pass other than 0: the guest tests that fail on purpose.
fn expecting(mut report: RunReport, machine: &Machine, selection: &Selection) -> RunReport {
    if selection.work(machine).any(|work| work == Work::GuestTests) {
        report.expect_status(GUEST_TESTS_RUN, guest_tests::FAILED_STATUS);
    }
    report
}

/// Runs all of `machine`'s work in one boot with what `build` holds; any failure, crash or
/// missing result is an error.
pub fn run_machine(
    machine: &'static Machine,
    build: &ArchBuild,
    selection: &Selection,
) -> Result<()> {
    let mut commands = Vec::new();
    for work in selection.work(machine) {
        commands.extend(programs(work, build, &selection.test_args)?);
    }
    let mut guests = build.guests.clone();
    guests.extend(build.external_guest.clone());
    guests.extend(build.guest_tests.clone());
    let initrd = image::image_path(&format!("suite-{machine}"));
    image::pack(&build.parts, &guests, &commands, &initrd)?;
    let names: Vec<&str> = commands.iter().map(|(_, c)| c.name.as_str()).collect();
    let kernel = &build.parts.kernel.image;
    let mut report = expecting(
        image::boot(machine, kernel, &initrd, &names, true)?,
        machine,
        selection,
    );
    for _ in 0..RETRIES_AFTER_HANG {
        let failed = report.commands.iter().any(|c| !c.passed() && c.finished());
        if !report.boot.timed_out || failed {
            break;
        }
        say(&format!(
            "WARNING: {machine} hung (timed out after {:?} with no failed test); booting it \
             once more",
            image::BOOT_TIMEOUT
        ));
        report = expecting(
            image::boot(machine, kernel, &initrd, &names, true)?,
            machine,
            selection,
        );
    }
    report
        .check()
        .with_context(|| format!("the {} suite failed in {machine}", machine.arch))?;
    for work in selection.work(machine) {
        check(work, machine, &report)?;
    }
    let ran: Vec<String> = report
        .commands
        .iter()
        .map(|c| format!("{} ({} ms)", c.name, c.guest_ms.unwrap_or(0)))
        .collect();
    say(&format!(
        "all passed on kernel {}: {}",
        report.kernel_release.as_deref().unwrap_or("?"),
        ran.join(", ")
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{HOST_ONLY_TESTS, KVM_FREE_TESTS, is_one_of};

    #[test]
    fn kvm_free_test_binaries_are_recognised_by_their_target_name() {
        assert!(is_one_of("properties-3ece76aa7e1d2d27", &KVM_FREE_TESTS));
        assert!(!is_one_of("ucalls-a96dabe4164a108f", &KVM_FREE_TESTS));
        assert!(!is_one_of("ucall_host-192272bca3a6013a", &KVM_FREE_TESTS));
        assert!(!is_one_of("properties", &KVM_FREE_TESTS));
    }

    #[test]
    fn host_only_test_binaries_are_recognised_by_their_exact_target_name() {
        assert!(is_one_of("core_dump-3ece76aa7e1d2d27", &HOST_ONLY_TESTS));
        assert!(is_one_of("runner-3ece76aa7e1d2d27", &HOST_ONLY_TESTS));
        assert!(is_one_of(
            "runner_harness-3ece76aa7e1d2d27",
            &HOST_ONLY_TESTS
        ));
        // tests/tests/harness.rs, the library harness, runs in the VMs.
        assert!(!is_one_of("harness-3ece76aa7e1d2d27", &HOST_ONLY_TESTS));
        assert!(!is_one_of("core_file-3ece76aa7e1d2d27", &HOST_ONLY_TESTS));
    }
}
