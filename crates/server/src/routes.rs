//! One connection: HTTP requests until it upgrades, streams, or closes.
//!
//! [`connection`] answers requests and performs the upgrade; the caller
//! then serves the WebSocket it returns with [`serve_websocket`]. The
//! split keeps an open WebSocket's task small: the request-handling state
//! is freed when the upgrade completes, so a held connection's task holds
//! the message loop alone.

use std::time::Duration;

use futures_util::future::Either;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use wsbench_transport::net::NetStream;
use wsbench_transport::{
    Config, Data, DeflateConfig, Event, ServerOptions, TcpWebSocket, accept_with_head,
};

use crate::Ctx;
use crate::http::{self, Head, ReadError};
use crate::hub::Subscription;
use crate::shutdown::shutting_down;
use crate::stacks::{self, WsImpl};

/// How long WebSocket clients get to answer our 1001 at shutdown.
const SHUTDOWN_CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// A connection upgraded to WebSocket: served by [`serve_websocket`].
pub(crate) enum Upgraded<'c> {
    /// Our stack, echoing (`sub` is `None`) or pushing.
    Own(TcpWebSocket, Option<Subscription<'c>>),
    /// Another stack (a comparison build): the upgrade request and what
    /// was read after it, answered by that stack.
    Stack(WsImpl, NetStream, Vec<u8>, Option<Subscription<'c>>),
}

/// Answers HTTP requests on `stream` until it closes or upgrades: the
/// upgraded connection, if any.
pub(crate) async fn connection(mut stream: NetStream, ctx: &Ctx) -> Option<Upgraded<'_>> {
    let mut buf = Vec::new();
    let mut first = true;
    loop {
        let wait = if first {
            ctx.config.handshake_timeout
        } else {
            ctx.config.idle_timeout
        };
        first = false;
        let head = match http::read_head(&mut stream, &mut buf, wait).await {
            Ok(head) => head,
            Err(ReadError::Gone) => return None,
            Err(ReadError::Status(status, why)) => {
                let _ = stream.write_all(&http::error_response(status, why)).await;
                return None;
            }
        };
        if head.upgrade_websocket {
            return upgrade(stream, buf, head, ctx).await;
        }
        let body_wait = ctx.config.handshake_timeout;
        if head.content_length > 0
            && let Err(e) = Box::pin(http::read_body(&mut stream, &mut buf, &head, body_wait)).await
        {
            if let ReadError::Status(status, why) = e {
                let _ = stream.write_all(&http::error_response(status, why)).await;
            }
            return None;
        }
        let (response, keep_alive) = match (head.method.as_str(), head.path.as_str()) {
            ("GET", "/poll") => Box::pin(poll(&head, ctx)).await,
            ("GET", "/events") => {
                Box::pin(sse(stream, head.last_event_id, ctx)).await;
                return None;
            }
            ("POST", "/publish") => {
                let body = &buf[head.head_len..head.head_len + head.content_length];
                match std::str::from_utf8(body) {
                    Ok(text) => match Box::pin(ctx.publish(text, head.sent_ns)).await {
                        Some((seq, ts_ns)) => {
                            let json = format!("{{\"seq\":{seq},\"ts\":{ts_ns}}}");
                            let r = http::response(
                                200,
                                "application/json",
                                json.as_bytes(),
                                head.keep_alive,
                            );
                            (r, head.keep_alive)
                        }
                        None => (
                            http::error_response(503, "the primary process is gone"),
                            false,
                        ),
                    },
                    Err(_) => (http::error_response(400, "the body must be UTF-8"), false),
                }
            }
            ("GET", "/health") => {
                // The process id tells the processes of a cluster apart.
                let body = format!(
                    "{{\"status\":\"ok\",\"pid\":{},\"last_seq\":{}}}",
                    std::process::id(),
                    ctx.hub.last_seq()
                );
                let r = http::response(200, "application/json", body.as_bytes(), head.keep_alive);
                (r, head.keep_alive)
            }
            (_, "/poll" | "/events" | "/publish" | "/health") => {
                (http::error_response(405, "method not allowed here"), false)
            }
            _ => (http::error_response(404, "no such endpoint"), false),
        };
        if stream.write_all(&response).await.is_err() || !keep_alive {
            return None;
        }
        buf.drain(..head.head_len + head.content_length);
    }
}

