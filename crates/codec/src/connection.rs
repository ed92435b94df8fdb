//! A WebSocket connection without I/O. Fed the bytes that arrived and the
//! time, [`Connection`] decodes messages, answers pings and close frames,
//! keeps the browser API's `readyState`, runs the closing handshake
//! (RFC 6455 §7) and the keepalive and close deadlines, and holds the bytes
//! to write. `now` is nanoseconds of the caller's monotonic clock, any
//! origin. The caller owns the socket, the timers, randomness (the mask
//! key seed) and permessage-deflate: compressed messages come out as
//! [`Message::Compressed`] and go in compressed, with RSV1 set.

mod machine;

use std::fmt;
use std::time::Duration;

use crate::close::{CloseBodyError, CloseCode, MAX_REASON_LEN};
use crate::encode::{EncodeError, Encoder, FastMaskKeys, FrameKind, NoMasking, ServerFrame};
use crate::error::ProtocolError;
use crate::frame::{OpCode, Role};
use crate::message::{Decoder, DecoderConfig, Message};
use machine::{CloseRefused, Machine, Received};

/// The browser API's `readyState`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ReadyState {
    /// The opening handshake is in progress.
    Connecting = 0,
    /// Messages flow both ways.
    Open = 1,
    /// A close frame was sent or received; the closing handshake runs.
    Closing = 2,
    /// The connection is closed.
    Closed = 3,
}

impl fmt::Display for ReadyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReadyState::Connecting => "CONNECTING",
            ReadyState::Open => "OPEN",
            ReadyState::Closing => "CLOSING",
            ReadyState::Closed => "CLOSED",
        })
    }
}

/// The browser API's `close` event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseEvent {
    /// The peer's close code; 1005 when its close frame had none, 1006 when
    /// the connection ended without a closing handshake.
    pub code: u16,
    /// The peer's close reason.
    pub reason: String,
    /// Whether the closing handshake completed.
    pub was_clean: bool,
}

impl CloseEvent {
    /// The close event of a connection that ended without a closing
    /// handshake: code 1006, no reason, not clean.
    pub fn abnormal() -> CloseEvent {
        CloseEvent {
            code: CloseCode::ABNORMAL.as_u16(),
            reason: String::new(),
            was_clean: false,
        }
    }
}

/// The connection's deadlines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Silence after which a ping is sent; as long again without a byte
    /// and the connection fails (1008). `None`: no keepalive.
    pub keepalive: Option<Duration>,
    /// How long to wait for the peer's close frame after ours, and (a
    /// client) for the server to close TCP after the closing handshake.
    pub close: Duration,
}

/// The peer's close frame arrived.
#[derive(Debug, PartialEq, Eq)]
pub struct PeerClosed {
    /// The close frame to queue in answer (its code and reason echoed, or none when
    /// the peer's had none); `None` when ours went out first.
    pub reply: Option<Option<CloseCode>>,
    /// What to do with TCP once the reply is written.
    pub then: AfterClose,
    /// The close event to report when that is done (its `was_clean`
    /// turns false if writing the reply or the wait fails).
    pub event: CloseEvent,
}

/// How the TCP connection ends after the closing handshake (RFC 6455
/// §7.1.1: the server closes first, the client waits for it).
#[derive(Debug, PartialEq, Eq)]
pub enum AfterClose {
    /// Close it now (server).
    Shutdown,
    /// Read until the peer closes it, for at most this long (client).
    AwaitEof(Duration),
}

/// A deadline that passed.
#[derive(Debug, PartialEq, Eq)]
pub enum Expired {
    /// Keepalive: queue a ping.
    SendPing,
    /// Keepalive: no byte since the ping; fail the connection (1008).
    KeepaliveFailed,
    /// Our close frame went unanswered: close TCP, report 1006.
    CloseUnanswered,
}

/// What [`Connection::receive`] found in the bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming<'a> {
    /// A message for the application: text, binary, compressed (for the
    /// caller to inflate) or a pong.
    Message(Message<'a>),
    /// A ping: its pong is queued.
    PingAnswered,
    /// A message after our close frame, dropped (as the browser API does).
    Dropped,
    /// The peer's close frame: the answer, if one is due, is queued.
    PeerClosed(PeerClosed),
}

