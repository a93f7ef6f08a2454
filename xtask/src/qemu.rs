//! Runs test binaries inside a throw-away Linux VM (QEMU, TCG) whose kernel offers `/dev/kvm`.
//!
//! Why: the machine that builds ucall has no hardware KVM for the architectures we support (its
//! own `/dev/kvm` is kvm_pvm, and there is no aarch64 host at all). A Debian cloud kernel booted
//! in QEMU with emulated virtualization extensions gives a real upstream KVM:
//!
//! | [`Machine`]                | QEMU                                              | KVM in the VM |
//! |----------------------------|---------------------------------------------------|---------------|
//! | `Aarch64Vhe`               | `qemu-system-aarch64 -cpu max,pauth=off`          | arm64, VHE    |
//! | `Aarch64Nvhe`              | `qemu-system-aarch64 -cpu cortex-a57`             | arm64, nVHE   |
//! | `X86_64KvmAmd`             | `qemu-system-x86_64 -cpu qemu64,+svm,+npt`        | kvm_amd, NPT  |
//!
//! The pieces, in the order an xtask uses them:
//!
//! 1. [`ensure_host_packages`] installs QEMU with apt-get if it is missing.
//! 2. [`ensure_rust_target`] + [`build_static`] / [`build_static_tests`] build `/init` (the `init/` package) and the test
//!    binaries as static musl executables for the VM's architecture.
//! 3. [`kernel`] downloads and unpacks the Debian cloud kernel once (cached in e.g.
//!    `target/qemu/`); for x86_64 it also returns the kvm modules to load.
//! 4. [`build_initramfs`] (or the lower-level [`Initramfs`] + [`InitConfig`]) packs `/init`, the
//!    modules, the binaries and the command list into a newc cpio archive.
//! 5. [`run`] boots it with a hard timeout, streams the console to a callback and returns a
//!    [`RunReport`] parsed from the `UCALL-INIT:` markers that `/init` prints;
//!    [`RunReport::check`] turns it into pass/fail with the console tail on failure.
//!
//! Only `std` is used; external programs: `apt-get`, `apt-cache`, `dpkg-deb`, `cargo`, `rustup`
//! and `qemu-system-*`.
//!
//! # The `/init` protocol
//!
//! `/init` reads `/ucall-init.conf` (rendered by [`InitConfig`]) and prints, each on its own line:
//!
//! ```text
//! UCALL-INIT: START kernel=<release> machine=<uname -m>
//! UCALL-INIT: MODULE <path> loaded ms=<t>         (per module)
//! UCALL-INIT: SETUP-ERROR <message>               (then powers off; nothing was run)
//! UCALL-INIT: BEGIN <name>
//! ...the command's own stdout/stderr...
//! UCALL-INIT: END <name> status=<code>|signal=<n>|spawn-error=<msg> ms=<t>
//! UCALL-INIT: DONE total=<n> failed=<m>
//! ```
//!
//! A command without `END`, or a run without `DONE` (kernel panic, `/init` crash, timeout), is a
//! failure; so is any status other than 0.

#![allow(dead_code)] // An xtask may use only part of this module.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// Errors and small helpers
// ---------------------------------------------------------------------------------------------

/// Error of this module: a message meant for a human, with context already included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl From<String> for Error {
    fn from(s: String) -> Self {
        Error(s)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

fn err<T>(msg: impl Into<String>) -> Result<T> {
    Err(Error(msg.into()))
}

/// Adds context to I/O errors: `fs::read(p).ctx(|| format!("reading {}", p.display()))?`.
trait Context<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: fmt::Display> Context<T> for std::result::Result<T, E> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error(format!("{}: {e}", what())))
    }
}

/// Progress lines go to stderr so that they never mix with the caller's stdout.
fn progress(msg: &str) {
    eprintln!("[qemu] {msg}");
}

/// Runs a command to completion, capturing its output. The error names the command and shows
/// the end of its output, which is where apt and cargo put the reason.
fn run_captured(cmd: &mut Command) -> Result<String> {
    let shown = format!("{cmd:?}");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .ctx(|| format!("cannot run {shown} (is it installed and on PATH?)"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        return Ok(stdout);
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    err(format!(
        "{shown} failed ({}):\n{}{}",
        out.status,
        tail(&stdout, 20),
        tail(&stderr, 20)
    ))
}

/// The last `n` lines of `text`, each followed by a newline.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(n);
    lines[start..].iter().map(|l| format!("{l}\n")).collect()
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

fn is_root() -> bool {
    // std has no geteuid; /proc/self/status is always there on Linux and avoids a libc dep.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

// ---------------------------------------------------------------------------------------------
// Architectures and machines
// ---------------------------------------------------------------------------------------------

/// The architecture of the VM (and of the binaries that run in it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Arch {
    Aarch64,
    X86_64,
}

impl Arch {
    pub const ALL: [Arch; 2] = [Arch::Aarch64, Arch::X86_64];

    /// Debian's name, used for packages and the cache folders.
    pub fn deb_arch(self) -> &'static str {
        match self {
            Arch::Aarch64 => "arm64",
            Arch::X86_64 => "amd64",
        }
    }

    /// Static (musl) Rust target for binaries that run inside the VM.
    pub fn rust_target(self) -> &'static str {
        match self {
            Arch::Aarch64 => "aarch64-unknown-linux-musl",
            Arch::X86_64 => "x86_64-unknown-linux-musl",
        }
    }

    fn qemu_binary(self) -> &'static str {
        match self {
            Arch::Aarch64 => "qemu-system-aarch64",
            Arch::X86_64 => "qemu-system-x86_64",
        }
    }

    fn qemu_package(self) -> &'static str {
        match self {
            Arch::Aarch64 => "qemu-system-arm",
            Arch::X86_64 => "qemu-system-x86",
        }
    }

    fn console(self) -> &'static str {
        match self {
            Arch::Aarch64 => "ttyAMA0",
            Arch::X86_64 => "ttyS0",
        }
    }

    /// Modules to load, in dependency order, relative to `lib/modules/<release>/`. The Debian
    /// package has no modules.dep; the order was read from the modules' `.modinfo` sections.
    /// arm64 has `CONFIG_KVM=y`, so nothing to load there.
    fn kvm_modules(self) -> &'static [&'static str] {
        match self {
            Arch::Aarch64 => &[],
            Arch::X86_64 => &[
                "kernel/virt/lib/irqbypass.ko",
                "kernel/arch/x86/kvm/kvm.ko",
                "kernel/arch/x86/kvm/kvm-amd.ko",
            ],
        }
    }

    /// Kernel config lines that must be present for KVM to work the way [`Arch::kvm_modules`]
    /// expects; checked once when the kernel is unpacked so that a changed Debian config gives
    /// a clear error instead of a VM without `/dev/kvm`.
    fn required_config(self) -> &'static [&'static str] {
        match self {
            Arch::Aarch64 => &["CONFIG_KVM=y"],
            Arch::X86_64 => &["CONFIG_KVM=m", "CONFIG_KVM_AMD=m"],
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Arch::Aarch64 => "aarch64",
            Arch::X86_64 => "x86_64",
        })
    }
}

