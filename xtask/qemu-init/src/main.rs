//! `/init` (PID 1) for the throw-away QEMU VMs in which ucall's tests run against a real KVM.
//!
//! The host side (`qemu.rs`) packs this binary, the test binaries and a config file into an
//! initramfs and boots a kernel with it. This program then:
//!
//! 1. mounts devtmpfs on `/dev` (the Debian kernels do not set `CONFIG_DEVTMPFS_MOUNT`, and even
//!    if they did it only applies to a mounted root file system, not to an initramfs), `/proc` and
//!    `/sys`, and reopens `/dev/console` as stdin/stdout/stderr;
//! 2. loads the kernel modules listed in the config with `finit_module` (x86_64: kvm is modular);
//! 3. checks that the required paths exist (normally `/dev/kvm`);
//! 4. runs each command, printing `UCALL-INIT: BEGIN name` and `UCALL-INIT: END name status=N`;
//! 5. prints `UCALL-INIT: DONE ...` and powers the VM off.
//!
//! Everything goes to the serial console, which the host reads. The markers are the whole
//! protocol: QEMU's exit status says nothing about the tests.
//!
//! # Config file (`/ucall-init.conf`)
//!
//! Line based, one directive per line: a keyword, one space, and a value that is the rest of the
//! line verbatim (so arguments may contain spaces; they cannot contain newlines). Blank lines and
//! lines starting with `#` are ignored.
//!
//! ```text
//! module /modules/kvm.ko [params]   load a kernel module, in file order
//! require /dev/kvm                  fail setup unless the path exists (checked after modules)
//! env KEY=VALUE                     before the first `command`: for all commands
//! command NAME                      start a command (NAME: no whitespace)
//! exec /bin/test                    the program to run (required)
//! arg --flag                        one argument, repeatable
//! env KEY=VALUE                     after a `command`: for that command only
//! ```
//!
//! A config file rather than the kernel command line: the command line is limited to about
//! 2 KiB, has no quoting that survives into `/init`'s argv, and the kernel grabs any `key=value`
//! it recognises for itself.

use std::ffi::CString;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::time::Instant;

/// Where the host puts the config in the initramfs.
const CONFIG_PATH: &str = "/ucall-init.conf";

/// Prefix of every line the host parses. Keep in sync with `qemu.rs`.
const MARK: &str = "UCALL-INIT:";

/// `finit_module` flag: the file is compressed and the kernel decompresses it (Linux >= 5.17
/// with `CONFIG_MODULE_DECOMPRESS`). Not in the `libc` crate.
const MODULE_INIT_COMPRESSED_FILE: libc::c_uint = 4;

#[derive(Default, Debug)]
struct Config {
    modules: Vec<(String, String)>,
    require: Vec<String>,
    global_env: Vec<(String, String)>,
    commands: Vec<Cmd>,
}

#[derive(Default, Debug)]
struct Cmd {
    name: String,
    exec: Option<String>,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

fn main() {
    // Console first, so that every later error is visible on the host.
    mount_filesystems();
    reopen_console();

    let uname = uname();
    say(&format!("START kernel={} machine={}", uname.0, uname.1));

    match setup() {
        Ok(config) => {
            let failed = run_commands(&config);
            say(&format!(
                "DONE total={} failed={}",
                config.commands.len(),
                failed
            ));
        }
        Err(e) => say(&format!("SETUP-ERROR {e}")),
    }
    power_off();
}

/// Prints one protocol line. The leading newline makes sure the marker starts a line even when
/// the previous command's output did not end with one; the host ignores empty lines.
fn say(msg: &str) {
    let mut out = std::io::stdout().lock();
    // Nothing sensible to do if the console is gone; the host will notice the missing markers.
    let _ = write!(out, "\n{MARK} {msg}\n");
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
            eprintln!("{MARK} WARNING mount {fstype} on {target}: {e}");
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
        eprintln!("{MARK} WARNING cannot open /dev/console; keeping inherited stdio");
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
    let config = parse_config(&text)?;
    for (path, params) in &config.modules {
        let t = Instant::now();
        load_module(path, params)?;
        say(&format!(
            "MODULE {path} loaded ms={}",
            t.elapsed().as_millis()
        ));
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

fn parse_config(text: &str) -> Result<Config, String> {
    let mut config = Config::default();
    for (n, line) in text.lines().enumerate() {
        let n = n + 1;
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line.split_once(' ').unwrap_or((line, ""));
        let need_cmd = |config: &mut Config| -> Result<(), String> {
            match config.commands.last() {
                Some(_) => Ok(()),
                None => Err(format!("{CONFIG_PATH}:{n}: `{key}` before any `command`")),
            }
        };
        match key {
            "module" => {
                let (path, params) = value.split_once(' ').unwrap_or((value, ""));
                config.modules.push((path.to_string(), params.to_string()));
            }
            "require" => config.require.push(value.to_string()),
            "command" => {
                if value.is_empty() || value.contains(char::is_whitespace) {
                    return Err(format!("{CONFIG_PATH}:{n}: bad command name {value:?}"));
                }
                config.commands.push(Cmd {
                    name: value.to_string(),
                    ..Cmd::default()
                });
            }
            "exec" => {
                need_cmd(&mut config)?;
                if let Some(cmd) = config.commands.last_mut() {
                    cmd.exec = Some(value.to_string());
                }
            }
            "arg" => {
                need_cmd(&mut config)?;
                if let Some(cmd) = config.commands.last_mut() {
                    cmd.args.push(value.to_string());
                }
            }
            "env" => {
                let Some((k, v)) = value.split_once('=') else {
                    return Err(format!(
                        "{CONFIG_PATH}:{n}: env needs KEY=VALUE, got {value:?}"
                    ));
                };
                let kv = (k.to_string(), v.to_string());
                match config.commands.last_mut() {
                    Some(cmd) => cmd.env.push(kv),
                    None => config.global_env.push(kv),
                }
            }
            _ => return Err(format!("{CONFIG_PATH}:{n}: unknown directive {key:?}")),
        }
    }
    for cmd in &config.commands {
        if cmd.exec.is_none() {
            return Err(format!("command {} has no `exec`", cmd.name));
        }
    }
    Ok(config)
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
        say(&format!("BEGIN {}", cmd.name));
        let start = Instant::now();
        // `exec` is checked in parse_config; the fallback keeps this free of unwrap.
        let program = cmd.exec.as_deref().unwrap_or("/nonexistent");
        let result = Command::new(program)
            .args(&cmd.args)
            .env_clear()
            .env("PATH", "/bin:/sbin:/usr/bin")
            .env("HOME", "/")
            .envs(config.global_env.iter().map(|(k, v)| (k, v)))
            .envs(cmd.env.iter().map(|(k, v)| (k, v)))
            .current_dir("/")
            .status();
        let ms = start.elapsed().as_millis();
        let outcome = match result {
            Ok(status) => match (status.code(), status.signal()) {
                (Some(code), _) => format!("status={code}"),
                (None, Some(sig)) => format!("signal={sig}"),
                (None, None) => "status=-1".to_string(),
            },
            Err(e) => format!("spawn-error={}", e.to_string().replace(' ', "_")),
        };
        if outcome != "status=0" {
            failed += 1;
        }
        say(&format!("END {} {outcome} ms={ms}", cmd.name));
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
    say(&format!(
        "WARNING power off failed: {}",
        std::io::Error::last_os_error()
    ));
    std::process::exit(1);
}
