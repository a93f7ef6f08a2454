//! The VMs' kernels: Debian's, fetched once per architecture and cached.

use super::apt::PrivateApt;
use super::progress;
use crate::arch::Arch;
use crate::shell::{describe, tail};
use anyhow::{Context, Result, anyhow};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// A Debian kernel, unpacked in the cache.
#[derive(Debug, Clone)]
pub struct Kernel {
    /// The real package, e.g. `linux-image-6.1.0-41-cloud-arm64`.
    pub package: String,
    /// `uname -r` of the kernel, e.g. `6.1.0-41-cloud-arm64`.
    pub release: String,
    /// What QEMU's `-kernel` takes (arm64, riscv64: an uncompressed Image; amd64: a bzImage).
    pub image: PathBuf,
    /// Modules `/init` must load, in order, before `/dev/kvm` exists (none on arm64).
    pub modules: Vec<PathBuf>,
}

const KERNEL_STAMP: &str = "kernel.stamp";

/// Returns the Debian kernel for `arch`, downloading and unpacking it into
/// `cache_dir/kernel-<debarch>/` the first time. Later calls only read a stamp file.
///
/// The metapackage of [`Arch::kernel_source`] is resolved to the real package (its ABI
/// number changes with security updates) with apt-cache in a private apt state
/// (`cache_dir/apt-<debarch>/`, see [`super::apt`]), and only the image, the config and the
/// modules are unpacked from it.
///
/// Delete `cache_dir/kernel-<debarch>/` to pick up a newer kernel.
pub fn kernel(arch: Arch, cache_dir: &Path) -> Result<Kernel> {
    let dir = cache_dir.join(format!("kernel-{}", arch.deb_arch()));
    if let Ok(stamp) = std::fs::read_to_string(dir.join(KERNEL_STAMP)) {
        return Kernel::from_stamp(&dir, &stamp);
    }
    fetch_kernel(arch, cache_dir, &dir)?;
    let stamp = std::fs::read_to_string(dir.join(KERNEL_STAMP))
        .with_context(|| format!("reading {}", dir.join(KERNEL_STAMP).display()))?;
    Kernel::from_stamp(&dir, &stamp)
}

