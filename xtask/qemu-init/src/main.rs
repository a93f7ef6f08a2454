//! `/init` (PID 1) for the throw-away QEMU VMs in which ucall's tests run against a real KVM.
//!
//! The host side (`xtask/src/qemu/`) packs this binary, the test binaries and a config file into an
//! initramfs and boots a kernel with it. This program then:
//!
//! 1. mounts devtmpfs on `/dev` (the Debian kernels do not set `CONFIG_DEVTMPFS_MOUNT`, and even
//!    if they did it only applies to a mounted root file system, not to an initramfs), `/proc` and
//!    `/sys`, and reopens `/dev/console` as stdin/stdout/stderr;
//! 2. loads the kernel modules listed in the config with `finit_module` (kvm is modular on
//!    x86_64 and riscv64; compressed modules are decompressed by the kernel);
//! 3. checks that the required paths exist (normally `/dev/kvm`);
//! 4. runs each command, printing `UCALL-INIT: BEGIN name` and `UCALL-INIT: END name status=N`;
//! 5. prints `UCALL-INIT: DONE ...` and powers the VM off.
//!
//! Everything goes to the serial console, which the host reads. The markers are the whole
//! protocol: QEMU's exit status says nothing about the tests. The config file and the markers
//! are defined in `ucall-init-protocol`, which xtask uses too.

use std::ffi::CString;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::time::Instant;
use ucall_init_protocol::{CONFIG_PATH, Config, Marker, Outcome};

/// `finit_module` flag: the file is compressed and the kernel decompresses it (Linux >= 5.17
/// with `CONFIG_MODULE_DECOMPRESS`). Not in the `libc` crate.
const MODULE_INIT_COMPRESSED_FILE: libc::c_uint = 4;

fn main() {
    // Console first, so that every later error is visible on the host.
    mount_filesystems();
    reopen_console();

    let (kernel, machine) = uname();
    say(Marker::Start { kernel, machine });

    match setup() {
        Ok(config) => {
            let failed = run_commands(&config);
            say(Marker::Done {
                total: config.commands.len(),
                failed,
            });
        }
        Err(e) => say(Marker::SetupError(e)),
    }
    power_off();
}

/// Prints one protocol line. The leading newline makes sure the marker starts a line even when
/// the previous command's output did not end with one; the host ignores empty lines.
fn say(marker: Marker) {
    let mut out = std::io::stdout().lock();
    // Nothing sensible to do if the console is gone; the host will notice the missing markers.
    let _ = write!(out, "\n{marker}\n");
    let _ = out.flush();
}

fn mount_filesystems() {
    for (source, target, fstype) in [
        ("devtmpfs", "/dev", "devtmpfs"),
        ("proc", "/proc", "proc"),
        ("sysfs", "/sys", "sysfs"),
    ] {
        // The directories normally come with the initramfs; create them if not.
        let _ = std::fs::create_dir_all(target);
        if let Err(e) = mount(source, target, fstype) {
            // Printed to whatever stderr we have; `reopen_console` may not have run yet.
            eprintln!(
                "{}",
                Marker::Warning(format!("mount {fstype} on {target}: {e}"))
            );
        }
    }
    let _ = std::fs::create_dir_all("/tmp");
}

fn mount(source: &str, target: &str, fstype: &str) -> std::io::Result<()> {
    let c = |s: &str| CString::new(s).map_err(std::io::Error::other);
    let (source, target, fstype) = (c(source)?, c(target)?, c(fstype)?);
    // SAFETY: all pointers are valid NUL-terminated strings that outlive the call; data is null.
    let rc = unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let err = std::io::Error::last_os_error();
    // Already mounted (e.g. a kernel with DEVTMPFS_MOUNT) is fine.
    if err.raw_os_error() == Some(libc::EBUSY) {
        Ok(())
    } else {
        Err(err)
    }
}

/// Makes fds 0, 1 and 2 the console from the freshly mounted devtmpfs. The kernel opened
/// `/dev/console` from the initramfs for us already (the host puts a node there), but opening
/// the devtmpfs one makes it a controlling-terminal-capable console and covers images without it.
fn reopen_console() {
    let Ok(console) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/console")
    else {
        let warning = "cannot open /dev/console; keeping inherited stdio";
        eprintln!("{}", Marker::Warning(warning.into()));
        return;
    };
    let fd = console.as_raw_fd();
    for target in 0..=2 {
        // SAFETY: dup2 on a valid open fd; replacing 0..2 is exactly what we want in PID 1.
        unsafe { libc::dup2(fd, target) };
    }
    // `console` is dropped (closed) here unless it already was one of 0..2, which dup2 kept.
    if fd <= 2 {
        std::mem::forget(console);
    }
}

