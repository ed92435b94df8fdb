//! WebSocket drivers: push subscriber, echo (open model) and held
//! connections. Receive times are the socket read that completed the
//! message ([`TcpWebSocket::last_read_ns`]).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Poll, ready};
use std::time::Instant;

use wsbench_model::PayloadKind;
use wsbench_model::metric::Metric;
use wsbench_model::scenario::{Role, Vars};
use wsbench_protocol::clock::monotonic_ns;
use wsbench_transport::{Data, Error, Event, Polled, TcpWebSocket, connect};

use super::reconnect::{self, End, Ends};
use super::{ConnOutcome, LEAVE_CODE, PhaseCtx, ended_early, script, subscriber_ended};
use crate::receipts::Receipts;
use crate::recorder::Counts;
use wsbench_protocol::payload;

/// Opens a WebSocket to `path`; counts and times it, and runs the
/// target's steps on open. A connection whose steps fail (a timeout, a
/// close) is counted as opened and as failed, with the step's error.
pub(super) async fn open(ctx: &PhaseCtx, conn: u64, role: Role) -> Option<TcpWebSocket> {
    // Boxed: the opening's state lives only while it runs; held inline it
    // would stay part of the future of every connection that opened.
    Box::pin(open_as(ctx, &ctx.vars(conn), role)).await
}

/// [`open`] for the connection `vars` describe (a reopening one knows
/// the last message it received).
async fn open_as(ctx: &PhaseCtx, vars: &Vars, role: Role) -> Option<TcpWebSocket> {
    let (url, options) = ctx.reach(vars, role)?;
    // Boxed: the handshake's state is large and lives only while it runs;
    // held inline it would stay part of every connection's task.
    let ws = match Box::pin(connect(&url, &options)).await {
        Ok(c) => {
            ctx.opened(c.connect_time, c.handshake_time);
            c.socket
        }
        Err(e) => {
            ctx.failed(&e);
            return None;
        }
    };
    if ctx.scenario.protocol.script.on_open.is_empty() {
        return Some(ws);
    }
    // Boxed, the socket moved in: a held connection's task keeps no
    // room for the steps.
    Box::pin(with_steps(ctx, vars, ws)).await
}

/// Runs the steps on open; the connection, or `None` when they failed.
async fn with_steps(ctx: &PhaseCtx, vars: &Vars, mut ws: TcpWebSocket) -> Option<TcpWebSocket> {
    match script::on_open(ctx, vars, &mut ws).await {
        Ok(()) => Some(ws),
        Err(failure) => {
            if let Some(kind) = failure {
                ctx.failed_as(&kind);
            }
            ctx.rec.counts.connection_closed();
            None
        }
    }
}

/// Push subscriber. It is subscribed once the connection is open (the
/// reference server subscribes before it answers the upgrade) and the
/// target's steps on open are done. A connection that ends while the
/// phase runs opens again under the reconnect policy, if there is one
/// (still owing what was intended meanwhile: its gap).
#[expect(
    clippy::manual_async_fn,
    reason = "an async fn keeps its arguments twice"
)]
pub(super) fn push(ctx: Arc<PhaseCtx>, conn: u64) -> impl Future<Output = ConnOutcome> {
    async move {
        let Some(mut ws) = open(&ctx, conn, Role::Websocket).await else {
            return ConnOutcome::default();
        };
        let mut receipts = Receipts::default();
        receipts.subscribed(monotonic_ns());
        let script = &ctx.scenario.protocol.script;
        let scripted = !(script.periodic.is_empty() && script.replies.is_empty());
        // Drop storms after this instant take the connection down.
        let mut since = 0;
        loop {
            let end = if scripted {
                Box::pin(script::subscriber(
                    &ctx,
                    conn,
                    &mut ws,
                    &mut receipts,
                    since,
                ))
                .await
            } else {
                // Inline: the subscriber's task holds it in its one allocation.
                let ends = std::pin::pin!(ctx.ends(conn, since));
                listen(&ctx, &mut ws, &mut receipts, ends).await
            };
            let Some((at, gap_from)) = end.down() else {
                break;
            };
            since = at;
            ctx.rec.counts.connection_closed();
            // Shut at once (no closing handshake), not after the waits.
            drop(ws);
            // It reopens knowing the last message it received: the wsbench
            // profile resumes after it, another target's endpoint or steps
            // may (`{last_seen}`).
            let vars = Vars {
                last_seen: receipts.last_id(),
                ..ctx.vars(conn)
            };
            let again = || open_as(&ctx, &vars, Role::Websocket);
            match Box::pin(reconnect::reopen(&ctx, conn, at, again)).await {
                Some(new) => {
                    ws = new;
                    receipts.gap(gap_from, monotonic_ns());
                }
                None => {
                    // Its owed messages end where it ended.
                    receipts.ended(gap_from);
                    return ConnOutcome {
                        receipts: Some(receipts),
                    };
                }
            }
        }
        if ctx.left(conn, &mut receipts) {
            Box::pin(leave(&ctx, &mut ws, Some(&mut receipts))).await;
        }
        ctx.rec.counts.connection_closed();
        ConnOutcome {
            receipts: Some(receipts),
        }
    }
}

