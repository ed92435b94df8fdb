//! A phase's stop signal: set once by the phase, awaited by every
//! connection for its whole life, so waiting costs little memory.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tokio::sync::futures::Notified;
use tokio::sync::{Notify, watch};

/// Set once when the phase stops.
#[derive(Debug)]
pub(crate) struct Stop {
    /// Whether it is set: what a waiter looks at on every poll after its
    /// first, one atomic load where a poll of its `Notified` would lock
    /// the list of waiters.
    flag: AtomicBool,
    set: watch::Sender<bool>,
    waiters: Notify,
}

impl Stop {
    pub(crate) fn new() -> Stop {
        Stop {
            flag: AtomicBool::new(false),
            set: watch::Sender::new(false),
            waiters: Notify::new(),
        }
    }

    /// Stops: every waiter wakes.
    pub(crate) fn set(&self) {
        self.flag.store(true, Ordering::Release);
        self.set.send_replace(true);
        self.waiters.notify_waiters();
    }

    pub(crate) fn is_set(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    /// The signal as a watch receiver, for code that takes one.
    pub(crate) fn receiver(&self) -> watch::Receiver<bool> {
        self.set.subscribe()
    }

    /// Until the signal is set (at once if it is).
    pub(crate) fn wait(&self) -> Wait<'_> {
        Wait {
            stop: self,
            waiter: Waiter::new(),
        }
    }
}

pin_project! {
    /// A wait for a [`Stop`] that does not hold the signal: its owner
    /// passes the same one to every poll (a subscriber holds its waiter
    /// all its life, and the signal is at hand where it polls). The first
    /// poll makes its `Notified` and looks at the flag after it (a `set`
    /// between the two reaches the `Notified`), then registers the task's
    /// waker with the list of waiters; every later poll (the same task's)
    /// only looks at the flag, which `set` stores before it wakes the
    /// list, where a poll of the `Notified` would lock the list.
    pub(crate) struct Waiter<'a> {
        #[pin]
        notified: Option<Notified<'a>>,
    }
}

impl<'a> Waiter<'a> {
    pub(crate) fn new() -> Waiter<'a> {
        Waiter { notified: None }
    }

    /// Ready once `stop` is set.
    pub(crate) fn poll_stop(
        self: Pin<&mut Self>,
        stop: &'a Stop,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        let mut notified = self.project().notified;
        if notified.is_some() {
            // Registered at the first poll: the flag alone tells.
            return if stop.is_set() {
                Poll::Ready(())
            } else {
                Poll::Pending
            };
        }
        // Made before the flag is looked at: a `set` after this point
        // completes it, one before has stored the flag.
        notified.set(Some(stop.waiters.notified()));
        if stop.is_set() {
            return Poll::Ready(());
        }
        // Its first poll registers this task's waker with the list.
        notified.as_pin_mut().map_or(Poll::Pending, |n| n.poll(cx))
    }
}

pin_project! {
    /// [`Stop::wait`]'s future.
    pub(crate) struct Wait<'a> {
        stop: &'a Stop,
        #[pin]
        waiter: Waiter<'a>,
    }
}

impl Future for Wait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        this.waiter.poll_stop(this.stop, cx)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::Stop;

    #[tokio::test]
    async fn every_waiter_wakes_once_set_and_later_ones_do_not_wait() {
        let stop = Arc::new(Stop::new());
        let mut rx = stop.receiver();
        let waiters: Vec<_> = (0..100)
            .map(|_| {
                let s = Arc::clone(&stop);
                tokio::spawn(async move { s.wait().await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            waiters.iter().all(|w| !w.is_finished()),
            "none before the signal"
        );
        // Made before the signal, first polled after it.
        let unpolled = stop.wait();
        stop.set();
        tokio::time::timeout(Duration::from_secs(1), unpolled)
            .await
            .expect("a waiter made before the signal wakes");
        for w in waiters {
            tokio::time::timeout(Duration::from_secs(5), w)
                .await
                .expect("woken")
                .expect("ran");
        }
        tokio::time::timeout(Duration::from_secs(1), stop.wait())
            .await
            .expect("set already");
        assert!(*rx.borrow_and_update());
        assert!(stop.is_set());
    }
}
