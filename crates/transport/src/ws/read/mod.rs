//! The read side: bytes from the socket through the codec's decoder into
//! browser-style events, answering pings and close frames on the way.

mod fill;
mod spare;

use std::io;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncReadExt, AsyncWrite};
use tokio::time::timeout;
use wsbench_codec::connection::{AfterClose, Incoming, PeerClosed};
use wsbench_codec::{CloseEvent, Message, ProtocolError, ReadyState};

use super::event::{Data, Event};
use super::write::Shared;
use crate::config::{Config, INFLATE_RATIO_FLOOR};
use crate::deflate::{InflateError, Inflater, heavy};
use crate::error::Error;
use crate::net::ReadReady;
use fill::{ReadError, Timer};

/// The parts of [`Config`] the reader uses (every idle connection holds
/// them, so not the whole configuration).
#[derive(Clone, Copy, Debug)]
struct Limits {
    max_message_size: u64,
    /// Buffer sizes, in `u32` (a read buffer is far below 4 GiB; larger
    /// settings saturate): every connection holds them.
    read_buffer_initial: u32,
    read_buffer_max: u32,
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
    /// The last read filled the whole buffer: grow before the next; more
    /// input is likely on the socket.
    last_read_filled: bool,
    /// A pong, ping or close reply is queued and must be written.
    needs_flush: bool,
    /// The close event to report after an error event.
    /// (Boxed: rare, and every idle connection's reader carries the slot.)
    pending_close: Option<Box<CloseEvent>>,
    /// permessage-deflate, when negotiated.
    /// (Boxed: most connections negotiate none.)
    inflater: Option<Box<Inflater>>,
    /// CLOCK_MONOTONIC ns right after the last socket read that returned
    /// bytes: a message decoded from the buffer was completed by it.
    read_ns: u64,
    done: bool,
    /// A read is under way: its buffer is sized.
    reading: bool,
    /// The connection's deadlines (keepalive, close), checked on every
    /// poll of a read but moved lazily: at once to an earlier deadline, to
    /// a later one (bytes arrived) only once the timer has fired.
    timer: Option<Timer>,
}

