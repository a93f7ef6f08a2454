//! A private apt configuration: its own state, cache and sources, with one architecture, for
//! resolving and downloading a kernel package of another architecture or Debian release.
//!
//! Why not the system's apt: `dpkg --add-architecture arm64` would make every later system
//! `apt-get update` fetch arm64 indices for every configured source, and fail on third-party
//! sources without arm64; a private state needs no change to the machine, works without root,
//! does not depend on how fresh the system's package lists are, and reaches Debian releases
//! the system is not configured for (riscv64 exists from Debian 13 on). The price is one
//! download of the package index for that architecture (about 10 MB) the first time.

use crate::arch::{Arch, Suite};
use crate::shell::Run;
use anyhow::{Context, Result, anyhow};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Debian 13's sources, verified with the keyring that verifies the system's Debian release.
const TRIXIE_SOURCES: &str = "Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
";

/// A private apt configuration rooted in one folder.
#[derive(Debug)]
pub struct PrivateApt {
    root: PathBuf,
    options: Vec<String>,
}

impl PrivateApt {
    /// Creates the configuration in `root` for `arch`'s packages of `suite`.
    pub fn new(root: PathBuf, arch: Arch, suite: Suite) -> Result<PrivateApt> {
        let sources_d = root.join("sources.list.d");
        for dir in [
            root.join("state/lists/partial"),
            root.join("cache/archives/partial"),
            sources_d.clone(),
        ] {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        // Empty dpkg status: nothing is "installed" in this context, so apt never considers
        // the host's packages, which are of another architecture anyway.
        let status = root.join("status");
        std::fs::write(&status, "").with_context(|| format!("writing {}", status.display()))?;
        write_sources(&sources_d, suite)?;

        let d = |p: &str| root.join(p).display().to_string();
        let mut options = vec![
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
        ];
        // Nor the AppStream metadata (4.4 MB more for trixie).
        for target in ["DEP-11", "DEP-11-icons", "DEP-11-icons-small"] {
            options.push(format!(
                "Acquire::IndexTargets::deb::{target}::DefaultEnabled=false"
            ));
        }
        let options = options
            .into_iter()
            .flat_map(|o| ["-o".to_string(), o])
            .collect();
        Ok(PrivateApt { root, options })
    }

    /// The folder it lives in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `apt-get update`.
    pub fn update(&self) -> Result<()> {
        self.command("apt-get").arg("update").output_text()?;
        Ok(())
    }

    /// The real package a metapackage depends on, the first `Depends:` named `prefix*`.
    pub fn dependency(&self, metapackage: &str, prefix: &str) -> Result<String> {
        let depends = self
            .command("apt-cache")
            .args(["depends", metapackage])
            .output_text()?;
        // Output: "linux-image-cloud-arm64\n  Depends: linux-image-6.1.0-41-cloud-arm64\n".
        depends
            .lines()
            .filter_map(|l| l.trim().strip_prefix("Depends:"))
            .map(|p| p.trim().split(':').next().unwrap_or("").to_string())
            .find(|p| p.starts_with(prefix))
            .ok_or_else(|| anyhow!("apt-cache depends {metapackage}: no {prefix}* in:\n{depends}"))
    }

    /// Downloads `package`'s .deb into `folder` and returns its path.
    pub fn download(&self, package: &str, folder: &Path) -> Result<PathBuf> {
        self.command("apt-get")
            .args(["download", package])
            .current_dir(folder)
            .output_text()?;
        let deb = std::fs::read_dir(folder)
            .with_context(|| format!("listing {}", folder.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&format!("{package}_")) && n.ends_with(".deb"))
            });
        match deb {
            Some(deb) => Ok(deb),
            None => Err(anyhow!(
                "apt-get download {package} left no .deb in {}",
                folder.display()
            )),
        }
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.args(&self.options)
            .env("DEBIAN_FRONTEND", "noninteractive");
        cmd
    }
}

/// Puts the sources of `suite` into `sources_d`.
fn write_sources(sources_d: &Path, suite: Suite) -> Result<()> {
    let (text, name) = match suite {
        Suite::Trixie => (TRIXIE_SOURCES.to_string(), "trixie.sources"),
        // Only the Debian sources of the system, not third-party ones (they may lack the
        // architecture or be unreachable, and then `apt-get update` fails). Debian 12 keeps
        // them in debian.sources (deb822); older or hand-made setups in sources.list.
        Suite::System => {
            let candidates = [
                ("/etc/apt/sources.list.d/debian.sources", "debian.sources"),
                ("/etc/apt/sources.list", "debian.list"),
            ];
            let found = candidates.iter().find_map(|(src, name)| {
                let text = std::fs::read_to_string(src).ok()?;
                text.contains("deb").then_some((text, *name))
            });
            match found {
                Some(found) => found,
                None => {
                    return Err(anyhow!(
                        "no Debian apt sources found (looked at \
                         /etc/apt/sources.list.d/debian.sources and /etc/apt/sources.list)"
                    ));
                }
            }
        }
    };
    let dst = sources_d.join(name);
    std::fs::write(&dst, text).with_context(|| format!("writing {}", dst.display()))
}
