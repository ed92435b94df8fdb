//! A timer on the monotonic clock (the clock of `monotonic_ns`) that the
//! runtime's own reactor waits on: a `timerfd`, which the kernel fires at
//! its instant (a `timerfd` has no timer slack), so no thread of the
//! waiter's own has to wake first and a load generator on one CPU stays
//! one thread. The lag probe ticks on one; the publisher's clock waits on
//! one for each message's intended instant.

use std::io;
use std::os::fd::OwnedFd;

use rustix::time::{
    Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec, timerfd_create,
    timerfd_settime,
};
use tokio::io::unix::AsyncFd;

/// A non-blocking `timerfd` registered with the current runtime's reactor.
#[derive(Debug)]
pub(crate) struct Timer {
    fd: AsyncFd<OwnedFd>,
}

impl Timer {
    /// A timer, not armed yet.
    pub(crate) fn new() -> io::Result<Timer> {
        let fd = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )?;
        // `AsyncFd::new` is deprecated for any `T: AsRawFd` whose
        // descriptor may change or close under it; an `OwnedFd` owns its
        // descriptor until dropped with the `AsyncFd`, which is the
        // contract of its replacement (`register`, an unsafe fn).
        #[allow(deprecated)]
        let fd = AsyncFd::new(fd)?;
        Ok(Timer { fd })
    }

    /// Arms the timer to expire at `first_ns` and every `period_ns` after
    /// (0: once), on an absolute schedule: an instant already past
    /// expires at once. Expiries not waited for yet are forgotten.
    pub(crate) fn arm(&self, first_ns: u64, period_ns: u64) -> io::Result<()> {
        let at = |ns: u64| Timespec {
            tv_sec: (ns / 1_000_000_000) as _,
            tv_nsec: (ns % 1_000_000_000) as _,
        };
        let spec = Itimerspec {
            it_interval: at(period_ns),
            it_value: at(first_ns),
        };
        timerfd_settime(self.fd.get_ref(), TimerfdTimerFlags::ABSTIME, &spec)?;
        Ok(())
    }

    /// Until the timer has expired since it was armed or last waited for.
    /// Cancel-safe: an expiry not taken stays for the next wait.
    pub(crate) async fn expired(&self) -> io::Result<()> {
        loop {
            let mut ready = self.fd.readable().await?;
            let mut expirations = [0u8; 8];
            match rustix::io::read(self.fd.get_ref(), &mut expirations) {
                // The timer is readable again at its next expiry; one that
                // came after this readiness keeps it set.
                Ok(_) => {
                    ready.clear_ready();
                    return Ok(());
                }
                Err(rustix::io::Errno::AGAIN) => ready.clear_ready(),
                Err(e) => return Err(e.into()),
            }
        }
    }
}
