//! Round trips at a fixed rate, one request in flight per connection
//! (open model, as wrk2 does): echo, and request–response (`rpc`).
//!
//! Message k is due at start + k / rate; it goes out when due, or as soon
//! as the previous reply is back when that is later. The round trip is
//! recorded from the intended time (corrected for coordinated omission)
//! and from the actual send. The intended time is the due time when the
//! previous reply came back after it: then the target held the sender up,
//! and the wait counts. When the sender was free and only the timer woke
//! late (tokio's timers tick in milliseconds) or the harness was busy, the
//! wait is the harness's own and the intended time is when it woke; the
//! harness lag probe and the phase's verdict report such waits.
//!
//! Which message is the reply: against the wsbench profile, the next one
//! (`wsbench serve` sends nothing else). Against any other target, an
//! echo is the message that holds the payload's tag (its number), an rpc
//! reply the one whose JSON value at `reply_id` is the request's id;
//! anything else is the server's own (`other`, answered when a reply rule
//! matches), and a reply that does not come within the timeout counts as
//! `reply-timeout`.

use std::time::Duration;

use tokio::time::Instant;
use wsbench_model::metric::Metric;
use wsbench_model::scenario::{RPC_VARIABLES, Role, expand_env_keeping};
use wsbench_model::{PayloadKind, Scenario};
use wsbench_protocol::clock::monotonic_ns;
use wsbench_protocol::payload;
use wsbench_transport::{Data, Event, TcpWebSocket};

use super::ws::{echoed, next_message, open, send};
use super::{ConnOutcome, PhaseCtx, ended_early, error_kind, script};
use crate::plan::instant_at;
use crate::rates::Sends;
use crate::recorder::Counts;

