//! A phase's stop signal: set once by the phase, awaited by every
//! connection for its whole life, so waiting costs little memory.

use futures_util::future::Either;
use tokio::sync::{Notify, watch};

/// Set once when the phase stops.
#[derive(Debug)]
pub(crate) struct Stop {
    set: watch::Sender<bool>,
    waiters: Notify,
}

impl Stop {
    pub(crate) fn new() -> Stop {
        Stop {
            set: watch::Sender::new(false),
            waiters: Notify::new(),
        }
    }

    /// Stops: every waiter wakes.
    pub(crate) fn set(&self) {
        self.set.send_replace(true);
        self.waiters.notify_waiters();
    }

    pub(crate) fn is_set(&self) -> bool {
        *self.set.borrow()
    }

    /// The signal as a watch receiver, for code that takes one.
    pub(crate) fn receiver(&self) -> watch::Receiver<bool> {
        self.set.subscribe()
    }

    /// Until the signal is set (at once if it is). A waiter's state is
    /// one `Notified`: created before the check, it receives a `set` that
    /// comes after the check without being polled first.
    pub(crate) fn wait(&self) -> impl Future<Output = ()> + Send + '_ {
        let notified = self.waiters.notified();
        if self.is_set() {
            Either::Left(std::future::ready(()))
        } else {
            Either::Right(notified)
        }
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
