//! Kicking a vCPU thread out of `KVM_RUN` when its guest makes no ucall in time.
//!
//! A guest that spins never exits, so the thread in `KVM_RUN` must be interrupted from outside:
//! one watcher thread per process signals any armed vCPU thread whose deadline has passed, and
//! `KVM_RUN` returns `EINTR`. Arming and disarming cost a clock read and an uncontended lock,
//! nothing next to an exit.

use crate::Error;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::thread;
use std::time::{Duration, Instant};

/// How often the watcher looks at deadlines when none is closer, and re-signals a thread that
/// has not left `KVM_RUN` yet (a signal that lands outside `KVM_RUN` is lost).
const POLL: Duration = Duration::from_millis(20);

#[derive(Default)]
struct Armed {
    deadline: Option<Instant>,
    thread: Option<Thread>,
    fired: bool,
}

/// A vCPU thread to signal. On musl `pthread_t` is a pointer, which is not `Send`.
#[derive(Clone, Copy)]
struct Thread(libc::pthread_t);

// SAFETY: the handle is only passed to `pthread_kill`, never dereferenced; any thread may do that.
unsafe impl Send for Thread {}

/// One vCPU thread's deadline.
#[derive(Default)]
pub(crate) struct Watchdog {
    state: Arc<Mutex<Armed>>,
}

/// Disarms the watchdog when dropped.
pub(crate) struct Guard<'a>(&'a Watchdog);

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        let mut armed = lock(&self.0.state);
        armed.deadline = None;
        armed.thread = None;
    }
}

fn lock(state: &Mutex<Armed>) -> std::sync::MutexGuard<'_, Armed> {
    // The state is plain data, valid even if a holder panicked.
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Watchdog {
    /// A watchdog, registered with the process's watcher.
    pub(crate) fn new() -> Result<Self, Error> {
        let watchdog = Watchdog::default();
        watcher()?
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Arc::downgrade(&watchdog.state));
        Ok(watchdog)
    }

    /// Interrupts the calling thread's `KVM_RUN` after `timeout`, until the guard drops.
    pub(crate) fn arm(&self, timeout: Duration) -> Guard<'_> {
        let mut armed = lock(&self.state);
        armed.deadline = Some(Instant::now() + timeout);
        // SAFETY: pthread_self has no preconditions.
        armed.thread = Some(Thread(unsafe { libc::pthread_self() }));
        armed.fired = false;
        Guard(self)
    }

    /// Whether the deadline passed since the last `arm`.
    pub(crate) fn fired(&self) -> bool {
        lock(&self.state).fired
    }
}

/// The signal that kicks a vCPU thread: the first real-time signal.
fn kick_signal() -> libc::c_int {
    vmm_sys_util::signal::SIGRTMIN()
}

extern "C" fn on_kick(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // Nothing to do: being delivered is what makes KVM_RUN return EINTR.
}

type Registry = Mutex<Vec<Weak<Mutex<Armed>>>>;

/// The registry of watchdogs, with its watcher thread started on first use.
fn watcher() -> Result<&'static Registry, Error> {
    static REGISTRY: OnceLock<Result<Registry, String>> = OnceLock::new();
    REGISTRY
        .get_or_init(|| {
            vmm_sys_util::signal::register_signal_handler(kick_signal(), on_kick)
                .map_err(|e| format!("cannot install the signal handler: {e}"))?;
            thread::Builder::new()
                .name("ucall-watchdog".into())
                .spawn(watch)
                .map_err(|e| format!("cannot start the watcher thread: {e}"))?;
            Ok(Mutex::new(Vec::new()))
        })
        .as_ref()
        .map_err(|e| Error::Watchdog(e.clone()))
}

fn watch() {
    loop {
        let now = Instant::now();
        let mut next = now + POLL;
        if let Ok(registry) = watcher() {
            let mut registry = registry.lock().unwrap_or_else(|p| p.into_inner());
            registry.retain(|slot| slot.strong_count() > 0);
            for slot in registry.iter().filter_map(Weak::upgrade) {
                let mut armed = lock(&slot);
                let (Some(deadline), Some(thread)) = (armed.deadline, armed.thread) else {
                    continue;
                };
                if deadline <= now {
                    armed.fired = true;
                    // SAFETY: the thread is alive: it disarms (under this lock) before it can
                    // leave the call that armed it.
                    unsafe { libc::pthread_kill(thread.0, kick_signal()) };
                } else {
                    next = next.min(deadline);
                }
            }
        }
        thread::sleep(next.saturating_duration_since(Instant::now()));
    }
}
