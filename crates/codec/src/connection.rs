//! The WebSocket connection's state machine, without I/O: the browser
//! API's `readyState`, the closing handshake (RFC 6455 §7), ping replies,
//! keepalive and close deadlines. It is told what was decoded, what the
//! application asks and what time it is (`now`: nanoseconds of the
//! caller's monotonic clock, any origin); it
//! answers with what to queue, what to report, what to do with the TCP
//! connection, and when it next needs to be woken. The caller owns the
//! socket, the timers and the frame encoder.

use std::fmt;
use std::time::Duration;

use crate::close::CloseCode;
use crate::frame::Role;
use crate::message::Message;

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

/// What to do with a decoded message.
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    /// Report it to the application.
    Deliver,
    /// Drop it: data after our close frame (the browser API drops it).
    Drop,
    /// Queue a pong with the ping's payload.
    Pong,
    /// The peer closed: see [`PeerClosed`].
    PeerClosed(PeerClosed),
}

/// The peer's close frame arrived.
#[derive(Debug, PartialEq, Eq)]
pub struct PeerClosed {
    /// The close frame to queue in answer (its code echoed, or none when
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

/// The state machine of one open connection. Small on purpose: every
/// open connection holds one.
#[derive(Clone, Debug)]
pub struct Connection {
    /// Keepalive interval, ns; 0: none.
    keepalive_ns: u64,
    /// Close timeout, ns.
    close_ns: u64,
    /// Where the running deadline counts from: the last read (keepalive),
    /// or when our close frame went out (close timeout).
    since: u64,
    role: Role,
    state: ReadyState,
    close_sent: bool,
    /// Our close frame is out and the peer's has not come.
    awaiting_close: bool,
    ping_outstanding: bool,
}

impl Connection {
    /// A connection whose opening handshake completed at `now`.
    pub fn open(role: Role, timeouts: Timeouts, now: u64) -> Connection {
        Connection {
            keepalive_ns: timeouts.keepalive.map_or(0, |k| nanos(k).max(1)),
            close_ns: nanos(timeouts.close),
            since: now,
            role,
            state: ReadyState::Open,
            close_sent: false,
            awaiting_close: false,
            ping_outstanding: false,
        }
    }

    /// `readyState`.
    pub fn ready_state(&self) -> ReadyState {
        self.state
    }

    /// Whether our close frame is queued: nothing may follow it.
    pub fn close_sent(&self) -> bool {
        self.close_sent
    }

    /// Whether the application may send a message now (`send` in any
    /// other state fails with the state).
    pub fn check_send(&self) -> Result<(), ReadyState> {
        match self.state {
            ReadyState::Open if !self.close_sent => Ok(()),
            s => Err(s),
        }
    }

    /// Bytes arrived at `now`.
    pub fn on_read(&mut self, now: u64) {
        if !self.awaiting_close {
            self.since = now;
        }
        self.ping_outstanding = false;
    }

    /// What to do with a message the decoder produced.
    pub fn on_message(&mut self, message: &Message<'_>) -> Received {
        match message {
            Message::Close(frame) => {
                self.state = ReadyState::Closing;
                let code = frame.map(|f| f.code);
                let reply = (!self.close_sent).then_some(code);
                self.close_sent = true;
                self.awaiting_close = false;
                let then = match self.role {
                    Role::Server => AfterClose::Shutdown,
                    Role::Client => AfterClose::AwaitEof(Duration::from_nanos(self.close_ns)),
                };
                Received::PeerClosed(PeerClosed {
                    reply,
                    then,
                    event: CloseEvent {
                        code: code.map_or(CloseCode::NO_STATUS.as_u16(), CloseCode::as_u16),
                        reason: frame.map_or_else(String::new, |f| f.reason.to_owned()),
                        was_clean: true,
                    },
                })
            }
            Message::Ping(_) if self.close_sent => Received::Drop,
            Message::Ping(_) => Received::Pong,
            Message::Pong(_) => Received::Deliver,
            Message::Text(_) | Message::Binary(_) | Message::Compressed { .. }
                if self.close_sent =>
            {
                Received::Drop
            }
            Message::Text(_) | Message::Binary(_) | Message::Compressed { .. } => Received::Deliver,
        }
    }

    /// The application closes with `code` at `now`: `Ok(true)` when a
    /// close frame is to be queued, `Ok(false)` when one already was (by
    /// an earlier close or in answer to the peer's); an error when the
    /// code may not be sent or the connection is closed.
    pub fn close(&mut self, code: CloseCode, now: u64) -> Result<bool, CloseRefused> {
        if !code.is_valid_on_wire() {
            return Err(CloseRefused::InvalidCode(code));
        }
        if self.state == ReadyState::Closed {
            return Err(CloseRefused::Closed);
        }
        if self.close_sent {
            return Ok(false);
        }
        self.close_sent = true;
        self.awaiting_close = true;
        self.since = now;
        self.state = ReadyState::Closing;
        Ok(true)
    }

    /// The connection fails with `code` (a protocol error's, 1008 for a
    /// keepalive failure, 1006 for I/O errors): the close frame to queue
    /// first when the code may be sent and none was, then TCP closes and
    /// the application sees an error, then [`CloseEvent::abnormal`].
    pub fn fail(&mut self, code: CloseCode) -> Option<CloseCode> {
        let frame = (code.is_valid_on_wire() && !self.close_sent).then_some(code);
        self.close_sent = true;
        self.awaiting_close = false;
        self.state = ReadyState::Closed;
        frame
    }

    /// The connection ended: TCP closed (after the closing handshake, or
    /// without one), a deadline passed, or the caller gave up.
    pub fn closed(&mut self) {
        self.awaiting_close = false;
        self.state = ReadyState::Closed;
    }

    /// When the caller must call [`Connection::on_timeout`] next, if ever:
    /// the close deadline while our close frame is unanswered, else the
    /// keepalive while open.
    pub fn next_timeout(&self) -> Option<u64> {
        if self.state == ReadyState::Closed {
            return None;
        }
        if self.awaiting_close {
            return Some(self.since.saturating_add(self.close_ns));
        }
        if self.close_sent || self.keepalive_ns == 0 {
            return None;
        }
        Some(self.since.saturating_add(self.keepalive_ns))
    }

    /// A deadline may have passed at `now`.
    pub fn on_timeout(&mut self, now: u64) -> Option<Expired> {
        match self.next_timeout() {
            Some(at) if now >= at => {}
            _ => return None,
        }
        if self.awaiting_close {
            return Some(Expired::CloseUnanswered);
        }
        if self.ping_outstanding {
            return Some(Expired::KeepaliveFailed);
        }
        self.ping_outstanding = true;
        // The next deadline: as long again from now.
        self.since = now;
        Some(Expired::SendPing)
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Why [`Connection::close`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseRefused {
    /// The code may not appear in a close frame.
    InvalidCode(CloseCode),
    /// The connection is closed already.
    Closed,
}

#[cfg(test)]
mod tests;