/// A plain subscriber's messages until `ends` (the phase stops, its
/// time to leave comes, a drop storm takes it down) or the connection
/// ends. The wait for messages is a poll function: the loop holds no
/// read future, only its end's (every subscriber holds this state all
/// its life).
#[expect(
    clippy::manual_async_fn,
    reason = "an async fn keeps its arguments twice"
)]
fn listen<'a, 'e>(
    ctx: &'a PhaseCtx,
    ws: &'e mut TcpWebSocket,
    receipts: &'e mut Receipts,
    mut ends: Pin<&'e mut Ends<'a>>,
) -> impl Future<Output = End> + 'e {
    async move {
        loop {
            let polled = std::future::poll_fn(|cx| {
                if let Poll::Ready(end) = ends.as_mut().poll_end(ctx, cx) {
                    return Poll::Ready(Err(end));
                }
                loop {
                    match ready!(ws.poll_next_event(cx)) {
                        Polled::Event(Some(
                            ev @ (Event::Message(Data::Text(_)) | Event::Pong(_)),
                        )) => {
                            on_event(ctx, receipts, ev, ws.last_read_ns());
                        }
                        other => return Poll::Ready(Ok(other)),
                    }
                }
            })
            .await;
            // Rare (an end, a close, a reply to write): boxed.
            if let Some(end) = Box::pin(settle(ctx, ws, receipts, polled, ends.as_mut())).await {
                return end;
            }
        }
    }
}

/// What interrupted a subscriber's loop: an end, an event other than a
/// text message or pong, or a write to finish. The subscriber's end, or
/// `None` when it goes on.
async fn settle<'a>(
    ctx: &'a PhaseCtx,
    ws: &mut TcpWebSocket,
    receipts: &mut Receipts,
    polled: Result<Polled, End>,
    mut ends: Pin<&mut Ends<'a>>,
) -> Option<End> {
    let event = match polled {
        Err(end) => return Some(end),
        Ok(Polled::Event(event)) => event,
        Ok(Polled::Write(write)) => tokio::select! {
            event = ws.finish_write(write) => Some(event?),
            end = std::future::poll_fn(|cx| ends.as_mut().poll_end(ctx, cx)) => return Some(end),
        },
    };
    match event {
        Some(ev @ (Event::Message(Data::Text(_)) | Event::Pong(_))) => {
            on_event(ctx, receipts, ev, ws.last_read_ns());
            None
        }
        other => subscriber_ended(ctx, other),
    }
}

/// A subscriber's text message or pong.
fn on_event(ctx: &PhaseCtx, receipts: &mut Receipts, event: Event, recv_ns: u64) {
    if let Event::Message(Data::Text(t)) = event {
        ctx.on_push(receipts, &t, recv_ns);
    }
}

/// Leaves on the stage schedule: the closing handshake (1000), waited for
/// at most [`LEAVE_WAIT`]; a push subscriber's messages meanwhile still
/// count.
pub(super) async fn leave(
    ctx: &PhaseCtx,
    ws: &mut TcpWebSocket,
    mut receipts: Option<&mut Receipts>,
) {
    let (code, reason) = LEAVE_CODE;
    let handshake = async {
        if ws.close(code, reason).await.is_err() {
            return;
        }
        while let Some(ev) = ws.next_event().await {
            match (ev, receipts.as_deref_mut()) {
                (Event::Message(Data::Text(t)), Some(r)) => {
                    ctx.on_push(r, &t, ws.last_read_ns());
                }
                (Event::Close(_) | Event::Error(_), _) => break,
                _ => {}
            }
        }
    };
    if tokio::time::timeout(LEAVE_WAIT, handshake).await.is_err() {
        ctx.rec.error("close-timeout");
    }
}

