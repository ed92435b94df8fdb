//! The WebSocket connection's state machine, without I/O: the browser
//! API's `readyState` and the transitions between its values.

use std::fmt;

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

impl ReadyState {
    /// The state stored as `state as u8` (anything above 2 is CLOSED).
    pub fn from_u8(v: u8) -> ReadyState {
        match v {
            0 => ReadyState::Connecting,
            1 => ReadyState::Open,
            2 => ReadyState::Closing,
            _ => ReadyState::Closed,
        }
    }
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
