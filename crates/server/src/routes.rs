//! One connection: HTTP requests until it upgrades, streams, or closes.
//!
//! [`connection`] answers requests and performs the upgrade; the caller
//! then serves the WebSocket it returns with [`serve_websocket`]. The
//! split keeps an open WebSocket's task small: the request-handling state
//! is freed when the upgrade completes, so a held connection's task holds
//! the message loop alone.

use std::net::IpAddr;

use futures_util::future::Either;
use wsbench_transport::net::NetStream;
use wsbench_transport::{Config, DeflateConfig, ServerOptions, TcpWebSocket, accept_with_head};

use crate::http::{self, Head, Piece, ReadError};
use crate::hub::Subscription;
use crate::shutdown::shutting_down;
use crate::stacks::{self, WsImpl};
use crate::ws_loops::{echo_loop, push_loop};
use crate::{Ctx, limits, streams};

/// A connection upgraded to WebSocket: served by [`serve_websocket`].
pub(crate) enum Upgraded<'c> {
    /// Our stack, echoing (`None`) or pushing every message after the
    /// sequence number given.
    Own(TcpWebSocket, Option<u64>),
    /// Another stack (a comparison build): the upgrade request and what
    /// was read after it, answered by that stack.
    Stack(WsImpl, NetStream, Vec<u8>, Option<Subscription<'c>>),
}

/// Answers HTTP requests on `stream` from `peer` until it closes or
/// upgrades: the upgraded connection, if any. A connection idle between
/// requests (or still sending its first) ends at shutdown.
pub(crate) async fn connection(
    mut stream: NetStream,
    peer: IpAddr,
    ctx: &Ctx,
) -> Option<Upgraded<'_>> {
    let mut buf = Vec::new();
    let mut first = true;
    let mut shutdown = ctx.shutdown.clone();
    loop {
        let wait = if first {
            ctx.config.handshake_timeout
        } else {
            ctx.config.idle_timeout
        };
        first = false;
        let head = tokio::select! {
            head = http::read_head(&mut stream, &mut buf, wait) => head,
            () = shutting_down(&mut shutdown) => return None,
        };
        let head = match head {
            Ok(head) => head,
            Err(ReadError::Gone) => return None,
            Err(ReadError::Status(status, why)) => {
                return refuse(stream, &http::error_response(status, why), ctx).await;
            }
        };
        if head.upgrade_websocket {
            return upgrade(stream, buf, head, ctx).await;
        }
        let body_wait = ctx.config.handshake_timeout;
        if head.content_length > 0
            && let Err(e) = Box::pin(http::read_body(&mut stream, &mut buf, &head, body_wait)).await
        {
            return match e {
                ReadError::Status(status, why) => {
                    refuse(stream, &http::error_response(status, why), ctx).await
                }
                ReadError::Gone => None,
            };
        }
        if (head.method.as_str(), head.path.as_str()) == ("GET", "/events") {
            Box::pin(streams::sse(stream, head.last_event_id, ctx)).await;
            return None;
        }
        let body = &buf[head.head_len..head.head_len + head.content_length];
        let (reply, keep_alive) = Box::pin(answer(&head, body, peer, ctx)).await;
        if let Err(cut) = ctx.config.write.write(&mut stream, &reply).await {
            if let Some(cut) = cut {
                ctx.cuts.count(cut);
            }
            return None;
        }
        if !keep_alive {
            limits::close_reading(&mut stream, ctx.shutdown.clone()).await;
            return None;
        }
        buf.drain(..head.head_len + head.content_length);
    }
}

/// Sends a last response and closes (see [`limits::refuse`]).
async fn refuse(mut stream: NetStream, response: &[u8], ctx: &Ctx) -> Option<Upgraded<'static>> {
    limits::refuse(&mut stream, response, ctx.shutdown.clone()).await;
    None
}

/// The response to a request (other than SSE's) and whether the
/// connection stays open.
async fn answer(head: &Head, body: &[u8], peer: IpAddr, ctx: &Ctx) -> (Vec<Piece>, bool) {
    let keep = head.keep_alive;
    let (response, keep_alive) = match (head.method.as_str(), head.path.as_str()) {
        ("GET", "/poll") => return Box::pin(streams::poll(head, ctx)).await,
        ("POST", "/publish") => Box::pin(publish(head, body, peer, ctx)).await,
        ("GET", "/health") => {
            let r = http::response(200, "application/json", health(ctx).as_bytes(), keep);
            (r, keep)
        }
        (_, "/poll" | "/events" | "/publish" | "/health") => {
            (http::error_response(405, "method not allowed here"), false)
        }
        _ => (http::error_response(404, "no such endpoint"), false),
    };
    (vec![Piece::Owned(response)], keep_alive)
}

/// `GET /health`: the process (which tells the processes of a cluster
/// apart), the stream's position, the history held and the connections
/// cut by reason.
fn health(ctx: &Ctx) -> String {
    let (bytes, messages) = ctx.hub.retained();
    format!(
        "{{\"status\":\"ok\",\"pid\":{},\"last_seq\":{},\"history\":{{\"bytes\":{bytes},\"messages\":{messages}}},\"cut\":{}}}",
        std::process::id(),
        ctx.hub.last_seq(),
        ctx.cuts.json()
    )
}

