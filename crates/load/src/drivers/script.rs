//! A WebSocket connection's script against a server that wants more than
//! an open connection: the steps it runs on open (send a subscribe
//! message, expect the acknowledgement), then, for a push subscriber, the
//! messages it sends on a period and its replies to matching messages.
//! Messages that match a step or a rule are the server's own: counted as
//! `other`, never as pushed messages.

use std::time::Duration;

use tokio::time::Instant;
use wsbench_model::scenario::expand_env;
use wsbench_protocol::clock::monotonic_ns;
use wsbench_protocol::marker::Marker;
use wsbench_protocol::steps::{Send, Step};
use wsbench_transport::{Data, Event, TcpWebSocket};

use super::{BAD_MESSAGE, ConnOutcome, PhaseCtx, ended_early, error_kind};
use crate::receipts::Receipts;
use crate::recorder::Counts;

/// Why the steps did not complete (an error kind), or `None` when the
/// phase stopped meanwhile.
pub(super) type StepFailure = Option<String>;

/// Sends one scripted message, its template expanded for `conn`.
pub(super) async fn send(
    ctx: &PhaseCtx,
    conn: u64,
    ws: &TcpWebSocket,
    s: &Send,
) -> Result<(), String> {
    let text = expand_env(&s.template, &ctx.vars(conn)).map_err(|_| "template".to_owned())?;
    let sent = if s.binary {
        ws.send_binary(text.as_bytes()).await
    } else {
        ws.send_text(&text).await
    };
    sent.map_err(|e| error_kind(&e))
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
    conn: u64,
    ws: &mut TcpWebSocket,
) -> Result<(), StepFailure> {
    for step in &ctx.scenario.protocol.script.on_open {
        let (pattern, timeout) = match step {
            Step::Send(s) => {
                send(ctx, conn, ws, s).await.map_err(Some)?;
                continue;
            }
            Step::Expect { pattern, timeout } => (pattern, *timeout),
        };
        let deadline = Instant::now() + timeout;
        loop {
            let ev = tokio::select! {
                ev = ws.next_event() => ev,
                () = tokio::time::sleep_until(deadline) => return Err(Some("step-timeout".into())),
                () = ctx.wait_stop() => return Err(None),
            };
            let text = match ev {
                Some(Event::Message(Data::Text(t))) => t,
                Some(Event::Message(Data::Binary(b))) => String::from_utf8_lossy(&b).into_owned(),
                Some(Event::Pong(_)) => continue,
                Some(Event::Close(c)) => return Err(Some(format!("close-{}", c.code))),
                Some(Event::Error(e)) => return Err(Some(error_kind(&e))),
                _ => return Err(Some("closed".into())),
            };
            if pattern.matches(&text) {
                other(ctx);
                break;
            }
            if Marker::find(&text).is_some() {
                ctx.received();
            } else {
                other(ctx);
            }
        }
    }
    Ok(())
}

/// A push subscriber with periodic sends or reply rules, once its steps
/// are done (`receipts` holds its subscribe point).
pub(super) async fn subscriber(
    ctx: &PhaseCtx,
    conn: u64,
    mut ws: TcpWebSocket,
    mut receipts: Receipts,
) -> ConnOutcome {
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
                            if let Err(kind) = send(ctx, conn, &ws, s).await {
                                ctx.rec.error(kind);
                            }
                        }
                        None => ctx.on_push(conn, &mut receipts, &t, ws.last_read_ns()),
                    }
                }
                Some(Event::Message(Data::Binary(_))) => ctx.rec.error(BAD_MESSAGE),
                Some(Event::Pong(_)) => {}
                other => {
                    if !ctx.stopped() {
                        receipts.ended(monotonic_ns());
                    }
                    ended_early(ctx, other);
                    break;
                }
            },
            () = tokio::time::sleep_until(next) => {
                let now = Instant::now();
                for (p, at) in script.periodic.iter().zip(due.iter_mut()) {
                    if *at <= now {
                        *at += p.every;
                        if let Err(kind) = send(ctx, conn, &ws, &p.send).await {
                            ctx.rec.error(kind);
                        }
                    }
                }
            }
            () = ctx.wait_stop() => break,
        }
    }
    ctx.rec.counts.connection_closed();
    ConnOutcome {
        receipts: Some(receipts),
    }
}