/// How a reply is recognised.
enum Want<'a> {
    /// The next message (the wsbench profile's echo).
    Next,
    /// The message holding this tag.
    Tag(&'a [u8]),
    /// The message whose JSON value at `pointer` is `id`.
    Id { pointer: &'a str, id: u64 },
}

/// What came back for a request.
enum Got {
    Reply(Data),
    Timeout,
}

fn is_reply(want: &Want<'_>, data: &Data) -> bool {
    match want {
        Want::Next => true,
        Want::Tag(tag) => memchr::memmem::find(data.as_bytes(), tag).is_some(),
        Want::Id { pointer, id } => serde_json::from_slice::<serde_json::Value>(data.as_bytes())
            .ok()
            .and_then(|doc| {
                doc.pointer(pointer).map(|v| match v {
                    serde_json::Value::Number(n) => n.as_u64() == Some(*id),
                    serde_json::Value::String(s) => s.parse() == Ok(*id),
                    _ => false,
                })
            })
            .unwrap_or(false),
    }
}

/// Waits for the reply `want` describes until `deadline`; the server's
/// own messages meanwhile are counted and answered by the reply rules.
/// `None` when the connection ended (counted) or the phase stopped.
async fn reply(
    ctx: &PhaseCtx,
    conn: u64,
    ws: &mut TcpWebSocket,
    want: &Want<'_>,
    deadline: Instant,
) -> Option<Got> {
    if matches!(want, Want::Next) {
        return next_message(ctx, ws, ctx.wait_stop()).await.map(Got::Reply);
    }
    loop {
        let ev = tokio::select! {
            ev = ws.next_event() => ev,
            () = tokio::time::sleep_until(deadline) => return Some(Got::Timeout),
            () = ctx.wait_stop() => return None,
        };
        match ev {
            Some(Event::Message(d)) if is_reply(want, &d) => return Some(Got::Reply(d)),
            Some(Event::Message(d)) => {
                script::other(ctx);
                let text = std::str::from_utf8(d.as_bytes()).unwrap_or_default();
                if let Some(answer) = ctx.scenario.protocol.script.reply_to(text)
                    && let Err(kind) = script::send(ctx, conn, ws, answer).await
                {
                    ctx.rec.error(kind);
                }
            }
            Some(Event::Pong(_)) => {}
            other => {
                ended_early(ctx, other);
                return None;
            }
        }
    }
}

/// The rpc request template for connection `conn` (`Some(None)`: not
/// an rpc run); `None` (counted) when it cannot be expanded.
fn rpc_request(ctx: &PhaseCtx, conn: u64) -> Option<Option<String>> {
    match ctx.scenario.rpc.as_ref() {
        None => Some(None),
        Some(r) => match expand_env_keeping(&r.request, &ctx.vars(conn), &RPC_VARIABLES) {
            Ok(t) => Some(Some(t)),
            Err(_) => {
                ctx.rec.error("template");
                None
            }
        },
    }
}

/// How the reply to message `seq` is recognised.
fn awaited<'a>(s: &'a Scenario, own_echo: bool, tag: &'a [u8], seq: u64) -> Want<'a> {
    match (&s.rpc, own_echo) {
        (Some(r), _) => Want::Id {
            pointer: &r.reply_id,
            id: seq,
        },
        (None, true) => Want::Next,
        (None, false) => Want::Tag(tag),
    }
}

/// Message `seq`: the rpc request (the template with `{id}` and
/// `{payload}` filled) or the echo payload, and the kind of frame.
fn message(ctx: &PhaseCtx, request: Option<&str>, seq: u64) -> (PayloadKind, Vec<u8>) {
    let s = &ctx.scenario;
    match request {
        Some(t) => {
            let text = payload::make(PayloadKind::Text, s.payload_size, seq);
            let text = String::from_utf8(text).unwrap_or_default();
            let body = t
                .replace("{id}", &seq.to_string())
                .replace("{payload}", &text);
            (PayloadKind::Text, body.into_bytes())
        }
        None => (s.payload, payload::make(s.payload, s.payload_size, seq)),
    }
}

/// A reply to message `seq` came back inside the window: count it (an
/// echo is checked byte for byte) and record its round trip from the
/// intended and from the actual send (`[intended, sent, back]`, ns).
fn replied(ctx: &PhaseCtx, (data, seq): (&Data, u64), rpc: bool, [intended, sent, back]: [u64; 3]) {
    let (metric, uncorrected) = if rpc {
        Counts::add(&ctx.rec.counts.delivered, 1);
        (Metric::RpcRtt, Metric::RpcRttUncorrected)
    } else {
        echoed(ctx, data, seq);
        (Metric::EchoRtt, Metric::EchoRttUncorrected)
    };
    ctx.rec.record(metric, back.saturating_sub(intended), true);
    ctx.rec.record(uncorrected, back.saturating_sub(sent), true);
}

/// Echo or rpc on one connection (see the module's documentation).
pub(super) async fn round_trips(ctx: &PhaseCtx, conn: u64) -> ConnOutcome {
    let Some(mut ws) = open(ctx, conn, Role::Echo).await else {
        return ConnOutcome::default();
    };
    let s = &ctx.scenario;
    let Some(request) = rpc_request(ctx, conn) else {
        ctx.rec.counts.connection_closed();
        return ConnOutcome::default();
    };
    let own_echo = request.is_none() && s.protocol.profile.wraps_messages();
    // Spread connections over the period so they do not send in step.
    let spread = (conn % 64) as f64 / 64.0;
    let mut sends = Sends::new(s.rate, ctx.send_rate.as_ref(), spread, monotonic_ns());
    let mut last_back_ns = monotonic_ns();
    let mut seq = 0u64;
    'run: loop {
        let due_ns = sends.due_ns();
        tokio::select! {
            () = tokio::time::sleep_until(instant_at(due_ns)) => {}
            () = ctx.wait_end(conn) => break 'run,
        }
        let intended_ns = if last_back_ns > due_ns {
            due_ns
        } else {
            monotonic_ns()
        };
        let (kind, body) = message(ctx, request.as_deref(), seq);
        let sent_ns = monotonic_ns();
        let measuring = ctx.rec.measuring();
        if let Err(e) = send(&ws, kind, &body).await {
            if !ctx.stopped() {
                ctx.rec.error(error_kind(&e));
            }
            break;
        }
        if measuring {
            Counts::add(&ctx.rec.counts.sent, 1);
        }
        let tag = payload::tag(s.payload, seq);
        let want = awaited(s, own_echo, &tag, seq);
        let deadline = Instant::now() + s.reply_timeout;
        let got = Box::pin(reply(ctx, conn, &mut ws, &want, deadline)).await;
        match got {
            None => break,
            Some(Got::Timeout) => {
                last_back_ns = monotonic_ns();
                if measuring {
                    Counts::add(&ctx.rec.counts.timed_out, 1);
                    ctx.rec.error("reply-timeout");
                }
            }
            Some(Got::Reply(data)) => {
                last_back_ns = ws.last_read_ns();
                ctx.received();
                if measuring {
                    let times = [intended_ns, sent_ns, last_back_ns];
                    replied(ctx, (&data, seq), request.is_some(), times);
                }
            }
        }
        seq += 1;
        sends.advance();
    }
    if ctx.left_at(conn).is_some() {
        // Its time on the stage schedule is over (the last reply came
        // back or timed out first).
        super::ws::leave(ctx, &mut ws, None).await;
    } else if ctx.stopped() {
        // The phase is over: say so (1000) rather than drop the
        // connection, without waiting on a target that does not answer.
        let _ = tokio::time::timeout(Duration::from_millis(100), ws.close(1000, "")).await;
    }
    ctx.rec.counts.connection_closed();
    ConnOutcome::default()
}
