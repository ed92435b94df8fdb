//! The read side: bytes from the socket through the codec's decoder into
//! browser-style events, answering pings and close frames on the way.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker, ready};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::time::timeout;
use wsbench_codec::connection::{AfterClose, Expired, Incoming, PeerClosed};
use wsbench_codec::{CloseEvent, Message, ProtocolError, ReadyState};

use wsbench_protocol::clock::monotonic_ns;

use super::event::{Data, Event};
use super::write::Shared;
use crate::config::{Config, INFLATE_RATIO_FLOOR};
use crate::deflate::{InflateError, Inflater, heavy};
use crate::error::Error;
use crate::net::ReadReady;

/// The parts of [`Config`] the reader uses (every idle connection holds
/// them, so not the whole configuration).
#[derive(Clone, Copy, Debug)]
struct Limits {
    max_message_size: u64,
    read_buffer_initial: usize,
    read_buffer_max: usize,
    max_inflate_ratio: u32,
}

/// The receiving half of a connection.
#[derive(Debug)]
pub struct WsReader<R, W> {
    io: R,
    shared: Arc<Shared<W>>,
    config: Limits,
    /// Read buffer; bytes `start..end` are not decoded yet.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The last read filled the whole buffer: grow before the next.
    last_read_filled: bool,
    /// A pong, ping or close reply is queued and must be written.
    needs_flush: bool,
    /// The close event to report after an error event.
    /// (Boxed: rare, and every idle connection's reader carries the slot.)
    pending_close: Option<Box<CloseEvent>>,
    /// permessage-deflate, when negotiated.
    inflater: Option<Inflater>,
    /// CLOCK_MONOTONIC ns right after the last socket read that returned
    /// bytes: a message decoded from the buffer was completed by it.
    read_ns: u64,
    done: bool,
    /// The connection's deadlines (keepalive, close), armed lazily: only
    /// when none is armed, when one fired, or when an earlier one is due.
    /// A deadline that moved later (bytes arrived) is found out when the
    /// timer fires, not re-armed on every read. (Boxed: a sleep is large.)
    timer: Option<Timer>,
}

#[derive(Debug)]
struct Timer {
    sleep: Pin<Box<tokio::time::Sleep>>,
    /// The deadline armed, CLOCK_MONOTONIC ns.
    at: u64,
}

impl Timer {
    fn instant(at: u64) -> tokio::time::Instant {
        tokio::time::Instant::now() + Duration::from_nanos(at.saturating_sub(monotonic_ns()))
    }
}

/// What one decoded message asks of the reader.
enum Step {
    Event(Event),
    Continue,
    /// A compressed message to inflate.
    Inflate(bool, Vec<u8>),
    PeerClose(PeerClosed),
    Fail(Error),
}

