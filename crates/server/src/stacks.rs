//! Alternative WebSocket stacks behind the echo and push endpoints, so
//! server stacks can be compared on equal terms: the upgrade is answered by
//! the same code for every stack, then the TCP stream is handed over.

use std::io;
use std::pin::Pin;
use std::str::FromStr;
use std::task::{Context, Poll};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::watch;
use wsbench_codec::handshake::Request;

use wsbench_transport::net::NetStream;

use crate::Ctx;
use crate::hub::Subscription;
use crate::limits::Cut;
use crate::shutdown::shutting_down;

/// The WebSocket implementation serving `/echo` and `/push`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WsImpl {
    /// wsbench-transport.
    #[default]
    Own,
    /// fastwebsockets 0.10.
    FastWebSockets,
    /// tokio-tungstenite 0.30.
    TokioTungstenite,
}

impl WsImpl {
    /// The name used on the command line and in results.
    pub fn name(self) -> &'static str {
        match self {
            WsImpl::Own => "own",
            WsImpl::FastWebSockets => "fastwebsockets",
            WsImpl::TokioTungstenite => "tokio-tungstenite",
        }
    }
}

impl FromStr for WsImpl {
    type Err = String;

    fn from_str(s: &str) -> Result<WsImpl, String> {
        [
            WsImpl::Own,
            WsImpl::FastWebSockets,
            WsImpl::TokioTungstenite,
        ]
        .into_iter()
        .find(|i| i.name() == s)
        .ok_or_else(|| {
            format!("unknown WebSocket stack {s:?} (own, fastwebsockets, tokio-tungstenite)")
        })
    }
}

/// A stream that first returns bytes already read (after the request head)
/// and then reads the socket.
#[derive(Debug)]
pub(crate) struct Prefixed {
    prefix: Vec<u8>,
    pos: usize,
    inner: NetStream,
}

