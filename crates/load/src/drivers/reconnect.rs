//! A connection that ended while the phase ran opens again under the
//! scenario's `[load] reconnect` policy: a wait that doubles up to its cap,
//! less a random share, then an attempt, until it is back or too many
//! attempts in a row failed. The time from its end to its new subscribe
//! point is `reconnect_time`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;

use wsbench_model::metric::Metric;
use wsbench_protocol::clock::monotonic_ns;

use super::{LEAVE_MARGIN, PhaseCtx, nanos};
use crate::receipts::Receipts;
use crate::recorder::Counts;
use crate::signal::Waiter;

/// The error kind of a connection that gave up reconnecting.
pub(crate) use wsbench_model::results::RECONNECT_GAVE_UP as GAVE_UP;
use wsbench_model::results::STILL_RECONNECTING;

/// How a subscriber's loop ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum End {
    /// The phase stopped, or its time on the stage schedule came.
    Stopped,
    /// The connection ended while the phase ran, at this instant
    /// (CLOCK_MONOTONIC ns; counted as an error already).
    Lost(u64),
    /// A drop storm took the connection down at this instant (counted
    /// already).
    Dropped(u64),
}

impl End {
    /// A connection that went down: when, and from when it owes what
    /// it misses in its gap (a drop is the client's doing: a message
    /// intended up to [`LEAVE_MARGIN`] before it may still have been on
    /// its way, and is lost to the drop). `None`: it stopped.
    pub(super) fn down(self) -> Option<(u64, u64)> {
        match self {
            End::Stopped => None,
            End::Lost(at) => Some((at, at)),
            End::Dropped(at) => Some((at, at.saturating_sub(nanos(LEAVE_MARGIN)))),
        }
    }
}

