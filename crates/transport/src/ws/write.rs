//! The write side: frames queue in an outbox (synchronously, as the browser
//! API's `send` does) and a flush writes them to the socket.
//!
//! `bufferedAmount` counts payload bytes of queued data frames until the
//! socket has accepted them. Flushing is cancel-safe: progress is recorded
//! after every completed write, so a dropped flush resumes where it stopped.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncWrite, AsyncWriteExt};
use wsbench_codec::connection::{Connection, Expired, SendError};
use wsbench_codec::frame::RSV1;
use wsbench_codec::{CloseCode, EncodeError, FrameKind, OpCode, ReadyState, Role, ServerFrame};

use wsbench_protocol::clock::monotonic_ns;

use crate::deflate::Deflater;
use crate::error::Error;

/// A write buffer grown beyond this is released once it drains.
const WRITE_RETAIN: usize = 1024;

/// A stretch of queued bytes: its size on the wire, its payload's size on
/// the wire, and the application bytes it counts towards `bufferedAmount`
/// (a data frame; or control frames, which count for nothing).
#[derive(Clone, Copy, Debug)]
struct Queued {
    wire: usize,
    body: usize,
    app: usize,
}

/// The connection (state machine, codec, bytes to write) and what the
/// queued bytes count towards `bufferedAmount`, under one lock: a frame is
/// queued only in a state that allows it.
#[derive(Debug)]
struct Outbox {
    conn: Connection,
    deflater: Option<Deflater>,
    frames: VecDeque<Queued>,
    /// Bytes of the connection's queue that `frames` describes; the rest
    /// are control frames the connection queued by itself.
    described: usize,
}

impl Outbox {
    /// Describes the control frames the connection queued since the last
    /// call (pongs, close replies, keepalive pings).
    fn describe_control(&mut self) {
        let pending = self.conn.pending();
        if pending > self.described {
            self.frames.push_back(Queued {
                wire: pending - self.described,
                body: 0,
                app: 0,
            });
            self.described = pending;
        }
    }
}

fn send_error(e: SendError) -> Error {
    match e {
        SendError::NotOpen(state) => Error::NotOpen(state),
        SendError::Encode(e) => Error::Encode(e),
    }
}

#[derive(Debug)]
struct Sink<W> {
    io: W,
    inflight: Vec<u8>,
    pos: usize,
    frames: VecDeque<Queued>,
    /// Bytes of `frames[0]` already written.
    head_done: usize,
    shut: bool,
}

impl<W> Sink<W> {
    /// Records `n` more bytes written; returns the application bytes they
    /// complete: byte for byte for a plain payload, all at once when a
    /// compressed frame has gone out.
    fn account(&mut self, mut n: usize) -> usize {
        let mut app = 0;
        while n > 0 {
            let f = *self.frames.front().expect("written bytes belong to frames");
            let header = f.wire - f.body;
            let take = n.min(f.wire - self.head_done);
            let (from, to) = (self.head_done, self.head_done + take);
            if f.app == f.body {
                app += to.saturating_sub(from.max(header));
            } else if to == f.wire {
                app += f.app;
            }
            self.head_done = to;
            n -= take;
            if self.head_done == f.wire {
                self.frames.pop_front();
                self.head_done = 0;
            }
        }
        app
    }
}

