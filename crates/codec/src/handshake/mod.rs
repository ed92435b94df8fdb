//! The opening handshake (RFC 6455 §4): an HTTP/1.1 Upgrade, both sides.
//!
//! - [`client`]: build the upgrade request, validate the `101` response.
//! - [`server`]: parse and validate the request (with httparse), choose a
//!   subprotocol, build the `101` response, or the `400`/`426` response a
//!   rejected request deserves.
//!
//! Sans-IO like the rest of the codec: the caller supplies the 16 random
//! bytes of a client key and the bytes read from the socket, and writes out
//! what these functions build.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha1::{Digest, Sha1};

pub mod client;
pub mod server;

pub use client::{ClientHandshake, ClientRequest, HandshakeError, ServerResponse};
pub use server::{Request, RequestError, Response};

/// The GUID RFC 6455 appends to the key before hashing (§1.3).
pub const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The only protocol version RFC 6455 defines.
pub const VERSION: &str = "13";

/// Largest header block either side reads before giving up.
pub const MAX_HEAD_LEN: usize = 16 * 1024;

/// Most header fields either side accepts in one head.
pub const MAX_HEADERS: usize = 64;

/// A `Sec-WebSocket-Accept` value: base64 of SHA-1 of key + GUID (28 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AcceptKey([u8; 28]);

impl AcceptKey {
    /// The accept value for a `Sec-WebSocket-Key` value.
    pub fn for_key(key: &[u8]) -> AcceptKey {
        let mut sha = Sha1::new();
        sha.update(key);
        sha.update(GUID);
        let digest = sha.finalize();
        let mut out = [0u8; 28];
        let n = BASE64
            .encode_slice(digest.as_slice(), &mut out)
            .expect("20 bytes encode to 28");
        debug_assert_eq!(n, 28);
        AcceptKey(out)
    }

    /// The value as text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("base64 is ASCII")
    }
}

impl fmt::Debug for AcceptKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AcceptKey").field(&self.as_str()).finish()
    }
}

/// Whether a comma-separated header value lists `token` (case-insensitive).
pub(crate) fn has_token(value: &[u8], token: &str) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// The non-empty comma-separated elements of a header value, trimmed.
pub(crate) fn list(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|t| !t.is_empty())
}

/// Whether `s` can go into a header value without breaking the message.
pub(crate) fn is_header_safe(s: &str) -> bool {
    !s.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0)
}

/// Whether `s` is an HTTP token (RFC 9110 §5.6.2), as subprotocol names must be.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_matches_the_rfc_example() {
        // RFC 6455 §1.3.
        let accept = AcceptKey::for_key(b"dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(accept.as_str(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn token_lists_are_case_insensitive_and_trimmed() {
        assert!(has_token(b"keep-alive, Upgrade", "upgrade"));
        assert!(has_token(b"UPGRADE", "upgrade"));
        assert!(!has_token(b"upgrade-ish", "upgrade"));
        assert_eq!(list(" a ,, b,c ").collect::<Vec<_>>(), ["a", "b", "c"]);
        assert!(is_token("chat.v2") && !is_token("a b") && !is_token(""));
        assert!(!is_header_safe("x\r\nInjected: 1"));
    }
}
