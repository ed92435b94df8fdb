//! The transport's error type.

use std::io;

use wsbench_codec::ProtocolError;
use wsbench_codec::encode::EncodeError;
use wsbench_codec::handshake::{HandshakeError, RequestError};

use crate::ws::ReadyState;

/// Everything that can fail on a connection. A normal close is an
/// [`crate::Event::Close`], never an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The socket failed.
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    /// The URL cannot be connected to.
    #[error("invalid URL {url:?}: {reason}")]
    Url {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The server's answer to the upgrade request was not a valid 101.
    #[error("opening handshake failed: {0}")]
    Handshake(#[from] HandshakeError),
    /// The client's upgrade request was refused (the HTTP status was sent).
    #[error("upgrade request refused with {status}: {0}", status = .0.status())]
    Request(#[from] RequestError),
    /// The peer closed TCP before the opening handshake completed.
    #[error("connection closed during the opening handshake")]
    HandshakeEof,
    /// The peer broke the protocol; the close code was sent to it.
    #[error("protocol violation (close {code}): {0}", code = .0.close_code())]
    Protocol(#[from] ProtocolError),
    /// A timer ran out: what was being waited for.
    #[error("timed out: {0}")]
    Timeout(&'static str),
    /// `send` or `close` on a connection that is not open.
    #[error("the connection is {0}, not open")]
    NotOpen(ReadyState),
    /// A frame could not be encoded (e.g. a close reason over 123 bytes).
    #[error("cannot encode: {0}")]
    Encode(#[from] EncodeError),
}
