//! `cargo xtask test`: the checks and this machine's tests in one lane, while another lane
//! builds, architecture by architecture, what the VMs run (on x86_64 also this machine's
//! host-side tests: one build for both), and every VM boots as soon as its architecture is
//! built, side by side with others while the host's cores allow. apt and rustup install in the
//! background from the start. Every step is timed; the table is printed at the end, also when a
//! step failed.

mod native;

use crate::arch::Arch;
use crate::machines::{self, Machine, Selection};
use crate::qemu::suite::{self, ArchBuild};
use crate::shell::{with_lane, workspace_root};
use crate::{guests, install, qemu, timing};
use anyhow::{Context, Result, anyhow};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{Scope, ScopedJoinHandle};

/// Runs what `selection` selects and prints the timing table.
pub fn run(selection: &Selection) -> Result<()> {
    timing::start();
    let result = run_all(selection);
    eprint!("\n{}", timing::table());
    match &result {
        Ok(()) if selection.is_everything() => {
            eprintln!("==> every step passed on every machine")
        }
        Ok(()) => eprintln!("==> the selected work passed (not the whole run)"),
        Err(e) => eprintln!("==> FAILED: {e:#}"),
    }
    result
}

fn run_all(selection: &Selection) -> Result<()> {
    timing::step("setup", "checking /dev/kvm", || {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/kvm")
            .map(drop)
            .context("/dev/kvm is not usable; the tests run real guests and need it")
    })?;
    let native = machines::native()?;
    // The VMs by architecture, in list order: each architecture is built once for all of them.
    let mut groups: Vec<(Arch, Vec<&'static Machine>)> = Vec::new();
    for machine in machines::vms().filter(|m| selection.includes(m)) {
        match groups.iter_mut().find(|(arch, _)| *arch == machine.arch) {
            Some((_, group)) => group.push(machine),
            None => groups.push((machine.arch, vec![machine])),
        }
    }
    // rustfmt and clippy before the checks start with them (quick: rustup's default profile
    // has them).
    timing::step("setup", "rustup: components", install::ensure_components)?;
    let mut errors = Vec::new();
    let packages = debian_packages();
    std::thread::scope(|s| {
        // apt and rustup in the background while the checks start: a step that needs a
        // package, a target or a toolchain waits for it in its `install::ensure_*` call.
        let apt = s.spawn(|| {
            timing::step(
                "setup",
                "apt: the Debian packages (in the background)",
                || with_lane("setup", || install::ensure_packages(&packages)),
            )
        });
        let rustup = s.spawn(|| {
            timing::step(
                "setup",
                "rustup: targets and toolchains (in the background)",
                install_rust,
            )
        });
        // The kernels: downloads and dpkg, little CPU, so all at once from the start.
        let kernels: Vec<_> = groups
            .iter()
            .map(|&(arch, _)| {
                s.spawn(move || {
                    with_lane(arch.name(), || {
                        qemu::kernel(arch, &workspace_root().join("target/qemu"))
                    })
                })
            })
            .collect();
        let (built, to_boot) = mpsc::channel::<(usize, ArchBuild)>();
        let groups = &groups;
        let builder = s.spawn(move || {
            let mut errors = Vec::new();
            for (i, ((arch, machines), kernel)) in groups.iter().zip(kernels).enumerate() {
                let kernel = || joined(kernel).and_then(|kernel| kernel);
                match suite::build(*arch, machines, kernel) {
                    Ok(build) => {
                        let _ = built.send((i, build));
                    }
                    Err(e) => errors.push(e.context(format!("building for the {arch} VMs"))),
                }
            }
            errors
        });
        let booter = s.spawn(move || boot_all(s, to_boot, groups, selection));
        if selection.is_everything() {
            errors.extend(native::checks(native).err());
        }
        if selection.includes(native) {
            for work in selection.work(native) {
                errors.extend(native::run_work(native, work, &selection.test_args).err());
            }
        }
        for lane in [apt, rustup] {
            match joined(lane) {
                Ok(lane_result) => errors.extend(lane_result.err()),
                Err(e) => errors.push(e),
            }
        }
        for lane in [builder, booter] {
            match joined(lane) {
                Ok(lane_errors) => errors.extend(lane_errors),
                Err(e) => errors.push(e),
            }
        }
    });
    match errors.len() {
        0 => Ok(()),
        1 => Err(errors.remove(0)),
        n => {
            let all: Vec<String> = errors.iter().map(|e| format!("{e:#}")).collect();
            Err(anyhow!("{n} failures:\n{}", all.join("\n")))
        }
    }
}

/// A thread's result, a panic as an error.
fn joined<T>(handle: ScopedJoinHandle<'_, T>) -> Result<T> {
    handle
        .join()
        .map_err(|_| anyhow!("a thread of xtask panicked (see above)"))
}

/// Boots each machine of `groups` as its architecture's build arrives, each in a thread of its
/// own once enough host cores are free: a multi-threaded TCG machine takes one per vCPU, the
/// others one. Returns every failure.
fn boot_all<'scope>(
    s: &'scope Scope<'scope, '_>,
    builds: mpsc::Receiver<(usize, ArchBuild)>,
    groups: &'scope [(Arch, Vec<&'static Machine>)],
    selection: &'scope Selection,
) -> Vec<anyhow::Error> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    let free = Arc::new((Mutex::new(cores), Condvar::new()));
    let mut boots = Vec::new();
    for (i, build) in builds {
        let build = Arc::new(build);
        for &machine in &groups[i].1 {
            let needs = machine
                .qemu
                .as_ref()
                .map_or(1, |q| q.host_threads())
                .min(cores);
            take(&free, needs);
            let (build, free) = (Arc::clone(&build), Arc::clone(&free));
            boots.push(s.spawn(move || {
                let result = timing::step(machine.name, "pack, boot and run its work", || {
                    suite::run_machine(machine, &build, selection)
                });
                give(&free, needs);
                result.with_context(|| format!("on {machine}"))
            }));
        }
    }
    boots
        .into_iter()
        .filter_map(|boot| joined(boot).and_then(|result| result).err())
        .collect()
}

/// Waits until `n` cores are free and takes them.
fn take(free: &(Mutex<u32>, Condvar), n: u32) {
    let (count, changed) = free;
    let mut count = count
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    while *count < n {
        count = changed
            .wait(count)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
    }
    *count -= n;
}

/// Gives `n` cores back.
fn give(free: &(Mutex<u32>, Condvar), n: u32) {
    let (count, changed) = free;
    *count
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner()) += n;
    changed.notify_all();
}

/// Every Debian package a step will need.
fn debian_packages() -> Vec<install::DebianPackage> {
    let mut packages = vec![install::DebianPackage::program("gdb", "gdb")];
    for arch in machines::arches() {
        packages.push(guests::c_compiler_package(arch));
    }
    for machine in machines::vms() {
        packages.extend(machine.arch.host_packages());
    }
    packages
}

/// Installs every rustup target and Rust toolchain that a step will need, each asked once for
/// everything: in one go rather than a step at a time.
fn install_rust() -> Result<()> {
    let mut targets = Vec::new();
    for arch in machines::arches() {
        targets.push(arch.guest_target());
        targets.push(arch.linux_gnu_target());
    }
    for machine in machines::vms() {
        targets.push(machine.arch.linux_target());
    }
    let doc_targets = crate::toolchains::doc_targets()?;
    targets.extend(doc_targets.iter().map(String::as_str));
    targets.sort_unstable();
    targets.dedup();
    install::ensure_targets(&targets).and_then(|()| crate::toolchains::ensure_toolchains())
}
