//! The checks that users' paths into the crates work: the library crates package, a VMM of its
//! own serves ucalls with the host crate's pieces, and a guest crate of another project runs
//! under `cargo run` with `ucall-run` as its runner.

use crate::arch::Arch;
use crate::machines::Machine;
use crate::shell::{Run, cargo, say, workspace_root};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The crates published to crates.io.
pub const LIBRARY_CRATES: [&str; 4] = [
    "ucall-abi",
    "ucall-guest-macros",
    "ucall-guest",
    "ucall-host",
];

/// `cargo package` for the library crates: metadata complete, files included, each crate built
/// from its packaged sources against the others packaged alongside (cargo's local overlay for
/// unpublished workspace siblings), with no warnings.
pub fn package() -> Result<()> {
    let target_dir = workspace_root().join("target/package-check");
    forget_packaged_copies(&target_dir)?;
    let mut command = cargo();
    command.arg("package").arg("--target-dir").arg(&target_dir);
    for name in LIBRARY_CRATES {
        command.args(["-p", name]);
    }
    // Packaging a work in progress: the checks are about the crates, not about a clean checkout.
    command.arg("--allow-dirty");
    say(&format!(
        "$ cargo package -p {} --allow-dirty",
        LIBRARY_CRATES.join(" -p ")
    ));
    let output = command.output().context("cannot start cargo package")?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        bail!("cargo package failed:\n{stderr}");
    }
    // The project has no public address yet, and the manifests claim none: cargo's warning
    // about that is expected until one exists (see CHANGELOG.md).
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|line| line.trim_start().starts_with("warning"))
        .filter(|line| !line.contains("manifest has no documentation, homepage or repository"))
        .collect();
    if !warnings.is_empty() {
        bail!("cargo package warned:\n{}\n{stderr}", warnings.join("\n"));
    }
    Ok(())
}

/// Drops what earlier `cargo package` runs left of the library crates: cargo takes a registry
/// crate of one name and version as immutable, so it would verify a crate packaged again with
/// other contents against the sources it extracted earlier (in `CARGO_HOME`, shared by every
/// checkout on the machine) and the copy it compiled then (in `target_dir`), and fail or pass
/// on code that is gone.
fn forget_packaged_copies(target_dir: &Path) -> Result<()> {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")));
    let mut folders = vec![target_dir.join("debug/.fingerprint")];
    if let Some(sources) = cargo_home.map(|home| home.join("registry/src")) {
        // Each registry's extracted crates; crates.io's never hold ours.
        let registries = std::fs::read_dir(&sources).into_iter().flatten().flatten();
        folders.extend(
            registries
                .map(|entry| entry.path())
                .filter(|path| !name_starts_with(path, "index.crates.io")),
        );
    }
    for folder in folders {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for path in entries.flatten().map(|entry| entry.path()) {
            let ours = LIBRARY_CRATES
                .iter()
                .any(|name| name_starts_with(&path, &format!("{name}-")));
            if ours {
                std::fs::remove_dir_all(&path)
                    .with_context(|| format!("cannot remove {}", path.display()))?;
            }
        }
    }
    Ok(())
}

/// Whether the last component of `path` starts with `prefix`.
fn name_starts_with(path: &Path, prefix: &str) -> bool {
    path.file_name()
        .and_then(|name| name.to_str())
        .is_some_and(|name| name.starts_with(prefix))
}

/// Runs `command` to its end and returns its exit code and stdout (whatever the code).
fn code_and_stdout(command: &mut Command) -> Result<(i32, String)> {
    let output = command
        .output()
        .with_context(|| format!("cannot start {command:?}"))?;
    let code = output.status.code().unwrap_or(-1);
    Ok((code, String::from_utf8_lossy(&output.stdout).into_owned()))
}

/// Checks that a run exited with `code` and printed lines for which `expected` holds, one each.
fn expect(
    what: &str,
    (code, printed): (i32, String),
    expected_code: i32,
    expected: &[&dyn Fn(&str) -> bool],
    described: &str,
) -> Result<()> {
    let lines: Vec<&str> = printed.lines().collect();
    let matches = lines.len() == expected.len()
        && lines.iter().zip(expected).all(|(line, holds)| holds(line));
    if code != expected_code || !matches {
        bail!(
            "{what} exited with {code} and printed\n{printed}\ninstead of exiting with \
             {expected_code} and printing\n{described}"
        );
    }
    Ok(())
}

