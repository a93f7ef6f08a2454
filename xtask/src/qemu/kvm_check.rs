//! `cargo xtask kvm-check`: does a VM's KVM answer?

use super::image::{self, VmParts};
use crate::machines::Machine;
use anyhow::{Context, Result};

/// Boots `machine` with the KVM check (`xtask/qemu-init/src/bin/kvm-check.rs`) as the only
/// command: `/init` loads the kernel's KVM modules and requires `/dev/kvm`, the check asks for
/// the API version and creates a VM. Prints the check's output and the boot time.
pub fn kvm_check(machine: &'static Machine) -> Result<()> {
    let parts = VmParts::prepare(machine)?;
    let command = image::command("ucall-kvm-check", Vec::new(), Vec::new());
    let initrd = image::image_path(&format!("kvm-check-{machine}"));
    let program = (parts.programs.kvm_check.clone(), command);
    image::pack(&parts, &[], &[program], &initrd)?;
    let report = image::boot(
        machine,
        &parts.kernel.image,
        &initrd,
        &["ucall-kvm-check"],
        true,
    )?;
    report
        .check()
        .with_context(|| format!("the KVM check failed in {machine}"))?;
    crate::shell::say(&format!(
        "{machine}: KVM answers on kernel {} (package {})",
        parts.kernel.release, parts.kernel.package
    ));
    Ok(())
}
