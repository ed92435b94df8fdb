//! The write side: frames queue in an outbox (synchronously, as the browser
//! API's `send` does) and a flush writes them to the socket. A message sent
//! when nothing waits before it skips the queue: it is written to the
//! socket at once, and only what the socket does not take is left for the
//! flush.
//!
//! `bufferedAmount` counts payload bytes of queued data frames until the
//! socket has accepted them. Flushing is cancel-safe: progress is recorded
//! after every completed write, so a dropped flush resumes where it stopped.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use futures_util::lock::{Mutex as AsyncMutex, MutexGuard as AsyncMutexGuard};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use wsbench_codec::connection::{Connection, Expired, SendError};
use wsbench_codec::frame::RSV1;
use wsbench_codec::{CloseCode, EncodeError, FrameKind, OpCode, ReadyState, Role, ServerFrame};

use wsbench_protocol::clock::monotonic_ns;

use crate::deflate::Deflater;
use crate::error::Error;

mod sink;
use sink::{Queued, Sink, write_now};

/// A write buffer grown beyond this is released once it drains.
const WRITE_RETAIN: usize = 1024;

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

/// What the reader and the writer of one connection share.
#[derive(Debug)]
pub(crate) struct Shared<W> {
    outbox: Mutex<Outbox>,
    buffered: AtomicUsize,
    /// The connection's next deadline (CLOCK_MONOTONIC ns, `NO_DEADLINE`
    /// for none), stored by every call that may move it, under the
    /// outbox's lock: the reader arms its timer on every poll of a read
    /// and reads this without the lock.
    deadline: AtomicU64,
    /// An async lock (a flush holds it across its writes), taken and
    /// released with one atomic operation each when free.
    sink: AsyncMutex<Sink<W>>,
}

const NO_DEADLINE: u64 = u64::MAX;

