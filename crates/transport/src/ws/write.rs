//! The write side: frames queue in an outbox (synchronously, as the browser
//! API's `send` does) and a flush writes them to the socket.
//!
//! `bufferedAmount` counts payload bytes of queued data frames until the
//! socket has accepted them. Flushing is cancel-safe: progress is recorded
//! after every completed write, so a dropped flush resumes where it stopped.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;
use wsbench_codec::encode::NoMasking;
use wsbench_codec::frame::RSV1;
use wsbench_codec::{CloseCode, Encoder, FastMaskKeys, FrameKind, OpCode, Role};

use super::State;
use crate::deflate::Deflater;
use crate::error::Error;
use wsbench_codec::ReadyState;

/// A write buffer grown beyond this is released once it drains.
const WRITE_RETAIN: usize = 1024;

#[derive(Debug)]
enum AnyEncoder {
    Client(Encoder<FastMaskKeys>),
    Server(Encoder<NoMasking>),
}

/// One queued frame: its size on the wire, its payload's size on the wire,
/// and the application bytes it counts towards `bufferedAmount`.
#[derive(Clone, Copy, Debug)]
struct Queued {
    wire: usize,
    body: usize,
    app: usize,
}

#[derive(Debug)]
struct Outbox {
    encoder: AnyEncoder,
    deflater: Option<Deflater>,
    buf: Vec<u8>,
    frames: VecDeque<Queued>,
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
    pub(crate) state: State,
    pub(crate) role: Role,
    outbox: Mutex<Outbox>,
    /// Our close frame is queued; nothing may follow it.
    close_queued: AtomicBool,
    buffered: AtomicUsize,
    sink: tokio::sync::Mutex<Sink<W>>,
    close_deadline: Mutex<Option<Instant>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves the outbox consistent (every
    // update is a single push), so poisoning is ignored.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<W: AsyncWrite + Unpin> Shared<W> {
    pub(crate) fn new(role: Role, io: W, state: State, deflater: Option<Deflater>) -> Shared<W> {
        let encoder = match role {
            Role::Client => AnyEncoder::Client(Encoder::client(FastMaskKeys::new(random_u64()))),
            Role::Server => AnyEncoder::Server(Encoder::server()),
        };
        Shared {
            state,
            role,
            outbox: Mutex::new(Outbox {
                encoder,
                deflater,
                buf: Vec::new(),
                frames: VecDeque::new(),
            }),
            close_queued: AtomicBool::new(false),
            buffered: AtomicUsize::new(0),
            sink: tokio::sync::Mutex::new(Sink {
                io,
                inflight: Vec::new(),
                pos: 0,
                frames: VecDeque::new(),
                head_done: 0,
                shut: false,
            }),
            close_deadline: Mutex::new(None),
        }
    }

    /// Queues one whole frame. Data frames count towards `bufferedAmount`.
    pub(crate) fn queue(&self, opcode: OpCode, payload: &[u8]) -> Result<(), Error> {
        let mut out = lock(&self.outbox);
        if self.close_queued.load(Ordering::Acquire) {
            return Err(Error::NotOpen(self.state.get()));
        }
        let before = out.buf.len();
        let Outbox {
            encoder,
            deflater,
            buf,
            ..
        } = &mut *out;
        let mut kind = FrameKind::whole(opcode);
        let mut compressed = Vec::new();
        let body = match deflater {
            Some(d) if !opcode.is_control() && !payload.is_empty() => {
                d.compress(payload, &mut compressed);
                kind.rsv = RSV1;
                &compressed[..]
            }
            _ => payload,
        };
        match encoder {
            AnyEncoder::Client(e) => e.encode_to_vec(buf, kind, body)?,
            AnyEncoder::Server(e) => e.encode_to_vec(buf, kind, body)?,
        }
        let body = body.len();
        let app = if opcode.is_control() {
            0
        } else {
            payload.len()
        };
        let wire = out.buf.len() - before;
        out.frames.push_back(Queued {
            wire,
            body: if opcode.is_control() { 0 } else { body },
            app,
        });
        self.buffered.fetch_add(app, Ordering::AcqRel);
        Ok(())
    }

    /// Queues the close frame unless one was queued before; returns whether
    /// this call queued it. `None`: a close frame without a body.
    pub(crate) fn queue_close(&self, close: Option<(CloseCode, &str)>) -> Result<bool, Error> {
        let mut out = lock(&self.outbox);
        if self.close_queued.load(Ordering::Acquire) {
            return Ok(false);
        }
        let before = out.buf.len();
        let Outbox { encoder, buf, .. } = &mut *out;
        let kind = FrameKind::whole(OpCode::Close);
        match (encoder, close) {
            (AnyEncoder::Client(e), Some((code, reason))) => e.encode_close(buf, code, reason)?,
            (AnyEncoder::Server(e), Some((code, reason))) => e.encode_close(buf, code, reason)?,
            (AnyEncoder::Client(e), None) => e.encode_to_vec(buf, kind, &[])?,
            (AnyEncoder::Server(e), None) => e.encode_to_vec(buf, kind, &[])?,
        }
        let wire = out.buf.len() - before;
        out.frames.push_back(Queued {
            wire,
            body: 0,
            app: 0,
        });
        // Set under the outbox lock, so no frame is queued after it.
        self.close_queued.store(true, Ordering::Release);
        Ok(true)
    }

    /// Whether our close frame is queued (the reader asks per message, so
    /// this is an atomic rather than the outbox lock).
    pub(crate) fn close_sent(&self) -> bool {
        self.close_queued.load(Ordering::Acquire)
    }

    pub(crate) fn buffered_amount(&self) -> usize {
        self.buffered.load(Ordering::Acquire)
    }

    pub(crate) fn set_close_deadline(&self, after: Duration) {
        let mut d = lock(&self.close_deadline);
        if d.is_none() {
            *d = Some(Instant::now() + after);
        }
    }

    pub(crate) fn close_deadline(&self) -> Option<Instant> {
        *lock(&self.close_deadline)
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
                if out.buf.is_empty() {
                    break;
                }
                std::mem::swap(&mut sink.inflight, &mut out.buf);
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

    pub(crate) fn heap_bytes(&self) -> usize {
        let out = lock(&self.outbox);
        let mut n = out.buf.capacity() + out.frames.capacity() * size_of::<Queued>();
        if let Ok(sink) = self.sink.try_lock() {
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

/// The sending half of a connection: the browser API's `send`, `close`,
/// `readyState` and `bufferedAmount`.
#[derive(Debug)]
pub struct WsWriter<W> {
    shared: Arc<Shared<W>>,
    close_timeout: Duration,
}

impl<W: AsyncWrite + Unpin> WsWriter<W> {
    pub(crate) fn new(shared: Arc<Shared<W>>, close_timeout: Duration) -> WsWriter<W> {
        WsWriter {
            shared,
            close_timeout,
        }
    }

    /// `readyState`.
    pub fn ready_state(&self) -> ReadyState {
        self.shared.state.get()
    }

    /// `bufferedAmount`: payload bytes accepted by `send`/`queue` and not
    /// yet written to the socket.
    pub fn buffered_amount(&self) -> usize {
        self.shared.buffered_amount()
    }

    fn check_open(&self) -> Result<(), Error> {
        match self.ready_state() {
            ReadyState::Open => Ok(()),
            s => Err(Error::NotOpen(s)),
        }
    }

    /// Queues a text message without writing it (the browser's `send`,
    /// which never blocks); [`WsWriter::flush`] writes the queue.
    pub fn queue_text(&self, text: &str) -> Result<(), Error> {
        self.check_open()?;
        self.shared.queue(OpCode::Text, text.as_bytes())
    }

    /// Queues a binary message without writing it.
    pub fn queue_binary(&self, data: &[u8]) -> Result<(), Error> {
        self.check_open()?;
        self.shared.queue(OpCode::Binary, data)
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
        self.check_open()?;
        self.shared.queue(OpCode::Ping, payload)?;
        self.flush().await
    }

    /// Starts the closing handshake with `code` and `reason` (at most 123
    /// bytes). Browsers allow only 1000 and 3000–4999 here; this accepts
    /// every code valid on the wire, since servers and tests need the rest.
    /// The reader reports the close event when the peer answers, or after
    /// the close timeout with `was_clean == false`.
    pub async fn close(&self, code: u16, reason: &str) -> Result<(), Error> {
        let code = CloseCode::new(code);
        if !code.is_valid_on_wire() {
            return Err(Error::Encode(wsbench_codec::EncodeError::Close(
                wsbench_codec::close::CloseBodyError::InvalidCode(code.as_u16()),
            )));
        }
        if self.ready_state() == ReadyState::Closed {
            return Err(Error::NotOpen(ReadyState::Closed));
        }
        // The deadline is set first so the reader never sees our close
        // frame queued without it.
        self.shared.set_close_deadline(self.close_timeout);
        if self.shared.queue_close(Some((code, reason)))? {
            self.shared.state.begin_closing();
        }
        self.flush().await
    }

    /// Bytes of heap memory held by the write buffers.
    pub fn heap_bytes(&self) -> usize {
        self.shared.heap_bytes()
    }
}
