//! What every boot packs: `/init`, the kernel's KVM modules, the guests, the source folders the
//! tests read, and the commands `/init` runs; and booting that image with the console shown.

use super::{BootOptions, Initramfs, Kernel, RunReport, StaticPrograms};
use crate::install;
use crate::machines::Machine;
use crate::shell::{say, workspace_root};
use anyhow::{Context, Result, anyhow};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use ucall_init_protocol::{Command as InitCommand, Config as InitConfig, Module};

/// Where guests are in the VM; the tests find them through `UCALL_GUEST_DIR`.
pub const GUEST_DIR: &str = "/guests";

/// Where the runner is in every VM; the tests that run it as a process
/// (`ucall_tests::ucall_run`) find it through `UCALL_RUN`.
pub const RUNNER: &str = "/bin/ucall-run";

/// A hard limit per boot, beside the limit on a silent console (`boot::SILENCE`), which is
/// what catches a hung VM. The longest boots take about 150 s on this machine under load (the
/// arm64 nVHE suite); under load 17-20 (other builds on both cores) the riscv64 suite passed
/// 360 s, which was the limit before the silence was watched.
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(1800);

/// Source folders that tests read through `env!("CARGO_MANIFEST_DIR")`, packed at the same
/// absolute paths as here: the packages' folders (so that `<package>/..` resolves) and the data.
const SOURCE_FOLDERS: [&str; 2] = ["host", "tests"];
const SOURCE_DATA: [&str; 1] = ["fuzz/seeds"];

/// A program to put into the image and the command that runs it.
pub type Program = (PathBuf, InitCommand);

/// What every boot of one architecture needs: its kernel and its static programs.
#[derive(Debug, Clone)]
pub struct VmParts {
    /// The Debian kernel and its KVM modules.
    pub kernel: Kernel,
    /// `/init`, the KVM check and the runner.
    pub programs: StaticPrograms,
}

impl VmParts {
    /// Installs what the VMs of `machine`'s architecture need here, builds their programs and
    /// fetches their kernel (both cached).
    pub fn prepare(machine: &Machine) -> Result<VmParts> {
        let arch = machine.arch;
        install::ensure_packages(arch.host_packages())?;
        install::ensure_targets(&[arch.linux_target()])?;
        let programs = super::build_static(arch)?;
        let kernel = super::kernel(arch, &workspace_root().join("target/qemu"))?;
        Ok(VmParts { kernel, programs })
    }
}

/// Where the images are written: in this checkout's own target folder (the kernel cache in
/// `target/qemu/` may be shared with other checkouts; the images are not).
pub fn image_path(name: &str) -> PathBuf {
    workspace_root()
        .join("target/vm-images")
        .join(format!("{name}.cpio"))
}

/// Packs `/init`, the kernel's modules, the runner (at [`RUNNER`]), the `guests` (each at
/// `/guests/<its name>`), the source folders and `commands` into the initramfs at `out`.
pub fn pack(parts: &VmParts, guests: &[PathBuf], commands: &[Program], out: &Path) -> Result<()> {
    let mut image = Initramfs::new();
    let mut config = InitConfig {
        env: vec![
            ("UCALL_GUEST_DIR".into(), GUEST_DIR.into()),
            ("UCALL_RUN".into(), RUNNER.into()),
        ],
        require: vec!["/dev/kvm".into()],
        ..InitConfig::default()
    };
    image.add_file(&parts.programs.init, "/init", true)?;
    image.add_file(&parts.programs.runner, RUNNER, true)?;
    for module in &parts.kernel.modules {
        let at = format!("/lib/modules/{}", file_name(module)?);
        image.add_file(module, &at, false)?;
        config.modules.push(Module {
            path: at,
            params: String::new(),
        });
    }
    for guest in guests {
        let at = format!("{GUEST_DIR}/{}", file_name(guest)?);
        image.add_file(guest, &at, false)?;
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
    if let Some(folder) = out.parent() {
        std::fs::create_dir_all(folder)
            .with_context(|| format!("creating {}", folder.display()))?;
    }
    image.write(out)
}

/// The files in `folder`, sorted.
pub fn files_in(folder: &Path) -> Result<Vec<PathBuf>> {
    let entries =
        std::fs::read_dir(folder).with_context(|| format!("cannot list {}", folder.display()))?;
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    Ok(files)
}

/// Adds every file under `folder` at its own absolute path.
fn add_tree(image: &mut Initramfs, folder: &Path) -> Result<()> {
    let entries =
        std::fs::read_dir(folder).with_context(|| format!("cannot list {}", folder.display()))?;
    for path in entries.flatten().map(|entry| entry.path()) {
        if path.is_dir() {
            add_tree(image, &path)?;
        } else {
            image.add_file(&path, &path.to_string_lossy(), false)?;
        }
    }
    Ok(())
}

/// The last component of `path`, which must be UTF-8.
pub fn file_name(path: &Path) -> Result<&str> {
    path.file_name()
        .and_then(|name| name.to_str())
        .ok_or_else(|| anyhow!("{} has no UTF-8 file name", path.display()))
}

/// A command named `name` that runs `/bin/<name>` (its own copy: one file per path in the
/// initramfs) with `args`.
pub fn command(name: &str, args: Vec<String>, env: Vec<(String, String)>) -> InitCommand {
    InitCommand {
        name: name.into(),
        exec: format!("/bin/{name}"),
        args,
        env,
    }
}

/// Boots `machine` with `initrd`, showing the console (test results included) prefixed with the
/// machine's name when `echo` says so, and returns the report.
pub fn boot(
    machine: &'static Machine,
    kernel: &Path,
    initrd: &Path,
    names: &[&str],
    echo: bool,
) -> Result<RunReport> {
    let options = BootOptions::new(machine, kernel, initrd, BOOT_TIMEOUT)?;
    let started = Instant::now();
    say(&format!(
        "booting {machine} ({})",
        crate::shell::describe(&options.command()?)
    ));
    let report = super::run(&options, names, &mut |line: &str| {
        let line = line.trim_end();
        if echo && !line.is_empty() {
            say(line);
        }
    })?;
    say(&format!(
        "QEMU ran {:.1?} (boot, commands, power off)",
        started.elapsed()
    ));
    let in_vm_ms: u64 = report.commands.iter().filter_map(|c| c.guest_ms).sum();
    let mut note = format!("{:.1} s of it the commands", in_vm_ms as f64 / 1000.0);
    if report.boot.timed_out {
        note.push_str("; timed out");
    }
    crate::timing::note(
        machine.name,
        "QEMU: boot, commands, power off",
        started.elapsed(),
        &note,
    );
    if report.boot.killed_after_done {
        say(&format!(
            "WARNING: {machine} did not power off after /init finished; QEMU killed"
        ));
    }
    Ok(report)
}