/// The WebSocket upgrade: the route, a push subscription, the opening
/// handshake.
async fn upgrade(stream: NetStream, buf: Vec<u8>, head: Head, ctx: &Ctx) -> Option<Upgraded<'_>> {
    let echo = match head.path.as_str() {
        "/" | "/echo" => true,
        "/push" => false,
        _ => {
            let mut stream = stream;
            let _ = stream
                .write_all(&http::error_response(404, "no WebSocket endpoint here"))
                .await;
            return None;
        }
    };
    // A push subscriber is subscribed before the 101 goes out: every
    // message published after the client sees the connection open reaches
    // it.
    let sub = (!echo).then(|| ctx.hub.subscribe());
    if ctx.config.ws_impl != WsImpl::Own {
        return Some(Upgraded::Stack(ctx.config.ws_impl, stream, buf, sub));
    }
    let options = ServerOptions {
        config: Config {
            max_frame_size: ctx.config.max_message_size,
            max_message_size: ctx.config.max_message_size,
            keepalive: Some(ctx.config.idle_timeout),
            ..Config::default()
        },
        protocols: Vec::new(),
        handshake_timeout: Some(ctx.config.handshake_timeout),
        deflate: ctx.config.deflate.then(DeflateConfig::default),
    };
    // Refusals are answered with their status inside accept.
    let accepted = accept_with_head(stream, buf, &options).await.ok()?;
    Some(Upgraded::Own(accepted.socket, sub))
}

/// Serves an upgraded connection until it closes. Not an `async fn`:
/// its future is exactly one of the loops', not room for all of them.
pub(crate) fn serve_websocket<'a>(
    upgraded: Upgraded<'a>,
    ctx: &'a Ctx,
) -> impl Future<Output = ()> + 'a {
    let shutdown = ctx.shutdown.clone();
    match upgraded {
        Upgraded::Own(ws, None) => Either::Left(echo_loop(ws, ctx, shutdown)),
        Upgraded::Own(ws, Some(sub)) => {
            Either::Right(Either::Left(push_loop(ws, sub, ctx, shutdown)))
        }
        // Boxed: the other stacks' state does not enlarge our own's task.
        Upgraded::Stack(imp, stream, buf, sub) => Either::Right(Either::Right(Box::pin(
            stacks::serve(imp, stream, buf, sub, ctx),
        ))),
    }
}

/// Sends 1001 and waits (bounded) for the client's answer.
async fn going_away(ws: &mut TcpWebSocket) {
    if ws.close(1001, "server shutting down").await.is_ok() {
        let _ = tokio::time::timeout(SHUTDOWN_CLOSE_TIMEOUT, async {
            while ws.next_event().await.is_some() {}
        })
        .await;
    }
}

// The loops wait in `select!` for one thing to happen and act on it after
// the `select!` has ended, so the futures it waited on are gone while a
// send runs: a held connection's task is as small as the larger of the
// two. Shutdown, rare, is boxed. They are `async move` blocks rather than
// `async fn`s, which would keep their arguments twice (as passed, and
// moved into locals).

#[expect(
    clippy::manual_async_fn,
    reason = "an async fn keeps its arguments twice"
)]
fn echo_loop<'a>(
    mut ws: TcpWebSocket,
    ctx: &'a Ctx,
    mut shutdown: watch::Receiver<bool>,
) -> impl Future<Output = ()> + 'a {
    async move {
        let faults = &ctx.config.faults;
        let faulty = *faults != crate::Faults::default();
        loop {
            let ev = tokio::select! {
                ev = ws.next_event() => ev,
                () = shutting_down(&mut shutdown) => return Box::pin(going_away(&mut ws)).await,
            };
            let data = match ev {
                Some(Event::Message(data)) => data,
                Some(Event::Close(_)) | None => return,
                Some(Event::Pong(_) | Event::Error(_)) => continue,
            };
            if faulty {
                Box::pin(faults.before_echo(ctx.epoch)).await;
            }
            let sent = match data {
                Data::Text(t) => ws.send_text(&t).await,
                Data::Binary(b) => ws.send_binary(&b).await,
            };
            if sent.is_err() {
                return;
            }
        }
    }
}

