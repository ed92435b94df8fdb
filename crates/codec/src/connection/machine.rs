//! The connection's states and deadlines, told what the decoder produced,
//! what the application asks and what time it is. [`super::Connection`]
//! wraps it with the decoder, the encoder and the bytes to write.

use std::time::Duration;

use super::{AfterClose, CloseEvent, Expired, PeerClosed, ReadyState, Timeouts};
use crate::close::CloseCode;
use crate::frame::Role;
use crate::message::Message;

/// What to do with a decoded message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Received {
    /// Report it to the application.
    Deliver,
    /// Drop it: data after our close frame (the browser API drops it).
    Drop,
    /// Queue a pong with the ping's payload.
    Pong,
    /// The peer closed: see [`PeerClosed`].
    PeerClosed(PeerClosed),
}

/// The state machine of one open connection, told what was decoded.
/// Small on purpose: every open connection holds one.
#[derive(Clone, Debug)]
pub(crate) struct Machine {
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

impl Machine {
    /// A connection whose opening handshake completed at `now`.
    pub(crate) fn open(role: Role, timeouts: Timeouts, now: u64) -> Machine {
        Machine {
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
    pub(crate) fn ready_state(&self) -> ReadyState {
        self.state
    }

    /// Whether the application may send a message now (`send` in any
    /// other state fails with the state).
    pub(crate) fn check_send(&self) -> Result<(), ReadyState> {
        match self.state {
            ReadyState::Open if !self.close_sent => Ok(()),
            s => Err(s),
        }
    }

    /// Bytes arrived at `now`.
    pub(crate) fn on_read(&mut self, now: u64) {
        if !self.awaiting_close {
            self.since = now;
        }
        self.ping_outstanding = false;
    }

    /// What to do with a message the decoder produced.
    pub(crate) fn on_message(&mut self, message: &Message<'_>) -> Received {
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
    pub(crate) fn close(&mut self, code: CloseCode, now: u64) -> Result<bool, CloseRefused> {
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
    pub(crate) fn fail(&mut self, code: CloseCode) -> Option<CloseCode> {
        let frame = (code.is_valid_on_wire() && !self.close_sent).then_some(code);
        self.close_sent = true;
        self.awaiting_close = false;
        self.state = ReadyState::Closed;
        frame
    }

    /// The connection ended: TCP closed (after the closing handshake, or
    /// without one), a deadline passed, or the caller gave up.
    pub(crate) fn closed(&mut self) {
        self.awaiting_close = false;
        self.state = ReadyState::Closed;
    }

    /// When the caller must call [`Machine::on_timeout`] next, if ever:
    /// the close deadline while our close frame is unanswered, else the
    /// keepalive while open.
    pub(crate) fn next_timeout(&self) -> Option<u64> {
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
    pub(crate) fn on_timeout(&mut self, now: u64) -> Option<Expired> {
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

/// Why [`Machine::close`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CloseRefused {
    /// The code may not appear in a close frame.
    InvalidCode(CloseCode),
    /// The connection is closed already.
    Closed,
}

#[cfg(test)]
mod tests;