impl Kernel {
    /// Stamp format: `key value` lines; `module` repeats, in load order; paths relative to `dir`.
    fn from_stamp(dir: &Path, stamp: &str) -> Result<Kernel> {
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
            anyhow!(
                "broken kernel cache {}: delete the folder and retry",
                dir.display()
            )
        };
        let kernel = Kernel {
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

fn fetch_kernel(arch: Arch, cache_dir: &Path, final_dir: &Path) -> Result<()> {
    let started = Instant::now();
    let source = arch.kernel_source();
    let deb_arch = arch.deb_arch();
    let apt = PrivateApt::new(
        cache_dir.join(format!("apt-{deb_arch}")),
        arch,
        source.suite,
    )?;

    progress(&format!(
        "apt-get update ({deb_arch} index, private state in {})",
        apt.root().display()
    ));
    apt.update()?;
    let package = apt.dependency(source.metapackage, "linux-image-")?;

    // Work in a scratch folder next to the final one and rename at the end, so an interrupted
    // download never leaves something that looks like a valid cache.
    let work = cache_dir.join(format!("kernel-{deb_arch}.tmp"));
    if work.exists() {
        std::fs::remove_dir_all(&work).with_context(|| format!("removing {}", work.display()))?;
    }
    let unpacked = work.join("unpacked");
    let out = work.join("kernel");
    for dir in [&unpacked, &out.join("modules")] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }

    progress(&format!("apt-get download {package}"));
    let deb = apt.download(&package, &work)?;
    let size = std::fs::metadata(&deb).map(|m| m.len()).unwrap_or(0);
    progress(&format!(
        "downloaded {} ({:.0} MB) at {:.1?}; unpacking the image, config and modules",
        deb.display(),
        size as f64 / 1e6,
        started.elapsed()
    ));
    // Only what is needed: the package holds 100 MB and more of modules, we use up to three.
    let mut wanted = vec![
        format!("./boot/{}*", source.image_prefix),
        "./boot/config-*".to_string(),
    ];
    wanted.extend(
        source
            .modules
            .iter()
            .map(|module| format!("./{}/*/{module}", source.modules_root)),
    );
    extract(&deb, &unpacked, &wanted)?;

    // boot/<image_prefix><release> gives the release; boot/config-<release> the configuration.
    let boot = unpacked.join("boot");
    let release = std::fs::read_dir(&boot)
        .with_context(|| format!("listing {} (not a kernel package?)", boot.display()))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .find_map(|n| n.strip_prefix(source.image_prefix).map(str::to_string))
        .ok_or_else(|| anyhow!("no boot/{}* in {package}", source.image_prefix))?;
    let config_path = boot.join(format!("config-{release}"));
    let config = std::fs::read_to_string(&config_path)
        .with_context(|| format!("reading {}", config_path.display()))?;
    for needed in source.required_config {
        if !config.lines().any(|l| l == *needed) {
            return Err(anyhow!(
                "{package}: kernel config lacks `{needed}`; xtask must be adapted \
                 (Arch::kernel_source in xtask/src/arch.rs)"
            ));
        }
    }

    let move_file = |from: &Path, to: &Path| {
        std::fs::rename(from, to)
            .with_context(|| format!("moving {} to {}", from.display(), to.display()))
    };
    let image = source.image_prefix.trim_end_matches('-');
    move_file(
        &boot.join(format!("{}{release}", source.image_prefix)),
        &out.join(image),
    )?;
    move_file(&config_path, &out.join("config"))?;
    let mut stamp = format!("package {package}\nrelease {release}\nimage {image}\n");
    let modules_dir = unpacked.join(source.modules_root).join(&release);
    for module in source.modules {
        let from = modules_dir.join(module);
        let name = Path::new(module)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(module);
        if !from.is_file() {
            return Err(anyhow!(
                "{package}: {} missing (compressed modules? a new dependency?)",
                from.display()
            ));
        }
        move_file(&from, &out.join("modules").join(name))?;
        stamp.push_str(&format!("module modules/{name}\n"));
    }
    let stamp_path = out.join(KERNEL_STAMP);
    std::fs::write(&stamp_path, stamp)
        .with_context(|| format!("writing {}", stamp_path.display()))?;

    if final_dir.exists() {
        std::fs::remove_dir_all(final_dir)
            .with_context(|| format!("removing {}", final_dir.display()))?;
    }
    move_file(&out, final_dir)?;
    std::fs::remove_dir_all(&work).with_context(|| format!("removing {}", work.display()))?;
    // The private index (~25 MB) is only needed to resolve and download; a later fetch runs
    // `apt-get update` again anyway.
    std::fs::remove_dir_all(apt.root())
        .with_context(|| format!("removing {}", apt.root().display()))?;
    progress(&format!(
        "kernel {release} cached in {} ({:.1?} in all)",
        final_dir.display(),
        started.elapsed()
    ));
    Ok(())
}

/// Extracts the members of `deb`'s file system that match the tar wildcards `patterns` into
/// `into`: `dpkg-deb --fsys-tarfile deb | tar -x`. tar fails if a pattern matches nothing.
fn extract(deb: &Path, into: &Path, patterns: &[String]) -> Result<()> {
    let mut dpkg = Command::new("dpkg-deb")
        .arg("--fsys-tarfile")
        .arg(deb)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| "cannot start dpkg-deb (is this a Debian-like host?)".to_string())?;
    let tarfile = dpkg
        .stdout
        .take()
        .ok_or_else(|| anyhow!("dpkg-deb's stdout is not piped"))?;
    let mut tar = Command::new("tar");
    tar.arg("-x")
        .arg("-C")
        .arg(into)
        .arg("--wildcards")
        .args(patterns)
        .stdin(tarfile);
    let tar_output = tar.output().with_context(|| "cannot start tar".to_string());
    let dpkg_status = dpkg
        .wait()
        .with_context(|| "waiting for dpkg-deb".to_string())?;
    let tar_output = tar_output?;
    if !tar_output.status.success() {
        return Err(anyhow!(
            "{} failed ({}):\n{}",
            describe(&tar),
            tar_output.status,
            tail(&String::from_utf8_lossy(&tar_output.stderr), 20)
        ));
    }
    if !dpkg_status.success() {
        return Err(anyhow!(
            "dpkg-deb --fsys-tarfile {} failed ({dpkg_status})",
            deb.display()
        ));
    }
    Ok(())
}