#[expect(
    clippy::manual_async_fn,
    reason = "an async fn keeps its arguments twice"
)]
fn push_loop<'a>(
    mut ws: TcpWebSocket,
    mut sub: Subscription<'a>,
    ctx: &'a Ctx,
    mut shutdown: watch::Receiver<bool>,
) -> impl Future<Output = ()> + 'a {
    async move {
        loop {
            let batch = tokio::select! {
                batch = sub.next() => batch,
                ev = ws.next_event() => match ev {
                    Some(Event::Close(_)) | None => return,
                    Some(_) => continue,
                },
                () = shutting_down(&mut shutdown) => return Box::pin(going_away(&mut ws)).await,
            };
            let Some(batch) = batch else {
                return Box::pin(going_away(&mut ws)).await;
            };
            for m in &batch {
                for _ in 0..ctx.config.faults.push_copies(m.seq) {
                    if ws.writer().queue_text(&m.json).is_err() {
                        return;
                    }
                }
            }
            if ws.writer().flush().await.is_err() {
                return;
            }
        }
    }
}

/// The cursor a poll starts from: the request's, or the newest message
/// (a first poll waits for what comes next).
fn cursor_of(head: &Head, ctx: &Ctx) -> Result<u64, Vec<u8>> {
    match head.query_param("cursor") {
        None | Some("") => Ok(ctx.hub.last_seq()),
        Some(c) => c
            .parse()
            .map_err(|_| http::error_response(400, "cursor must be a whole number")),
    }
}

/// A poll's response and whether the connection stays open.
async fn poll(head: &Head, ctx: &Ctx) -> (Vec<u8>, bool) {
    let cursor = match cursor_of(head, ctx) {
        Ok(c) => c,
        Err(response) => return (response, false),
    };
    let long = head.query_param("wait") != Some("0");
    let mut messages = ctx.hub.since(cursor);
    if messages.is_empty() && long {
        let mut shutdown = ctx.shutdown.clone();
        tokio::select! {
            () = ctx.hub.wait_after(cursor) => {}
            () = tokio::time::sleep(ctx.config.long_poll_timeout) => {}
            () = shutting_down(&mut shutdown) => {}
        }
        messages = ctx.hub.since(cursor);
    }
    let next = messages.last().map_or(cursor, |m| m.seq);
    let mut body = format!("{{\"cursor\":{next},\"messages\":[");
    for (i, m) in messages.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&m.json);
    }
    body.push_str("]}");
    let response = http::response(200, "application/json", body.as_bytes(), head.keep_alive);
    (response, head.keep_alive)
}

/// Streams the hub as Server-Sent Events, resuming after `last_event_id`
/// when the client sent one.
async fn sse(stream: NetStream, last_event_id: Option<u64>, ctx: &Ctx) {
    let mut sub = match last_event_id {
        Some(id) => ctx.hub.subscribe_after(id),
        None => ctx.hub.subscribe(),
    };
    let mut out = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\
                    Cache-Control: no-store\r\nConnection: close\r\n\r\n"
        .to_vec();
    let (mut read, mut write) = tokio::io::split(stream);
    let mut shutdown = ctx.shutdown.clone();
    let mut scratch = [0u8; 64];
    let mut batch = sub.catch_up();
    loop {
        for m in batch.drain(..) {
            out.extend_from_slice(format!("id: {}\ndata: {}\n\n", m.seq, m.json).as_bytes());
        }
        if !out.is_empty() {
            if write.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
        tokio::select! {
            next = sub.next() => match next {
                Some(b) => batch = b,
                None => return,
            },
            // The client hung up (or sent something, which SSE ignores).
            r = read.read(&mut scratch) => if matches!(r, Ok(0) | Err(_)) { return },
            () = shutting_down(&mut shutdown) => return,
        }
    }
}
#[cfg(test)]
mod tests {
    /// The size of the future `f` returns, without calling it.
    fn future_of<A, B, F: Fn(A, B) -> Fut, Fut>(_: &F) -> usize {
        size_of::<Fut>()
    }

    #[test]
    fn an_open_websocket_holds_its_loop_alone() {
        // An idle WebSocket's task holds this future (the request handling
        // before the upgrade is boxed and gone): the message loop, not the
        // HTTP routes, the handshake or the other stacks.
        let serving = future_of(&super::serve_websocket);
        assert!(serving <= 800, "serve_websocket: {serving} bytes, over 800");
    }
}
