//! HTTP push drivers: long-poll, short poll and Server-Sent Events.
//! Receive times are the socket read that completed the response or the
//! event ([`PollClient::last_read_ns`], [`SseClient::last_read_ns`]).

use std::time::Instant;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method};
use wsbench_protocol::clock::monotonic_ns;
use wsbench_protocol::poll::{Answer, PollDialect, PollError, PollState};
use wsbench_protocol::push::PollBatch;
use wsbench_transport::http_client::{PollClient, Reply, SseClient};

use wsbench_model::scenario::Role;

use super::reconnect::Retry;
use super::{BAD_MESSAGE, ConnOutcome, PhaseCtx, error_kind};
use crate::receipts::Receipts;

/// Long-poll (`wait`) or short poll on an interval. The subscription is a
/// first poll that answers at once with the current cursor: every message
/// published after its answer is fetched by a later poll, so that answer is
/// the subscribe point.
pub(super) async fn poll(ctx: &PhaseCtx, conn: u64, wait: bool) -> ConnOutcome {
    if !ctx.scenario.protocol.profile.wraps_messages() {
        return Box::pin(poll_dialect(ctx, conn, wait)).await;
    }
    let Some((url, options)) = ctx.reach(&ctx.vars(conn), poll_role(wait)) else {
        return ConnOutcome::default();
    };
    let started = Instant::now();
    // Boxed, as are the waits after a failure below: rare, and inline they
    // would make the state every poll touches larger.
    let mut client = match Box::pin(PollClient::connect(&url, &options)).await {
        Ok(c) => c,
        Err(e) => {
            ctx.failed(&e);
            return ConnOutcome::default();
        }
    };
    let times = client.open_times();
    let mut receipts = Receipts::default();
    let mut cursor = match client.poll(None, false).await {
        Ok(body) => match PollBatch::parse(&body) {
            Ok(b) => b.cursor,
            Err(_) => {
                ctx.failed_as(BAD_MESSAGE);
                return ConnOutcome::default();
            }
        },
        Err(e) => {
            ctx.failed(&e);
            return ConnOutcome::default();
        }
    };
    ctx.opened(times.tcp, started.elapsed().saturating_sub(times.tcp));
    receipts.subscribed(client.last_read_ns().max(1));
    let mut tick = short_poll_tick(ctx, conn);
    let mut retry = Retry::default();
    // Drop storms after this instant take the connection down.
    let mut since = 0;
    // Kept for the connection's life: each poll does not register anew.
    let mut end = std::pin::pin!(ctx.wait_end(conn));
    loop {
        if !wait {
            tokio::select! {
                _ = tick.tick() => {}
                () = &mut end => break,
            }
        }
        let result = tokio::select! {
            // In this order, without drawing a random one per poll: the
            // answer first, then the end, then a drop storm.
            biased;
            r = client.poll(Some(cursor), wait) => r,
            () = &mut end => break,
            at = ctx.dropped(conn, since) => {
                since = at;
                client.disconnect();
                if !Box::pin(retry.dropped(ctx, conn, &mut receipts, at)).await {
                    break;
                }
                continue;
            }
        };
        match result {
            Ok(body) => {
                let recv_ns = client.last_read_ns();
                retry.succeeded(ctx, &mut receipts, recv_ns);
                // Counted by answer time, as the messages it brings are.
                ctx.rec.count_in_window(&ctx.rec.counts.http_requests);
                match PollBatch::parse(&body) {
                    Ok(batch) => {
                        for m in &batch.messages {
                            ctx.on_payload(&mut receipts, &m.payload, Some(m.seq), recv_ns);
                        }
                        cursor = batch.cursor;
                    }
                    Err(_) => ctx.rec.error(BAD_MESSAGE),
                }
            }
            Err(e) => {
                if ctx.stopped() {
                    break;
                }
                ctx.rec.error(error_kind(&e));
                if !Box::pin(retry.failed(ctx, conn, &mut receipts)).await {
                    break;
                }
            }
        }
    }
    // Leaving on the stage schedule ends the subscription (the request
    // or the stream is dropped).
    retry.finish(ctx);
    ctx.left(conn, &mut receipts);
    ctx.rec.counts.connection_closed();
    ConnOutcome {
        receipts: Some(receipts),
    }
}

