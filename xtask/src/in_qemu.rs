//! The suite and the runner on real KVMs inside QEMU: arm64 KVM (VHE and nVHE) for aarch64,
//! kvm_amd for x86_64, whose behaviour this machine's own KVM (kvm_pvm) may not share, and
//! riscv64 KVM.
//!
//! One way for all: build static binaries for the VM's architecture, pack them with the
//! guests and `/init` (`xtask/qemu-init`) into an initramfs, boot Debian's kernel with it
//! (see [`crate::qemu`]) and read the results from the console markers.

use crate::arch::Arch;
use crate::install;
use crate::qemu::{self, BootOptions, Initramfs, Machine};
use crate::shell::{describe, workspace_root};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use ucall_init_protocol::{Command as InitCommand, Config as InitConfig, Marker, Module, Outcome};

/// Where guests are in the VM; the tests find them through `UCALL_GUEST_DIR`.
const GUEST_DIR: &str = "/guests";

/// A hard limit per boot, for a hung VM. The longest boot is the first arm64 one, which also
/// runs the KVM-free property tests under emulation: 35 s on an idle machine here, and 120 s
/// was too short once the riscv64 paging properties came while other builds loaded both cores.
const BOOT_TIMEOUT: Duration = Duration::from_secs(360);

/// Boots after a VM that hung (timed out without a failed test) before giving up. QEMU 7.2's
/// TCG occasionally hangs the whole x86_64 VM with nested SVM: no test fails, nothing is printed,
/// and even the watchdog inside stops. A test that fails is never retried.
const RETRIES_AFTER_HANG: usize = 1;

/// The crates whose test binaries run in the VMs: the integration tests and the host's unit
/// and property tests.
const TEST_PACKAGES: [&str; 2] = ["ucall-tests", "ucall-host"];

/// Source folders that tests read through `env!("CARGO_MANIFEST_DIR")`, packed at the same
/// absolute paths as here: the packages' folders (so that `<package>/..` resolves) and the data.
const SOURCE_FOLDERS: [&str; 2] = ["host", "tests"];
const SOURCE_DATA: [&str; 1] = ["fuzz/seeds"];

/// Test binaries that never open `/dev/kvm` (pure host logic, seconds of emulated CPU): they
/// run once per architecture, natively for x86_64 and in the first arm64 VM, not in every VM.
const KVM_FREE_TESTS: [&str; 1] = ["properties"];

/// Test binaries that need programs the VMs do not have (gdb): they run natively only.
const HOST_ONLY_TESTS: [&str; 1] = ["core_dump"];

/// Whether the test binary `name` (`<target>-<hash>`) is one of [`KVM_FREE_TESTS`].
fn is_kvm_free(name: &str) -> bool {
    is_one_of(name, &KVM_FREE_TESTS)
}

/// Whether the test binary `name` (`<target>-<hash>`) is one of `targets`.
fn is_one_of(name: &str, targets: &[&str]) -> bool {
    name.rsplit_once('-')
        .is_some_and(|(target, _)| targets.contains(&target))
}

/// What every boot needs: QEMU, the Linux target, `/init` and the kernel.
struct Prepared {
    init: PathBuf,
    kernel: qemu::Kernel,
}

fn prepare(arch: Arch) -> Result<Prepared, String> {
    install::ensure_packages(arch.host_packages())?;
    install::ensure_targets(&[arch.linux_target()])?;
    let init = qemu::build_static("ucall-qemu-init", "ucall-qemu-init", "", arch)?;
    let kernel = qemu::kernel(arch, &workspace_root().join("target/qemu"))?;
    Ok(Prepared { init, kernel })
}