/// One kind of VM: an architecture plus the CPU model that selects which KVM code path the
/// guest kernel uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Machine {
    /// `-cpu max,pauth=off`: the kernel runs at EL2 with VHE. `pauth=off` because emulated
    /// pointer authentication makes the boot 6-7x slower.
    Aarch64Vhe,
    /// `-cpu cortex-a57`: no VHE, so KVM runs split (nVHE, EL2 hypervisor stub + EL1 kernel).
    Aarch64Nvhe,
    /// `-cpu qemu64,+svm,+npt`: AMD vendor (TCG emulates SVM, not VMX), nested paging on.
    X86_64KvmAmd,
}

impl Machine {
    pub const ALL: [Machine; 3] = [
        Machine::Aarch64Vhe,
        Machine::Aarch64Nvhe,
        Machine::X86_64KvmAmd,
    ];

    pub fn arch(self) -> Arch {
        match self {
            Machine::Aarch64Vhe | Machine::Aarch64Nvhe => Arch::Aarch64,
            Machine::X86_64KvmAmd => Arch::X86_64,
        }
    }

    /// Short name for logs and command-line selection.
    pub fn name(self) -> &'static str {
        match self {
            Machine::Aarch64Vhe => "aarch64-vhe",
            Machine::Aarch64Nvhe => "aarch64-nvhe",
            Machine::X86_64KvmAmd => "x86_64-kvm-amd",
        }
    }

    pub fn from_name(name: &str) -> Option<Machine> {
        Machine::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The accelerator. aarch64: thread=multi, one host thread per vCPU (both host cores used).
    /// x86_64: thread=single, because with multi-threaded TCG, QEMU 7.2's nested SVM hangs the
    /// whole VM now and then (about 1 boot in 12 here: a vCPU stuck in the guest of the guest,
    /// no kernel message, the watchdog inside never fires); 0 hangs in 35 boots with one
    /// thread, which is as fast for this suite.
    fn accel(self) -> &'static str {
        match self {
            Machine::Aarch64Vhe | Machine::Aarch64Nvhe => "tcg,thread=multi",
            Machine::X86_64KvmAmd => "tcg,thread=single",
        }
    }

    /// Machine and CPU arguments; the common ones are added by [`boot`].
    fn qemu_args(self) -> &'static [&'static str] {
        match self {
            Machine::Aarch64Vhe => &["-M", "virt,virtualization=on", "-cpu", "max,pauth=off"],
            Machine::Aarch64Nvhe => &["-M", "virt,virtualization=on", "-cpu", "cortex-a57"],
            Machine::X86_64KvmAmd => &["-M", "pc", "-cpu", "qemu64,+svm,+npt"],
        }
    }
}

impl fmt::Display for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name()) // pad: honours `{:<16}`
    }
}

// ---------------------------------------------------------------------------------------------
// Host packages and Rust targets
// ---------------------------------------------------------------------------------------------

