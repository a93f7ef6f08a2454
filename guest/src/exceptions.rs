//! Expecting an exception: run code that should fault, catch the fault, carry on, as the Linux
//! KVM selftests do with their exception handlers (x86_64).
//!
//! Every exception the guest does not catch reaches the host's handlers, which report it as an
//! UNHANDLED ucall and stop the vCPU. [`expect_fault`] installs a handler of its own for one
//! vector in the IDT the CPU uses (found with `sidt`), runs the code, and puts the old gate
//! back. The handler records the fault and resumes right after the call to the code, with the
//! stack and the callee-saved registers as they were before it: whatever the code was doing
//! is abandoned where it faulted (nothing is dropped or unwound).
//!
//! One fault is expected at a time on the whole VM (a lock makes other vCPUs wait), since the
//! IDT is shared by every vCPU: an exception of the same vector on another vCPU meanwhile would
//! end up in this handler.

use core::arch::{asm, global_asm};
use core::sync::atomic::{AtomicBool, Ordering};

/// A fault that [`expect_fault`] caught.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// The vector.
    pub vector: u8,
    /// The error code the CPU pushed, 0 for vectors without one.
    pub error_code: u64,
    /// The address of the faulting instruction.
    pub instruction_address: u64,
    /// CR2 when the fault was taken (the faulting address of a #PF).
    pub fault_address: u64,
}

/// What the handler needs and what it records; the layout is the assembly's.
#[repr(C)]
struct Context {
    /// The stack pointer to resume with.
    resume_rsp: u64,
    /// Where to resume.
    resume_rip: u64,
    error_code: u64,
    instruction_address: u64,
    fault_address: u64,
}

static mut CONTEXT: Context = Context {
    resume_rsp: 0,
    resume_rip: 0,
    error_code: 0,
    instruction_address: 0,
    fault_address: 0,
};

/// Held while a fault is expected.
static EXPECTING: AtomicBool = AtomicBool::new(false);

// The handlers: record the error code (popped, or 0), RIP and CR2, then return from the
// exception to `resume_rip` on `resume_rsp` (frame: RIP, CS, RFLAGS, RSP, SS; SDM Vol. 3A,
// 6.14.1).
global_asm!(
    ".global ucall_guest_fault_without_error_code",
    "ucall_guest_fault_without_error_code:",
    "mov qword ptr [rip + {ctx} + 16], 0",
    "jmp 2f",
    ".global ucall_guest_fault_with_error_code",
    "ucall_guest_fault_with_error_code:",
    "pop qword ptr [rip + {ctx} + 16]",
    "2:",
    "push rax",
    "mov rax, [rsp + 8]",
    "mov [rip + {ctx} + 24], rax",
    "mov rax, cr2",
    "mov [rip + {ctx} + 32], rax",
    "mov rax, [rip + {ctx} + 8]",
    "mov [rsp + 8], rax",
    "mov rax, [rip + {ctx}]",
    "mov [rsp + 32], rax",
    "pop rax",
    "iretq",
    ctx = sym CONTEXT,
);

unsafe extern "C" {
    fn ucall_guest_fault_without_error_code();
    fn ucall_guest_fault_with_error_code();
}

/// Whether the CPU pushes an error code for `vector` (SDM Vol. 3A, 6.15).
fn pushes_error_code(vector: u8) -> bool {
    matches!(vector, 8 | 10..=14 | 17 | 21 | 29 | 30)
}

/// Calls `code`, expecting it to take exception `vector` (0 to 31: `#GP` is 13, `#UD` 6,
/// `#PF` 14); returns the fault, or `None` if `code` returned without one. Execution resumes
/// here after the fault; the rest of `code` does not run.
///
/// ```no_run
/// use ucall_guest::exceptions::expect_fault;
///
/// // WRMSR to an MSR that does not exist raises #GP(0).
/// let fault = expect_fault(13, || unsafe {
///     core::arch::asm!("wrmsr", in("ecx") 0xdead_beefu32, in("eax") 0, in("edx") 0);
/// });
/// assert_eq!(fault.map(|f| f.error_code), Some(0));
/// ```
///
/// # Panics
///
/// If the IDT the CPU uses has no gate for `vector`.
pub fn expect_fault(vector: u8, code: impl FnOnce()) -> Option<Fault> {
    while EXPECTING
        .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        core::hint::spin_loop();
    }
    let fault = with_gate(vector, code);
    EXPECTING.store(false, Ordering::Release);
    fault
}