/// Longest wait for the target's answer to a close on the stage schedule.
const LEAVE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Sends `payload` as the workload's kind of frame.
pub(super) async fn send(
    ws: &TcpWebSocket,
    kind: PayloadKind,
    payload: &[u8],
) -> Result<(), Error> {
    match kind {
        PayloadKind::Binary => ws.send_binary(payload).await,
        // Text and JSON payloads are ASCII by construction.
        _ => {
            ws.send_text(std::str::from_utf8(payload).unwrap_or_default())
                .await
        }
    }
}

/// Whether the echo of message `seq` is right; JSON replies are parsed
/// (and the parse timed).
fn check_echo(ctx: &PhaseCtx, data: &Data, seq: u64) -> bool {
    let s = &ctx.scenario;
    let same = payload::is_payload(s.payload, s.payload_size, seq, data.as_bytes())
        && matches!(
            (data, s.payload),
            (Data::Binary(_), PayloadKind::Binary)
                | (Data::Text(_), PayloadKind::Text | PayloadKind::Json)
        );
    if same && s.payload == PayloadKind::Json {
        let mut doc = data.as_bytes().to_vec();
        let t = Instant::now();
        let ok = simd_json::to_borrowed_value(&mut doc).is_ok();
        ctx.rec
            .record(Metric::JsonParse, t.elapsed().as_nanos() as u64, false);
        return ok;
    }
    same
}

/// An echo came back for a message sent in the window: count it.
pub(super) fn echoed(ctx: &PhaseCtx, reply: &Data, seq: u64) {
    if check_echo(ctx, reply, seq) {
        Counts::add(&ctx.rec.counts.delivered, 1);
    } else {
        Counts::add(&ctx.rec.counts.mismatches, 1);
    }
}

/// Waits for the next message, answering nothing else; `None` when the
/// connection ended (counted) or `stop` (the phase's stop signal,
/// `PhaseCtx::wait_stop`) came. A caller that keeps one pinned stop future
/// for the connection's life and passes it by reference registers with
/// the signal once, not once per message.
pub(super) async fn next_message(
    ctx: &PhaseCtx,
    ws: &mut TcpWebSocket,
    stop: impl Future<Output = ()>,
) -> Option<Data> {
    let mut stop = std::pin::pin!(stop);
    loop {
        tokio::select! {
            // The connection first, without drawing a random order.
            biased;
            ev = ws.next_event() => match ev {
                Some(Event::Message(d)) => return Some(d),
                Some(Event::Pong(_)) => {}
                other => {
                    ended_early(ctx, other);
                    return None;
                }
            },
            () = &mut stop => return None,
        }
    }
}

/// Whether `reply` holds the tag of the message `(seq, …)` in flight.
/// Connect: open, then hold the connection (answering pings). The engine
/// aborts these tasks at the end of the phase rather than signalling them,
/// so a held connection's task is the socket and its read only.
#[expect(
    clippy::manual_async_fn,
    reason = "an async fn keeps its arguments twice"
)]
pub(super) fn hold(ctx: &PhaseCtx, conn: u64) -> impl Future<Output = ConnOutcome> + '_ {
    async move {
        let Some(mut ws) = open(ctx, conn, Role::Echo).await else {
            return ConnOutcome::default();
        };
        if ctx.leaves_ns(conn).is_some() {
            Box::pin(hold_until_leaving(ctx, conn, ws)).await;
            return ConnOutcome::default();
        }
        loop {
            match ws.next_event().await {
                Some(Event::Message(_) | Event::Pong(_)) => {}
                other => {
                    ended_early(ctx, other);
                    break;
                }
            }
        }
        ctx.rec.counts.connection_closed();
        ConnOutcome::default()
    }
}

/// A held connection of a stage profile: held until its time to leave,
/// then closed (1000).
async fn hold_until_leaving(ctx: &PhaseCtx, conn: u64, mut ws: TcpWebSocket) {
    let end = ctx.wait_end(conn);
    tokio::pin!(end);
    loop {
        tokio::select! {
            ev = ws.next_event() => match ev {
                Some(Event::Message(_) | Event::Pong(_)) => {}
                other => {
                    ended_early(ctx, other);
                    break;
                }
            },
            () = &mut end => {
                if ctx.left_at(conn).is_some() {
                    leave(ctx, &mut ws, None).await;
                }
                break;
            }
        }
    }
    ctx.rec.counts.connection_closed();
}