/// A line check: exactly `text`.
fn exactly(text: &'static str) -> impl Fn(&str) -> bool {
    move |line| line == text
}

/// A line check: starts with `start` and ends with `end` (the middle is a duration).
fn around(start: &'static str, end: &'static str) -> impl Fn(&str) -> bool {
    move |line| line.starts_with(start) && line.ends_with(end)
}

/// The lines `examples/foreign_vmm.rs` prints for the demo guest.
const DEMO_UCALLS: [&str; 7] = [
    "PRINTF hello from vCPU 0",
    "SYNC [1, 1, 0, 0, 0, 0]",
    "SYNC [2, 1, 0, 0, 0, 0]",
    "SYNC [3, 2, 0, 0, 0, 0]",
    "SYNC [4, 3, 0, 0, 0, 0]",
    "PRINTF fib(4) = 3, as expected",
    "DONE",
];

/// Runs the host crate's foreign-VMM example: the demo guest over each transport prints exactly
/// the demo's ucalls and exits with 0 (DONE); a failing assertion exits with 1 (ABORT); a guest
/// that makes no ucall but an unserved exit exits with 2 (error).
pub fn foreign_vmm(guest_dir: &Path) -> Result<()> {
    let example = |args: &[&str], guest: &str| {
        let elf = guest_dir.join(guest);
        say(&format!("foreign_vmm {} {}", args.join(" "), elf.display()));
        let mut command = cargo();
        command
            .args([
                "run",
                "--quiet",
                "-p",
                "ucall-host",
                "--example",
                "foreign_vmm",
                "--",
            ])
            .args(args)
            .arg(elf);
        code_and_stdout(&mut command)
    };
    let demo: Vec<_> = DEMO_UCALLS.map(exactly).into_iter().collect();
    let demo: Vec<&dyn Fn(&str) -> bool> = demo.iter().map(|f| f as _).collect();
    for transport in ["--pio", "--mmio"] {
        expect(
            &format!("foreign_vmm {transport} demo"),
            example(&[transport], "demo")?,
            0,
            &demo,
            &DEMO_UCALLS.join("\n"),
        )?;
    }
    let abort = "ABORT src/bin/assert_fails.rs:8:5: Failed guest assert: vcpu > 7";
    expect(
        "foreign_vmm --mmio assert_fails",
        example(&["--mmio"], "assert_fails")?,
        1,
        &[&exactly(abort)],
        abort,
    )?;
    // The seed-style C guest stores to the published address; over port I/O none is published,
    // so its stores land in RAM at address 0 and it halts without a ucall: an error.
    expect(
        "foreign_vmm --pio seed_guest",
        example(&["--pio"], "seed_guest")?,
        2,
        &[],
        "(nothing)",
    )
}

/// The external guest's ucalls as `ucall-run --json` prints them, on either architecture.
const EXTERNAL_GUEST_JSON: [&str; 3] = [
    r#"{"command":"PRINTF","kind":"ucall","text":"external guest on vCPU 0","vcpu":0}"#,
    r#"{"args":[1,4,9,0,0,0],"command":"SYNC","kind":"ucall","vcpu":0}"#,
    r#"{"command":"DONE","kind":"ucall","vcpu":0}"#,
];

/// The start and end of its `--json` summary line (the seconds between them vary).
const EXTERNAL_GUEST_JSON_SUMMARY: (&str, &str) = (
    r#"{"abi":"seed","errors":[],"kind":"summary","outcome":"DONE","seconds":"#,
    r#","ucalls":3,"vcpus":1}"#,
);