/// Installs the QEMU packages for `arches` with apt-get if their binaries are missing.
///
/// `apt-get update` runs only if the first install attempt fails (package unknown, or the
/// package lists are so old that the .deb is gone from the mirror). `cpio` is not needed: the
/// initramfs is written by [`Initramfs`] itself.
pub fn ensure_host_packages(arches: &[Arch]) -> Result<()> {
    let mut missing: Vec<&str> = arches
        .iter()
        .filter(|a| !on_path(a.qemu_binary()))
        .map(|a| a.qemu_package())
        .collect();
    missing.sort_unstable();
    missing.dedup();
    for tool in ["apt-get", "apt-cache", "dpkg-deb"] {
        if !on_path(tool) {
            return err(format!(
                "`{tool}` not found: this machinery needs a Debian-like host"
            ));
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    if !is_root() {
        return err(format!(
            "QEMU is missing and installing it needs root: apt-get install -y \
             --no-install-recommends {}",
            missing.join(" ")
        ));
    }
    progress(&format!("installing {} with apt-get", missing.join(" ")));
    let install = || {
        run_captured(
            Command::new("apt-get")
                .args(["install", "-y", "--no-install-recommends"])
                .args(&missing)
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )
    };
    if let Err(first) = install() {
        progress("apt-get install failed; running apt-get update once and retrying");
        run_captured(
            Command::new("apt-get")
                .arg("update")
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )
        .map_err(|e| Error(format!("{first}\nthen apt-get update failed too: {e}")))?;
        install()?;
    }
    for arch in arches {
        if !on_path(arch.qemu_binary()) {
            return err(format!(
                "installed {} but {} is still not on PATH",
                arch.qemu_package(),
                arch.qemu_binary()
            ));
        }
    }
    progress("QEMU installed");
    Ok(())
}

/// Makes sure the Rust standard library for `arch`'s musl target is installed (via rustup).
pub fn ensure_rust_target(arch: Arch) -> Result<()> {
    let target = arch.rust_target();
    let installed = run_captured(Command::new("rustup").args(["target", "list", "--installed"]))
        .map_err(|e| {
            Error(format!(
                "{e}\n(without rustup, install the Rust std for {target} yourself)"
            ))
        })?;
    if installed.lines().any(|l| l.trim() == target) {
        return Ok(());
    }
    progress(&format!("rustup target add {target}"));
    run_captured(Command::new("rustup").args(["target", "add", target]))?;
    Ok(())
}

/// Builds binary `bin` of cargo package `package` (a member of the workspace at
/// `manifest_path`) as a static executable for `arch`, release profile, and returns its path.
pub fn build_static(manifest_path: &Path, package: &str, bin: &str, arch: Arch) -> Result<PathBuf> {
    build_static_with_features(manifest_path, package, bin, "", arch)
}

/// [`build_static`] with the cargo `features` (comma-separated) of `package` turned on.
pub fn build_static_with_features(
    manifest_path: &Path,
    package: &str,
    bin: &str,
    features: &str,
    arch: Arch,
) -> Result<PathBuf> {
    let artifacts = cargo_static(
        manifest_path,
        arch,
        &[
            "build",
            "--package",
            package,
            "--bin",
            bin,
            "--features",
            features,
        ],
    )?;
    artifacts
        .into_iter()
        .find(|a| !a.test && a.executable.file_name().is_some_and(|f| f == bin))
        .map(|a| a.executable)
        .ok_or_else(|| {
            Error(format!(
                "cargo reported no executable named {bin} in {package}"
            ))
        })
}

/// Builds the test harness executables of `package` (`cargo test --no-run`: unit tests of the
/// lib and bins, and integration tests) as static executables for `arch`, release profile. Run
/// them in the VM like any command, e.g. with `--test-threads=1` or a test-name filter.
pub fn build_static_tests(manifest_path: &Path, package: &str, arch: Arch) -> Result<Vec<PathBuf>> {
    let artifacts = cargo_static(
        manifest_path,
        arch,
        &["test", "--no-run", "--package", package],
    )?;
    Ok(artifacts
        .into_iter()
        .filter(|a| a.test)
        .map(|a| a.executable)
        .collect())
}

struct Artifact {
    executable: PathBuf,
    /// Built with the test harness.
    test: bool,
}

/// Runs `cargo <args> --release --target <musl triple>` and returns the executables it built.
///
/// aarch64 links with `rust-lld` (shipped with rustup's toolchain), so no cross gcc is needed;
/// the x86_64 musl target links with the host's default linker. The paths are taken from
/// cargo's JSON messages, so a custom `CARGO_TARGET_DIR` or `build.target-dir` just works.
/// Note that `RUSTFLAGS` from the environment applies to these builds too.
fn cargo_static(manifest_path: &Path, arch: Arch, args: &[&str]) -> Result<Vec<Artifact>> {
    // Under `cargo run -p xtask`, CARGO is the cargo that runs us: same toolchain.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(args)
        .arg("--manifest-path")
        .arg(manifest_path)
        .args(["--release", "--message-format=json-render-diagnostics"])
        // No debug info: it would make the initramfs 10x bigger (40 MB instead of 4), and the
        // emulated kernel unpacks every byte of it on each boot.
        .args(["--config", "profile.release.debug=false"])
        .args(["--target", arch.rust_target()]);
    if arch == Arch::Aarch64 {
        cmd.args([
            "--config",
            "target.aarch64-unknown-linux-musl.linker=\"rust-lld\"",
        ]);
    }
    // Diagnostics go to our stderr as usual; stdout carries the JSON we parse.
    let shown = format!("{cmd:?}");
    let out = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .ctx(|| format!("cannot run {shown}"))?;
    if !out.status.success() {
        return err(format!(
            "{shown} failed ({}); see the compiler output above",
            out.status
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("\"reason\":\"compiler-artifact\""))
        .filter_map(|l| {
            Some(Artifact {
                executable: PathBuf::from(json_string_field(l, "executable")?),
                test: profile_is_test(l),
            })
        })
        .collect())
}

/// Whether a cargo artifact line has `"profile":{..."test":true...}`. (The `target` object has
/// a `"test"` field too, meaning "testable", so the profile object must be isolated first; it
/// has no nested objects.)
fn profile_is_test(line: &str) -> bool {
    line.split_once("\"profile\":{")
        .and_then(|(_, rest)| rest.split_once('}'))
        .is_some_and(|(profile, _)| profile.contains("\"test\":true"))
}

/// Extracts a string field from one line of cargo's JSON output. Enough JSON for paths; avoids
/// a serde dependency.
fn json_string_field(line: &str, field: &str) -> Option<String> {
    let start = line.find(&format!("\"{field}\":\""))? + field.len() + 4;
    let mut value = String::new();
    let mut chars = line[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(value),
            '\\' => match chars.next()? {
                'n' => value.push('\n'),
                't' => value.push('\t'),
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    value.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                other => value.push(other), // \" \\ \/
            },
            c => value.push(c),
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Kernel
// ---------------------------------------------------------------------------------------------

/// A Debian cloud kernel, unpacked in the cache.
#[derive(Debug, Clone)]
pub struct Kernel {
    pub arch: Arch,
    /// The real package, e.g. `linux-image-6.1.0-41-cloud-arm64`.
    pub package: String,
    /// `uname -r` of the kernel, e.g. `6.1.0-41-cloud-arm64`.
    pub release: String,
    /// What QEMU's `-kernel` takes (arm64: an uncompressed Image; amd64: a bzImage).
    pub image: PathBuf,
    /// Modules `/init` must load, in order, before `/dev/kvm` exists (empty on arm64).
    pub modules: Vec<PathBuf>,
}

const KERNEL_STAMP: &str = "kernel.stamp";

/// Returns the Debian cloud kernel for `arch`, downloading and unpacking it into
/// `cache_dir/kernel-<debarch>/` the first time. Later calls only read a stamp file.
///
/// The metapackage `linux-image-cloud-<debarch>` is resolved to the real package (its ABI
/// number changes with security updates) with apt-cache in a *private* apt state directory
/// (`cache_dir/apt-<debarch>/`), for both architectures:
///
/// * no change to the machine: `dpkg --add-architecture arm64` would make every later system
///   `apt-get update` fetch arm64 indices for every configured source, and fail on third-party
///   sources without arm64;
/// * it works without root and does not depend on how fresh the system's package lists are;
/// * one code path for both architectures. The price is one download of the Debian package
///   index for that architecture (about 10 MB) the first time.
///
/// Delete `cache_dir/kernel-<debarch>/` to pick up a newer kernel.
pub fn kernel(arch: Arch, cache_dir: &Path) -> Result<Kernel> {
    let dir = cache_dir.join(format!("kernel-{}", arch.deb_arch()));
    if let Ok(stamp) = std::fs::read_to_string(dir.join(KERNEL_STAMP)) {
        return Kernel::from_stamp(arch, &dir, &stamp);
    }
    fetch_kernel(arch, cache_dir, &dir)?;
    let stamp = std::fs::read_to_string(dir.join(KERNEL_STAMP))
        .ctx(|| format!("reading {}", dir.join(KERNEL_STAMP).display()))?;
    Kernel::from_stamp(arch, &dir, &stamp)
}

impl Kernel {
    /// Stamp format: `key value` lines; `module` repeats, in load order; paths relative to `dir`.
    fn from_stamp(arch: Arch, dir: &Path, stamp: &str) -> Result<Kernel> {
        let (mut package, mut release, mut image, mut modules) = (None, None, None, Vec::new());
        for line in stamp.lines() {
            match line.split_once(' ') {
                Some(("package", v)) => package = Some(v.to_string()),
                Some(("release", v)) => release = Some(v.to_string()),
                Some(("image", v)) => image = Some(dir.join(v)),
                Some(("module", v)) => modules.push(dir.join(v)),
                _ => {}
            }
        }
        let broken = || {
            Error(format!(
                "broken kernel cache {}: delete the folder and retry",
                dir.display()
            ))
        };
        let kernel = Kernel {
            arch,
            package: package.ok_or_else(broken)?,
            release: release.ok_or_else(broken)?,
            image: image.ok_or_else(broken)?,
            modules,
        };
        if !kernel.image.is_file() || !kernel.modules.iter().all(|m| m.is_file()) {
            return Err(broken());
        }
        Ok(kernel)
    }
}

/// A private apt configuration: its own state, cache and sources, with `arch` as the only
/// architecture. See [`kernel`] for why.
struct PrivateApt {
    root: PathBuf,
    options: Vec<String>,
}

impl PrivateApt {
    fn new(root: PathBuf, arch: Arch) -> Result<PrivateApt> {
        let sources_d = root.join("sources.list.d");
        for dir in [
            root.join("state/lists/partial"),
            root.join("cache/archives/partial"),
            sources_d.clone(),
        ] {
            std::fs::create_dir_all(&dir).ctx(|| format!("creating {}", dir.display()))?;
        }
        // Empty dpkg status: nothing is "installed" in this context, so apt never considers
        // the host's packages, which are of another architecture anyway.
        let status = root.join("status");
        std::fs::write(&status, "").ctx(|| format!("writing {}", status.display()))?;

        // Only the Debian sources of the system, not third-party ones (they may lack the
        // architecture or be unreachable, and then `apt-get update` fails). Debian 12 keeps them
        // in debian.sources (deb822); older or hand-made setups in sources.list.
        let candidates = [
            ("/etc/apt/sources.list.d/debian.sources", "debian.sources"),
            ("/etc/apt/sources.list", "debian.list"),
        ];
        let Some((src, name)) = candidates
            .iter()
            .find(|(src, _)| std::fs::read_to_string(src).is_ok_and(|s| s.contains("deb")))
        else {
            return err(
                "no Debian apt sources found (looked at /etc/apt/sources.list.d/debian.sources \
                 and /etc/apt/sources.list)",
            );
        };
        let dst = sources_d.join(name);
        std::fs::copy(src, &dst).ctx(|| format!("copying {src} to {}", dst.display()))?;

        let d = |p: &str| root.join(p).display().to_string();
        let options = [
            format!("Dir::State={}", d("state")),
            format!("Dir::State::status={}", d("status")),
            format!("Dir::Cache={}", d("cache")),
            // The main list does not exist on purpose; all sources come from our parts folder.
            format!("Dir::Etc::SourceList={}", d("none.list")),
            format!("Dir::Etc::SourceParts={}", d("sources.list.d")),
            format!("APT::Architecture={}", arch.deb_arch()),
            format!("APT::Architectures={}", arch.deb_arch()),
            // Translations are useless here and would only add downloads.
            "Acquire::Languages=none".to_string(),
            // As root, apt downloads as user _apt, who cannot write to our (root-owned) folders;
            // it would fall back to root with a warning. Say so up front.
            "APT::Sandbox::User=root".to_string(),
        ]
        .into_iter()
        .flat_map(|o| ["-o".to_string(), o])
        .collect();
        Ok(PrivateApt { root, options })
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.args(&self.options)
            .env("DEBIAN_FRONTEND", "noninteractive");
        cmd
    }
}

fn fetch_kernel(arch: Arch, cache_dir: &Path, final_dir: &Path) -> Result<()> {
    let deb_arch = arch.deb_arch();
    let apt = PrivateApt::new(cache_dir.join(format!("apt-{deb_arch}")), arch)?;

    progress(&format!(
        "apt-get update ({deb_arch} index, private state in {})",
        apt.root.display()
    ));
    run_captured(apt.command("apt-get").arg("update"))?;

    let meta = format!("linux-image-cloud-{deb_arch}");
    let depends = run_captured(apt.command("apt-cache").args(["depends", &meta]))?;
    // Output: "linux-image-cloud-arm64\n  Depends: linux-image-6.1.0-41-cloud-arm64\n".
    let package = depends
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Depends:"))
        .map(|p| p.trim().split(':').next().unwrap_or("").to_string())
        .find(|p| p.starts_with("linux-image-"))
        .ok_or_else(|| {
            Error(format!(
                "apt-cache depends {meta}: no linux-image-* in:\n{depends}"
            ))
        })?;

    // Work in a scratch folder next to the final one and rename at the end, so an interrupted
    // download never leaves something that looks like a valid cache.
    let work = cache_dir.join(format!("kernel-{deb_arch}.tmp"));
    if work.exists() {
        std::fs::remove_dir_all(&work).ctx(|| format!("removing {}", work.display()))?;
    }
    let unpacked = work.join("unpacked");
    let out = work.join("kernel");
    for dir in [&unpacked, &out.join("modules")] {
        std::fs::create_dir_all(dir).ctx(|| format!("creating {}", dir.display()))?;
    }

    progress(&format!("apt-get download {package}"));
    run_captured(
        apt.command("apt-get")
            .args(["download", &package])
            .current_dir(&work),
    )?;
    let deb = std::fs::read_dir(&work)
        .ctx(|| format!("listing {}", work.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{package}_")) && n.ends_with(".deb"))
        })
        .ok_or_else(|| {
            Error(format!(
                "apt-get download {package} left no .deb in {}",
                work.display()
            ))
        })?;

    progress(&format!("unpacking {}", deb.display()));
    run_captured(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&unpacked))?;

    // boot/vmlinuz-<release> gives the release; boot/config-<release> the configuration.
    let boot = unpacked.join("boot");
    let release = std::fs::read_dir(&boot)
        .ctx(|| format!("listing {} (not a kernel package?)", boot.display()))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .find_map(|n| n.strip_prefix("vmlinuz-").map(str::to_string))
        .ok_or_else(|| Error(format!("no boot/vmlinuz-* in {package}")))?;
    let config_path = boot.join(format!("config-{release}"));
    let config = std::fs::read_to_string(&config_path)
        .ctx(|| format!("reading {}", config_path.display()))?;
    for needed in arch.required_config() {
        if !config.lines().any(|l| l == *needed) {
            return err(format!(
                "{package}: kernel config lacks `{needed}`; qemu.rs must be adapted \
                 (Arch::kvm_modules / required_config)"
            ));
        }
    }

    // Keep only what we need: the package unpacks to ~100 MB of modules, we use three.
    let move_file = |from: &Path, to: &Path| {
        std::fs::rename(from, to).ctx(|| format!("moving {} to {}", from.display(), to.display()))
    };
    move_file(
        &boot.join(format!("vmlinuz-{release}")),
        &out.join("vmlinuz"),
    )?;
    move_file(&config_path, &out.join("config"))?;
    let mut stamp = format!("package {package}\nrelease {release}\nimage vmlinuz\n");
    let modules_dir = unpacked.join("lib/modules").join(&release);
    for module in arch.kvm_modules() {
        let from = modules_dir.join(module);
        let name = Path::new(module)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(module);
        if !from.is_file() {
            return err(format!(
                "{package}: {} missing (compressed modules? a new dependency?)",
                from.display()
            ));
        }
        move_file(&from, &out.join("modules").join(name))?;
        stamp.push_str(&format!("module modules/{name}\n"));
    }
    let stamp_path = out.join(KERNEL_STAMP);
    std::fs::write(&stamp_path, stamp).ctx(|| format!("writing {}", stamp_path.display()))?;

    if final_dir.exists() {
        std::fs::remove_dir_all(final_dir).ctx(|| format!("removing {}", final_dir.display()))?;
    }
    move_file(&out, final_dir)?;
    std::fs::remove_dir_all(&work).ctx(|| format!("removing {}", work.display()))?;
    // The private index (~25 MB) is only needed to resolve and download; a later fetch runs
    // `apt-get update` again anyway.
    std::fs::remove_dir_all(&apt.root).ctx(|| format!("removing {}", apt.root.display()))?;
    progress(&format!(
        "kernel {release} cached in {}",
        final_dir.display()
    ));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Initramfs
// ---------------------------------------------------------------------------------------------

/// Builder for an initramfs: a newc cpio archive, uncompressed.
///
/// Written here rather than with `find | cpio | gzip` because (a) the archive is then exactly
/// the listed files, in a fixed order, with owner 0 and mtime 0 (reproducible, no staging
/// folder), (b) it can contain the `/dev/console` node without root or mknod, and (c) no `cpio`
/// package is needed. No compression: the kernel accepts a plain cpio, and decompressing under
/// an emulated CPU costs more than loading a few more MB (QEMU copies the file at native speed).
#[derive(Debug, Default, Clone)]
pub struct Initramfs {
    entries: BTreeMap<String, Entry>,
}

#[derive(Debug, Clone)]
enum Entry {
    Dir,
    File { data: FileData, executable: bool },
    CharDev { major: u32, minor: u32 },
}

#[derive(Debug, Clone)]
enum FileData {
    Host(PathBuf),
    Bytes(Vec<u8>),
}

impl Initramfs {
    /// An image with the folders and device nodes every boot needs: `/dev/console` must exist
    /// before `/init` starts, or the kernel starts it without stdin/stdout/stderr (and Rust's
    /// runtime aborts when it cannot reopen them on `/dev/null`).
    pub fn new() -> Initramfs {
        let mut image = Initramfs::default();
        for dir in ["dev", "proc", "sys", "tmp", "bin"] {
            image.entries.insert(dir.to_string(), Entry::Dir);
        }
        image
            .entries
            .insert("dev/console".into(), Entry::CharDev { major: 5, minor: 1 });
        image
            .entries
            .insert("dev/null".into(), Entry::CharDev { major: 1, minor: 3 });
        image
    }

    /// Adds a host file (read when [`Initramfs::write`] runs) at `image_path`.
    pub fn add_file(
        &mut self,
        host_path: impl Into<PathBuf>,
        image_path: &str,
        executable: bool,
    ) -> Result<&mut Self> {
        let data = FileData::Host(host_path.into());
        self.insert(image_path, Entry::File { data, executable })
    }

    /// Adds a file with the given contents at `image_path`.
    pub fn add_bytes(
        &mut self,
        contents: impl Into<Vec<u8>>,
        image_path: &str,
        executable: bool,
    ) -> Result<&mut Self> {
        let data = FileData::Bytes(contents.into());
        self.insert(image_path, Entry::File { data, executable })
    }

    /// An empty folder at `image_path` (and its parents); nothing if it is there already.
    pub fn add_dir(&mut self, image_path: &str) -> Result<&mut Self> {
        let path = normalize_image_path(image_path)?;
        if let Some(Entry::Dir) = self.entries.get(&path) {
            return Ok(self);
        }
        self.insert(image_path, Entry::Dir)
    }

    fn insert(&mut self, image_path: &str, entry: Entry) -> Result<&mut Self> {
        let path = normalize_image_path(image_path)?;
        // Parents first; BTreeMap order then writes every folder before its contents, because
        // a path sorts after all of its prefixes.
        let mut parent = Path::new(&path).parent();
        while let Some(p) = parent.and_then(|p| p.to_str()).filter(|p| !p.is_empty()) {
            match self.entries.get(p) {
                None => {
                    self.entries.insert(p.to_string(), Entry::Dir);
                }
                Some(Entry::Dir) => {}
                Some(_) => return err(format!("initramfs: {p} is a file, not a folder")),
            }
            parent = Path::new(p).parent();
        }
        if let Some(Entry::Dir) = self.entries.get(&path) {
            return err(format!("initramfs: /{path} is already a folder"));
        }
        self.entries.insert(path, entry);
        Ok(self)
    }

    /// Writes the archive to `out` (via a temporary file and a rename).
    pub fn write(&self, out: &Path) -> Result<()> {
        let tmp = out.with_extension("tmp");
        let file = std::fs::File::create(&tmp).ctx(|| format!("creating {}", tmp.display()))?;
        let mut w = std::io::BufWriter::new(file);
        self.write_to(&mut w)
            .map_err(|e| Error(format!("writing {}: {e}", out.display())))?;
        w.flush().ctx(|| format!("writing {}", tmp.display()))?;
        drop(w);
        std::fs::rename(&tmp, out)
            .ctx(|| format!("renaming {} to {}", tmp.display(), out.display()))
    }

    fn write_to(&self, w: &mut impl Write) -> Result<()> {
        const S_IFDIR: u32 = 0o040000;
        const S_IFREG: u32 = 0o100000;
        const S_IFCHR: u32 = 0o020000;
        let io = |e: std::io::Error| Error(e.to_string());
        for (ino, (path, entry)) in (1u32..).zip(&self.entries) {
            let (mode, nlink, rdev, data) = match entry {
                Entry::Dir => (S_IFDIR | 0o755, 2, (0, 0), Vec::new()),
                Entry::CharDev { major, minor } => {
                    (S_IFCHR | 0o600, 1, (*major, *minor), Vec::new())
                }
                Entry::File { data, executable } => {
                    let bytes = match data {
                        FileData::Bytes(b) => b.clone(),
                        FileData::Host(p) => std::fs::read(p)
                            .ctx(|| format!("initramfs: reading {} for /{path}", p.display()))?,
                    };
                    let perm = if *executable { 0o755 } else { 0o644 };
                    (S_IFREG | perm, 1, (0, 0), bytes)
                }
            };
            // newc sizes are 8 hex digits.
            if u32::try_from(data.len()).is_err() {
                return err(format!("initramfs: /{path} is larger than 4 GiB"));
            }
            write_newc_entry(w, ino, mode, nlink, rdev, path, &data).map_err(io)?;
        }
        write_newc_entry(w, 0, 0, 1, (0, 0), "TRAILER!!!", &[]).map_err(io)
    }
}

/// `/bin/x` or `bin/x` -> `bin/x`; rejects `..`, empty and non-UTF-8-safe names.
fn normalize_image_path(p: &str) -> Result<String> {
    let parts: Vec<&str> = p
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    if parts.is_empty() || parts.contains(&"..") || p.contains('\0') {
        return err(format!("initramfs: bad path {p:?}"));
    }
    Ok(parts.join("/"))
}

/// One newc ("070701") record: 110-byte ASCII header, name + NUL padded to 4, data padded to 4.
/// uid/gid/mtime are 0 so the archive is reproducible.
fn write_newc_entry(
    w: &mut impl Write,
    ino: u32,
    mode: u32,
    nlink: u32,
    (rdev_major, rdev_minor): (u32, u32),
    name: &str,
    data: &[u8],
) -> std::io::Result<()> {
    let namesize = name.len() + 1;
    let header = format!(
        "070701{ino:08X}{mode:08X}{uid:08X}{gid:08X}{nlink:08X}{mtime:08X}{size:08X}\
         {dmaj:08X}{dmin:08X}{rdev_major:08X}{rdev_minor:08X}{namesize:08X}{check:08X}",
        uid = 0,
        gid = 0,
        mtime = 0,
        size = data.len(),
        dmaj = 0,
        dmin = 0,
        check = 0,
    );
    w.write_all(header.as_bytes())?;
    w.write_all(name.as_bytes())?;
    w.write_all(&[0])?;
    w.write_all(&[0; 3][..pad4(header.len() + namesize)])?;
    w.write_all(data)?;
    w.write_all(&[0; 3][..pad4(data.len())])
}

fn pad4(n: usize) -> usize {
    (4 - n % 4) % 4
}

// ---------------------------------------------------------------------------------------------
// /init configuration
// ---------------------------------------------------------------------------------------------

/// Where [`InitConfig`] is stored in the image; `/init` reads it from there.
pub const INIT_CONFIG_PATH: &str = "/ucall-init.conf";

/// What `/init` does, rendered to `/ucall-init.conf` (format documented in `init/src/main.rs`).
#[derive(Debug, Default, Clone)]
pub struct InitConfig {
    pub modules: Vec<String>,
    pub require: Vec<String>,
    pub env: Vec<(String, String)>,
    pub commands: Vec<InitCommand>,
}

/// One command for `/init`; paths are inside the image.
#[derive(Debug, Default, Clone)]
pub struct InitCommand {
    /// Unique, no whitespace: it is how results are reported.
    pub name: String,
    pub exec: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
}

impl InitConfig {
    /// The config file's text. Fails on values the line format cannot carry.
    pub fn render(&self) -> Result<String> {
        fn value(v: &str) -> Result<&str> {
            if v.contains(['\n', '\r', '\0']) {
                return err(format!(
                    "init config: value {v:?} contains a newline or NUL"
                ));
            }
            Ok(v)
        }
        fn env_line(out: &mut String, (k, v): &(String, String)) -> Result<()> {
            if k.is_empty() || k.contains('=') {
                return err(format!("init config: bad environment variable name {k:?}"));
            }
            out.push_str(&format!("env {}={}\n", value(k)?, value(v)?));
            Ok(())
        }
        let mut out = String::from("# ucall-init config, generated by qemu.rs\n");
        for m in &self.modules {
            if m.contains(' ') {
                return err(format!("init config: module path {m:?} contains a space"));
            }
            out.push_str(&format!("module {}\n", value(m)?));
        }
        for r in &self.require {
            out.push_str(&format!("require {}\n", value(r)?));
        }
        for kv in &self.env {
            env_line(&mut out, kv)?;
        }
        let mut names = std::collections::HashSet::new();
        for cmd in &self.commands {
            if cmd.name.is_empty() || cmd.name.contains(char::is_whitespace) {
                return err(format!("init config: bad command name {:?}", cmd.name));
            }
            if !names.insert(cmd.name.as_str()) {
                return err(format!(
                    "init config: duplicate command name {:?}",
                    cmd.name
                ));
            }
            out.push_str(&format!(
                "command {}\nexec {}\n",
                cmd.name,
                value(&cmd.exec)?
            ));
            for a in &cmd.args {
                out.push_str(&format!("arg {}\n", value(a)?));
            }
            for kv in &cmd.env {
                env_line(&mut out, kv)?;
            }
        }
        Ok(out)
    }
}

/// A test binary to run in the VM, as the caller sees it (host paths).
#[derive(Debug, Clone)]
pub struct GuestCommand {
    pub name: String,
    /// Static binary for the VM's architecture; stored as `/bin/<file name>`.
    pub binary: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
}

/// Builds the complete initramfs for one run: `init` as `/init`, the kernel's modules under
/// `/lib/modules/`, each command's binary under `/bin/`, and the config requiring `/dev/kvm`.
pub fn build_initramfs(
    kernel: &Kernel,
    init: &Path,
    commands: &[GuestCommand],
    env: &[(String, String)],
    out: &Path,
) -> Result<()> {
    let mut image = Initramfs::new();
    let mut config = InitConfig {
        env: env.to_vec(),
        ..InitConfig::default()
    };
    image.add_file(init, "/init", true)?;
    for module in &kernel.modules {
        let name = file_name(module)?;
        let at = format!("/lib/modules/{name}");
        image.add_file(module, &at, false)?;
        config.modules.push(at);
    }
    config.require.push("/dev/kvm".into());
    let mut binaries: BTreeMap<String, &Path> = BTreeMap::new();
    for cmd in commands {
        let at = format!("/bin/{}", file_name(&cmd.binary)?);
        match binaries.get(&at) {
            Some(prev) if *prev != cmd.binary.as_path() => {
                return err(format!(
                    "initramfs: {} and {} would both be {at}",
                    prev.display(),
                    cmd.binary.display()
                ));
            }
            Some(_) => {}
            None => {
                image.add_file(&cmd.binary, &at, true)?;
                binaries.insert(at.clone(), &cmd.binary);
            }
        }
        config.commands.push(InitCommand {
            name: cmd.name.clone(),
            exec: at,
            args: cmd.args.clone(),
            env: cmd.env.clone(),
        });
    }
    image.add_bytes(config.render()?, INIT_CONFIG_PATH, false)?;
    image.write(out)
}

fn file_name(p: &Path) -> Result<&str> {
    p.file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Error(format!("{} has no UTF-8 file name", p.display())))
}

// ---------------------------------------------------------------------------------------------
// Booting
// ---------------------------------------------------------------------------------------------

/// How to boot. [`BootOptions::new`] gives the verified defaults.
#[derive(Debug, Clone)]
pub struct BootOptions {
    pub machine: Machine,
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    /// Hard limit for the whole boot-run-poweroff; QEMU is killed (SIGKILL) when it expires.
    pub timeout: Duration,
    pub cpus: u32,
    pub memory_mib: u32,
    /// Appended to the kernel command line (after `console=... panic=-1 quiet`), e.g.
    /// `loglevel=7` to see the whole boot log.
    pub extra_cmdline: String,
    /// Appended to QEMU's arguments (later options win, e.g. a second `-cpu`); for debugging.
    pub extra_qemu_args: Vec<String>,
}

impl BootOptions {
    pub fn new(machine: Machine, kernel: &Path, initrd: &Path, timeout: Duration) -> BootOptions {
        BootOptions {
            machine,
            kernel: kernel.to_path_buf(),
            initrd: initrd.to_path_buf(),
            timeout,
            cpus: 2,
            memory_mib: 512,
            extra_cmdline: String::new(),
            extra_qemu_args: Vec::new(),
        }
    }

    /// The full QEMU command (exposed so that it can be printed for manual reproduction).
    pub fn command(&self) -> Command {
        let arch = self.machine.arch();
        let mut cmd = Command::new(arch.qemu_binary());
        cmd.args(["-accel", self.machine.accel()])
            .args(self.machine.qemu_args());
        cmd.args([
            "-smp",
            &self.cpus.to_string(),
            "-m",
            &self.memory_mib.to_string(),
        ]);
        // -nodefaults: no NIC (which would need efi-virtio.rom, absent without recommends), no
        // VGA, no monitor. The serial console goes to QEMU's stdout, which we read.
        cmd.args([
            "-nodefaults",
            "-display",
            "none",
            "-serial",
            "stdio",
            "-no-reboot",
        ]);
        cmd.arg("-kernel")
            .arg(&self.kernel)
            .arg("-initrd")
            .arg(&self.initrd);
        // panic=-1: a kernel panic (e.g. /init crashed) reboots at once, and -no-reboot turns
        // that into QEMU exiting, so failures end fast instead of at the timeout.
        // quiet: the boot log costs time on an emulated UART; warnings and errors still show.
        let mut append = format!("console={} panic=-1 quiet", arch.console());
        if !self.extra_cmdline.is_empty() {
            append.push(' ');
            append.push_str(&self.extra_cmdline);
        }
        cmd.arg("-append").arg(append);
        cmd.args(&self.extra_qemu_args);
        cmd
    }
}

/// What one boot produced.
#[derive(Debug, Clone)]
pub struct BootOutput {
    pub machine: Machine,
    /// Everything the VM printed on its console, `\r` removed.
    pub console: String,
    /// QEMU's own stderr (its error messages, not the guest's).
    pub qemu_stderr: String,
    /// QEMU's exit status; None if we had to kill it.
    pub status: Option<ExitStatus>,
    /// The timeout expired before QEMU exited.
    pub timed_out: bool,
    /// `/init` finished (DONE or SETUP-ERROR) but QEMU did not exit by itself; we killed it.
    pub killed_after_done: bool,
    pub elapsed: Duration,
}

/// Kills QEMU if we leave early (error, panic in the callback): no orphaned VMs.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// How long QEMU may take to exit after `/init` printed its last marker.
const POWEROFF_GRACE: Duration = Duration::from_secs(10);

/// Boots the VM and returns its console output. Every console line is passed to `on_line` as
/// it arrives. The VM is killed when `options.timeout` expires; that is reported in
/// [`BootOutput::timed_out`], not as an `Err` (the console is what explains it). `Err` means
/// QEMU could not be run at all.
pub fn boot(options: &BootOptions, on_line: &mut dyn FnMut(&str)) -> Result<BootOutput> {
    for (what, path) in [("kernel", &options.kernel), ("initramfs", &options.initrd)] {
        if !path.is_file() {
            return err(format!("{what} {} does not exist", path.display()));
        }
    }
    let mut cmd = options.command();
    let shown = format!("{cmd:?}");
    let start = Instant::now();
    let child = cmd
        .stdin(Stdio::null()) // QEMU must not touch the terminal (no raw mode).
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ctx(|| format!("cannot start {shown} (run ensure_host_packages first?)"))?;
    let mut child = KillOnDrop(child);

    // Reader threads: the console (line by line, to a channel, so that the main thread can wait
    // with a timeout) and QEMU's stderr (collected whole).
    let (tx, rx) = mpsc::channel::<String>();
    let stdout = child
        .0
        .stdout
        .take()
        .ok_or_else(|| Error("QEMU stdout not piped".into()))?;
    let stderr = child
        .0
        .stderr
        .take()
        .ok_or_else(|| Error("QEMU stderr not piped".into()))?;
    let console_reader = std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut buf = Vec::new();
        // read_until, not lines(): the console is not guaranteed to be UTF-8.
        while let Ok(n) = reader.read_until(b'\n', &mut buf) {
            if n == 0 {
                break;
            }
            let line = String::from_utf8_lossy(&buf);
            let line = line.trim_end_matches(['\n', '\r']).replace('\r', "");
            if tx.send(line).is_err() {
                break;
            }
            buf.clear();
        }
    });
    let stderr_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = BufReader::new(stderr).read_to_string(&mut text);
        text
    });

    let mut console = String::new();
    let mut deadline = start + options.timeout;
    let mut done_seen = false;
    let mut timed_out = false;
    let mut killed_after_done = false;
    loop {
        let now = Instant::now();
        if now >= deadline {
            // Kill now; the reader threads end when the pipes close.
            let _ = child.0.kill();
            if done_seen {
                killed_after_done = true
            } else {
                timed_out = true
            }
            break;
        }
        match rx.recv_timeout(deadline - now) {
            Ok(line) => {
                on_line(&line);
                if !done_seen && is_final_marker(&line) {
                    done_seen = true;
                    deadline = deadline.min(Instant::now() + POWEROFF_GRACE);
                }
                console.push_str(&line);
                console.push('\n');
            }
            Err(mpsc::RecvTimeoutError::Timeout) => continue, // deadline check above
            Err(mpsc::RecvTimeoutError::Disconnected) => break, // console closed: QEMU exiting
        }
    }
    // QEMU has exited or is about to (console closed, or killed above); wait, bounded by the
    // deadline in case it hangs after closing its stdout.
    let status = loop {
        match child.0.try_wait().ctx(|| "waiting for QEMU".to_string())? {
            Some(status) => break Some(status),
            None if Instant::now() >= deadline => {
                let _ = child.0.kill();
                let _ = child.0.wait();
                if done_seen {
                    killed_after_done = true
                } else {
                    timed_out = true
                }
                break None;
            }
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    let status = if timed_out || killed_after_done {
        None
    } else {
        status
    };
    // Drain lines that arrived between the last recv and QEMU's exit.
    let _ = console_reader.join();
    for line in rx.try_iter() {
        on_line(&line);
        console.push_str(&line);
        console.push('\n');
    }
    let qemu_stderr = stderr_reader.join().unwrap_or_default();
    Ok(BootOutput {
        machine: options.machine,
        console,
        qemu_stderr,
        status,
        timed_out,
        killed_after_done,
        elapsed: start.elapsed(),
    })
}

// ---------------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------------

/// Prefix of every protocol line printed by `/init`. Keep in sync with `init/src/main.rs`.
pub const MARK: &str = "UCALL-INIT: ";

/// The marker text after [`MARK`] in `line`, if any. Matched anywhere in the line, because a
/// kernel message or a command's unterminated output may precede it on the same line.
fn marker(line: &str) -> Option<&str> {
    line.find(MARK).map(|i| &line[i + MARK.len()..])
}

fn is_final_marker(line: &str) -> bool {
    marker(line).is_some_and(|m| m.starts_with("DONE") || m.starts_with("SETUP-ERROR"))
}

/// How one command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Exited(i32),
    Signaled(i32),
    SpawnError(String),
    /// BEGIN without END: the VM died or timed out while it ran.
    Unfinished,
}

#[derive(Debug, Clone)]
pub struct CommandResult {
    pub name: String,
    pub outcome: Outcome,
    /// Run time measured inside the VM (absent if unfinished).
    pub guest_ms: Option<u64>,
    /// The console lines between BEGIN and END (the command's output, plus any kernel lines).
    pub output: String,
}

impl CommandResult {
    pub fn passed(&self) -> bool {
        self.outcome == Outcome::Exited(0)
    }
}

/// Everything learned from one run.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub boot: BootOutput,
    /// `uname -r` seen by `/init` (None: `/init` never started).
    pub kernel_release: Option<String>,
    pub setup_error: Option<String>,
    pub commands: Vec<CommandResult>,
    /// The DONE marker was seen.
    pub done: bool,
    /// Commands named in the config that never printed BEGIN.
    pub not_started: Vec<String>,
}