pin_project! {
    /// Until a subscriber's end that is not its own doing
    /// ([`PhaseCtx::ends`]): without a stage profile the stop's wait
    /// alone, held inline (every subscriber holds it all its life), else
    /// the schedule's and the drop storms' too, boxed.
    #[project = EndsProj]
    pub(super) enum Ends<'a> {
        Stop { #[pin] waiter: Waiter<'a> },
        Lives { both: Pin<Box<dyn Future<Output = End> + Send + 'a>> },
    }
}

impl<'a> Ends<'a> {
    /// Ready with the end once it comes; `ctx` is the one it was made
    /// from, every poll.
    pub(super) fn poll_end(
        self: Pin<&mut Self>,
        ctx: &'a PhaseCtx,
        cx: &mut Context<'_>,
    ) -> Poll<End> {
        match self.project() {
            EndsProj::Stop { waiter } => waiter.poll_stop(&ctx.stop, cx).map(|()| End::Stopped),
            EndsProj::Lives { both } => both.as_mut().poll(cx),
        }
    }
}

/// A draw in [0, 1) for attempt `attempt` of connection `conn`: spread
/// over connections and attempts, fixed for a run.
fn draw(ctx: &PhaseCtx, conn: u64, attempt: u32) -> f64 {
    let seed = ctx.vars(conn).rand ^ u64::from(attempt).wrapping_mul(0xd6e8_feb8_6659_fd93);
    let mixed = (seed ^ (seed >> 31)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (mixed >> 11) as f64 / (1u64 << 53) as f64
}

/// Opens connection `conn` again with `open`, which ended at `ended_ns`,
/// under the policy; `None` without a policy, when every attempt failed
/// (counted as `reconnect-gave-up`), or when the phase stopped or the
/// connection's time to leave came meanwhile.
pub(super) async fn reopen<T, F: Future<Output = Option<T>>>(
    ctx: &PhaseCtx,
    conn: u64,
    ended_ns: u64,
    mut open: impl FnMut() -> F,
) -> Option<T> {
    let policy = ctx.scenario.reconnect?;
    for attempt in 0..policy.attempts {
        let wait = policy.delay(attempt, draw(ctx, conn, attempt));
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = ctx.wait_end(conn) => return away(ctx),
        }
        if let Some(t) = open().await {
            came_back(ctx, monotonic_ns().saturating_sub(ended_ns));
            return Some(t);
        }
        if ctx.stopped() {
            return away(ctx);
        }
    }
    ctx.rec.error(GAVE_UP);
    None
}

/// A connection is back after `back_ns` away: timed (in the window or
/// not: a storm's figures need every return) and counted.
fn came_back(ctx: &PhaseCtx, back_ns: u64) {
    ctx.rec.record(Metric::ReconnectTime, back_ns, true);
    Counts::add(&ctx.rec.counts.reconnects, 1);
}

/// The phase ended while a connection was still away: counted (a
/// connection leaving on the stage schedule is not).
fn away<T>(ctx: &PhaseCtx) -> Option<T> {
    if ctx.stopped() {
        ctx.rec.error(STILL_RECONNECTING);
    }
    None
}

/// An HTTP subscriber's requests failing in a row. Without a policy each
/// failure waits 100 ms and the subscriber keeps trying; with one, the
/// policy's waits and attempts, and the time it was down is a gap.
#[derive(Debug, Default)]
pub(super) struct Retry {
    down_since: Option<u64>,
    attempt: u32,
}

impl Retry {
    /// The subscription went down now (if it was not already).
    pub(super) fn down(&mut self) {
        self.down_at(monotonic_ns());
    }

    /// The subscription went down at `at_ns` (if it was not already).
    pub(super) fn down_at(&mut self, at_ns: u64) {
        self.down_since.get_or_insert(at_ns);
    }

    /// A drop storm took the subscription down at `at_ns`: waits before
    /// the next request as after a failure ([`Retry::failed`]).
    pub(super) async fn dropped(
        &mut self,
        ctx: &PhaseCtx,
        conn: u64,
        receipts: &mut Receipts,
        at_ns: u64,
    ) -> bool {
        self.down_at(at_ns);
        self.failed(ctx, conn, receipts).await
    }

    /// A request failed: waits before the next. False when the subscriber
    /// stops: the phase stopped, its time to leave came, or every attempt
    /// the policy allows failed (its owed messages then end where it went
    /// down).
    pub(super) async fn failed(
        &mut self,
        ctx: &PhaseCtx,
        conn: u64,
        receipts: &mut Receipts,
    ) -> bool {
        let since = *self.down_since.get_or_insert_with(monotonic_ns);
        let wait = match ctx.scenario.reconnect {
            None => Duration::from_millis(100),
            Some(p) if self.attempt >= p.attempts => {
                ctx.rec.error(GAVE_UP);
                receipts.ended(since);
                return false;
            }
            Some(p) => p.delay(self.attempt, draw(ctx, conn, self.attempt)),
        };
        self.attempt += 1;
        tokio::select! {
            () = tokio::time::sleep(wait) => true,
            () = ctx.wait_end(conn) => {
                self.finish(ctx);
                false
            }
        }
    }

    /// The subscriber stops: counted if it was still away (with a
    /// policy, while the phase runs no more).
    pub(super) fn finish(&mut self, ctx: &PhaseCtx) {
        if self.down_since.take().is_some() && ctx.scenario.reconnect.is_some() {
            let _ = away::<()>(ctx);
        }
    }

    /// A request succeeded at `at_ns`: with a policy, the gap since the
    /// first failure in a row is recorded, timed and counted.
    pub(super) fn succeeded(&mut self, ctx: &PhaseCtx, receipts: &mut Receipts, at_ns: u64) {
        let Some(since) = self.down_since.take() else {
            return;
        };
        self.attempt = 0;
        if ctx.scenario.reconnect.is_some() {
            receipts.gap(since, at_ns);
            came_back(ctx, at_ns.saturating_sub(since));
        }
    }
}