/// The sink and the outbox of a direct write, both locked.
type Direct<'a, W> = (AsyncMutexGuard<'a, Sink<W>>, MutexGuard<'a, Outbox>);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves the outbox consistent (every
    // update is a single push), so poisoning is ignored.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<W: AsyncWrite + Unpin> Shared<W> {
    pub(crate) fn new(io: W, conn: Connection, deflater: Option<Deflater>) -> Shared<W> {
        Shared {
            deadline: AtomicU64::new(conn.next_timeout().unwrap_or(NO_DEADLINE)),
            outbox: Mutex::new(Outbox {
                conn,
                deflater,
                frames: VecDeque::new(),
                described: 0,
            }),
            buffered: AtomicUsize::new(0),
            sink: AsyncMutex::new(Sink::new(io)),
        }
    }

    /// `readyState`.
    pub(crate) fn ready_state(&self) -> ReadyState {
        lock(&self.outbox).conn.ready_state()
    }

    /// Runs `f` on the connection under the lock: the reader feeds it the
    /// bytes that arrived (replies it queues are written by the next flush).
    pub(crate) fn with_connection<T>(&self, f: impl FnOnce(&mut Connection) -> T) -> T {
        self.update(|out| f(&mut out.conn))
    }

    /// Runs `f` on the outbox under the lock, for a change that may move
    /// the connection's deadlines; then stores the next one for the reader.
    fn update<T>(&self, f: impl FnOnce(&mut Outbox) -> T) -> T {
        let mut out = lock(&self.outbox);
        let r = f(&mut out);
        let at = out.conn.next_timeout().unwrap_or(NO_DEADLINE);
        self.deadline.store(at, Ordering::Release);
        r
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
        out.frames.push_back(Queued::plain(wire, app));
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
        let Some(direct) = self.direct(true) else {
            return self.write_queued(self.queue_frame(frame));
        };
        let (mut sink, out) = direct?;
        drop(out);
        let sink = &mut *sink;
        let bytes = frame.as_bytes();
        let n = write_now(&mut sink.io, bytes).map_err(Error::Io)?;
        if n == bytes.len() {
            return Ok(true);
        }
        sink.inflight.clear();
        sink.inflight.extend_from_slice(&bytes[n..]);
        sink.pos = 0;
        let left = sink.left(Queued::plain(bytes.len(), frame.payload().len()), n);
        self.buffered.fetch_add(left, Ordering::AcqRel);
        Ok(false)
    }

    /// Sends a data message (the browser's `send`, written at once):
    /// framed straight into the write buffer and written when nothing is
    /// queued or being written before it; what the socket does not take
    /// then is left for the next flush, counted towards `bufferedAmount`.
    /// Otherwise it is queued like [`Shared::queue`]'s and what the socket
    /// takes now is written. `Ok(true)`: all of it is on the socket;
    /// `Ok(false)`: bytes are left for a flush.
    pub(crate) fn send_now(&self, opcode: OpCode, payload: &[u8]) -> Result<bool, Error> {
        let direct = if opcode.is_control() {
            None
        } else {
            self.direct(false)
        };
        let Some(direct) = direct else {
            return self.write_queued(self.queue(opcode, payload));
        };
        let (mut sink, mut out) = direct?;
        let sink = &mut *sink;
        let wire = out
            .conn
            .send(FrameKind::whole(opcode), payload)
            .map_err(send_error)?;
        out.conn.take_outgoing(&mut sink.inflight);
        drop(out);
        let n = match write_now(&mut sink.io, &sink.inflight) {
            Ok(n) => n,
            Err(e) => {
                // The socket failed: the message is not sent.
                sink.inflight.clear();
                return Err(Error::Io(e));
            }
        };
        if n < wire {
            sink.pos = n;
            let left = sink.left(Queued::plain(wire, payload.len()), n);
            self.buffered.fetch_add(left, Ordering::AcqRel);
            return Ok(false);
        }
        sink.inflight.clear();
        if sink.inflight.capacity() > WRITE_RETAIN {
            sink.inflight = Vec::new();
        }
        Ok(true)
    }

    /// The sink and the outbox, both locked, when a frame may go straight
    /// to the socket: no flush holds the socket, no bytes are in flight or
    /// queued, the connection does not compress, and it is a server's if
    /// `server_only` (a frame encoded once, unmasked). `None` when the
    /// direct path does not apply; an error when the connection may not
    /// send. The sink stays held until the write, so no flush can put
    /// bytes on the wire before these; a reply queued meanwhile goes out
    /// after them.
    fn direct(&self, server_only: bool) -> Option<Result<Direct<'_, W>, Error>> {
        let sink = self.sink.try_lock()?;
        if !sink.idle() {
            return None;
        }
        let out = lock(&self.outbox);
        let role_ok = !server_only || out.conn.role() == Role::Server;
        if !role_ok || out.deflater.is_some() || out.conn.pending() > 0 {
            return None;
        }
        if let Err(state) = out.conn.check_send() {
            return Some(Err(Error::NotOpen(state)));
        }
        Some(Ok((sink, out)))
    }

    /// After queuing for a send that could not go straight to the socket:
    /// what the socket takes now is written (one poll of the flush, the
    /// no-op waker: the caller's flush waits for the rest).
    fn write_queued(&self, queued: Result<(), Error>) -> Result<bool, Error> {
        queued?;
        let flush = std::pin::pin!(self.flush());
        match flush.poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(r) => r.map(|()| true).map_err(Error::Io),
            Poll::Pending => Ok(false),
        }
    }

    /// The application closes: our close frame is queued unless one was.
    pub(crate) fn close(&self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.update(|out| out.conn.close(code, reason, monotonic_ns()))
            .map_err(send_error)
    }

    /// The connection fails with `code`: its close frame is queued when it
    /// may be sent.
    pub(crate) fn fail(&self, code: CloseCode) {
        self.update(|out| out.conn.fail(code));
    }

    /// The connection ended.
    pub(crate) fn closed(&self) {
        self.update(|out| out.conn.closed());
    }

    /// When the reader must look at the deadlines next (CLOCK_MONOTONIC ns).
    pub(crate) fn next_timeout(&self) -> Option<u64> {
        let at = self.deadline.load(Ordering::Acquire);
        (at != NO_DEADLINE).then_some(at)
    }

    /// A deadline may have passed; a keepalive ping is queued here.
    pub(crate) fn on_timeout(&self, now: u64) -> Option<Expired> {
        self.update(|out| out.conn.on_timeout(now))
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
        self.sink.try_lock().map(|sink| f(&sink.io))
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        let out = lock(&self.outbox);
        let mut n = out.conn.heap_bytes() + out.frames.capacity() * size_of::<Queued>();
        if let Some(sink) = self.sink.try_lock() {
            n += sink.inflight.capacity() + sink.frames.capacity() * size_of::<Queued>();
        }
        n
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

#[cfg(test)]
mod tests;