impl RunReport {
    /// Parses the console of `boot`; `expected` are the command names in the config.
    pub fn parse(boot: BootOutput, expected: &[&str]) -> RunReport {
        let mut report = RunReport {
            kernel_release: None,
            setup_error: None,
            commands: Vec::new(),
            done: false,
            not_started: Vec::new(),
            boot,
        };
        let mut current: Option<CommandResult> = None;
        for line in report.boot.console.lines() {
            let Some(m) = marker(line) else {
                if let Some(cmd) = current.as_mut() {
                    cmd.output.push_str(line);
                    cmd.output.push('\n');
                }
                continue;
            };
            // Output that preceded the marker on the same line belongs to the command.
            let before = &line[..line.len() - m.len() - MARK.len()];
            if let Some(cmd) = current.as_mut().filter(|_| !before.is_empty()) {
                cmd.output.push_str(before);
                cmd.output.push('\n');
            }
            let mut words = m.split(' ');
            match words.next() {
                Some("START") => {
                    report.kernel_release = words
                        .find_map(|w| w.strip_prefix("kernel="))
                        .map(str::to_string);
                }
                Some("SETUP-ERROR") => {
                    report.setup_error = Some(m["SETUP-ERROR".len()..].trim().to_string());
                }
                Some("BEGIN") => {
                    // A BEGIN while another command is open: that one never ended.
                    report.commands.extend(current.take());
                    current = Some(CommandResult {
                        name: words.next().unwrap_or("").to_string(),
                        outcome: Outcome::Unfinished,
                        guest_ms: None,
                        output: String::new(),
                    });
                }
                Some("END") => {
                    let name = words.next().unwrap_or("");
                    let mut cmd = match current.take() {
                        Some(c) if c.name == name => c,
                        other => {
                            report.commands.extend(other);
                            CommandResult {
                                name: name.to_string(),
                                outcome: Outcome::Unfinished,
                                guest_ms: None,
                                output: String::new(),
                            }
                        }
                    };
                    for w in words {
                        if let Some(v) = w.strip_prefix("status=") {
                            cmd.outcome = Outcome::Exited(v.parse().unwrap_or(-1));
                        } else if let Some(v) = w.strip_prefix("signal=") {
                            cmd.outcome = Outcome::Signaled(v.parse().unwrap_or(-1));
                        } else if let Some(v) = w.strip_prefix("spawn-error=") {
                            cmd.outcome = Outcome::SpawnError(v.replace('_', " "));
                        } else if let Some(v) = w.strip_prefix("ms=") {
                            cmd.guest_ms = v.parse().ok();
                        }
                    }
                    report.commands.push(cmd);
                }
                Some("DONE") => report.done = true,
                _ => {} // MODULE, WARNING: informational
            }
        }
        report.commands.extend(current);
        report.not_started = expected
            .iter()
            .filter(|name| !report.commands.iter().any(|c| c.name == **name))
            .map(|name| name.to_string())
            .collect();
        report
    }

