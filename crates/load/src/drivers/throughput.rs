//! Throughput over WebSocket, closed model: `in_flight` messages out at
//! all times; each echo sends the next.

use std::collections::VecDeque;

use futures_util::FutureExt;
use wsbench_model::PayloadKind;
use wsbench_model::metric::Metric;
use wsbench_model::scenario::Role;
use wsbench_protocol::clock::monotonic_ns;
use wsbench_protocol::payload;
use wsbench_transport::{Data, Error, Event, TcpWebSocket};

use super::ws::{echoed, leave, next_message, open};
use super::{ConnOutcome, PhaseCtx, ended_early, error_kind, script};
use crate::recorder::Counts;

/// A message in flight: its sequence number, when it was handed over
/// (CLOCK_MONOTONIC ns), and whether it counts.
type InFlight = (u64, u64, bool);

/// Whether `reply` is the echo of the message in flight `o` (its tag).
fn is_echo_of(kind: PayloadKind, reply: &Data, &(seq, _, _): &InFlight) -> bool {
    memchr::memmem::find(reply.as_bytes(), &payload::tag(kind, seq)).is_some()
}

/// Throughput, closed model: `in_flight` messages out at all times; each
/// echo sends the next. A message counts as sent when it is handed over
/// inside the window, and as delivered when its echo comes back, during
/// the window or the drain after it. The round trip runs from the hand-over
/// to the read that completed the echo.
pub(super) async fn throughput(ctx: &PhaseCtx, conn: u64) -> ConnOutcome {
    let Some(mut ws) = open(ctx, conn, Role::Echo).await else {
        return ConnOutcome::default();
    };
    let s = &ctx.scenario;
    let mut outstanding = VecDeque::with_capacity(s.in_flight as usize);
    let mut seq = 0u64;
    // Kept for the connection's life: waiting for the next echo registers
    // with the stop signal once.
    let mut stop = std::pin::pin!(ctx.wait_stop());
    let mut replies = Vec::with_capacity(s.in_flight as usize);
    // One payload buffer for the connection's life.
    let mut payload = Vec::new();
    loop {
        // Leaving on the stage schedule: no more sends; the last echoes
        // are awaited, then the close.
        let leaving = ctx.left_at(conn).is_some();
        if leaving && outstanding.is_empty() {
            leave(ctx, &mut ws, None).await;
            break;
        }
        if !leaving && !refill(ctx, &mut ws, &mut outstanding, &mut seq, &mut payload).await {
            break;
        }
        let Some(first) = next_message(ctx, &mut ws, stop.as_mut()).await else {
            break;
        };
        // Take every echo already buffered before refilling, so one write
        // carries many messages, as a pipelining client does.
        replies.push((first, ws.last_read_ns()));
        while replies.len() < s.in_flight as usize {
            match ws.next_event().now_or_never() {
                Some(Some(Event::Message(d))) => replies.push((d, ws.last_read_ns())),
                Some(Some(Event::Pong(_))) => {}
                Some(other) => {
                    ended_early(ctx, other);
                    return closed(ctx);
                }
                None => break,
            }
        }
        if !settle(ctx, &mut replies, &mut outstanding) {
            break;
        }
    }
    closed(ctx)
}

fn closed(ctx: &PhaseCtx) -> ConnOutcome {
    ctx.rec.counts.connection_closed();
    ConnOutcome::default()
}

/// Tops the connection up to `in_flight` messages out and writes them;
/// `false` when the run ends (the target closed, or the socket failed).
async fn refill(
    ctx: &PhaseCtx,
    ws: &mut TcpWebSocket,
    outstanding: &mut VecDeque<InFlight>,
    seq: &mut u64,
    payload: &mut Vec<u8>,
) -> bool {
    let in_flight = ctx.scenario.in_flight as usize;
    let mut unsent = false;
    while outstanding.len() < in_flight {
        // The round trip starts as the message is handed over.
        let sent_ns = monotonic_ns();
        match hand_over(ctx, ws, *seq, outstanding.len() + 1 == in_flight, payload) {
            Ok(all) => unsent = !all,
            Err(e @ Error::Io(_)) => return failed(ctx, &e),
            Err(_) => {
                // No longer open: the peer's close (or failure) is the
                // reason, counted like any early end.
                ended_early(ctx, ws.next_event().now_or_never().flatten());
                return false;
            }
        }
        let measured = ctx.rec.measuring();
        if measured {
            Counts::add(&ctx.rec.counts.sent, 1);
        }
        outstanding.push_back((*seq, sent_ns, measured));
        *seq += 1;
    }
    if unsent && let Err(e) = ws.writer().flush().await {
        return failed(ctx, &e);
    }
    true
}

/// A write failed: counted unless the run is stopping. Always `false`.
fn failed(ctx: &PhaseCtx, e: &Error) -> bool {
    if !ctx.stopped() {
        ctx.rec.error(error_kind(e));
    }
    false
}

/// Message `seq` (built in `p`), queued unless `last`; the last of a
/// refill goes to the socket now with those before it (`Ok(false)`: bytes
/// are left for the flush).
fn hand_over(
    ctx: &PhaseCtx,
    ws: &TcpWebSocket,
    seq: u64,
    last: bool,
    p: &mut Vec<u8>,
) -> Result<bool, Error> {
    let s = &ctx.scenario;
    payload::make_into(s.payload, s.payload_size, seq, p);
    let p = &p[..];
    let w = ws.writer();
    match (s.payload, last) {
        (PayloadKind::Binary, false) => w.queue_binary(p).map(|()| false),
        (PayloadKind::Binary, true) => w.send_binary_now(p),
        // Text and JSON payloads are ASCII by construction.
        (_, last) => {
            let text = std::str::from_utf8(p).unwrap_or_default();
            if last {
                w.send_text_now(text)
            } else {
                w.queue_text(text).map(|()| false)
            }
        }
    }
}

/// Matches the echoes read to the messages in flight and records their
/// round trips; `false` when the run ends (an echo of nothing in flight).
fn settle(
    ctx: &PhaseCtx,
    replies: &mut Vec<(Data, u64)>,
    outstanding: &mut VecDeque<InFlight>,
) -> bool {
    let s = &ctx.scenario;
    // Against another server, echoes are found by their tag (as in echo).
    let own_echo = s.protocol.profile.wraps_messages();
    for (reply, back_ns) in replies.drain(..) {
        // Against another server, the echo of any message in flight
        // (in any order); anything else is its own message.
        let at = if own_echo {
            0
        } else if let Some(i) = outstanding
            .iter()
            .position(|o| is_echo_of(s.payload, &reply, o))
        {
            i
        } else {
            script::other(ctx);
            continue;
        };
        let Some((sent_seq, sent_ns, measured)) = outstanding.remove(at) else {
            ctx.rec.error("unexpected-message");
            return false;
        };
        ctx.received();
        if measured {
            echoed(ctx, &reply, sent_seq);
            let rtt = back_ns.saturating_sub(sent_ns);
            ctx.rec.record(Metric::ThroughputRtt, rtt, true);
        }
    }
    true
}
