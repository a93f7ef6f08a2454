//! Running a guest's tests: each test of its table (`ucall_abi::test_table`) in a fresh VM, and
//! its outcome decided by the host from how that VM ended.
//!
//! [`TestProgram::parse`] reads the table once; [`TestProgram::run`] builds a new VM for one
//! test, writes the test's index into the guest's `ucall_test_selected` before any vCPU runs,
//! runs it to its end within the test's time, and returns a [`TestRun`]: the [`Verdict`], the
//! text the test printed, and on request a core of its VM. No state of one test can reach
//! another: each has its own VM, memory and vCPUs, and nothing of one is reused for the next.
//! `ucall-run` puts libtest's command line and output on top of this.
//!
//! ```no_run
//! use ucall_host::harness::{TestOptions, TestProgram};
//!
//! let elf = std::fs::read("target/guests/x86_64/test_table")?;
//! let program = TestProgram::parse(&elf)?.expect("a guest with a test table");
//! for test in program.tests().iter().filter(|test| test.ignore.is_none()) {
//!     let run = program.run(test, &TestOptions::default(), &|_, _| {});
//!     println!("{}: {:?}", test.name, run.verdict);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod verdict;

pub use error::HarnessError;
use verdict::End;
pub use verdict::Verdict;

use crate::Ucall;
use crate::arch::{Arch, Native};
use crate::vm::core_dump::{CoreDump, CoreDumpError, CoreThread, Signal};
use crate::vm::{GuestImage, LoadError, RunError, TestCase, TransportKind, Vcpu, Vm, VmBuilder};
use std::time::{Duration, Instant};
use ucall_abi::test_table::TEST_SELECTED_SYMBOL;
use vm_memory::{Bytes, GuestAddress};

/// A guest ELF with a test table, checked.
#[derive(Debug)]
pub struct TestProgram<'a> {
    elf: &'a [u8],
    tests: Vec<TestCase>,
    /// Where `ucall_test_selected` is, checked to be 8 bytes of the guest's writable data.
    selected: GuestAddress,
}

/// How each test's VM is made.
#[derive(Clone, Copy, Debug)]
pub struct TestOptions {
    /// Bytes of guest memory.
    pub memory_size: u64,
    /// vCPUs; the test passes only if every vCPU sends DONE.
    pub vcpus: usize,
    /// How the guest signals ucalls.
    pub transport: TransportKind,
    /// The time of a test that names none.
    pub default_timeout: Duration,
    /// Whether a failed test's run keeps a core of its VM.
    pub core: bool,
}

impl Default for TestOptions {
    /// `VmBuilder`'s defaults: 32 MiB, one vCPU, every transport, 10 s; no core.
    fn default() -> Self {
        TestOptions {
            memory_size: 32 << 20,
            vcpus: 1,
            transport: TransportKind::Auto,
            default_timeout: Duration::from_secs(10),
            core: false,
        }
    }
}

/// One test's run.
#[derive(Debug)]
pub struct TestRun {
    /// Passed or failed, and why.
    pub verdict: Verdict,
    /// What the test printed (PRINTF and log-ring lines), vCPU by vCPU, as the guest sent it.
    pub output: Vec<String>,
    /// For a failed test when [`TestOptions::core`] asked: its VM and the core's threads.
    core: Option<(Vm, CoreDump)>,
}

impl TestRun {
    /// Writes the core of a failed test's VM, if it kept one: `Ok(false)` if it did not.
    pub fn write_core(&self, out: impl std::io::Write) -> Result<bool, CoreDumpError> {
        match &self.core {
            Some((vm, core)) => core.write(vm.memory(), out).map(|()| true),
            None => Ok(false),
        }
    }
}

impl<'a> TestProgram<'a> {
    /// The test program in `elf`, or `None` if the ELF has no test table (a plain guest).
    pub fn parse(elf: &'a [u8]) -> Result<Option<Self>, HarnessError> {
        let image = GuestImage::parse(elf, Native::ELF_MACHINE).map_err(HarnessError::Image)?;
        let Some(tests) = image.test_table()? else {
            return Ok(None);
        };
        let selected = image
            .writable_symbol_gpa(TEST_SELECTED_SYMBOL, size_of::<u64>() as u64)
            .map_err(HarnessError::Selection)?;
        Ok(Some(TestProgram {
            elf,
            tests,
            selected: GuestAddress(selected),
        }))
    }

    /// The tests, in table order.
    pub fn tests(&self) -> &[TestCase] {
        &self.tests
    }

