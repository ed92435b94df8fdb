//! The transport's error type.

use std::io;

use wsbench_codec::encode::EncodeError;
use wsbench_codec::handshake::{HandshakeError, RequestError};
use wsbench_codec::{CloseCode, ProtocolError};

use wsbench_codec::ReadyState;

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
    /// The server's extension response is not what was offered.
    #[error("extension negotiation failed: {0}")]
    Extension(String),
    /// A compressed message did not inflate (close 1007 sent).
    #[error("invalid permessage-deflate data (close 1007)")]
    InvalidCompressedData,
    /// A message inflated beyond the size limit (close 1009 sent).
    #[error("message over {limit} bytes once decompressed (close 1009)")]
    MessageTooLarge {
        /// The limit.
        limit: u64,
    },
    /// A compressed message inflated past the allowed ratio to its size on
    /// the wire (close 1009 sent): a compression bomb.
    #[error("message inflates over {ratio}:1 (close 1009)")]
    CompressionRatio {
        /// The ratio allowed.
        ratio: u32,
    },
    /// An HTTP request failed below the status line (connection, framing).
    #[error("HTTP: {0}")]
    Http(String),
    /// The server answered an HTTP request with a status other than 200.
    #[error("HTTP status {0}")]
    HttpStatus(u16),
    /// TLS configuration or handshake failed.
    #[error("TLS: {0}")]
    Tls(String),
    /// A compressed text message was not UTF-8 (close 1007 sent).
    #[error("text message is not valid UTF-8 (close 1007)")]
    InvalidUtf8,
}

impl Error {
    /// The close code this error sends to the peer, when it ends a
    /// connection.
    pub fn close_code(&self) -> CloseCode {
        match self {
            Error::Protocol(e) => e.close_code(),
            Error::InvalidCompressedData | Error::InvalidUtf8 => CloseCode::INVALID_PAYLOAD,
            Error::MessageTooLarge { .. } | Error::CompressionRatio { .. } => {
                CloseCode::MESSAGE_TOO_BIG
            }
            Error::Timeout(_) => CloseCode::POLICY_VIOLATION,
            _ => CloseCode::ABNORMAL,
        }
    }
}
