//! Helpers for the integration tests: find a guest built by `cargo xtask`, run it, collect its
//! ucalls.

pub mod core_dump;

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;
use ucall_host::Ucall;
use ucall_host::harness::{TestOptions, TestProgram};
use ucall_host::vm::{RunError, TransportKind, Vcpu, Vm, VmBuilder};

/// The architecture name under `target/guests/`.
pub const ARCH: &str = std::env::consts::ARCH;

/// The folder of built guests: `$UCALL_GUEST_DIR`, else `target/guests/<arch>/` (where
/// `cargo xtask build-guests` puts them).
pub fn guest_dir() -> PathBuf {
    std::env::var_os("UCALL_GUEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../target/guests")
                .join(ARCH)
        })
}

/// The ELF of the guest `name`. Panics with a hint when guests are not built: tests run through
/// `cargo xtask test`, which builds them.
pub fn guest(name: &str) -> Vec<u8> {
    let path = guest_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "guest {} is missing ({e}); run `cargo xtask test` or `cargo xtask build-guests`",
            path.display()
        )
    })
}

/// The `ucall-run` runner as a command, colours off: `$UCALL_RUN`, else the debug build in
/// `target/` (`cargo xtask test` builds it and sets `UCALL_RUN`, in the QEMU VMs too). Panics
/// with a hint when it is not built.
pub fn ucall_run() -> std::process::Command {
    let path = std::env::var_os("UCALL_RUN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/debug/ucall-run")
        });
    assert!(
        path.is_file(),
        "{} is missing; run `cargo xtask test`, or `cargo build -p ucall-host --features runner` \
         and set UCALL_RUN",
        path.display()
    );
    let mut command = std::process::Command::new(path);
    command.env("NO_COLOR", "1").env_remove("CLICOLOR_FORCE");
    command
}

/// A VM for guest `name` with `vcpus` vCPUs.
pub fn vm(name: &str, transport: TransportKind, vcpus: usize) -> Vm {
    let elf = guest(name);
    VmBuilder::new(&elf)
        .transport(transport)
        .vcpus(vcpus)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_else(|e| panic!("cannot build a VM for {name}: {e}"))
}

/// The ucalls a vCPU makes up to DONE, ABORT or UNHANDLED, or up to the first error (returned
/// beside).
pub fn ucalls_until_end(vcpu: &mut Vcpu) -> (Vec<Ucall>, Option<RunError>) {
    let mut ucalls = Vec::new();
    loop {
        match vcpu.next_ucall() {
            Ok(ucall) => {
                let end = ucall.is_final();
                ucalls.push(ucall);
                if end {
                    return (ucalls, None);
                }
            }
            Err(e) => return (ucalls, Some(e)),
        }
    }
}

/// Runs the single-vCPU guest `name` to its end and returns its ucalls; an error fails the test.
pub fn run(name: &str, transport: TransportKind) -> Vec<Ucall> {
    let mut vcpu = vm(name, transport, 1).take_vcpus().remove(0);
    match ucalls_until_end(&mut vcpu) {
        (ucalls, None) => ucalls,
        (ucalls, Some(e)) => panic!("guest {name} failed after {ucalls:?}: {e}"),
    }
}

/// Runs the test named `test` (`tests::panics`) of the test program `name` in a VM of its own,
/// as the harness does, and returns its ucalls up to its end.
pub fn run_test(name: &str, test: &str, transport: TransportKind) -> Vec<Ucall> {
    let elf = guest(name);
    let program = TestProgram::parse(&elf)
        .unwrap_or_else(|e| panic!("guest {name}'s test table: {e}"))
        .unwrap_or_else(|| panic!("guest {name} has no test table"));
    let case = program
        .tests()
        .iter()
        .find(|case| case.name == test)
        .unwrap_or_else(|| panic!("guest {name} has no test {test}"));
    let options = TestOptions {
        transport,
        ..TestOptions::default()
    };
    let ucalls = Mutex::new(Vec::new());
    program.run(case, &options, &|_, ucall| {
        ucalls.lock().expect("not poisoned").push(ucall.clone());
    });
    ucalls.into_inner().expect("not poisoned")
}

/// The transports this architecture offers.
pub fn transports() -> &'static [TransportKind] {
    if cfg!(target_arch = "x86_64") {
        &[TransportKind::Pio, TransportKind::Mmio]
    } else if cfg!(target_arch = "riscv64") {
        &[TransportKind::Sbi, TransportKind::Mmio]
    } else {
        &[TransportKind::Mmio]
    }
}

/// Runs the test program `name` under `ucall-run` with libtest's `args`, one test at a time (so
/// in table order): its exit status and its standard output's lines, the summary line's time
/// (`; finished in ...`) cut off so that it compares exactly.
pub fn libtest_lines(name: &str, args: &[&str]) -> (Option<i32>, Vec<String>) {
    let output = ucall_run()
        .arg(guest_dir().join(name))
        .args(["--test-threads", "1"])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run ucall-run on {name}: {e}"));
    let lines = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| match line.split_once("; finished in") {
            Some((summary, _)) if line.starts_with("test result:") => summary.to_owned(),
            _ => line.to_owned(),
        })
        .collect();
    (output.status.code(), lines)
}