    pub fn passed(&self) -> bool {
        self.failures().is_empty()
    }

    /// One line per problem; empty if the run passed.
    pub fn failures(&self) -> Vec<String> {
        let m = self.boot.machine;
        let mut out = Vec::new();
        if let Some(e) = &self.setup_error {
            out.push(format!("{m}: /init setup failed: {e}"));
        }
        for c in &self.commands {
            match &c.outcome {
                Outcome::Exited(0) => {}
                Outcome::Exited(code) => {
                    out.push(format!("{m}: {} exited with status {code}", c.name))
                }
                Outcome::Signaled(sig) => {
                    out.push(format!("{m}: {} killed by signal {sig}", c.name))
                }
                Outcome::SpawnError(e) => out.push(format!("{m}: {} could not start: {e}", c.name)),
                Outcome::Unfinished => out.push(format!("{m}: {} never finished", c.name)),
            }
        }
        for name in &self.not_started {
            if self.setup_error.is_none() {
                out.push(format!("{m}: {name} never started"));
            }
        }
        if !self.done && self.setup_error.is_none() {
            let why = if self.boot.timed_out {
                format!("timed out after {:.1?}; QEMU killed", self.boot.elapsed)
            } else if self.kernel_release.is_none() {
                "the kernel never started /init (boot failure or kernel panic?)".to_string()
            } else {
                "/init did not print DONE (crash or kernel panic?)".to_string()
            };
            out.push(format!("{m}: {why}"));
        }
        if !self.done && !self.boot.qemu_stderr.trim().is_empty() {
            out.push(format!(
                "{m}: QEMU stderr: {}",
                self.boot.qemu_stderr.trim()
            ));
        }
        out
    }