/// Builds `ucall-run`, then runs `examples/external-guest` with plain
/// `cargo run --target <target>` from its own folder (so that its `.cargo/config.toml` names
/// `ucall-run` as the runner), with the runner found on `PATH` as after `cargo install`.
/// Checks exit status 0 (DONE) and the exact lines, once for people and once with `--json`.
pub fn external_guest(target: &str) -> Result<()> {
    let root = workspace_root();
    let path = crate::qemu::static_build::path_with_runner()?;
    let crate_dir = root.join("examples/external-guest");
    let cargo_run = |runner_args: &[&str]| {
        say(&format!(
            "cargo run --target {target} {}  (in {})",
            runner_args.join(" "),
            crate_dir.display()
        ));
        let mut command = cargo();
        command
            .current_dir(&crate_dir)
            .args(["run", "--quiet", "--target", target])
            .args(runner_args)
            .env("PATH", &path)
            .env("CARGO_TARGET_DIR", crate::guests::dev_target_dir())
            // The crate's own config sets the linker flags; RUSTFLAGS from outside would win.
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS");
        code_and_stdout(&mut command)
    };
    expect(
        "the external guest",
        cargo_run(&[])?,
        0,
        &[
            &exactly("vcpu 0: PRINTF external guest on vCPU 0"),
            &exactly("vcpu 0: SYNC [1, 4, 9, 0, 0, 0]"),
            &exactly("vcpu 0: DONE"),
            &around("DONE: 3 ucalls from 1 vCPU in ", "s"),
        ],
        "vcpu 0: PRINTF external guest on vCPU 0\nvcpu 0: SYNC [1, 4, 9, 0, 0, 0]\n\
         vcpu 0: DONE\nDONE: 3 ucalls from 1 vCPU in ...",
    )?;
    expect_external_guest_json(
        "the external guest with --json",
        cargo_run(&["--", "--json"])?,
    )
}

/// Checks a `--json` run of the external guest: exit status 0, its ucalls, then the summary.
fn expect_external_guest_json(what: &str, run: (i32, String)) -> Result<()> {
    let json = EXTERNAL_GUEST_JSON;
    let (summary_start, summary_end) = EXTERNAL_GUEST_JSON_SUMMARY;
    expect(
        what,
        run,
        0,
        &[
            &exactly(json[0]),
            &exactly(json[1]),
            &exactly(json[2]),
            &around(summary_start, summary_end),
        ],
        &format!("{}\n{summary_start}...{summary_end}", json.join("\n")),
    )
}

/// Builds `examples/external-guest` for `arch` with plain `cargo build --target <its
/// bare-metal target>` from its own folder (its `.cargo/config.toml` sets the linker flags), as
/// a user on such a host would, and returns the ELF.
pub fn build_external_guest(arch: Arch) -> Result<PathBuf> {
    let root = workspace_root();
    let target = arch.guest_target();
    let crate_dir = root.join("examples/external-guest");
    let target_dir = crate::guests::dev_target_dir();
    say(&format!(
        "cargo build --target {target}  (in {})",
        crate_dir.display()
    ));
    cargo()
        .current_dir(&crate_dir)
        .args(["build", "--quiet", "--target", target])
        .env("CARGO_TARGET_DIR", &target_dir)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .run()?;
    Ok(target_dir.join(target).join("debug/external-guest"))
}

/// Checks the external guest's two runs by `ucall-run` on `machine`'s KVM in QEMU, as `cargo
/// run` does through the runner on such a host: exit status 0 and the same lines as on x86_64,
/// for people (`human`) and with `--json` (`json`). The console carries stderr too: the
/// runner's "running" line comes first for people.
pub fn check_external_guest_in_vm(
    machine: &Machine,
    human: (i32, String),
    json: (i32, String),
) -> Result<()> {
    // The runner serves SBI calls beside MMIO on riscv64, as port I/O on x86_64.
    let running = match machine.arch {
        Arch::Riscv64 => {
            "running /guests/external-guest under KVM: 1 vCPU, SBI and MMIO ucalls (seed convention)"
        }
        Arch::X86_64 => {
            "running /guests/external-guest under KVM: 1 vCPU, port I/O and MMIO ucalls (seed convention)"
        }
        Arch::Aarch64 => {
            "running /guests/external-guest under KVM: 1 vCPU, MMIO ucalls (seed convention)"
        }
    };
    expect(
        &format!("the external guest on {machine}"),
        human,
        0,
        &[
            &exactly(running),
            &exactly("vcpu 0: PRINTF external guest on vCPU 0"),
            &exactly("vcpu 0: SYNC [1, 4, 9, 0, 0, 0]"),
            &exactly("vcpu 0: DONE"),
            &around("DONE: 3 ucalls from 1 vCPU in ", "s"),
        ],
        &format!(
            "{running}\nvcpu 0: PRINTF external guest on vCPU 0\n\
             vcpu 0: SYNC [1, 4, 9, 0, 0, 0]\nvcpu 0: DONE\nDONE: 3 ucalls from 1 vCPU in ..."
        ),
    )?;
    expect_external_guest_json(
        &format!("the external guest on {machine} with --json"),
        json,
    )
}