fn poll_role(wait: bool) -> Role {
    if wait {
        Role::LongPoll
    } else {
        Role::ShortPoll
    }
}

/// Short pollers spread their polls over the interval, evenly however few
/// they are (golden-ratio offsets).
fn short_poll_tick(ctx: &PhaseCtx, conn: u64) -> tokio::time::Interval {
    let interval = ctx.scenario.short_poll_interval;
    let offset = (conn as f64 * 0.618_033_988_749_895).fract();
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::now() + interval.mul_f64(offset),
        interval,
    );
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick
}

/// Long-poll or short poll of a target of another profile, in the
/// dialect `[target.poll]` describes. A subscriber is placed in the
/// stream by the first answer that gives it a cursor (with no cursor, by
/// the first answer): every message published after that answer is
/// fetched by a later poll, so that answer is the subscribe point.
async fn poll_dialect(ctx: &PhaseCtx, conn: u64, wait: bool) -> ConnOutcome {
    let Some((url, options)) = ctx.reach(&ctx.vars(conn), poll_role(wait)) else {
        return ConnOutcome::default();
    };
    let dialect = &ctx.scenario.protocol.poll;
    let started = Instant::now();
    let mut client = match PollClient::connect(&url, &options).await {
        Ok(c) => c,
        Err(e) => {
            ctx.failed(&e);
            return ConnOutcome::default();
        }
    };
    let tcp = client.open_times().tcp;
    ctx.opened(tcp, started.elapsed().saturating_sub(tcp));
    let path = client.path().to_owned();
    let mut state = PollState::default();
    let mut receipts = Receipts::default();
    let mut tick = short_poll_tick(ctx, conn);
    let mut retry = Retry::default();
    let mut since = 0;
    loop {
        if !wait {
            tokio::select! {
                _ = tick.tick() => {}
                () = ctx.wait_end(conn) => break,
            }
        }
        let Some(headers) = cursor_headers(&state, dialect) else {
            // The server's cursor cannot be sent back: this subscriber
            // cannot go on.
            ctx.rec.error(BAD_MESSAGE);
            break;
        };
        let target = state.path(dialect, &path);
        let result = tokio::select! {
            biased;
            r = client.exchange(Method::GET, &target, Bytes::new(), &headers) => r,
            () = ctx.wait_end(conn) => break,
            at = ctx.dropped(conn, since) => {
                since = at;
                client.disconnect();
                if !retry.dropped(ctx, conn, &mut receipts, at).await {
                    break;
                }
                continue;
            }
        };
        let reply = match result {
            Ok(reply) => reply,
            Err(e) => {
                if ctx.stopped() {
                    break;
                }
                ctx.rec.error(error_kind(&e));
                if !retry.failed(ctx, conn, &mut receipts).await {
                    break;
                }
                continue;
            }
        };
        // Counted by answer time, as the messages it brings are.
        ctx.rec.count_in_window(&ctx.rec.counts.http_requests);
        let recv_ns = client.last_read_ns();
        let refused = on_answer(ctx, (&mut state, &mut receipts), &reply, recv_ns);
        if !refused {
            retry.succeeded(ctx, &mut receipts, recv_ns);
        } else if !retry.failed(ctx, conn, &mut receipts).await {
            break;
        }
    }
    // Leaving on the stage schedule ends the subscription (the request
    // or the stream is dropped).
    retry.finish(ctx);
    ctx.left(conn, &mut receipts);
    ctx.rec.counts.connection_closed();
    ConnOutcome {
        receipts: Some(receipts),
    }
}

/// The cursor's header fields for the next poll; `None` when the
/// server's cursor cannot be sent back as a header value.
fn cursor_headers(
    state: &PollState,
    dialect: &PollDialect,
) -> Option<Vec<(HeaderName, HeaderValue)>> {
    state
        .headers(dialect)
        .into_iter()
        .map(|(name, value)| {
            Some((
                HeaderName::from_static(name),
                HeaderValue::try_from(value).ok()?,
            ))
        })
        .collect()
}

