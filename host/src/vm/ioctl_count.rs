//! Counting the vCPU ioctls the crate issues, which decide what a ucall costs on an emulating
//! or nested hypervisor (each costs about as much as a whole exit).
//!
//! Every vCPU ioctl of the run loop and of the architecture modules goes through [`counted`].
//! The count is per thread, since a vCPU's ioctls are issued by the thread that runs it; a
//! [`Vcpu`](super::Vcpu) adds to its own total what its calls issued
//! ([`Vcpu::ioctl_count`](super::Vcpu::ioctl_count)).

use std::cell::Cell;

thread_local! {
    static ISSUED: Cell<u64> = const { Cell::new(0) };
}

/// Issues one vCPU ioctl, `ioctl`, and counts it.
pub(crate) fn counted<T>(ioctl: impl FnOnce() -> T) -> T {
    ISSUED.with(|issued| issued.set(issued.get() + 1));
    ioctl()
}

/// The vCPU ioctls this thread has issued so far.
pub(crate) fn issued() -> u64 {
    ISSUED.with(Cell::get)
}

/// Runs `work` and returns what it returned and how many vCPU ioctls it issued.
pub(crate) fn counting<T>(work: impl FnOnce() -> T) -> (T, u64) {
    let before = issued();
    let result = work();
    (result, issued() - before)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counting_sees_each_counted_ioctl_of_its_work() {
        let ((), ioctls) = counting(|| {
            counted(|| ());
            counted(|| ());
        });
        assert_eq!(ioctls, 2);
    }
}