/// Why [`Connection::send`] or [`Connection::close`] refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The connection is not open (or our close frame is queued).
    #[error("the connection is {0}, not open")]
    NotOpen(ReadyState),
    /// The frame cannot be encoded (a close code that may not be sent, a
    /// reason over 123 bytes, a control frame over 125).
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

/// The frame encoder of either side.
#[derive(Debug)]
enum Framer {
    Client(Encoder<FastMaskKeys>),
    Server(Encoder<NoMasking>),
}

impl Framer {
    fn frame(
        &mut self,
        out: &mut Vec<u8>,
        kind: FrameKind,
        payload: &[u8],
    ) -> Result<(), EncodeError> {
        match self {
            Framer::Client(e) => e.encode_to_vec(out, kind, payload),
            Framer::Server(e) => e.encode_to_vec(out, kind, payload),
        }
    }

    /// A close frame: with a code and reason, or empty.
    fn close(
        &mut self,
        out: &mut Vec<u8>,
        close: Option<(CloseCode, &str)>,
    ) -> Result<(), EncodeError> {
        match (self, close) {
            (f, None) => f.frame(out, FrameKind::whole(OpCode::Close), &[]),
            (Framer::Client(e), Some((code, reason))) => e.encode_close(out, code, reason),
            (Framer::Server(e), Some((code, reason))) => e.encode_close(out, code, reason),
        }
    }
}

/// One open WebSocket connection: state machine, decoder, encoder and the
/// bytes waiting to be written.
#[derive(Debug)]
pub struct Connection {
    machine: Machine,
    decoder: Decoder,
    framer: Framer,
    /// Encoded frames not yet taken by [`Connection::take_outgoing`].
    out: Vec<u8>,
}

impl Connection {
    /// A connection whose opening handshake completed at `now`, decoding
    /// with `decoder` (its role is ours). A client masks its frames with
    /// keys drawn from `mask_seed`, which must be unpredictable (RFC 6455
    /// §5.3); a server ignores it.
    pub fn open(
        decoder: DecoderConfig,
        timeouts: Timeouts,
        mask_seed: u64,
        now: u64,
    ) -> Connection {
        let role = decoder.role;
        let framer = match role {
            Role::Client => Framer::Client(Encoder::client(FastMaskKeys::new(mask_seed))),
            Role::Server => Framer::Server(Encoder::server()),
        };
        Connection {
            machine: Machine::open(role, timeouts, now),
            decoder: Decoder::new(decoder),
            framer,
            out: Vec::new(),
        }
    }

    /// `readyState`.
    pub fn ready_state(&self) -> ReadyState {
        self.machine.ready_state()
    }

    /// Whether the application may send now (in any other state `send`
    /// fails with the state).
    pub fn check_send(&self) -> Result<(), ReadyState> {
        self.machine.check_send()
    }