/// Reads one poll answer, received at `recv_ns`: its messages, the
/// cursor, and the subscribe point when it is the first to place the
/// subscriber. True when the server refused the poll (a status that is
/// neither 2xx nor "nothing new").
fn on_answer(
    ctx: &PhaseCtx,
    (state, receipts): (&mut PollState, &mut Receipts),
    reply: &Reply,
    recv_ns: u64,
) -> bool {
    let dialect = &ctx.scenario.protocol.poll;
    let answer = Answer {
        status: reply.status,
        etag: reply.header("etag"),
        last_modified: reply.header("last-modified"),
        body: &reply.body,
    };
    let placed = state.placed(dialect);
    match state.on_answer(dialect, &answer) {
        Ok(messages) => {
            for m in &messages {
                ctx.on_payload(receipts, m, None, recv_ns);
            }
            if !placed && state.placed(dialect) {
                receipts.subscribed(recv_ns.max(1));
            }
            false
        }
        Err(PollError::Status(status)) => {
            ctx.rec.error(format!("http-{status}"));
            true
        }
        Err(PollError::Body(_)) => {
            ctx.rec.error(BAD_MESSAGE);
            false
        }
    }
}

/// Server-Sent Events; reconnects with `Last-Event-ID` if the stream ends,
/// so it stays subscribed from its first response on (the reference
/// server subscribes before it answers).
pub(super) async fn sse(ctx: &PhaseCtx, conn: u64) -> ConnOutcome {
    let Some((url, options)) = ctx.reach(&ctx.vars(conn), Role::Sse) else {
        return ConnOutcome::default();
    };
    let started = Instant::now();
    let mut client = match Box::pin(SseClient::connect(&url, None, &options)).await {
        Ok(c) => c,
        Err(e) => {
            ctx.failed(&e);
            return ConnOutcome::default();
        }
    };
    let tcp = client.open_times().tcp;
    ctx.opened(tcp, started.elapsed().saturating_sub(tcp));
    let mut receipts = Receipts::default();
    receipts.subscribed(monotonic_ns());
    let mut last_id: Option<String> = None;
    let mut retry = Retry::default();
    // One stop future for the whole stream, not one per event.
    let stop = ctx.wait_end(conn);
    tokio::pin!(stop);
    let mut since = 0;
    loop {
        let mut dropped = false;
        let next = tokio::select! {
            e = client.next_event() => e,
            () = &mut stop => break,
            at = ctx.dropped(conn, since) => {
                (since, dropped) = (at, true);
                client.disconnect();
                retry.down_at(at);
                Ok(None)
            }
        };
        match next {
            Ok(Some(event)) => {
                // Kept as the server wrote it (ids need not be numbers).
                if let Some(id) = event.last_event_id {
                    last_id = Some(id);
                }
                let recv_ns = client.last_read_ns();
                ctx.on_push(&mut receipts, &event.data, recv_ns);
            }
            Ok(None) | Err(_) => {
                if ctx.stopped() {
                    break;
                }
                match next {
                    Err(e) => ctx.rec.error(error_kind(&e)),
                    // (A drop is counted as one already.)
                    _ if !dropped => ctx.rec.error("closed"),
                    _ => {}
                }
                retry.down();
                // With a policy every attempt waits its delay first, as a
                // WebSocket's does; without, the first one goes at once.
                let policy = ctx.scenario.reconnect.is_some();
                if policy && !retry.failed(ctx, conn, &mut receipts).await {
                    break;
                }
                let reconnected = tokio::select! {
                    r = Box::pin(SseClient::connect(&url, last_id.as_deref(), &options)) => r,
                    () = ctx.wait_end(conn) => break,
                };
                match reconnected {
                    Ok(c) => {
                        ctx.rec.count_in_window(&ctx.rec.counts.http_requests);
                        client = c;
                        retry.succeeded(ctx, &mut receipts, monotonic_ns());
                    }
                    Err(e) => {
                        ctx.rec.error(error_kind(&e));
                        if !policy && !retry.failed(ctx, conn, &mut receipts).await {
                            break;
                        }
                    }
                }
            }
        }
    }
    // Leaving on the stage schedule ends the subscription (the request
    // or the stream is dropped).
    retry.finish(ctx);
    ctx.left(conn, &mut receipts);
    ctx.rec.counts.connection_closed();
    ConnOutcome {
        receipts: Some(receipts),
    }
}
