//! What a connection reports to the application, in the browser API's
//! terms.

use wsbench_codec::CloseEvent;

use crate::error::Error;

/// A message's content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Data {
    /// A text message (valid UTF-8, checked while it streamed in).
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
}

impl Data {
    /// The payload bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Data::Text(s) => s.as_bytes(),
            Data::Binary(b) => b,
        }
    }
}

/// What a connection reports, in the browser API's terms. `open` is implied
/// by a successful [`crate::connect`] or [`crate::accept`].
#[derive(Debug)]
pub enum Event {
    /// A message arrived.
    Message(Data),
    /// A pong arrived (browsers hide these; load tests time them).
    Pong(Vec<u8>),
    /// The connection failed; a [`Event::Close`] with code 1006 follows.
    Error(Error),
    /// The connection is closed; no event follows.
    Close(CloseEvent),
}
