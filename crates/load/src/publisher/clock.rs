//! The publisher's clock: this share's messages handed on in order, each
//! once its intended instant (`plan.rs` `Grid`) has come. It waits on a
//! [`Timer`] armed at that instant, in the runtime itself: no thread of
//! its own wakes first and takes the load generator's CPU for each
//! message. Messages it could not hand on in time (the runtime was busy,
//! or the process was stopped) follow at once, each keeping its own
//! intended instant.

use wsbench_protocol::clock::monotonic_ns;

use crate::plan::{Grid, instant_at};
use crate::timer::Timer;

/// Hands on message numbers `first`, `first + publishers`, … when due.
#[derive(Debug)]
pub(super) struct Clock {
    grid: Grid,
    next: i64,
    /// `None`: no timer could be made (no file descriptor left); tokio's
    /// timer wakes it instead, to the millisecond.
    timer: Option<Timer>,
}

impl Clock {
    /// A clock for `grid`'s messages from `first` (of one publisher's
    /// share), on the current runtime.
    pub(super) fn new(grid: Grid, first: i64) -> Clock {
        let timer = Timer::new()
            .inspect_err(|e| {
                eprintln!(
                    "wsbench: the publisher's clock has no timer ({e}): it wakes on tokio's timer, \
                     up to a millisecond late (publish_lag shows it)"
                );
            })
            .ok();
        Clock {
            grid,
            next: first,
            timer,
        }
    }

    /// The next message, once its intended instant has come (at once if
    /// it has). Cancel-safe: a message is handed on only when this
    /// returns.
    pub(super) async fn next(&mut self) -> i64 {
        let j = self.next;
        let at = self.grid.intended_ns(j);
        while monotonic_ns() < at {
            let armed = self.timer.as_ref().map(|t| t.arm(at, 0));
            match (&self.timer, armed) {
                (Some(t), Some(Ok(()))) if t.expired().await.is_ok() => {}
                _ => tokio::time::sleep_until(instant_at(at)).await,
            }
        }
        self.next += self.grid.publishers as i64;
        j
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Messages already due come at once and in order; a later one not
    /// before its intended instant; a share is every `publishers`-th.
    #[test]
    fn messages_come_in_order_and_none_before_its_instant() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            // 200 msg/s over 2 publishers, the window opened 52 ms ago:
            // about ten messages are past, five of them share 1's.
            let start = monotonic_ns() - 52_000_000;
            let grid = Grid::new(start, Duration::from_secs(1), 200.0, 2);
            let first = grid.first_of(1, start);
            let mut clock = Clock::new(grid.clone(), first);
            assert!(clock.timer.is_some());
            let mut want = first;
            loop {
                let j = clock.next().await;
                let now = monotonic_ns();
                assert_eq!(j, want);
                assert!(now >= grid.intended_ns(j), "message {j} came early");
                want += 2;
                if grid.intended_ns(j) > start + 52_000_000 {
                    // The first one not past when the clock started.
                    break;
                }
            }
        });
    }
}