    /// Ok if every command passed; otherwise an error listing the failures, then the output of
    /// each failed command, then (if the run did not finish) the end of the console, which
    /// usually shows the panic or the test's last words.
    pub fn check(&self) -> Result<()> {
        let failures = self.failures();
        if failures.is_empty() {
            return Ok(());
        }
        let m = self.boot.machine;
        let mut msg = failures.join("\n");
        for c in self
            .commands
            .iter()
            .filter(|c| !c.passed() && c.outcome != Outcome::Unfinished)
        {
            msg.push_str(&format!(
                "\n--- output of {} ({m}) ---\n{}",
                c.name,
                tail(&c.output, 30)
            ));
        }
        if !self.done {
            // The blank lines /init prints before each marker only waste room here.
            let console: String = self
                .boot
                .console
                .lines()
                .filter(|l| !l.is_empty())
                .map(|l| format!("{l}\n"))
                .collect();
            let shown = if console.is_empty() {
                "(nothing)\n".to_string()
            } else {
                tail(&console, 40)
            };
            msg.push_str(&format!("\n--- last console lines ({m}) ---\n{shown}"));
        }
        err(msg)
    }
}

/// Boots `initrd` and parses the result: [`boot`] plus [`RunReport::parse`]. `expected` are the
/// command names in the initramfs's config, so that commands that never started are reported.
pub fn run(
    options: &BootOptions,
    expected: &[&str],
    on_line: &mut dyn FnMut(&str),
) -> Result<RunReport> {
    Ok(RunReport::parse(boot(options, on_line)?, expected))
}