fn with_gate(vector: u8, code: impl FnOnce()) -> Option<Fault> {
    let mut idtr = [0u8; 10];
    // SAFETY: `sidt` stores the 10-byte IDTR into `idtr`.
    unsafe { asm!("sidt [{}]", in(reg) idtr.as_mut_ptr(), options(nostack)) };
    let limit = u16::from_le_bytes([idtr[0], idtr[1]]);
    let base = u64::from_le_bytes(idtr[2..10].try_into().unwrap_or_default());
    let offset = u64::from(vector) * 16;
    assert!(
        offset + 15 <= u64::from(limit),
        "the IDT has no gate for vector {vector}"
    );
    let gate = (base + offset) as *mut [u64; 2];
    let handler = if pushes_error_code(vector) {
        ucall_guest_fault_with_error_code as *const () as u64
    } else {
        ucall_guest_fault_without_error_code as *const () as u64
    };
    let selector: u64;
    // SAFETY: reading CS has no effects.
    unsafe { asm!("mov {:x}, cs", out(reg) selector, options(nomem, nostack)) };
    // A present 64-bit interrupt gate (type 0xE) to `handler` (SDM Vol. 3A, 6.14.1).
    let new = [
        (handler & 0xffff)
            | (selector & 0xffff) << 16
            | 0x8e << 40
            | (handler >> 16 & 0xffff) << 48,
        handler >> 32,
    ];
    // SAFETY: the IDT the CPU uses is mapped and writable (the host's, or the guest's own in
    // its memory); the lock keeps other callers out while the gate is replaced.
    let old = unsafe { gate.read_volatile() };
    // SAFETY: as above.
    unsafe { gate.write_volatile(new) };
    let faulted = run_resumable(code);
    // SAFETY: as above.
    unsafe { gate.write_volatile(old) };
    // SAFETY: the handler wrote the context before it resumed; the lock is held.
    let context = unsafe { &*core::ptr::addr_of!(CONTEXT) };
    faulted.then_some(Fault {
        vector,
        error_code: context.error_code,
        instruction_address: context.instruction_address,
        fault_address: context.fault_address,
    })
}

/// Calls `code` so that the handler can resume after the call; true if it did.
fn run_resumable<F: FnOnce()>(code: F) -> bool {
    extern "C" fn call<F: FnOnce()>(code: *mut Option<F>) {
        // SAFETY: `code` points at the caller's live `Option`.
        if let Some(code) = unsafe { (*code).take() } {
            code();
        }
    }
    let mut code = Some(code);
    let context = core::ptr::addr_of_mut!(CONTEXT);
    let faulted: u64;
    // SAFETY: the block saves rbx and rbp itself (they cannot be operands) and declares every
    // other register the call or the handler's resumption may change as clobbered; the handler
    // resumes at label 2 with rsp as it was stored at offset 0 of the context, after the two
    // pushes, so the pops restore rbx and rbp either way. The stack is 16-byte aligned at the
    // call (aligned on entry, two pushes).
    unsafe {
        asm!(
            "push rbx",
            "push rbp",
            "mov [{context}], rsp",
            "lea rax, [rip + 2f]",
            "mov [{context} + 8], rax",
            "call {call}",
            "xor eax, eax",
            "jmp 3f",
            "2:",
            "mov eax, 1",
            "3:",
            "pop rbp",
            "pop rbx",
            context = in(reg) context,
            call = sym call::<F>,
            in("rdi") &raw mut code,
            out("rax") faulted,
            out("r12") _, out("r13") _, out("r14") _, out("r15") _,
            clobber_abi("C"),
        );
    }
    faulted != 0
}