    /// Decodes from `input`, which arrived at `now`: how many bytes were
    /// consumed and what the next message was, if the input completed one
    /// (then call again with `input[consumed..]`; without one, all of
    /// `input` was consumed). A pong or a close reply is queued on the way.
    ///
    /// A protocol violation fails the connection: the close frame with
    /// its code is queued, and the error returned (again on every call).
    pub fn receive<'a>(
        &'a mut self,
        input: &'a mut [u8],
        now: u64,
    ) -> Result<(usize, Option<Incoming<'a>>), ProtocolError> {
        if !input.is_empty() {
            self.machine.on_read(now);
        }
        let Connection {
            machine,
            decoder,
            framer,
            out,
        } = self;
        let (n, message) = match decoder.decode(input) {
            Ok(r) => r,
            Err(e) => {
                if let Some(code) = machine.fail(e.close_code()) {
                    // Cannot fail: the code is one that may be sent.
                    let _ = framer.close(out, Some((code, "")));
                }
                return Err(e);
            }
        };
        let Some(message) = message else {
            return Ok((n, None));
        };
        // Encoding the replies cannot fail: a ping's payload came in a
        // valid control frame, an echoed close code is one the decoder
        // accepted.
        let incoming = match machine.on_message(&message) {
            Received::Deliver => Incoming::Message(message),
            Received::Drop => Incoming::Dropped,
            Received::Pong => {
                if let Message::Ping(p) = message {
                    let _ = framer.frame(out, FrameKind::whole(OpCode::Pong), p);
                }
                Incoming::PingAnswered
            }
            Received::PeerClosed(closed) => {
                // The reply carries the peer's code and reason back, as
                // browsers and the echo endpoints of other servers do.
                if let Some(code) = closed.reply {
                    let reason = closed.event.reason.as_str();
                    let _ = framer.close(out, code.map(|c| (c, reason)));
                }
                Incoming::PeerClosed(closed)
            }
        };
        Ok((n, Some(incoming)))
    }

    /// Queues one frame the application sends (a data frame, compressed
    /// when `kind.rsv` says so, or a ping): only while open. Returns its
    /// size on the wire.
    pub fn send(&mut self, kind: FrameKind, payload: &[u8]) -> Result<usize, SendError> {
        self.machine.check_send().map_err(SendError::NotOpen)?;
        let before = self.out.len();
        self.framer.frame(&mut self.out, kind, payload)?;
        Ok(self.out.len() - before)
    }

    /// Which side this connection is.
    pub fn role(&self) -> Role {
        match self.framer {
            Framer::Client(_) => Role::Client,
            Framer::Server(_) => Role::Server,
        }
    }

    /// Queues a frame encoded once for many server connections (see
    /// [`ServerFrame`]), only while open and only on a server connection;
    /// returns its bytes on the wire.
    pub fn send_frame(&mut self, frame: &ServerFrame) -> Result<usize, SendError> {
        self.machine.check_send().map_err(SendError::NotOpen)?;
        if self.role() == Role::Client {
            return Err(SendError::Encode(EncodeError::ServerFrameFromClient));
        }
        self.out.extend_from_slice(frame.as_bytes());
        Ok(frame.as_bytes().len())
    }

    /// The application closes with `code` and `reason` at `now`: our
    /// close frame is queued unless one was (by an earlier close or in
    /// answer to the peer's).
    pub fn close(&mut self, code: CloseCode, reason: &str, now: u64) -> Result<(), SendError> {
        if reason.len() > MAX_REASON_LEN {
            let e = CloseBodyError::ReasonTooLong(reason.len());
            return Err(SendError::Encode(EncodeError::Close(e)));
        }
        match self.machine.close(code, now) {
            Ok(true) => Ok(self.framer.close(&mut self.out, Some((code, reason)))?),
            Ok(false) => Ok(()),
            Err(CloseRefused::InvalidCode(c)) => Err(SendError::Encode(EncodeError::Close(
                CloseBodyError::InvalidCode(c.as_u16()),
            ))),
            Err(CloseRefused::Closed) => Err(SendError::NotOpen(ReadyState::Closed)),
        }
    }

    /// The connection fails with `code` (a protocol error's, 1008 for a
    /// keepalive failure, 1006 for I/O errors): its close frame is queued
    /// when the code may be sent and none was; the caller then closes TCP
    /// and reports an error, then [`CloseEvent::abnormal`].
    pub fn fail(&mut self, code: CloseCode) {
        if let Some(code) = self.machine.fail(code) {
            let _ = self.framer.close(&mut self.out, Some((code, "")));
        }
    }

    /// The connection ended: TCP closed (after the closing handshake, or
    /// without one), a deadline passed, or the caller gave up.
    pub fn closed(&mut self) {
        self.machine.closed();
    }

    /// When the caller must call [`Connection::on_timeout`] next, if ever:
    /// the close deadline while our close frame is unanswered, else the
    /// keepalive while open.
    pub fn next_timeout(&self) -> Option<u64> {
        self.machine.next_timeout()
    }

    /// A deadline may have passed at `now`; a keepalive ping is queued here.
    pub fn on_timeout(&mut self, now: u64) -> Option<Expired> {
        let expired = self.machine.on_timeout(now);
        if expired == Some(Expired::SendPing) {
            let _ = self
                .framer
                .frame(&mut self.out, FrameKind::whole(OpCode::Ping), b"keepalive");
        }
        expired
    }

    /// Bytes queued to write.
    pub fn pending(&self) -> usize {
        self.out.len()
    }

    /// Hands the queued bytes over: `buf` (cleared first) and the queue
    /// trade places, so the caller's spare capacity is reused.
    pub fn take_outgoing(&mut self, buf: &mut Vec<u8>) {
        buf.clear();
        std::mem::swap(buf, &mut self.out);
    }

    /// Bytes of heap memory held: the decoder's buffers and the queue.
    pub fn heap_bytes(&self) -> usize {
        self.decoder.heap_bytes() + self.out.capacity()
    }
}

#[cfg(test)]
mod tests;