fn saturate(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl Limits {
    fn read_buffer_initial(&self) -> usize {
        self.read_buffer_initial as usize
    }

    fn read_buffer_max(&self) -> usize {
        self.read_buffer_max as usize
    }
}

/// What [`WsReader::poll_next_event`] found.
#[derive(Debug)]
pub enum Polled {
    /// The next event (`None` once the close event was returned).
    Event(Option<Event>),
    /// A write (a pong, a close, a failure's close frame) to finish with
    /// [`WsReader::finish_write`] before reading goes on.
    Write(PendingWrite),
}

/// A write [`WsReader::poll_next_event`] left to finish.
#[derive(Debug)]
pub struct PendingWrite(Slow);

/// What the reader does next, as far as it is known without waiting.
enum Next {
    Ready(Option<Event>),
    Slow(Slow),
    /// The buffer is decoded: read more.
    Read,
}

/// The paths that wait on a write.
#[derive(Debug)]
enum Slow {
    /// Queued replies (pong, close) to write.
    Flush,
    Fail(Error),
    PeerClose(PeerClosed),
    /// Our close went unanswered: shut the socket.
    CloseTimeout,
}

impl From<ReadError> for Slow {
    fn from(e: ReadError) -> Slow {
        match e {
            ReadError::Io(e) => Slow::Fail(Error::Io(e)),
            ReadError::CloseTimeout => Slow::CloseTimeout,
            ReadError::KeepaliveTimeout => {
                Slow::Fail(Error::Timeout("keepalive: no answer to a ping"))
            }
        }
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
                read_buffer_initial: saturate(config.read_buffer_initial),
                read_buffer_max: saturate(config.read_buffer_max),
                max_inflate_ratio: config.max_inflate_ratio,
            },
            buf,
            start: 0,
            end,
            last_read_filled: false,
            needs_flush: false,
            pending_close: None,
            inflater: inflater.map(Box::new),
            read_ns: if leftover.is_empty() {
                0
            } else {
                wsbench_protocol::clock::monotonic_ns()
            },
            done: false,
            reading: false,
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

    /// Whether [`Self::next_event`] has something to act on before it
    /// would wait: bytes read and not decoded yet, a reply to write, an
    /// event held back, or more bytes likely on the socket (the last read
    /// filled the buffer; one that stopped short emptied the socket, and
    /// tokio then takes it as not readable until its driver learns
    /// otherwise, so asking the socket would cost a lock and tell nothing
    /// more in the same poll). `false`: the reader will queue nothing (no
    /// pong, no close) before its next read, so what the caller writes now
    /// goes out ahead of any reply to input not yet read.
    pub fn input_ready(&self) -> bool {
        self.start < self.end
            || self.needs_flush
            || self.pending_close.is_some()
            || self.done
            || self.last_read_filled
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
    ///
    /// The future stays small (every idle connection holds one): the
    /// reading and decoding is [`Self::poll_next_event`], and the rare
    /// paths that write run boxed.
    pub async fn next_event(&mut self) -> Option<Event> {
        loop {
            match std::future::poll_fn(|cx| self.poll_next_event(cx)).await {
                Polled::Event(event) => return event,
                Polled::Write(write) => {
                    if let Some(event) = Box::pin(self.finish_write(write)).await {
                        return Some(event);
                    }
                }
            }
        }
    }

    /// [`Self::next_event`] as a poll function, for a caller that keeps no
    /// future while it waits: the next event, or a write that must be
    /// finished ([`Self::finish_write`]) before reading goes on.
    /// Cancel-safe like [`Self::next_event`].
    pub fn poll_next_event(&mut self, cx: &mut Context<'_>) -> Poll<Polled> {
        loop {
            match self.next_now() {
                Next::Ready(event) => return Poll::Ready(Polled::Event(event)),
                Next::Slow(slow) => return Poll::Ready(Polled::Write(PendingWrite(slow))),
                Next::Read => match ready!(self.poll_read_more(cx)) {
                    Ok(Some(0)) => {
                        self.shared.closed();
                        let close = self.finish(CloseEvent::abnormal());
                        return Poll::Ready(Polled::Event(Some(close)));
                    }
                    Ok(_) => {}
                    Err(e) => return Poll::Ready(Polled::Write(PendingWrite(e.into()))),
                },
            }
        }
    }

    /// Finishes what [`Self::poll_next_event`] left to write: the event it
    /// ends with, or `None` when reading goes on (queued replies were
    /// written).
    pub async fn finish_write(&mut self, write: PendingWrite) -> Option<Event> {
        self.slow(write.0).await
    }

    /// What comes next, as far as it is known without waiting.
    fn next_now(&mut self) -> Next {
        if self.done {
            return Next::Ready(None);
        }
        if let Some(close) = self.pending_close.take() {
            return Next::Ready(Some(self.finish(*close)));
        }
        loop {
            if self.needs_flush {
                return Next::Slow(Slow::Flush);
            }
            if self.start == self.end {
                return Next::Read;
            }
            match self.decode_step() {
                // decode_step inflates before it returns.
                Step::Continue | Step::Inflate(..) => {}
                Step::Event(ev) => return Next::Ready(Some(ev)),
                Step::Fail(e) => return Next::Slow(Slow::Fail(e)),
                Step::PeerClose(close) => return Next::Slow(Slow::PeerClose(close)),
            }
        }
    }

    /// A path that waits on a write: the event it ends with, or `None`
    /// when reading goes on (queued replies were written).
    async fn slow(&mut self, slow: Slow) -> Option<Event> {
        match slow {
            Slow::Flush => match self.shared.flush().await {
                Ok(()) => {
                    self.needs_flush = false;
                    None
                }
                Err(e) => Some(self.fail(Error::Io(e)).await),
            },
            Slow::Fail(e) => Some(self.fail(e).await),
            Slow::PeerClose(close) => Some(self.peer_closed(close).await),
            Slow::CloseTimeout => {
                let _ = self.shared.shutdown().await;
                self.shared.closed();
                Some(self.finish(CloseEvent::abnormal()))
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
}