/// Packs `/init`, the kernel's modules, the guests (if any) and `commands` (binary on the
/// host, then the command) into the initramfs at `out`.
fn pack(
    prepared: &Prepared,
    guest_dir: Option<&Path>,
    commands: &[(PathBuf, InitCommand)],
    out: &Path,
) -> Result<(), String> {
    let mut image = Initramfs::new();
    let mut config = InitConfig {
        env: vec![("UCALL_GUEST_DIR".into(), GUEST_DIR.into())],
        require: vec!["/dev/kvm".into()],
        ..InitConfig::default()
    };
    image.add_file(&prepared.init, "/init", true)?;
    for module in &prepared.kernel.modules {
        let name = file_name(module)?;
        let at = format!("/lib/modules/{name}");
        image.add_file(module, &at, false)?;
        config.modules.push(Module {
            path: at,
            params: String::new(),
        });
    }
    if let Some(guest_dir) = guest_dir {
        let guests = std::fs::read_dir(guest_dir)
            .map_err(|e| format!("cannot list {}: {e}", guest_dir.display()))?;
        for guest in guests.flatten().map(|entry| entry.path()) {
            let at = format!("{GUEST_DIR}/{}", file_name(&guest)?);
            image.add_file(&guest, &at, false)?;
        }
    }
    let root = workspace_root();
    for folder in SOURCE_FOLDERS {
        image.add_dir(&root.join(folder).to_string_lossy())?;
    }
    for data in SOURCE_DATA {
        add_tree(&mut image, &root.join(data))?;
    }
    for (binary, command) in commands {
        image.add_file(binary, &command.exec, true)?;
        config.commands.push(command.clone());
    }
    image.add_config(&config)?;
    Ok(image.write(out)?)
}

/// Adds every file under `folder` at its own absolute path.
fn add_tree(image: &mut Initramfs, folder: &Path) -> Result<(), String> {
    let entries =
        std::fs::read_dir(folder).map_err(|e| format!("cannot list {}: {e}", folder.display()))?;
    for path in entries.flatten().map(|entry| entry.path()) {
        if path.is_dir() {
            add_tree(image, &path)?;
        } else {
            image.add_file(&path, &path.to_string_lossy(), false)?;
        }
    }
    Ok(())
}

fn file_name(path: &Path) -> Result<&str, String> {
    path.file_name()
        .and_then(|name| name.to_str())
        .ok_or_else(|| format!("{} has no UTF-8 file name", path.display()))
}

/// Boots `machine` with `initrd`, printing the console (test results included) prefixed with the
/// machine's name, and returns the report.
fn boot(
    machine: Machine,
    kernel: &Path,
    initrd: &Path,
    names: &[&str],
    echo: bool,
) -> Result<qemu::RunReport, String> {
    let options = BootOptions::new(machine, kernel, initrd, BOOT_TIMEOUT);
    let started = Instant::now();
    eprintln!("    booting {machine} ({})", describe(&options.command()));
    let report = qemu::run(&options, names, &mut |line: &str| {
        let line = line.trim_end();
        if echo && !line.is_empty() {
            eprintln!("    [{machine}] {line}");
        }
    })?;
    eprintln!(
        "    {machine}: QEMU ran {:.1?} (boot, tests, power off)",
        started.elapsed()
    );
    if report.boot.killed_after_done {
        eprintln!("    WARNING: {machine} did not power off after /init finished; QEMU killed");
    }
    Ok(report)
}