/// What the reader and the writer of one connection share.
#[derive(Debug)]
pub(crate) struct Shared<W> {
    outbox: Mutex<Outbox>,
    buffered: AtomicUsize,
    sink: tokio::sync::Mutex<Sink<W>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves the outbox consistent (every
    // update is a single push), so poisoning is ignored.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<W: AsyncWrite + Unpin> Shared<W> {
    pub(crate) fn new(io: W, conn: Connection, deflater: Option<Deflater>) -> Shared<W> {
        Shared {
            outbox: Mutex::new(Outbox {
                conn,
                deflater,
                frames: VecDeque::new(),
                described: 0,
            }),
            buffered: AtomicUsize::new(0),
            sink: tokio::sync::Mutex::new(Sink {
                io,
                inflight: Vec::new(),
                pos: 0,
                frames: VecDeque::new(),
                head_done: 0,
                shut: false,
            }),
        }
    }

    /// `readyState`.
    pub(crate) fn ready_state(&self) -> ReadyState {
        lock(&self.outbox).conn.ready_state()
    }

    /// Runs `f` on the connection under the lock: the reader feeds it the
    /// bytes that arrived (replies it queues are written by the next flush).
    pub(crate) fn with_connection<T>(&self, f: impl FnOnce(&mut Connection) -> T) -> T {
        f(&mut lock(&self.outbox).conn)
    }

    /// Queues one data message or ping (the browser's `send`): only while
    /// open. A data message counts towards `bufferedAmount`.
    pub(crate) fn queue(&self, opcode: OpCode, payload: &[u8]) -> Result<(), Error> {
        let mut out = lock(&self.outbox);
        out.describe_control();
        out.conn.check_send().map_err(Error::NotOpen)?;
        let Outbox { conn, deflater, .. } = &mut *out;
        let mut kind = FrameKind::whole(opcode);
        let mut compressed = Vec::new();
        let body = match deflater {
            Some(d) if !opcode.is_control() && !payload.is_empty() => {
                crate::deflate::heavy(payload.len(), || d.compress(payload, &mut compressed));
                kind.rsv = RSV1;
                &compressed[..]
            }
            _ => payload,
        };
        let wire = conn.send(kind, body).map_err(send_error)?;
        let (body, app) = if opcode.is_control() {
            (0, 0)
        } else {
            (body.len(), payload.len())
        };
        out.frames.push_back(Queued { wire, body, app });
        out.described += wire;
        self.buffered.fetch_add(app, Ordering::AcqRel);
        Ok(())
    }

    /// Queues a frame encoded once for many connections (a server's
    /// broadcast), counted like [`Shared::queue`]'s; a connection that
    /// compresses frames its payload itself.
    pub(crate) fn queue_frame(&self, frame: &ServerFrame) -> Result<(), Error> {
        let mut out = lock(&self.outbox);
        if out.conn.role() == Role::Client {
            return Err(Error::Encode(EncodeError::ServerFrameFromClient));
        }
        if out.deflater.is_some() {
            drop(out);
            return self.queue(frame.opcode(), frame.payload());
        }
        out.describe_control();
        let wire = out.conn.send_frame(frame).map_err(send_error)?;
        let app = frame.payload().len();
        out.frames.push_back(Queued {
            wire,
            body: app,
            app,
        });
        out.described += wire;
        self.buffered.fetch_add(app, Ordering::AcqRel);
        Ok(())
    }

    /// Sends a frame encoded once for many connections: straight from
    /// `frame`'s bytes to the socket when nothing is queued or being
    /// written before it, without a copy or a queue; what the socket does
    /// not take then is queued for the next flush, counted towards
    /// `bufferedAmount` like [`Shared::queue_frame`]'s. Otherwise it is
    /// queued and what the socket takes now is written. `Ok(true)`: all of
    /// it is on the socket; `Ok(false)`: bytes are left for a flush.
    pub(crate) fn send_frame_now(&self, frame: &ServerFrame) -> Result<bool, Error> {
        match self.write_through(frame) {
            Some(r) => r,
            None => {
                self.queue_frame(frame)?;
                let flush = std::pin::pin!(self.flush());
                match flush.poll(&mut Context::from_waker(Waker::noop())) {
                    Poll::Ready(r) => r.map(|()| true).map_err(Error::Io),
                    Poll::Pending => Ok(false),
                }
            }
        }
    }

    /// [`Shared::send_frame_now`]'s direct path, `None` when it does not
    /// apply: the socket is held by a flush or has bytes in flight, frames
    /// are queued before this one, or the connection compresses. The sink
    /// is held throughout, so no flush can put bytes on the wire before
    /// these; a reply queued meanwhile goes out after them.
    fn write_through(&self, frame: &ServerFrame) -> Option<Result<bool, Error>> {
        let mut guard = self.sink.try_lock().ok()?;
        let sink = &mut *guard;
        if sink.shut || sink.pos != sink.inflight.len() {
            return None;
        }
        {
            let out = lock(&self.outbox);
            if out.conn.role() == Role::Client || out.deflater.is_some() || out.conn.pending() > 0 {
                return None;
            }
            if let Err(state) = out.conn.check_send() {
                return Some(Err(Error::NotOpen(state)));
            }
        }
        let bytes = frame.as_bytes();
        let mut cx = Context::from_waker(Waker::noop());
        let n = match Pin::new(&mut sink.io).poll_write(&mut cx, bytes) {
            Poll::Ready(Ok(n)) => n,
            Poll::Ready(Err(e)) => return Some(Err(Error::Io(e))),
            Poll::Pending => 0,
        };
        if n == bytes.len() {
            return Some(Ok(true));
        }
        let app = frame.payload().len();
        sink.inflight.clear();
        sink.inflight.extend_from_slice(&bytes[n..]);
        sink.pos = 0;
        sink.frames.push_back(Queued {
            wire: bytes.len(),
            body: app,
            app,
        });
        self.buffered.fetch_add(app, Ordering::AcqRel);
        let paid = sink.account(n);
        self.buffered.fetch_sub(paid, Ordering::AcqRel);
        Some(Ok(false))
    }

    /// The application closes: our close frame is queued unless one was.
    pub(crate) fn close(&self, code: CloseCode, reason: &str) -> Result<(), Error> {
        let mut out = lock(&self.outbox);
        out.conn
            .close(code, reason, monotonic_ns())
            .map_err(send_error)
    }

    /// The connection fails with `code`: its close frame is queued when it
    /// may be sent.
    pub(crate) fn fail(&self, code: CloseCode) {
        lock(&self.outbox).conn.fail(code);
    }

    /// The connection ended.
    pub(crate) fn closed(&self) {
        lock(&self.outbox).conn.closed();
    }

    /// When the reader must look at the deadlines next (CLOCK_MONOTONIC ns).
    pub(crate) fn next_timeout(&self) -> Option<u64> {
        lock(&self.outbox).conn.next_timeout()
    }

    /// A deadline may have passed; a keepalive ping is queued here.
    pub(crate) fn on_timeout(&self, now: u64) -> Option<Expired> {
        lock(&self.outbox).conn.on_timeout(now)
    }

    pub(crate) fn buffered_amount(&self) -> usize {
        self.buffered.load(Ordering::Acquire)
    }

    /// Writes everything queued so far to the socket.
    pub(crate) async fn flush(&self) -> io::Result<()> {
        let mut guard = self.sink.lock().await;
        let sink = &mut *guard;
        if sink.shut {
            return Ok(());
        }
        loop {
            if sink.pos == sink.inflight.len() {
                sink.inflight.clear();
                sink.pos = 0;
                if sink.inflight.capacity() > WRITE_RETAIN {
                    sink.inflight = Vec::new();
                }
                let mut out = lock(&self.outbox);
                if out.conn.pending() == 0 {
                    break;
                }
                out.describe_control();
                out.conn.take_outgoing(&mut sink.inflight);
                out.described = 0;
                let Outbox { frames, .. } = &mut *out;
                sink.frames.extend(frames.drain(..));
            }
            let n = sink.io.write(&sink.inflight[sink.pos..]).await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            sink.pos += n;
            let payload = sink.account(n);
            self.buffered.fetch_sub(payload, Ordering::AcqRel);
        }
        sink.io.flush().await
    }

    /// Flushes, then closes the write direction of the socket (TCP FIN).
    pub(crate) async fn shutdown(&self) -> io::Result<()> {
        self.flush().await?;
        let mut sink = self.sink.lock().await;
        if !sink.shut {
            sink.shut = true;
            sink.io.shutdown().await?;
        }
        Ok(())
    }

    /// Runs `f` on the socket's write half, unless a flush holds it now.
    pub(crate) fn try_with_io<T>(&self, f: impl FnOnce(&W) -> T) -> Option<T> {
        self.sink.try_lock().ok().map(|sink| f(&sink.io))
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        let out = lock(&self.outbox);
        let mut n = out.conn.heap_bytes() + out.frames.capacity() * size_of::<Queued>();
        if let Ok(sink) = self.sink.try_lock() {
            n += sink.inflight.capacity() + sink.frames.capacity() * size_of::<Queued>();
        }
        n
    }
}

impl WsWriter<crate::net::NetWriteHalf> {
    /// Makes dropping this connection reset it, discarding what the
    /// kernel has not sent (plain TCP; see
    /// [`crate::net::NetWriteHalf::set_zero_linger`]): for a peer cut for
    /// not reading, whose unsent bytes would otherwise stay queued in the
    /// kernel. `false` when it could not be set now.
    pub fn discard_unsent(&self) -> bool {
        matches!(
            self.shared.try_with_io(|io| io.set_zero_linger()),
            Some(Ok(()))
        )
    }
}

/// A random `u64` from the OS (mask key seed).
pub(crate) fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    // The OS generator failing is not recoverable for a client that must
    // mask unpredictably.
    getrandom::fill(&mut b).expect("the OS random number generator failed");
    u64::from_le_bytes(b)
}

