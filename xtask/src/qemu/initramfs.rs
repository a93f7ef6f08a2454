//! The initramfs: a newc cpio archive written here, with `/init`'s config in it.

use anyhow::{Context, Result, anyhow};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use ucall_init_protocol::{CONFIG_PATH, Config};

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

    /// Adds `/init`'s config where `/init` reads it.
    pub fn add_config(&mut self, config: &Config) -> Result<&mut Self> {
        let text = config.render().map_err(|e| anyhow!("init config: {e}"))?;
        self.add_bytes(text, CONFIG_PATH, false)
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
                Some(_) => return Err(anyhow!("initramfs: {p} is a file, not a folder")),
            }
            parent = Path::new(p).parent();
        }
        if let Some(Entry::Dir) = self.entries.get(&path) {
            return Err(anyhow!("initramfs: /{path} is already a folder"));
        }
        self.entries.insert(path, entry);
        Ok(self)
    }

    /// Writes the archive to `out` (via a temporary file and a rename).
    pub fn write(&self, out: &Path) -> Result<()> {
        let tmp = out.with_extension("tmp");
        let file =
            std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let mut w = std::io::BufWriter::new(file);
        self.write_to(&mut w)
            .with_context(|| format!("writing {}", out.display()))?;
        w.flush()
            .with_context(|| format!("writing {}", tmp.display()))?;
        drop(w);
        std::fs::rename(&tmp, out)
            .with_context(|| format!("renaming {} to {}", tmp.display(), out.display()))
    }

    fn write_to(&self, w: &mut impl Write) -> Result<()> {
        const S_IFDIR: u32 = 0o040000;
        const S_IFREG: u32 = 0o100000;
        const S_IFCHR: u32 = 0o020000;
        for (ino, (path, entry)) in (1u32..).zip(&self.entries) {
            let (mode, nlink, rdev, data) = match entry {
                Entry::Dir => (S_IFDIR | 0o755, 2, (0, 0), Vec::new()),
                Entry::CharDev { major, minor } => {
                    (S_IFCHR | 0o600, 1, (*major, *minor), Vec::new())
                }
                Entry::File { data, executable } => {
                    let bytes = match data {
                        FileData::Bytes(b) => b.clone(),
                        FileData::Host(p) => std::fs::read(p).with_context(|| {
                            format!("initramfs: reading {} for /{path}", p.display())
                        })?,
                    };
                    let perm = if *executable { 0o755 } else { 0o644 };
                    (S_IFREG | perm, 1, (0, 0), bytes)
                }
            };
            // newc sizes are 8 hex digits.
            if u32::try_from(data.len()).is_err() {
                return Err(anyhow!("initramfs: /{path} is larger than 4 GiB"));
            }
            write_newc_entry(w, ino, mode, nlink, rdev, path, &data)?;
        }
        Ok(write_newc_entry(w, 0, 0, 1, (0, 0), "TRAILER!!!", &[])?)
    }
}

/// `/bin/x` or `bin/x` -> `bin/x`; rejects `..`, empty and non-UTF-8-safe names.
fn normalize_image_path(p: &str) -> Result<String> {
    let parts: Vec<&str> = p
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    if parts.is_empty() || parts.contains(&"..") || p.contains('\0') {
        return Err(anyhow!("initramfs: bad path {p:?}"));
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