/// `POST /publish`: the body (UTF-8) to the hub, if this client may
/// publish.
async fn publish(head: &Head, body: &[u8], peer: IpAddr, ctx: &Ctx) -> (Vec<u8>, bool) {
    let token = ctx.config.publish_token.as_deref();
    if let Err(why) = may_publish(token, head.authorization.as_deref(), peer) {
        return (http::error_response(403, why), false);
    }
    let Ok(text) = std::str::from_utf8(body) else {
        return (http::error_response(400, "the body must be UTF-8"), false);
    };
    match ctx.publish(text, head.sent_ns).await {
        Some((seq, ts_ns)) => {
            let json = format!("{{\"seq\":{seq},\"ts\":{ts_ns}}}");
            let r = http::response(200, "application/json", json.as_bytes(), head.keep_alive);
            (r, head.keep_alive)
        }
        None => (
            http::error_response(503, "the primary process is gone"),
            false,
        ),
    }
}

/// Who may publish (and so stamp messages with a publisher clock): with
/// a token, a request carrying `Authorization: Bearer TOKEN`; without
/// one, a client on this host (loopback).
pub(crate) fn may_publish(
    token: Option<&str>,
    authorization: Option<&str>,
    peer: IpAddr,
) -> Result<(), &'static str> {
    match token {
        Some(token) => {
            let given = authorization
                .and_then(|a| a.strip_prefix("Bearer "))
                .unwrap_or("");
            // Compared in time independent of where they differ.
            let same = given.len() == token.len()
                && given
                    .bytes()
                    .zip(token.bytes())
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0;
            if same {
                Ok(())
            } else {
                Err("publishing needs Authorization: Bearer with the --publish-token")
            }
        }
        None if peer.is_loopback() => Ok(()),
        None => Err("publishing is allowed from loopback only (or start with --publish-token)"),
    }
}

/// The WebSocket upgrade: the route, a push subscription, the opening
/// handshake.
async fn upgrade(stream: NetStream, buf: Vec<u8>, head: Head, ctx: &Ctx) -> Option<Upgraded<'_>> {
    let echo = match head.path.as_str() {
        "/" | "/echo" => true,
        "/push" => false,
        _ => {
            return refuse(
                stream,
                &http::error_response(404, "no WebSocket endpoint here"),
                ctx,
            )
            .await;
        }
    };
    // A push subscriber is subscribed before the 101 goes out: every
    // message published after the client sees the connection open reaches
    // it.
    // A subscriber that resumes (`/push?after=N`) gets what was published
    // after N and is still kept; N ahead of the stream (the server was
    // started again since) starts from now.
    let last = ctx.hub.last_seq();
    let after = (!echo).then(|| {
        head.query_param("after")
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(last, |n| n.min(last))
    });
    if ctx.config.ws_impl != WsImpl::Own {
        let sub = after.map(|n| ctx.hub.subscribe_after(n));
        return Some(Upgraded::Stack(ctx.config.ws_impl, stream, buf, sub));
    }
    let options = ServerOptions {
        config: Config {
            max_frame_size: ctx.config.max_message_size,
            max_message_size: ctx.config.max_message_size,
            keepalive: Some(ctx.config.idle_timeout),
            max_inflate_ratio: ctx.config.max_inflate_ratio,
            ..Config::default()
        },
        protocols: Vec::new(),
        handshake_timeout: Some(ctx.config.handshake_timeout),
        deflate: ctx.config.deflate.then(DeflateConfig::default),
    };
    // Refusals are answered with their status inside accept.
    let accepted = accept_with_head(stream, buf, &options).await.ok()?;
    Some(Upgraded::Own(accepted.socket, after))
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
        Upgraded::Own(ws, Some(after)) => {
            Either::Right(Either::Left(push_loop(ws, after, ctx, shutdown)))
        }
        // Boxed: the other stacks' state does not enlarge our own's task.
        Upgraded::Stack(imp, stream, buf, sub) => Either::Right(Either::Right(Box::pin(
            stacks::serve(imp, stream, buf, sub, ctx),
        ))),
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

    #[test]
    fn only_loopback_or_the_token_holder_may_publish() {
        use std::net::IpAddr;
        let (local, remote): (IpAddr, IpAddr) =
            ("127.0.0.1".parse().unwrap(), "192.0.2.7".parse().unwrap());
        let v6: IpAddr = "::1".parse().unwrap();
        let may = super::may_publish;
        assert!(may(None, None, local).is_ok());
        assert!(may(None, None, v6).is_ok());
        assert!(may(None, Some("Bearer x"), remote).is_err(), "no token set");
        let token = Some("s3cret");
        assert!(may(token, Some("Bearer s3cret"), remote).is_ok());
        for wrong in [
            None,
            Some("Bearer s3cre"),
            Some("Bearer s3cret2"),
            Some("s3cret"),
        ] {
            assert!(may(token, wrong, remote).is_err(), "{wrong:?}");
            assert!(
                may(token, wrong, local).is_err(),
                "a token binds loopback too"
            );
        }
    }
}