/// The sending half of a connection: the browser API's `send`, `close`,
/// `readyState` and `bufferedAmount`. A clone is another handle on the same
/// connection (a broadcaster queues through one while the connection's own
/// task holds the other).
#[derive(Debug)]
pub struct WsWriter<W> {
    shared: Arc<Shared<W>>,
}

impl<W> Clone for WsWriter<W> {
    fn clone(&self) -> WsWriter<W> {
        WsWriter {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<W: AsyncWrite + Unpin> WsWriter<W> {
    pub(crate) fn new(shared: Arc<Shared<W>>) -> WsWriter<W> {
        WsWriter { shared }
    }

    /// `readyState`.
    pub fn ready_state(&self) -> ReadyState {
        self.shared.ready_state()
    }

    /// `bufferedAmount`: payload bytes accepted by `send`/`queue` and not
    /// yet written to the socket.
    pub fn buffered_amount(&self) -> usize {
        self.shared.buffered_amount()
    }

    /// Queues a text message without writing it (the browser's `send`,
    /// which never blocks); [`WsWriter::flush`] writes the queue.
    pub fn queue_text(&self, text: &str) -> Result<(), Error> {
        self.shared.queue(OpCode::Text, text.as_bytes())
    }

    /// Queues a binary message without writing it.
    pub fn queue_binary(&self, data: &[u8]) -> Result<(), Error> {
        self.shared.queue(OpCode::Binary, data)
    }

    /// Queues a message framed once for many connections (a server's
    /// broadcast: the same bytes for every client) without writing it; a
    /// connection with permessage-deflate compresses the payload itself. A
    /// client connection refuses it ([`Error::Encode`]): a client masks
    /// each frame with its own key.
    pub fn queue_frame(&self, frame: &ServerFrame) -> Result<(), Error> {
        self.shared.queue_frame(frame)
    }

    /// Sends a message framed once for many connections (see
    /// [`WsWriter::queue_frame`]) now: straight from `frame` to the socket
    /// when nothing is queued before it, else queued and written as far
    /// as the socket takes it. Never waits. `Ok(false)`: bytes are left
    /// for [`WsWriter::flush`].
    pub fn send_frame_now(&self, frame: &ServerFrame) -> Result<bool, Error> {
        self.shared.send_frame_now(frame)
    }

    /// Writes everything queued to the socket.
    pub async fn flush(&self) -> Result<(), Error> {
        Ok(self.shared.flush().await?)
    }

    /// Sends a text message: queue, then flush.
    pub async fn send_text(&self, text: &str) -> Result<(), Error> {
        self.queue_text(text)?;
        self.flush().await
    }

    /// Sends a binary message: queue, then flush.
    pub async fn send_binary(&self, data: &[u8]) -> Result<(), Error> {
        self.queue_binary(data)?;
        self.flush().await
    }

    /// Sends a ping (up to 125 bytes); the answer arrives as
    /// [`crate::Event::Pong`].
    pub async fn ping(&self, payload: &[u8]) -> Result<(), Error> {
        self.shared.queue(OpCode::Ping, payload)?;
        self.flush().await
    }

    /// Starts the closing handshake with `code` and `reason` (at most 123
    /// bytes). Browsers allow only 1000 and 3000–4999 here; this accepts
    /// every code valid on the wire, since servers and tests need the rest.
    /// The reader reports the close event when the peer answers, or after
    /// the close timeout with `was_clean == false`.
    pub async fn close(&self, code: u16, reason: &str) -> Result<(), Error> {
        self.shared.close(CloseCode::new(code), reason)?;
        self.flush().await
    }

    /// Bytes of heap memory held by the write buffers.
    pub fn heap_bytes(&self) -> usize {
        self.shared.heap_bytes()
    }
}

#[cfg(test)]
mod tests;