// ---------------------------------------------------------------------------------------------
// Tests (host only; the VM path is exercised by the demo / xtask)
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_boot(console: &str) -> BootOutput {
        BootOutput {
            machine: Machine::X86_64KvmAmd,
            console: console.to_string(),
            qemu_stderr: String::new(),
            status: None,
            timed_out: false,
            killed_after_done: false,
            elapsed: Duration::ZERO,
        }
    }

    #[test]
    fn parses_a_passing_run() {
        let console = "boot noise\nUCALL-INIT: START kernel=6.1.0-x machine=x86_64\n\
                       UCALL-INIT: BEGIN a\nhello\nno newline UCALL-INIT: END a status=0 ms=5\n\
                       UCALL-INIT: DONE total=1 failed=0\n";
        let r = RunReport::parse(fake_boot(console), &["a"]);
        assert!(r.passed(), "{:?}", r.failures());
        assert_eq!(r.kernel_release.as_deref(), Some("6.1.0-x"));
        assert_eq!(r.commands[0].output, "hello\nno newline \n");
        assert_eq!(r.commands[0].guest_ms, Some(5));
    }

    #[test]
    fn missing_end_and_done_fail() {
        let console = "UCALL-INIT: START kernel=k machine=m\nUCALL-INIT: BEGIN a\nKernel panic\n";
        let r = RunReport::parse(fake_boot(console), &["a", "b"]);
        let f = r.failures();
        assert!(f.iter().any(|l| l.contains("a never finished")), "{f:?}");
        assert!(f.iter().any(|l| l.contains("b never started")), "{f:?}");
        assert!(f.iter().any(|l| l.contains("did not print DONE")), "{f:?}");
        assert!(r.check().is_err_and(|e| e.0.contains("Kernel panic")));
    }

    #[test]
    fn nonzero_status_and_setup_error() {
        let console = "UCALL-INIT: BEGIN a\nUCALL-INIT: END a signal=11 ms=1\nUCALL-INIT: DONE total=1 failed=1\n";
        assert!(!RunReport::parse(fake_boot(console), &["a"]).passed());
        let console = "UCALL-INIT: SETUP-ERROR required path /dev/kvm does not exist\n";
        let r = RunReport::parse(fake_boot(console), &["a"]);
        assert_eq!(r.failures().len(), 1, "{:?}", r.failures());
    }

    #[test]
    fn newc_layout() {
        let mut image = Initramfs::new();
        image.add_bytes(b"abc".to_vec(), "/x/y/z", true).unwrap();
        let mut out = Vec::new();
        image.write_to(&mut out).unwrap();
        assert!(out.starts_with(b"070701"));
        assert_eq!(out.len() % 4, 0);
        let text = String::from_utf8_lossy(&out);
        // Parents before children; trailer last.
        let (x, xy, xyz) = (
            text.find("x\0").unwrap(),
            text.find("x/y\0").unwrap(),
            text.find("x/y/z\0").unwrap(),
        );
        assert!(x < xy && xy < xyz);
        assert!(text.trim_end_matches('\0').ends_with("TRAILER!!!"));
    }

    #[test]
    fn config_rejects_newlines() {
        let cfg = InitConfig {
            commands: vec![InitCommand {
                name: "a".into(),
                exec: "/bin/a".into(),
                args: vec!["x\ny".into()],
                env: vec![],
            }],
            ..InitConfig::default()
        };
        assert!(cfg.render().is_err());
    }

    #[test]
    fn cargo_json_executable() {
        let l = r#"{"reason":"compiler-artifact","executable":"/t/a\\b\"c","fresh":true}"#;
        assert_eq!(
            json_string_field(l, "executable").as_deref(),
            Some("/t/a\\b\"c")
        );
    }
}
