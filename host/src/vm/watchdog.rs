//! Kicking a vCPU thread out of `KVM_RUN` when its guest makes no ucall in time.
//!
//! A guest that spins never exits, so the thread in `KVM_RUN` must be interrupted from outside:
//! one watcher thread per process signals any armed vCPU thread that has stayed armed, in the
//! same arming, for longer than its timeout, and `KVM_RUN` returns `EINTR`. The signal is the
//! VM's [`WatchdogSignal`], whose (empty) handler is installed process-wide on first use.
//!
//! Arming and disarming happen on every ucall, so they are a few atomic operations and no clock
//! read or lock (a mutex and a clock read per ucall measured 0.18 us, 2 % of a whole exit here):
//! the vCPU thread only bumps a generation number, and the watcher, which polls anyway, notes
//! when it first saw each generation and measures the timeout from there. A timeout therefore
//! fires up to one poll interval late, never early.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::thread;
use std::time::{Duration, Instant};

/// How often the watcher looks at the armed vCPU threads, and re-signals a thread that has not
/// left `KVM_RUN` yet (a signal that lands outside `KVM_RUN` is lost).
const POLL: Duration = Duration::from_millis(20);

/// `state` bit: the vCPU thread is inside an armed call.
const ARMED: u64 = 1;
/// `state` bit: the watcher is signalling the thread; disarming waits for it to finish, so the
/// thread cannot end while being signalled.
const KICKING: u64 = 2;
/// The arming's generation sits above the two flag bits.
const GENERATION: u64 = 4;

/// What the vCPU thread and the watcher share.
#[derive(Debug, Default)]
struct Shared {
    /// The signal that kicks the thread, set once.
    signal: libc::c_int,
    /// Generation times [`GENERATION`], plus [`ARMED`] and [`KICKING`].
    state: AtomicU64,
    /// The armed thread (`pthread_t`), written before `state` turns armed.
    thread: AtomicU64,
    /// The armed timeout in nanoseconds, written before `state` turns armed.
    timeout_ns: AtomicU64,
    /// Whether the watcher signalled this arming.
    fired: AtomicBool,
    /// The watcher's own note: the armed state it saw last and when it first saw it.
    seen: Mutex<Option<(u64, Instant)>>,
}

/// One vCPU thread's deadline.
#[derive(Debug, Default)]
pub(crate) struct Watchdog {
    shared: Arc<Shared>,
}

/// Disarms the watchdog when dropped. It holds the watchdog's shared state itself, so that the
/// vCPU stays free to borrow while one arming covers everything a call serves.
pub(crate) struct Guard(Arc<Shared>);

impl Drop for Guard {
    fn drop(&mut self) {
        let state = &self.0.state;
        let mut current = state.load(Ordering::Acquire);
        loop {
            if current & KICKING != 0 {
                // The watcher is between its check and its signal (only ever on a timeout): let
                // it finish.
                thread::yield_now();
                current = state.load(Ordering::Acquire);
                continue;
            }
            match state.compare_exchange_weak(
                current,
                current & !ARMED,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(actual) => current = actual,
            }
        }
    }
}

impl Watchdog {
    /// A watchdog that kicks with `signal`, registered with the process's watcher.
    pub(crate) fn new(signal: WatchdogSignal) -> Result<Self, WatchdogError> {
        install(signal)?;
        let watchdog = Watchdog {
            shared: Arc::new(Shared {
                signal: signal.0,
                ..Shared::default()
            }),
        };
        watcher()?
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Arc::downgrade(&watchdog.shared));
        Ok(watchdog)
    }

    /// Interrupts the calling thread's `KVM_RUN` after `timeout`, until the guard drops.
    pub(crate) fn arm(&self, timeout: Duration) -> Guard {
        let shared = &self.shared;
        // SAFETY: pthread_self has no preconditions.
        let thread = unsafe { libc::pthread_self() };
        shared.thread.store(thread as u64, Ordering::Relaxed);
        shared.timeout_ns.store(
            u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        shared.fired.store(false, Ordering::Relaxed);
        // Disarmed, the watcher leaves `state` alone: a plain store is enough, and Release
        // publishes the thread and timeout with it.
        let disarmed = shared.state.load(Ordering::Relaxed);
        let generation = (disarmed & !(ARMED | KICKING)).wrapping_add(GENERATION);
        shared.state.store(generation | ARMED, Ordering::Release);
        Guard(Arc::clone(shared))
    }

    /// Whether the watcher signalled the thread since the last `arm`.
    pub(crate) fn fired(&self) -> bool {
        self.shared.fired.load(Ordering::Acquire)
    }
}

