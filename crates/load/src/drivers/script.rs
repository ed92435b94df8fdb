//! A WebSocket connection's script against a server that wants more than
//! an open connection: the steps it runs on open (send a subscribe
//! message, expect the acknowledgement), then, for a push subscriber, the
//! messages it sends on a period and its replies to matching messages.
//! Messages that match a step or a rule are the server's own: counted as
//! `other`, never as pushed messages.

use std::time::Duration;

use tokio::time::Instant;
use wsbench_model::scenario::Vars;
use wsbench_protocol::marker::Marker;
use wsbench_protocol::steps::Send;
use wsbench_transport::{Data, Event, TcpWebSocket};

use super::reconnect::End;
use super::{PhaseCtx, subscriber_ended};
use crate::receipts::Receipts;
use crate::recorder::Counts;
use crate::steps::{self, StepFailure};

/// Sends one scripted message, its template expanded for `conn`.
pub(super) async fn send(
    ctx: &PhaseCtx,
    conn: u64,
    ws: &TcpWebSocket,
    s: &Send,
) -> Result<(), String> {
    steps::send(ws, s, &ctx.vars(conn)).await
}

/// A message of the server's own (it matched a step or a rule).
pub(super) fn other(ctx: &PhaseCtx) {
    ctx.received();
    Counts::add(&ctx.rec.counts.other, 1);
}

/// Runs the steps on open, in order. A message that arrives while an
/// `expect` waits and is not the one expected was sent before the
/// subscribe point: counted as received (and as `other` when it carries
/// no marker), owed to no one.
pub(super) async fn on_open(
    ctx: &PhaseCtx,
    vars: &Vars,
    ws: &mut TcpWebSocket,
) -> Result<(), StepFailure> {
    let mut stop = ctx.stop.receiver();
    let on_open = &ctx.scenario.protocol.script.on_open;
    steps::run(ws, on_open, vars, &mut stop, |text, expected| {
        if expected || Marker::find(text).is_none() {
            other(ctx);
        } else {
            ctx.received();
        }
    })
    .await
}

/// A push subscriber with periodic sends or reply rules, once its steps
/// are done (`receipts` holds its subscribe point), until the phase
/// stops, its time to leave comes, the connection ends, or a drop storm
/// after `since` takes it down.
pub(super) async fn subscriber(
    ctx: &PhaseCtx,
    conn: u64,
    ws: &mut TcpWebSocket,
    receipts: &mut Receipts,
    since: u64,
) -> End {
    let dropped = ctx.dropped(conn, since);
    tokio::pin!(dropped);
    let script = &ctx.scenario.protocol.script;
    let start = Instant::now();
    let mut due: Vec<Instant> = script.periodic.iter().map(|p| start + p.every).collect();
    let far = start + Duration::from_secs(86_400 * 365);
    loop {
        let next = due.iter().min().copied().unwrap_or(far);
        tokio::select! {
            ev = ws.next_event() => match ev {
                Some(Event::Message(Data::Text(t))) => {
                    let reply = (Marker::find(&t).is_none()).then(|| script.reply_to(&t)).flatten();
                    match reply {
                        Some(s) => {
                            other(ctx);
                            if let Err(kind) = send(ctx, conn, ws, s).await {
                                ctx.rec.error(kind);
                            }
                        }
                        None => ctx.on_push(receipts, &t, ws.last_read_ns()),
                    }
                }
                Some(Event::Pong(_)) => {}
                other => {
                    if let Some(end) = subscriber_ended(ctx, other) {
                        return end;
                    }
                }
            },
            () = tokio::time::sleep_until(next) => {
                let now = Instant::now();
                for (p, at) in script.periodic.iter().zip(due.iter_mut()) {
                    if *at <= now {
                        *at += p.every;
                        if let Err(kind) = send(ctx, conn, ws, &p.send).await {
                            ctx.rec.error(kind);
                        }
                    }
                }
            }
            () = ctx.wait_end(conn) => return End::Stopped,
            at = &mut dropped => return End::Dropped(at),
        }
    }
}