/// Runs the whole suite of `arch` (the test binaries of [`TEST_PACKAGES`] and every guest) on
/// each of `machines`, with the [`KVM_FREE_TESTS`] too where the flag says so; any failure,
/// crash or missing result is an error.
pub fn test_suite(
    arch: Arch,
    guest_dir: &Path,
    machines: &[(Machine, bool)],
) -> Result<(), String> {
    let root = workspace_root();
    let prepared = prepare(arch)?;
    let mut commands = Vec::new();
    for package in TEST_PACKAGES {
        let binaries = qemu::build_static_tests(package, arch)?;
        if binaries.is_empty() {
            return Err(format!("cargo built no test binary for {package}"));
        }
        for binary in binaries {
            // Test binaries are named <crate>-<hash>; the hash keeps names unique.
            let name = file_name(&binary)?.to_string();
            if is_one_of(&name, &HOST_ONLY_TESTS) {
                continue;
            }
            let command = InitCommand {
                name: name.clone(),
                exec: format!("/bin/{name}"),
                // One test at a time: every line on the one console stays whole.
                args: vec!["--test-threads=1".into()],
                // The property tests run in full natively; under TCG a sample keeps the boot short.
                env: if is_kvm_free(&name) {
                    vec![("UCALL_PROPERTY_CASE_DIVISOR".into(), "8".into())]
                } else {
                    Vec::new()
                },
            };
            commands.push((binary, command));
        }
    }
    for &(machine, with_kvm_free) in machines {
        let commands: Vec<_> = commands
            .iter()
            .filter(|(_, command)| with_kvm_free || !is_kvm_free(&command.name))
            .cloned()
            .collect();
        let initrd = root.join(format!("target/qemu/suite-{machine}.cpio"));
        pack(&prepared, Some(guest_dir), &commands, &initrd)?;
        let names: Vec<&str> = commands.iter().map(|(_, c)| c.name.as_str()).collect();
        let mut report = boot(machine, &prepared.kernel.image, &initrd, &names, true)?;
        for _ in 0..RETRIES_AFTER_HANG {
            let failed = report.commands.iter().any(|c| !c.passed() && c.finished());
            if !report.boot.timed_out || failed {
                break;
            }
            eprintln!(
                "    WARNING: {machine} hung (timed out after {BOOT_TIMEOUT:?} with no failed test); \
                 booting it once more"
            );
            report = boot(machine, &prepared.kernel.image, &initrd, &names, true)?;
        }
        report
            .check()
            .map_err(|e| format!("the {arch} suite failed in {machine}: {e}"))?;
        let tests: Vec<String> = report
            .commands
            .iter()
            .map(|c| format!("{} ({} ms)", c.name, c.guest_ms.unwrap_or(0)))
            .collect();
        eprintln!(
            "    {machine}: all passed on kernel {}: {}",
            report.kernel_release.as_deref().unwrap_or("?"),
            tests.join(", ")
        );
    }
    Ok(())
}

/// What a runner boot needs: the prepared VM parts, the static `ucall-run`, the guest staged
/// under its own name (which the runner prints) in `target/qemu/<folder>/`, and where the
/// initramfs goes.
struct StagedRunner {
    prepared: Prepared,
    runner: PathBuf,
    guest_dir: PathBuf,
    name: String,
    initrd: PathBuf,
}

fn stage_runner(machine: Machine, elf: &Path, folder: &str) -> Result<StagedRunner, String> {
    let arch = machine.arch();
    let cache = workspace_root().join("target/qemu");
    let prepared = prepare(arch)?;
    let runner = qemu::build_static("ucall-host", "ucall-run", "runner", arch)?;
    let guest_dir = cache.join(folder);
    let _ = std::fs::remove_dir_all(&guest_dir);
    let name = file_name(elf)?;
    std::fs::create_dir_all(&guest_dir)
        .and_then(|()| std::fs::copy(elf, guest_dir.join(name)).map(drop))
        .map_err(|e| format!("cannot stage {}: {e}", elf.display()))?;
    Ok(StagedRunner {
        prepared,
        runner,
        guest_dir,
        name: name.to_string(),
        initrd: cache.join(format!("{folder}-{arch}.cpio")),
    })
}

impl StagedRunner {
    /// The runner as the command `run` (its own copy at `/bin/<run>`: one file per path in the
    /// initramfs) with `args`, then the staged guest, then `after` (a test program's libtest
    /// arguments).
    fn command(
        &self,
        run: &str,
        args: impl IntoIterator<Item = String>,
        after: &[String],
    ) -> (PathBuf, InitCommand) {
        let mut args: Vec<String> = args.into_iter().collect();
        args.push(format!("{GUEST_DIR}/{}", self.name));
        args.extend_from_slice(after);
        let command = InitCommand {
            name: run.into(),
            exec: format!("/bin/{run}"),
            args,
            env: Vec::new(),
        };
        (self.runner.clone(), command)
    }