impl AsyncRead for Prefixed {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.pos < this.prefix.len() {
            let n = (this.prefix.len() - this.pos).min(buf.remaining());
            buf.put_slice(&this.prefix[this.pos..this.pos + n]);
            this.pos += n;
            if this.pos == this.prefix.len() {
                this.prefix = Vec::new();
                this.pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Prefixed {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Answers the upgrade request in `buf` (a complete head); `None` when it
/// was refused (the status has been sent) or the client left.
async fn upgrade(mut stream: NetStream, buf: Vec<u8>) -> Option<Prefixed> {
    let mut out = Vec::with_capacity(256);
    let head_len = match Request::parse(&buf) {
        Ok(Some(request)) => {
            request.accept().write(&mut out);
            request.head_len
        }
        Ok(None) => return None,
        Err(refusal) => {
            refusal.write_response(&mut out);
            let _ = stream.write_all(&out).await;
            return None;
        }
    };
    stream.write_all(&out).await.ok()?;
    Some(Prefixed {
        prefix: buf[head_len..].to_vec(),
        pos: 0,
        inner: stream,
    })
}

/// Serves `/echo` (no subscription) or `/push` (subscribed before the
/// upgrade is answered) with a stack other than ours.
pub(crate) async fn serve(
    imp: WsImpl,
    stream: NetStream,
    buf: Vec<u8>,
    sub: Option<Subscription<'_>>,
    ctx: &Ctx,
) {
    let Some(io) = upgrade(stream, buf).await else {
        return;
    };
    let shutdown = ctx.shutdown.clone();
    let max = usize::try_from(ctx.config.max_message_size).unwrap_or(usize::MAX);
    // These stacks write in place (no queue of ours): every write must
    // finish within the write deadline.
    let served = match (imp, sub) {
        (WsImpl::Own, _) => unreachable!("the own stack is served by routes"),
        (WsImpl::FastWebSockets, None) => fws_echo(io, max, shutdown, ctx).await,
        (WsImpl::FastWebSockets, Some(sub)) => fws_push(io, sub, shutdown, ctx).await,
        (WsImpl::TokioTungstenite, None) => tt_echo(io, max, shutdown, ctx).await,
        (WsImpl::TokioTungstenite, Some(sub)) => tt_push(io, sub, shutdown, ctx).await,
    };
    if let Err(Some(cut)) = served {
        ctx.cuts.count(cut);
    }
}

/// How a connection served by another stack ended: `Err(Some(cut))` when
/// the server cut it, `Err(None)` when the peer went away or failed.
type Served = Result<(), Option<Cut>>;

/// How a write that failed ends the connection: a cut resets it, so the
/// kernel drops what it still holds for this client too.
fn ended(io: &Prefixed, why: Option<Cut>) -> Served {
    if why.is_some() {
        let _ = io.inner.tcp().set_zero_linger();
    }
    Err(why)
}

/// `write`, within the write deadline (its errors: the peer's).
async fn within<T, E>(ctx: &Ctx, write: impl Future<Output = Result<T, E>>) -> Served {
    within_as(ctx, write, |_| None).await
}

/// `write`, within the write deadline; `cut` names the errors that are
/// the server's limits rather than the peer's.
async fn within_as<T, E>(
    ctx: &Ctx,
    write: impl Future<Output = Result<T, E>>,
    cut: fn(&E) -> Option<Cut>,
) -> Served {
    match tokio::time::timeout(ctx.config.write.deadline, write).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(cut(&e)),
        Err(_) => Err(Some(Cut::WriteTimeout)),
    }
}

fn fws_socket(io: Prefixed, max: usize) -> fastwebsockets::WebSocket<Prefixed> {
    let mut ws = fastwebsockets::WebSocket::after_handshake(io, fastwebsockets::Role::Server);
    ws.set_auto_close(true);
    ws.set_auto_pong(true);
    ws.set_max_message_size(max);
    ws
}

async fn fws_echo(
    io: Prefixed,
    max: usize,
    mut shutdown: watch::Receiver<bool>,
    ctx: &Ctx,
) -> Served {
    use fastwebsockets::{FragmentCollector, Frame, OpCode};
    let mut ws = FragmentCollector::new(fws_socket(io, max));
    loop {
        // fastwebsockets' reads are not cancel-safe: the shutdown branch
        // abandons the connection, so no later read sees a torn frame.
        let frame = tokio::select! {
            f = ws.read_frame() => f,
            () = shutting_down(&mut shutdown) => {
                return within(ctx, ws.write_frame(Frame::close(1001, b"server shutting down"))).await;
            }
        };
        let Ok(frame) = frame else {
            return Err(None);
        };
        let echo = match frame.opcode {
            OpCode::Close => return Ok(()),
            OpCode::Text | OpCode::Binary => true,
            _ => false,
        };
        if echo && let Err(why) = within(ctx, ws.write_frame(frame)).await {
            return ended(&ws.into_inner(), why);
        }
    }
}

/// Push with fastwebsockets: write-only (clients of `/push` send nothing
/// but their close, which a failed write reveals).
async fn fws_push(
    io: Prefixed,
    mut sub: Subscription<'_>,
    mut shutdown: watch::Receiver<bool>,
    ctx: &Ctx,
) -> Served {
    use fastwebsockets::{Frame, Payload};
    let mut ws = fws_socket(io, 1 << 20);
    loop {
        let batch = tokio::select! {
            batch = sub.next() => match batch {
                Some(b) => b,
                None => return Ok(()),
            },
            () = shutting_down(&mut shutdown) => {
                return within(ctx, ws.write_frame(Frame::close(1001, b"server shutting down"))).await;
            }
        };
        for m in batch {
            let frame = Frame::text(Payload::Borrowed(m.json.as_bytes()));
            if let Err(why) = within(ctx, ws.write_frame(frame)).await {
                return ended(&ws.into_inner(), why);
            }
        }
    }
}

async fn tt_socket(
    io: Prefixed,
    max: usize,
    ctx: &Ctx,
) -> tokio_tungstenite::WebSocketStream<Prefixed> {
    // tungstenite's own queue is held to the cap on queued bytes.
    let queue_max = ctx.config.write.queue_max.max(2);
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(max))
        .max_frame_size(Some(max))
        .write_buffer_size((128 << 10).min(queue_max / 2))
        .max_write_buffer_size(queue_max);
    tokio_tungstenite::WebSocketStream::from_raw_socket(
        io,
        tokio_tungstenite::tungstenite::protocol::Role::Server,
        Some(config),
    )
    .await
}

async fn tt_close(ws: &mut tokio_tungstenite::WebSocketStream<Prefixed>, ctx: &Ctx) -> Served {
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
    let frame = CloseFrame {
        code: CloseCode::Away,
        reason: "server shutting down".into(),
    };
    within(ctx, ws.close(Some(frame))).await
}

/// A tungstenite write error: the cap on its queue, or the peer.
fn tt_cut(e: &tokio_tungstenite::tungstenite::Error) -> Option<Cut> {
    matches!(e, tokio_tungstenite::tungstenite::Error::WriteBufferFull(_))
        .then_some(Cut::SendQueueFull)
}

async fn tt_echo(
    io: Prefixed,
    max: usize,
    mut shutdown: watch::Receiver<bool>,
    ctx: &Ctx,
) -> Served {
    let mut ws = tt_socket(io, max, ctx).await;
    loop {
        // A tungstenite stream keeps its state between polls: dropping
        // `next()` loses nothing.
        let message = tokio::select! {
            m = ws.next() => m,
            () = shutting_down(&mut shutdown) => return tt_close(&mut ws, ctx).await,
        };
        match message {
            Some(Ok(m)) if m.is_text() || m.is_binary() => {
                if let Err(why) = within_as(ctx, ws.send(m), tt_cut).await {
                    return ended(ws.get_ref(), why);
                }
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return Err(None),
        }
    }
}

async fn tt_push(
    io: Prefixed,
    mut sub: Subscription<'_>,
    mut shutdown: watch::Receiver<bool>,
    ctx: &Ctx,
) -> Served {
    use tokio_tungstenite::tungstenite::Message;
    let mut ws = tt_socket(io, 1 << 20, ctx).await;
    loop {
        let batch = tokio::select! {
            batch = sub.next() => match batch {
                Some(b) => b,
                None => return Ok(()),
            },
            m = ws.next() => match m {
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Err(None),
            },
            () = shutting_down(&mut shutdown) => return tt_close(&mut ws, ctx).await,
        };
        let sent = async {
            for m in batch {
                ws.feed(Message::text(m.json.as_str())).await?;
            }
            ws.flush().await
        };
        if let Err(why) = within_as(ctx, sent, tt_cut).await {
            return ended(ws.get_ref(), why);
        }
    }
}
