//! A flow (`[workload] kind = "flow"`) on one connection: once open (and
//! the target's steps on open done), the flow's steps over and over:
//! sends with the captured variables, expects (capturing), sleeps drawn
//! per connection, iteration and step.
//!
//! Timing. The flow keeps a basis: the instant, on its schedule, the
//! next step may start. An iteration starts at `k · pace` after the
//! connection's first (with `pace`; spread over the pace by connection),
//! or when the one before ended; a sleep moves the basis by its draw; a
//! matched expect sets it to the instant its message was read. Waiting
//! for the basis, a flow that is already past it starts at the basis (the
//! delay was the target's: an answer came late), and one that waits wakes
//! with the basis set to the wake-up (a timer's slack is the harness's
//! own). A send is intended at the basis; a timed expect records
//! `flow_time` and `flow.<name>` from that instant, and the `_uncorrected`
//! twins from the actual send.

use std::time::Duration;

use wsbench_model::metric::Metric;
use wsbench_model::scenario::{Flow, Role, Vars};
use wsbench_protocol::clock::monotonic_ns;
use wsbench_protocol::steps::Step;
use wsbench_transport::TcpWebSocket;

use super::ws::{leave, open};
use super::{ConnOutcome, PhaseCtx, nanos, script};
use crate::plan::instant_at;
use crate::recorder::Counts;
use crate::steps::{self, StepFailure};

/// The close code and reason of a connection whose flow is done.
const DONE: (u16, &str) = (1000, "flow");

/// One connection's place in its flow.
struct Run<'a> {
    ctx: &'a PhaseCtx,
    conn: u64,
    vars: Vars,
    flow: &'a Flow,
    /// Per step: a send a timed expect measures.
    timed: Vec<bool>,
    captured: Vec<(String, String)>,
    /// When the next step may start on the schedule, CLOCK_MONOTONIC ns.
    basis: u64,
    /// The latest timed send: (intended, sent, in the window).
    sent: Option<(u64, u64, bool)>,
    /// A close step ran: the code and reason to close with.
    closing: Option<(u16, String)>,
}

impl Run<'_> {
    /// Waits until `due` on the schedule (see the module's
    /// documentation); false when the phase stops or the connection's
    /// time to leave comes first.
    async fn wait_until(&mut self, due: u64) -> bool {
        if monotonic_ns() >= due {
            self.basis = due;
            return true;
        }
        tokio::select! {
            () = tokio::time::sleep_until(instant_at(due)) => {
                self.basis = monotonic_ns();
                true
            }
            () = self.ctx.wait_end(self.conn) => false,
        }
    }

    /// Iteration `k` of the flow.
    async fn iteration(&mut self, ws: &mut TcpWebSocket, k: u64) -> Result<(), StepFailure> {
        let (ctx, flow) = (self.ctx, self.flow);
        for (i, step) in flow.steps.iter().enumerate() {
            match step {
                Step::Send(s) => {
                    let measuring = ctx.rec.measuring();
                    let sent = monotonic_ns();
                    steps::send_with(ws, s, &self.vars, &self.captured)
                        .await
                        .map_err(Some)?;
                    if self.timed[i] {
                        if measuring {
                            Counts::add(&ctx.rec.counts.sent, 1);
                        }
                        self.sent = Some((self.basis.min(sent), sent, measuring));
                    }
                }
                Step::Close { code, reason } => {
                    self.closing = Some((*code, reason.clone()));
                    return Ok(());
                }
                Step::Sleep(think) => {
                    let seed = self.vars.rand ^ k.wrapping_mul(0xa076_1d64_78bd_642f);
                    let (u1, u2) = steps::draws(seed, i as u64);
                    let due = self.basis + nanos(think.sample(u1, u2));
                    if !self.wait_until(due).await {
                        return Err(None);
                    }
                }
                Step::Expect {
                    pattern,
                    timeout,
                    capture,
                } => {
                    let timer = flow.timers[i].as_deref();
                    let mut stop = ctx.stop.receiver();
                    let got = steps::expect(ws, pattern, *timeout, &mut stop, &mut |text, hit| {
                        if hit || wsbench_protocol::marker::Marker::find(text).is_none() {
                            script::other(ctx);
                        } else {
                            ctx.received();
                        }
                    })
                    .await;
                    let text = match got {
                        Ok(text) => text,
                        Err(failure) => {
                            // A timed answer that never came (not the stop).
                            if let (Some(_), Some(_), Some((_, _, true))) =
                                (&failure, timer, self.sent)
                            {
                                Counts::add(&ctx.rec.counts.timed_out, 1);
                            }
                            return Err(failure);
                        }
                    };
                    let back = ws.last_read_ns();
                    self.basis = back;
                    if let (Some(name), Some((intended, sent, true))) = (timer, self.sent.take()) {
                        Counts::add(&ctx.rec.counts.delivered, 1);
                        let (corrected, actual) =
                            (back.saturating_sub(intended), back.saturating_sub(sent));
                        ctx.rec.record_pair([
                            (Metric::FlowTime, corrected),
                            (Metric::FlowTimeUncorrected, actual),
                        ]);
                        ctx.rec.record_timer(name, corrected, actual);
                    }
                    if let Some(k) = capture {
                        steps::keep(&mut self.captured, k, &text)?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Runs the flow on connection `conn` until it has run `repeat` times
/// (then closes, 1000 "flow") or a close step runs (then closes with its
/// code and reason), the phase stops, the connection's time to
/// leave comes, or a step fails (its error counted).
pub(super) async fn flow(ctx: &PhaseCtx, conn: u64) -> ConnOutcome {
    let Some(flow) = &ctx.scenario.flow else {
        return ConnOutcome::default();
    };
    let Some(mut ws) = open(ctx, conn, Role::Echo).await else {
        return ConnOutcome::default();
    };
    let mut run = Run {
        ctx,
        conn,
        vars: ctx.vars(conn),
        flow,
        timed: flow.timed_sends(),
        captured: Vec::new(),
        basis: monotonic_ns(),
        sent: None,
        closing: None,
    };
    // Connections spread their iterations over the pace.
    let pace = flow.pace.map(nanos);
    let first = run.basis + pace.map_or(0, |p| p / 64 * (conn % 64));
    let mut k = 0u64;
    let done = loop {
        if flow.repeat.is_some_and(|n| k >= n) {
            break true;
        }
        let started = match pace {
            Some(p) => run.wait_until(first + k * p).await,
            None => {
                run.basis = monotonic_ns();
                true
            }
        };
        if !started {
            break false;
        }
        match Box::pin(run.iteration(&mut ws, k)).await {
            Ok(()) if run.closing.is_some() => break true,
            Ok(()) => k += 1,
            Err(Some(kind)) => {
                ctx.rec.error(&kind);
                ctx.rec.counts.connection_closed();
                return ConnOutcome::default();
            }
            Err(None) => break false,
        }
    };
    if done {
        let wait = Duration::from_secs(2);
        let (code, reason) = run.closing.take().unwrap_or((DONE.0, DONE.1.to_owned()));
        let _ = tokio::time::timeout(wait, ws.close(code, &reason)).await;
    } else if ctx.left_at(conn).is_some() {
        leave(ctx, &mut ws, None).await;
    } else if ctx.stopped() {
        let _ = tokio::time::timeout(Duration::from_millis(100), ws.close(1000, "")).await;
    }
    ctx.rec.counts.connection_closed();
    ConnOutcome::default()
}