    /// Packs the initramfs with `commands`.
    fn pack(&self, commands: &[(PathBuf, InitCommand)]) -> Result<(), String> {
        pack(
            &self.prepared,
            Some(&self.guest_dir),
            commands,
            &self.initrd,
        )
    }
}

/// Runs the runner on `elf` in `machine` with `runner_args` before the ELF and `test_args`
/// after it, printing what it prints; returns its exit status (2 when it did not finish).
pub fn run_elf(
    machine: Machine,
    elf: &Path,
    runner_args: &[String],
    test_args: &[String],
) -> Result<i32, String> {
    let staged = stage_runner(machine, elf, "run-guest")?;
    staged.pack(&[staged.command("ucall-run", runner_args.iter().cloned(), test_args)])?;
    let kernel = &staged.prepared.kernel.image;
    let options = BootOptions::new(machine, kernel, &staged.initrd, BOOT_TIMEOUT);
    eprintln!("    booting {machine}");
    // Only the runner's own lines: between its BEGIN and END markers.
    let mut inside = false;
    let report = qemu::run(&options, &["ucall-run"], &mut |line: &str| {
        match Marker::find(line) {
            Some((_, Marker::Begin(_))) => inside = true,
            Some((_, Marker::End { .. })) => inside = false,
            // (/init starts each marker on a new line, which leaves a blank one behind.)
            _ if inside && !line.trim_end().is_empty() => println!("{}", line.trim_end()),
            _ => {}
        }
    })?;
    match report.commands.first().map(|c| &c.outcome) {
        Some(Some(Outcome::Exited(code))) => Ok(*code),
        _ => {
            let why = report.check().err().map(|e| e.to_string());
            Err(why.unwrap_or_else(|| "the runner did not finish".into()))
        }
    }
}

/// Runs the runner on `elf` in `machine` once per `(name, runner arguments)` of `runs`, all in
/// one boot, and returns each run's exit status (2 when it did not finish) and console lines
/// (stdout and stderr share the console; blank lines dropped), in the order of `runs`.
pub fn runner_outputs(
    machine: Machine,
    elf: &Path,
    runs: &[(&str, &[&str])],
) -> Result<Vec<(i32, String)>, String> {
    let staged = stage_runner(machine, elf, "runner-guest")?;
    let commands: Vec<_> = runs
        .iter()
        .map(|(run, args)| staged.command(run, args.iter().map(|a| a.to_string()), &[]))
        .collect();
    staged.pack(&commands)?;
    let names: Vec<&str> = runs.iter().map(|(run, _)| *run).collect();
    let report = boot(
        machine,
        &staged.prepared.kernel.image,
        &staged.initrd,
        &names,
        false,
    )?;
    names
        .iter()
        .map(|run| {
            let result = report.commands.iter().find(|c| c.name == *run);
            let Some(result) = result else {
                let why = report.check().err().map(|e| e.to_string());
                return Err(why.unwrap_or_else(|| format!("{run} did not run")));
            };
            let code = match result.outcome {
                Some(Outcome::Exited(code)) => code,
                _ => 2,
            };
            let lines: Vec<&str> = result
                .output
                .lines()
                .map(str::trim_end)
                .filter(|line| !line.is_empty())
                .collect();
            Ok((code, lines.join("\n")))
        })
        .collect()
}

/// The name of the benchmark command in the VM.
const BENCH_COMMAND: &str = "ucall-bench";

/// What the benchmark prints before its JSON when `UCALL_BENCH_JSON` is `-`
/// (`tests/benches/ucalls/main.rs`).
const BENCH_JSON_MARKER: &str = "ucall-bench-json:";