/// The signal that kicks a vCPU thread out of `KVM_RUN` when its guest makes no ucall within the
/// timeout ([`VmBuilder::watchdog_signal`](super::VmBuilder::watchdog_signal)); by default
/// `SIGRTMIN`, the first real-time signal that glibc leaves to programs.
///
/// The first VM that uses a signal installs a handler for it, and that handler is
/// **process-wide** (signal dispositions belong to the process, not a thread) and stays
/// installed: it does nothing, so the signal only interrupts a blocking call such as `KVM_RUN`.
/// So the signal must be a real-time one (`SIGRTMIN..=SIGRTMAX`, which carry no meaning of their
/// own), one the process does not handle otherwise (a signal that already has a handler other
/// than the watchdog's is refused with [`WatchdogError::InUse`]), and not blocked in the threads
/// that run vCPUs. A program that uses `SIGRTMIN` itself picks another for its VMs.
///
/// ```
/// use ucall_host::vm::{WatchdogError, WatchdogSignal};
///
/// let default = WatchdogSignal::default();
/// assert_eq!(default.number(), libc::SIGRTMIN());
/// assert_eq!(WatchdogSignal::new(libc::SIGRTMAX())?.number(), libc::SIGRTMAX());
/// assert!(matches!(
///     WatchdogSignal::new(libc::SIGUSR1),
///     Err(WatchdogError::NotRealtime { signal: libc::SIGUSR1, .. })
/// ));
/// # Ok::<(), WatchdogError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct WatchdogSignal(libc::c_int);

impl WatchdogSignal {
    /// The signal numbered `signal`, if it is a real-time one.
    pub fn new(signal: libc::c_int) -> Result<Self, WatchdogError> {
        let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
        if (min..=max).contains(&signal) {
            Ok(WatchdogSignal(signal))
        } else {
            Err(WatchdogError::NotRealtime { signal, min, max })
        }
    }

    /// The signal's number.
    pub fn number(self) -> libc::c_int {
        self.0
    }
}

/// `SIGRTMIN`.
impl Default for WatchdogSignal {
    fn default() -> Self {
        WatchdogSignal(libc::SIGRTMIN())
    }
}

extern "C" fn on_kick(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // Nothing to do: being delivered is what makes KVM_RUN return EINTR.
}

/// Installs the watchdog's handler for `signal`, once per process, unless another handler has
/// it.
fn install(signal: WatchdogSignal) -> Result<(), WatchdogError> {
    static INSTALLED: Mutex<Vec<libc::c_int>> = Mutex::new(Vec::new());
    let mut installed = INSTALLED.lock().unwrap_or_else(PoisonError::into_inner);
    if installed.contains(&signal.0) {
        return Ok(());
    }
    // SAFETY: all-zero bytes are a valid `sigaction` (no handler, empty mask, no flags).
    let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a query only (no new action); `current` is a valid `sigaction` for it to fill.
    if unsafe { libc::sigaction(signal.0, std::ptr::null(), &mut current) } != 0 {
        return Err(WatchdogError::SignalHandler(
            vmm_sys_util::errno::Error::last(),
        ));
    }
    // Default or ignored: no handler relies on it. (The watchdog's own was returned above.)
    if current.sa_sigaction != libc::SIG_DFL && current.sa_sigaction != libc::SIG_IGN {
        return Err(WatchdogError::InUse { signal: signal.0 });
    }
    vmm_sys_util::signal::register_signal_handler(signal.0, on_kick)
        .map_err(WatchdogError::SignalHandler)?;
    installed.push(signal.0);
    Ok(())
}

type Registry = Mutex<Vec<Weak<Shared>>>;