    /// Runs `test` in a VM of its own, calling `live` with each ucall of vCPU `n` as it
    /// arrives (for `--nocapture`).
    pub fn run(
        &self,
        test: &TestCase,
        options: &TestOptions,
        live: &(dyn Fn(usize, &Ucall) + Sync),
    ) -> TestRun {
        let timeout = test.timeout.unwrap_or(options.default_timeout);
        let failed = |reason: String| TestRun {
            verdict: Verdict::Failed(reason),
            output: Vec::new(),
            core: None,
        };
        let mut vm = match self.vm(test, options, timeout) {
            Ok(vm) => vm,
            Err(reason) => return failed(reason),
        };
        // The test's time runs from here, VM creation excluded.
        let deadline = Instant::now().checked_add(timeout);
        let mut vcpus = vm.take_vcpus();
        let ends: Vec<_> = if let [vcpu] = vcpus.as_mut_slice() {
            vec![serve(vcpu, deadline, live, options.core)]
        } else {
            std::thread::scope(|scope| {
                let threads: Vec<_> = vcpus
                    .iter_mut()
                    .map(|vcpu| scope.spawn(move || serve(vcpu, deadline, live, options.core)))
                    .collect();
                threads
                    .into_iter()
                    .map(|thread| thread.join().unwrap_or_else(|_| Served::panicked()))
                    .collect()
            })
        };
        let end = ends
            .iter()
            .map(|served| &served.end)
            .find(|end| !matches!(end, End::Done))
            .unwrap_or(&End::Done);
        let verdict = Verdict::of(end, test.should_panic.as_ref(), timeout);
        let core = (options.core && !verdict.passed()).then(|| {
            let mut core = CoreDump::new(&test.name);
            for thread in ends.iter().filter_map(|served| served.core.clone()) {
                core.add_thread(thread);
            }
            (vm, core)
        });
        TestRun {
            verdict,
            output: ends.into_iter().flat_map(|served| served.output).collect(),
            core,
        }
    }

    /// A new VM for `test`, told which test to run.
    fn vm(&self, test: &TestCase, options: &TestOptions, timeout: Duration) -> Result<Vm, String> {
        let vm = VmBuilder::new(self.elf)
            .vcpus(options.vcpus)
            .memory_size(options.memory_size)
            .transport(options.transport)
            .timeout(timeout)
            .build()
            .map_err(|e| format!("cannot start the test's VM: {e}"))?;
        vm.memory()
            .write_obj(test.index as u64, self.selected)
            .map_err(|source| {
                let error = LoadError::WriteGlobal {
                    name: TEST_SELECTED_SYMBOL.into(),
                    gpa: self.selected.0,
                    source,
                };
                format!("cannot select the test: {error}")
            })?;
        Ok(vm)
    }
}

/// What one vCPU did.
struct Served {
    end: End,
    output: Vec<String>,
    core: Option<CoreThread>,
}

impl Served {
    fn panicked() -> Self {
        Served {
            end: End::Panicked,
            output: Vec::new(),
            core: None,
        }
    }
}

/// Runs `vcpu` to its end or the deadline, keeping what it prints.
fn serve(
    vcpu: &mut Vcpu,
    deadline: Option<Instant>,
    live: &(dyn Fn(usize, &Ucall) + Sync),
    core: bool,
) -> Served {
    let mut output = Vec::new();
    let (end, signal) = loop {
        if let Some(deadline) = deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break (End::TimedOut, Signal::TIMEOUT);
            }
            vcpu.set_timeout(left);
        }
        let ucall = match vcpu.next_ucall() {
            Ok(ucall) => ucall,
            Err(RunError::Timeout { .. }) => break (End::TimedOut, Signal::TIMEOUT),
            Err(error) => break (End::Error(error), Signal::OTHER),
        };
        live(vcpu.index(), &ucall);
        let signal = Signal::of_end(Ok(&ucall));
        match ucall {
            Ucall::Printf(text) | Ucall::Log(text) => output.push(text),
            Ucall::Done => break (End::Done, signal),
            Ucall::Abort(abort) => break (End::Abort(abort), signal),
            Ucall::Unhandled(unhandled) => break (End::Unhandled(unhandled), signal),
            Ucall::Sync { .. } | Ucall::Call { .. } => {}
        }
    };
    let signal = match &end {
        End::Error(error) => Signal::of(error),
        _ => signal,
    };
    let core = core
        .then(|| vcpu.core_registers().ok())
        .flatten()
        .map(|registers| CoreThread {
            vcpu: vcpu.index(),
            signal,
            registers,
        });
    Served { end, output, core }
}
