//! Installing what the builds and VMs need on a fresh Debian machine: Debian packages with
//! apt-get, Rust toolchains, targets and components with rustup, and cargo-fuzz. Each is
//! installed only when missing; this is the one installer every command uses.

use crate::shell::{Run, cargo, say};
use anyhow::{Context, Result, bail};
use std::path::Path;
use std::process::Command;
use std::sync::{Mutex, MutexGuard};

/// A Debian package, and how to tell it is installed without asking dpkg.
#[derive(Clone, Copy, Debug)]
pub struct DebianPackage {
    /// The package's name.
    pub name: &'static str,
    /// A program it puts on the `PATH`, or (starting with `/`) a file it installs.
    pub provides: &'static str,
}

impl DebianPackage {
    /// `name`, which puts `program` on the `PATH`.
    pub const fn program(program: &'static str, name: &'static str) -> DebianPackage {
        DebianPackage {
            name,
            provides: program,
        }
    }

    /// `name`, which installs the file at the absolute path `path`.
    pub const fn file(path: &'static str, name: &'static str) -> DebianPackage {
        DebianPackage {
            name,
            provides: path,
        }
    }

    fn is_installed(&self) -> bool {
        if self.provides.starts_with('/') {
            Path::new(self.provides).is_file()
        } else {
            on_path(self.provides)
        }
    }
}

/// Whether `program` is a file in one of the `PATH`'s folders.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// Held by [`ensure_packages`] from its check to its install: apt runs one at a time, and a
/// step that needs a package waits here while another thread installs it (`cargo xtask test`
/// installs every package in the background while work that needs none goes on).
static APT: Mutex<()> = Mutex::new(());

/// The same for rustup: held by each `ensure_` function of the Rust tools, targets and
/// toolchains from its check to its install.
static RUSTUP: Mutex<()> = Mutex::new(());

/// Takes `lock`, also from a thread that panicked while holding it (it guards no data).
fn one_at_a_time(lock: &Mutex<()>) -> MutexGuard<'_, ()> {
    lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Installs those of `packages` that are missing, in one apt-get call.
///
/// `apt-get update` runs only if the first attempt fails (package unknown, or the package
/// lists are so old that the .deb is gone from the mirror).
pub fn ensure_packages(packages: &[DebianPackage]) -> Result<()> {
    let _apt = one_at_a_time(&APT);
    let mut missing: Vec<&str> = packages
        .iter()
        .filter(|package| !package.is_installed())
        .map(|package| package.name)
        .collect();
    missing.sort_unstable();
    missing.dedup();
    if missing.is_empty() {
        return Ok(());
    }
    if !on_path("apt-get") {
        bail!(
            "missing {} and no apt-get to install them: this needs a Debian-like host",
            missing.join(" ")
        );
    }
    if !is_root() {
        bail!(
            "installing needs root: apt-get install -y --no-install-recommends {}",
            missing.join(" ")
        );
    }
    say(&format!("installing {} with apt-get", missing.join(" ")));
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .run()
    };
    install().or_else(|first| {
        say("apt-get install failed; running apt-get update once and retrying");
        Command::new("apt-get")
            .arg("update")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .run()
            .with_context(|| format!("{first}\nthen apt-get update failed too"))?;
        install()
    })?;
    match packages.iter().find(|package| !package.is_installed()) {
        Some(package) => bail!(
            "installed {} but {} is still missing",
            package.name,
            package.provides
        ),
        None => Ok(()),
    }
}

/// Installs the rustup targets of `targets` that are missing.
pub fn ensure_targets(targets: &[&str]) -> Result<()> {
    ensure_rustup("target", None, targets, |line, target| {
        line.trim() == target
    })
}

/// Installs the rustup targets of `targets` that the toolchain `toolchain` lacks.
pub fn ensure_toolchain_targets(toolchain: &str, targets: &[&str]) -> Result<()> {
    ensure_rustup("target", Some(toolchain), targets, |line, target| {
        line.trim() == target
    })
}

/// Installs the rustup components that the checks use (rustfmt, clippy) if they are missing.
pub fn ensure_components() -> Result<()> {
    // `rustup component list --installed` names them with the host triple appended.
    ensure_rustup(
        "component",
        None,
        &["rustfmt", "clippy"],
        |line, component| line.starts_with(component),
    )
}

/// Installs the rustup toolchain `name` (`1.85`, `nightly`) with the minimal profile if it is
/// missing.
pub fn ensure_toolchain(name: &str) -> Result<()> {
    let _rustup = one_at_a_time(&RUSTUP);
    let installed = Command::new("rustup")
        .args(["toolchain", "list"])
        .output_text()?;
    // Toolchains are listed with the host triple appended: `1.85-x86_64-unknown-linux-gnu`.
    let prefix = format!("{name}-");
    if installed.lines().any(|line| line.starts_with(&prefix)) {
        return Ok(());
    }
    say(&format!("installing the Rust toolchain {name}"));
    Command::new("rustup")
        .args(["toolchain", "install", name, "--profile", "minimal"])
        .run()
}

/// `rustup <kind> add` for each of `wanted` that no line of `rustup <kind> list --installed`
/// matches, for `toolchain` or else the one running.
fn ensure_rustup(
    kind: &str,
    toolchain: Option<&str>,
    wanted: &[&str],
    matches: impl Fn(&str, &str) -> bool,
) -> Result<()> {
    let _rustup = one_at_a_time(&RUSTUP);
    let for_toolchain: &[&str] = match &toolchain {
        Some(toolchain) => &["--toolchain", toolchain],
        None => &[],
    };
    let installed = Command::new("rustup")
        .args([kind, "list", "--installed"])
        .args(for_toolchain)
        .output_text()?;
    let missing: Vec<&str> = wanted
        .iter()
        .filter(|item| !installed.lines().any(|line| matches(line, item)))
        .copied()
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    // One call for all: rustup's own start and manifest check are paid once.
    let on = toolchain.map(|t| format!(" for {t}")).unwrap_or_default();
    say(&format!(
        "installing the Rust {kind}s {}{on}",
        missing.join(" ")
    ));
    Command::new("rustup")
        .args([kind, "add"])
        .args(&missing)
        .args(for_toolchain)
        .run()
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

/// Installs cargo-fuzz (for `cargo xtask fuzz`) from crates.io if the nightly cargo lacks it.
pub fn ensure_cargo_fuzz() -> Result<()> {
    ensure_toolchain("nightly")?;
    let installed = Command::new("rustup")
        .args(["run", "nightly", "cargo", "fuzz", "--version"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if installed {
        return Ok(());
    }
    say("installing cargo-fuzz from crates.io");
    cargo().args(["install", "--locked", "cargo-fuzz"]).run()
}