impl<R, W> WsReader<R, W>
where
    R: ReadReady,
    W: AsyncWrite + Unpin,
{
    pub(crate) fn new(
        io: R,
        shared: Arc<Shared<W>>,
        config: Config,
        leftover: &[u8],
        inflater: Option<Inflater>,
    ) -> WsReader<R, W> {
        let mut buf = leftover.to_vec();
        let end = buf.len();
        if buf.len() < config.read_buffer_initial {
            buf.resize(config.read_buffer_initial, 0);
        }
        WsReader {
            io,
            shared,
            config: Limits {
                max_message_size: config.max_message_size,
                read_buffer_initial: config.read_buffer_initial,
                read_buffer_max: config.read_buffer_max,
                max_inflate_ratio: config.max_inflate_ratio,
            },
            buf,
            start: 0,
            end,
            last_read_filled: false,
            needs_flush: false,
            pending_close: None,
            inflater,
            read_ns: if leftover.is_empty() {
                0
            } else {
                wsbench_protocol::clock::monotonic_ns()
            },
            done: false,
            timer: None,
        }
    }

    /// When the socket read that completed the message [`Self::next_event`]
    /// returned last happened: CLOCK_MONOTONIC ns, read right after that
    /// read and before any decoding (0 before the first read; the
    /// handshake's leftover bytes count as read at the handshake).
    pub fn last_read_ns(&self) -> u64 {
        self.read_ns
    }

    /// `readyState`.
    pub fn ready_state(&self) -> ReadyState {
        self.shared.ready_state()
    }

    /// Bytes of heap memory held by the read buffer (the decoder's count
    /// with the writer's, in the shared connection).
    pub fn heap_bytes(&self) -> usize {
        self.buf.capacity()
    }

    /// The next event; `None` once [`Event::Close`] has been returned.
    ///
    /// Cancel-safe: every byte read is kept in the reader before the next
    /// await, and replies (pong, close) are queued before they are written.
    pub async fn next_event(&mut self) -> Option<Event> {
        if self.done {
            return None;
        }
        if let Some(close) = self.pending_close.take() {
            return Some(self.finish(*close));
        }
        loop {
            if self.needs_flush {
                if let Err(e) = Box::pin(self.shared.flush()).await {
                    return Some(Box::pin(self.fail(Error::Io(e))).await);
                }
                self.needs_flush = false;
            }
            if self.start < self.end {
                match self.decode_step() {
                    Step::Continue => continue,
                    Step::Event(ev) => return Some(ev),
                    Step::Fail(e) => return Some(Box::pin(self.fail(e)).await),
                    Step::PeerClose(close) => return Some(Box::pin(self.peer_closed(close)).await),
                    // decode_step inflates before it returns.
                    Step::Inflate(..) => continue,
                }
            }
            match self.read_more().await {
                Ok(Some(0)) => {
                    self.shared.closed();
                    return Some(self.finish(CloseEvent::abnormal()));
                }
                Ok(_) => {}
                Err(ReadError::Io(e)) => return Some(Box::pin(self.fail(Error::Io(e))).await),
                Err(ReadError::CloseTimeout) => {
                    let _ = Box::pin(self.shared.shutdown()).await;
                    self.shared.closed();
                    return Some(self.finish(CloseEvent::abnormal()));
                }
                Err(ReadError::KeepaliveTimeout) => {
                    let timeout = Error::Timeout("keepalive: no answer to a ping");
                    return Some(Box::pin(self.fail(timeout)).await);
                }
            }
        }
    }

    fn finish(&mut self, close: CloseEvent) -> Event {
        self.done = true;
        self.buf = Vec::new();
        self.start = 0;
        self.end = 0;
        Event::Close(close)
    }

    /// Feeds the buffer to the connection, which decodes the next message
    /// and queues what it answers; the message comes out owned.
    fn decode_step(&mut self) -> Step {
        let input = &mut self.buf[self.start..self.end];
        let now = self.read_ns;
        let needs_flush = &mut self.needs_flush;
        let (n, step) = self.shared.with_connection(|conn| {
            let (n, incoming) = match conn.receive(input, now) {
                Ok(r) => r,
                Err(e) => return (0, Step::Fail(Error::Protocol(e))),
            };
            let step = match incoming {
                // Everything consumed (partial data waits in the decoder).
                None => Step::Continue,
                Some(Incoming::Dropped) => Step::Continue,
                Some(Incoming::PingAnswered) => {
                    *needs_flush = true;
                    Step::Continue
                }
                Some(Incoming::PeerClosed(pc)) => Step::PeerClose(pc),
                Some(Incoming::Message(message)) => match message {
                    Message::Text(t) => Step::Event(Event::Message(Data::Text(t.to_owned()))),
                    Message::Binary(b) => Step::Event(Event::Message(Data::Binary(b.to_vec()))),
                    Message::Pong(p) => Step::Event(Event::Pong(p.to_vec())),
                    Message::Compressed { text, payload } => Step::Inflate(text, payload.to_vec()),
                    // The connection never delivers these.
                    Message::Ping(_) | Message::Close(_) => Step::Continue,
                },
            };
            (n, step)
        });
        match step {
            Step::Fail(_) => step,
            Step::Inflate(text, payload) => {
                self.consume(n);
                self.inflate(text, &payload)
            }
            _ => {
                self.consume(n);
                step
            }
        }
    }

    /// `n` bytes of the buffer were decoded.
    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start >= self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Decompresses a permessage-deflate message: up to the message size
    /// limit, and up to the ratio limit past its floor.
    fn inflate(&mut self, text: bool, payload: &[u8]) -> Step {
        let limit = self.config.max_message_size;
        let ratio = self.config.max_inflate_ratio;
        let Some(inflater) = self.inflater.as_mut() else {
            // The decoder accepts RSV1 only when the extension was agreed.
            return Step::Fail(Error::Protocol(ProtocolError::ReservedBits { bits: 0b100 }));
        };
        let max = usize::try_from(limit).unwrap_or(usize::MAX);
        let by_ratio = match ratio {
            0 => usize::MAX,
            r => payload
                .len()
                .saturating_mul(r as usize)
                .max(INFLATE_RATIO_FLOOR),
        };
        let inflated = heavy(payload.len(), || {
            inflater.decompress(payload, max.min(by_ratio))
        });
        match inflated {
            Ok(bytes) if text => match String::from_utf8(bytes) {
                Ok(t) => Step::Event(Event::Message(Data::Text(t))),
                Err(_) => Step::Fail(Error::InvalidUtf8),
            },
            Ok(bytes) => Step::Event(Event::Message(Data::Binary(bytes))),
            Err(InflateError::Corrupt) => Step::Fail(Error::InvalidCompressedData),
            Err(InflateError::TooLarge) if by_ratio < max => {
                Step::Fail(Error::CompressionRatio { ratio })
            }
            Err(InflateError::TooLarge) => Step::Fail(Error::MessageTooLarge { limit }),
        }
    }

    /// The peer's close frame arrived (its answer is queued): write it,
    /// then end the connection the way RFC 6455 §7.1.1 assigns: the server
    /// closes TCP first, the client waits for that.
    async fn peer_closed(&mut self, closed: PeerClosed) -> Event {
        let mut close = closed.event;
        let written = self.shared.flush().await;
        match closed.then {
            AfterClose::Shutdown => {
                let _ = self.shared.shutdown().await;
            }
            AfterClose::AwaitEof(wait) => {
                let drained = timeout(wait, self.drain_to_eof()).await;
                let _ = self.shared.shutdown().await;
                if !matches!(drained, Ok(Ok(()))) {
                    close.was_clean = false;
                }
            }
        }
        if written.is_err() {
            close.was_clean = false;
        }
        self.shared.closed();
        self.finish(close)
    }

    async fn drain_to_eof(&mut self) -> io::Result<()> {
        let mut scratch = [0u8; 256];
        while self.io.read(&mut scratch).await? != 0 {}
        Ok(())
    }

    /// Fails the connection: our close frame with the error's code (for a
    /// protocol error), TCP closed, an error event now and a close event
    /// (1006) next.
    async fn fail(&mut self, error: Error) -> Event {
        self.shared.fail(error.close_code());
        let _ = self.shared.shutdown().await;
        self.pending_close = Some(Box::new(CloseEvent::abnormal()));
        Event::Error(error)
    }

    /// Reads into the (empty) buffer: `Some(n)` bytes (0 at EOF), or `None`
    /// when the keepalive interval passed and a ping was queued instead.
    async fn read_more(&mut self) -> Result<Option<usize>, ReadError> {
        debug_assert!(
            self.start == 0 && self.end == 0,
            "reads start on an empty buffer"
        );
        let initial = self.config.read_buffer_initial.max(64);
        if !self.last_read_filled && !self.readable_now() {
            // Nothing to read yet: give the buffer back while waiting, so an
            // idle connection holds none.
            self.buf = Vec::new();
        }
        if self.last_read_filled && self.buf.len() < self.config.read_buffer_max {
            let grown = (self.buf.len() * 2).clamp(initial, self.config.read_buffer_max);
            self.buf.resize(grown, 0);
        } else if !self.last_read_filled && self.buf.len() > initial {
            // The burst is over: give the memory back.
            self.buf = vec![0; initial];
        }
        let deadline = self.shared.next_timeout();
        let timer = match deadline {
            Some(at) => {
                let t = self.timer.get_or_insert_with(|| Timer {
                    sleep: Box::pin(tokio::time::sleep_until(Timer::instant(at))),
                    at,
                });
                if at < t.at || t.sleep.is_elapsed() {
                    t.sleep.as_mut().reset(Timer::instant(at));
                    t.at = at;
                }
                Some(t.sleep.as_mut())
            }
            None => None,
        };
        let (io, buf) = (&mut self.io, &mut self.buf);
        // An empty buffer waits for readiness first and is filled after;
        // the armed deadline, if any, is polled alongside.
        let mut timer = timer;
        let read = std::future::poll_fn(move |cx| {
            if buf.is_empty() {
                match io.poll_read_ready(cx) {
                    Poll::Ready(r) => r?,
                    Poll::Pending => {
                        if let Some(t) = timer.as_mut() {
                            ready!(t.as_mut().poll(cx));
                            return Poll::Ready(Ok(None));
                        }
                        return Poll::Pending;
                    }
                }
                buf.resize(initial, 0);
            }
            let mut into = ReadBuf::new(&mut buf[..]);
            match Pin::new(&mut *io).poll_read(cx, &mut into) {
                Poll::Ready(r) => {
                    r?;
                    Poll::Ready(Ok::<_, io::Error>(Some(into.filled().len())))
                }
                Poll::Pending => {
                    if let Some(t) = timer.as_mut() {
                        ready!(t.as_mut().poll(cx));
                        return Poll::Ready(Ok(None));
                    }
                    Poll::Pending
                }
            }
        });
        let Some(n) = read.await? else {
            // The armed deadline passed: which one, if any, is for the
            // connection to say (a keepalive moved later by reads is not).
            return match self.shared.on_timeout(monotonic_ns()) {
                Some(Expired::CloseUnanswered) => Err(ReadError::CloseTimeout),
                Some(Expired::KeepaliveFailed) => Err(ReadError::KeepaliveTimeout),
                Some(Expired::SendPing) => {
                    self.needs_flush = true;
                    Ok(None)
                }
                None => Ok(None),
            };
        };
        if n > 0 {
            self.read_ns = monotonic_ns();
        }
        self.last_read_filled = n == self.buf.len();
        self.end = n;
        Ok(Some(n))
    }

    /// Whether the stream has something to read right now.
    fn readable_now(&self) -> bool {
        let mut probe = Context::from_waker(Waker::noop());
        self.io.poll_read_ready(&mut probe).is_ready()
    }
}

enum ReadError {
    Io(io::Error),
    CloseTimeout,
    KeepaliveTimeout,
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> ReadError {
        ReadError::Io(e)
    }
}