/// Runs the ucall benchmark (`tests/benches/ucalls`) of `machine`'s architecture inside it,
/// with the guests in `guest_dir` and the environment variables `env` (say,
/// `UCALL_BENCH_ROUNDS`), printing its table; returns its JSON report.
pub fn bench(
    machine: Machine,
    guest_dir: &Path,
    env: Vec<(String, String)>,
) -> Result<String, String> {
    let arch = machine.arch();
    let prepared = prepare(arch)?;
    let binary = qemu::build_static_bench("ucall-tests", "ucalls", arch)?;
    let command = InitCommand {
        name: BENCH_COMMAND.into(),
        exec: format!("/bin/{BENCH_COMMAND}"),
        args: Vec::new(),
        env: [("UCALL_BENCH_JSON".into(), "-".into())]
            .into_iter()
            .chain(env)
            .collect(),
    };
    let initrd = workspace_root().join(format!("target/qemu/bench-{machine}.cpio"));
    pack(&prepared, Some(guest_dir), &[(binary, command)], &initrd)?;
    let report = boot(
        machine,
        &prepared.kernel.image,
        &initrd,
        &[BENCH_COMMAND],
        false,
    )?;
    report
        .check()
        .map_err(|e| format!("the {arch} benchmark failed in {machine}: {e}"))?;
    let output = report
        .commands
        .iter()
        .find(|c| c.name == BENCH_COMMAND)
        .map(|c| c.output.as_str())
        .unwrap_or_default();
    let mut json = None;
    for line in output.lines() {
        match line.trim_end().split_once(BENCH_JSON_MARKER) {
            Some((_, report)) => json = Some(report.trim().to_string()),
            // The progress line redraws itself with carriage returns: show its last state.
            None if !line.trim().is_empty() => {
                let shown = line.trim_end().rsplit('\r').next().unwrap_or_default();
                println!("    [{machine}] {shown}");
            }
            None => {}
        }
    }
    json.ok_or_else(|| format!("the {arch} benchmark in {machine} printed no results"))
}

/// Boots `machine` with the KVM check (`xtask/qemu-init/src/bin/kvm-check.rs`) as the only
/// command: `/init` loads the kernel's KVM modules and requires `/dev/kvm`, the check asks for
/// the API version and creates a VM. Prints the check's output and the boot time.
pub fn kvm_check(machine: Machine) -> Result<(), String> {
    let arch = machine.arch();
    let prepared = prepare(arch)?;
    let check = qemu::build_static("ucall-qemu-init", "ucall-kvm-check", "", arch)?;
    let command = InitCommand {
        name: "ucall-kvm-check".into(),
        exec: "/bin/ucall-kvm-check".into(),
        args: Vec::new(),
        env: Vec::new(),
    };
    let initrd = workspace_root().join(format!("target/qemu/kvm-check-{machine}.cpio"));
    pack(&prepared, None, &[(check, command)], &initrd)?;
    let report = boot(
        machine,
        &prepared.kernel.image,
        &initrd,
        &["ucall-kvm-check"],
        true,
    )?;
    report
        .check()
        .map_err(|e| format!("the KVM check failed in {machine}: {e}"))?;
    eprintln!(
        "    {machine}: KVM answers on kernel {} (package {})",
        prepared.kernel.release, prepared.kernel.package
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{HOST_ONLY_TESTS, is_kvm_free, is_one_of};

    #[test]
    fn kvm_free_test_binaries_are_recognised_by_their_target_name() {
        assert!(is_kvm_free("properties-3ece76aa7e1d2d27"));
        assert!(!is_kvm_free("ucalls-a96dabe4164a108f"));
        assert!(!is_kvm_free("ucall_host-192272bca3a6013a"));
        assert!(!is_kvm_free("properties"));
    }

    #[test]
    fn host_only_test_binaries_are_recognised_by_their_exact_target_name() {
        assert!(is_one_of("core_dump-3ece76aa7e1d2d27", &HOST_ONLY_TESTS));
        assert!(!is_one_of("core_file-3ece76aa7e1d2d27", &HOST_ONLY_TESTS));
    }
}