fn uname() -> (String, String) {
    // SAFETY: utsname is plain old data; zeroed is a valid value, and uname fills it.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid, writable utsname.
    if unsafe { libc::uname(&mut u) } != 0 {
        return ("?".into(), "?".into());
    }
    // c_char is i8 on x86_64 and u8 on aarch64, hence the cast clippy calls useless on one.
    #[allow(clippy::unnecessary_cast)]
    let field = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    (field(&u.release), field(&u.machine))
}

fn setup() -> Result<Config, String> {
    let text = std::fs::read_to_string(CONFIG_PATH)
        .map_err(|e| format!("cannot read {CONFIG_PATH}: {e}"))?;
    let config = Config::parse(&text).map_err(|e| format!("{CONFIG_PATH}: {e}"))?;
    for module in &config.modules {
        let t = Instant::now();
        load_module(&module.path, &module.params)?;
        say(Marker::Module {
            path: module.path.clone(),
            ms: millis(t),
        });
    }
    for path in &config.require {
        if !std::path::Path::new(path).exists() {
            return Err(format!(
                "required path {path} does not exist (kernel without KVM?)"
            ));
        }
    }
    Ok(config)
}

fn millis(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn load_module(path: &str, params: &str) -> Result<(), String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot open module {path}: {e}"))?;
    let params_c = CString::new(params).map_err(|_| format!("NUL in params of {path}"))?;
    let flags = if [".xz", ".zst", ".gz"].iter().any(|ext| path.ends_with(ext)) {
        MODULE_INIT_COMPRESSED_FILE
    } else {
        0
    };
    // SAFETY: finit_module takes an open fd, a NUL-terminated string and flags; both live
    // across the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_finit_module,
            file.as_raw_fd(),
            params_c.as_ptr(),
            flags,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let err = std::io::Error::last_os_error();
    match err.raw_os_error() {
        // Built in or loaded already: what we wanted.
        Some(libc::EEXIST) => Ok(()),
        _ => Err(format!(
            "finit_module({path}) failed: {err} (wrong order, or a module for another kernel? \
             `dmesg` lines above may say more)"
        )),
    }
}

/// Runs every command even if an earlier one failed, so that one run reports all results.
/// Returns the number of failed commands.
fn run_commands(config: &Config) -> usize {
    let mut failed = 0;
    for cmd in &config.commands {
        say(Marker::Begin(cmd.name.clone()));
        let start = Instant::now();
        let result = Command::new(&cmd.exec)
            .args(&cmd.args)
            .env_clear()
            .env("PATH", "/bin:/sbin:/usr/bin")
            .env("HOME", "/")
            .envs(config.env.iter().map(|(k, v)| (k, v)))
            .envs(cmd.env.iter().map(|(k, v)| (k, v)))
            .current_dir("/")
            .status();
        let ms = millis(start);
        let outcome = match result {
            Ok(status) => match (status.code(), status.signal()) {
                (Some(code), _) => Outcome::Exited(code),
                (None, Some(sig)) => Outcome::Signaled(sig),
                (None, None) => Outcome::Exited(-1),
            },
            Err(e) => Outcome::SpawnError(e.to_string()),
        };
        if outcome != Outcome::Exited(0) {
            failed += 1;
        }
        say(Marker::End {
            name: cmd.name.clone(),
            outcome,
            ms,
        });
    }
    failed
}

fn power_off() -> ! {
    // SAFETY: sync has no preconditions.
    unsafe { libc::sync() };
    // SAFETY: reboot with POWER_OFF only needs CAP_SYS_BOOT, which PID 1 has.
    unsafe { libc::reboot(libc::LINUX_REBOOT_CMD_POWER_OFF) };
    // Still here: exiting PID 1 panics the kernel, and with `panic=-1` plus QEMU's `-no-reboot`
    // that ends QEMU just as well.
    say(Marker::Warning(format!(
        "power off failed: {}",
        std::io::Error::last_os_error()
    )));
    std::process::exit(1);
}
