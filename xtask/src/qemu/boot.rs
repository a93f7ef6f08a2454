//! Booting a machine: the QEMU command line, and the console streamed line by line with a
//! hard timeout.

use crate::machines::{Machine, Qemu};
use anyhow::{Context, Result, anyhow};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use ucall_init_protocol::Marker;

/// How to boot. [`BootOptions::new`] gives the verified defaults.
#[derive(Debug, Clone)]
pub struct BootOptions {
    pub machine: &'static Machine,
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    /// Hard limit for the whole boot-run-poweroff; QEMU is killed (SIGKILL) when it expires.
    pub timeout: Duration,
    /// How long the console may stay silent before QEMU is killed (SIGKILL) as hung: a slow
    /// VM (a loaded host) keeps printing test lines, a hung one prints nothing.
    pub silence: Duration,
    pub cpus: u32,
    pub memory_mib: u32,
    /// Appended to the kernel command line (after `console=... panic=-1 quiet`), e.g.
    /// `loglevel=7` to see the whole boot log.
    pub extra_cmdline: String,
    /// Appended to QEMU's arguments (later options win, e.g. a second `-cpu`); for debugging.
    pub extra_qemu_args: Vec<String>,
}

impl BootOptions {
    /// The defaults for `machine`, which must be one of the VMs.
    pub fn new(
        machine: &'static Machine,
        kernel: &Path,
        initrd: &Path,
        timeout: Duration,
    ) -> Result<BootOptions> {
        let qemu = qemu_of(machine)?;
        Ok(BootOptions {
            machine,
            kernel: kernel.to_path_buf(),
            initrd: initrd.to_path_buf(),
            timeout,
            silence: SILENCE,
            cpus: qemu.cpus,
            memory_mib: 512,
            extra_cmdline: String::new(),
            extra_qemu_args: Vec::new(),
        })
    }

    /// The full QEMU command (exposed so that it can be printed for manual reproduction).
    pub fn command(&self) -> Result<Command> {
        let arch = self.machine.arch;
        let qemu = qemu_of(self.machine)?;
        let mut cmd = Command::new(arch.qemu_binary());
        cmd.args(["-accel", qemu.accel]).args(qemu.args);
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
        Ok(cmd)
    }
}

/// The QEMU pieces of `machine`; an error for this machine's own KVM.
fn qemu_of(machine: &'static Machine) -> Result<&'static Qemu> {
    machine
        .qemu
        .as_ref()
        .ok_or_else(|| anyhow!("{machine} is this machine's own KVM, not a QEMU VM"))
}

/// What one boot produced.
#[derive(Debug, Clone)]
pub struct BootOutput {
    pub machine: &'static Machine,
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

/// How long a VM's console may stay silent before it counts as hung. The longest silence is
/// a single slow test: riscv64's `core_file` ran 158 s under load 12 here, and longer under
/// load 17-20, when that boot passed 360 s in all.
pub const SILENCE: Duration = Duration::from_secs(600);

/// How long QEMU may take to exit after `/init` printed its last marker.
const POWEROFF_GRACE: Duration = Duration::from_secs(10);

/// Boots the VM and returns its console output. Every console line is passed to `on_line` as
/// it arrives. The VM is killed when `options.timeout` expires; that is reported in
/// [`BootOutput::timed_out`], not as an `Err` (the console is what explains it). `Err` means
/// QEMU could not be run at all.
pub fn boot(options: &BootOptions, on_line: &mut dyn FnMut(&str)) -> Result<BootOutput> {
    for (what, path) in [("kernel", &options.kernel), ("initramfs", &options.initrd)] {
        if !path.is_file() {
            anyhow::bail!("{what} {} does not exist", path.display());
        }
    }
    let mut cmd = options.command()?;
    let shown = format!("{cmd:?}");
    let start = Instant::now();
    let child = cmd
        .stdin(Stdio::null()) // QEMU must not touch the terminal (no raw mode).
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {shown} (is QEMU installed?)"))?;
    let mut child = KillOnDrop(child);

    // Reader threads: the console (line by line, to a channel, so that the main thread can wait
    // with a timeout) and QEMU's stderr (collected whole).
    let (tx, rx) = mpsc::channel::<String>();
    let stdout = child
        .0
        .stdout
        .take()
        .ok_or_else(|| anyhow!("QEMU stdout not piped"))?;
    let stderr = child
        .0
        .stderr
        .take()
        .ok_or_else(|| anyhow!("QEMU stderr not piped"))?;
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
    let mut silent_until = start + options.silence;
    let mut done_seen = false;
    let mut timed_out = false;
    let mut killed_after_done = false;
    loop {
        let now = Instant::now();
        if now >= deadline.min(silent_until) {
            // Kill now; the reader threads end when the pipes close.
            let _ = child.0.kill();
            if done_seen {
                killed_after_done = true
            } else {
                timed_out = true
            }
            break;
        }
        match rx.recv_timeout(deadline.min(silent_until) - now) {
            Ok(line) => {
                silent_until = Instant::now() + options.silence;
                on_line(&line);
                if !done_seen && Marker::find(&line).is_some_and(|(_, m)| m.is_final()) {
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
        match child
            .0
            .try_wait()
            .with_context(|| "waiting for QEMU".to_string())?
        {
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