/// The registry of watchdogs, with its watcher thread started on first use.
fn watcher() -> Result<&'static Registry, WatchdogError> {
    static REGISTRY: OnceLock<Result<Registry, WatchdogError>> = OnceLock::new();
    REGISTRY
        .get_or_init(|| {
            thread::Builder::new()
                .name("ucall-watchdog".into())
                .spawn(watch)
                .map_err(|e| WatchdogError::Thread(e.kind()))?;
            Ok(Mutex::new(Vec::new()))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Why a VM's watchdog could not be started.
#[derive(Clone, Debug, thiserror::Error)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum WatchdogError {
    /// The signal that kicks vCPU threads could not get its handler.
    #[error("watchdog: cannot install the signal handler: {0}")]
    SignalHandler(
        #[cfg_attr(feature = "serde", serde(with = "crate::serde_display::message"))]
        vmm_sys_util::errno::Error,
    ),
    /// The signal is not a real-time one.
    #[error("watchdog: signal {signal} is not a real-time signal ({min} to {max})")]
    NotRealtime {
        /// The signal.
        signal: libc::c_int,
        /// `SIGRTMIN`.
        min: libc::c_int,
        /// `SIGRTMAX`.
        max: libc::c_int,
    },
    /// The signal already has a handler, which the watchdog's would replace for the whole
    /// process.
    #[error("watchdog: signal {signal} already has a handler in this process; choose another")]
    InUse {
        /// The signal.
        signal: libc::c_int,
    },
    /// The watcher thread could not be started (once it fails, it fails for every VM).
    #[error("watchdog: cannot start the watcher thread: {0}")]
    Thread(
        #[cfg_attr(feature = "serde", serde(with = "crate::serde_display::message"))]
        std::io::ErrorKind,
    ),
}

fn watch() {
    loop {
        let now = Instant::now();
        let mut next = now + POLL;
        if let Ok(registry) = watcher() {
            let mut registry = registry.lock().unwrap_or_else(|p| p.into_inner());
            registry.retain(|slot| slot.strong_count() > 0);
            for shared in registry.iter().filter_map(Weak::upgrade) {
                if let Some(deadline) = check(&shared, now) {
                    next = next.min(deadline);
                }
            }
        }
        thread::sleep(next.saturating_duration_since(Instant::now()));
    }
}

/// Signals the thread of `shared` if it has stayed in one arming for its timeout; returns when
/// to look again otherwise.
fn check(shared: &Shared, now: Instant) -> Option<Instant> {
    let state = shared.state.load(Ordering::Acquire);
    let mut seen = shared.seen.lock().unwrap_or_else(|p| p.into_inner());
    if state & ARMED == 0 {
        *seen = None;
        return None;
    }
    let since = match *seen {
        Some((seen_state, since)) if seen_state == state => since,
        _ => {
            *seen = Some((state, now));
            now
        }
    };
    let deadline = since + Duration::from_nanos(shared.timeout_ns.load(Ordering::Relaxed));
    if deadline > now {
        return Some(deadline);
    }
    // Only while the same arming holds: the thread cannot disarm (and end) until KICKING clears.
    if shared
        .state
        .compare_exchange(state, state | KICKING, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
    {
        shared.fired.store(true, Ordering::Release);
        let thread = shared.thread.load(Ordering::Relaxed) as libc::pthread_t;
        // SAFETY: the thread is alive: it is armed, and it cannot disarm and leave the call
        // that armed it while KICKING is set.
        unsafe { libc::pthread_kill(thread, shared.signal) };
        shared.state.store(state, Ordering::Release);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    extern "C" fn someone_elses(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {}

    #[test]
    fn a_signal_with_another_handler_is_refused() {
        let signal = libc::SIGRTMAX();
        vmm_sys_util::signal::register_signal_handler(signal, someone_elses).unwrap();
        let err = install(WatchdogSignal::new(signal).unwrap()).unwrap_err();
        assert!(matches!(err, WatchdogError::InUse { signal: s } if s == signal));
    }

    #[test]
    fn a_free_signal_is_installed_once_for_every_vm() {
        let signal = WatchdogSignal::new(libc::SIGRTMAX() - 1).unwrap();
        install(signal).unwrap();
        // The second VM finds the watchdog's own handler, which is not "another".
        install(signal).unwrap();
        assert!(Watchdog::new(signal).is_ok());
    }

    #[test]
    fn a_standard_signal_is_not_a_watchdog_signal() {
        let err = WatchdogSignal::new(libc::SIGALRM).unwrap_err();
        assert!(matches!(
            err,
            WatchdogError::NotRealtime { signal: libc::SIGALRM, min, max }
                if min == libc::SIGRTMIN() && max == libc::SIGRTMAX()
        ));
    }
}
