//! Close codes and close frame bodies (RFC 6455 §5.5.1, §7.4).

use std::fmt;

use crate::error::ProtocolError;

/// A close status code. Any `u16` can be held; [`CloseCode::is_valid_on_wire`]
/// says whether a peer may send it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(u16);

impl CloseCode {
    /// 1000: normal closure.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: endpoint going away (server shutdown, page navigation).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: protocol error.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: data of a type the endpoint cannot accept.
    pub const UNSUPPORTED_DATA: CloseCode = CloseCode(1003);
    /// 1005: no status code was present (reported locally, never sent).
    pub const NO_STATUS: CloseCode = CloseCode(1005);
    /// 1006: closed without a close frame (reported locally, never sent).
    pub const ABNORMAL: CloseCode = CloseCode(1006);
    /// 1007: payload inconsistent with the message type (bad UTF-8).
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// 1008: policy violation.
    pub const POLICY_VIOLATION: CloseCode = CloseCode(1008);
    /// 1009: message too big to process.
    pub const MESSAGE_TOO_BIG: CloseCode = CloseCode(1009);
    /// 1010: the client expected an extension the server did not negotiate.
    pub const MANDATORY_EXTENSION: CloseCode = CloseCode(1010);
    /// 1011: unexpected condition in the server.
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);
    /// 1015: TLS handshake failure (reported locally, never sent).
    pub const TLS_HANDSHAKE: CloseCode = CloseCode(1015);

    /// Wraps any code; see [`CloseCode::is_valid_on_wire`].
    pub const fn new(code: u16) -> CloseCode {
        CloseCode(code)
    }

    /// The numeric code.
    pub const fn as_u16(self) -> u16 {
        self.0
    }

    /// Whether the code may appear in a close frame: 1000–1003 and 1007–1014
    /// (defined by RFC 6455 and the IANA registry), 3000–4999 (registered and
    /// private use). 1004–1006 and 1015 are reserved or local-only, 0–999,
    /// 1016–2999 and 5000+ are not assigned.
    pub const fn is_valid_on_wire(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> CloseCode {
        CloseCode(code)
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> u16 {
        code.0
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl ProtocolError {
    /// The close code to fail the connection with (§7.4.1).
    pub fn close_code(&self) -> CloseCode {
        match self {
            ProtocolError::InvalidUtf8 | ProtocolError::InvalidCloseReason => {
                CloseCode::INVALID_PAYLOAD
            }
            ProtocolError::FrameTooLarge { .. } | ProtocolError::MessageTooLarge { .. } => {
                CloseCode::MESSAGE_TOO_BIG
            }
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }
}

/// The body of a close frame that carried a status code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CloseFrame<'a> {
    /// The status code, valid on the wire.
    pub code: CloseCode,
    /// The reason, UTF-8, at most 123 bytes.
    pub reason: &'a str,
}

/// Longest reason that fits a control frame with its 2-byte code.
pub const MAX_REASON_LEN: usize = 123;

/// Parses a close frame body: empty (no status), or a valid code followed by
/// a UTF-8 reason.
pub fn parse_close_body(body: &[u8]) -> Result<Option<CloseFrame<'_>>, ProtocolError> {
    match body {
        [] => Ok(None),
        [_] => Err(ProtocolError::CloseBodyTooShort),
        [hi, lo, reason @ ..] => {
            let code = CloseCode(u16::from_be_bytes([*hi, *lo]));
            if !code.is_valid_on_wire() {
                return Err(ProtocolError::InvalidCloseCode(code.0));
            }
            let reason = simdutf8::basic::from_utf8(reason)
                .map_err(|_| ProtocolError::InvalidCloseReason)?;
            Ok(Some(CloseFrame { code, reason }))
        }
    }
}

/// Why a close body cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CloseBodyError {
    /// The code may not be sent (see [`CloseCode::is_valid_on_wire`]).
    #[error("close code {0} may not be sent")]
    InvalidCode(u16),
    /// The reason does not fit in a control frame.
    #[error("close reason of {0} bytes exceeds {MAX_REASON_LEN}")]
    ReasonTooLong(usize),
}

/// Writes a close body (code, then reason) into `out` and returns its length.
pub fn encode_close_body(
    code: CloseCode,
    reason: &str,
    out: &mut [u8; 125],
) -> Result<usize, CloseBodyError> {
    if !code.is_valid_on_wire() {
        return Err(CloseBodyError::InvalidCode(code.0));
    }
    if reason.len() > MAX_REASON_LEN {
        return Err(CloseBodyError::ReasonTooLong(reason.len()));
    }
    out[..2].copy_from_slice(&code.0.to_be_bytes());
    out[2..2 + reason.len()].copy_from_slice(reason.as_bytes());
    Ok(2 + reason.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(code: u16, reason: &[u8]) -> Vec<u8> {
        let mut b = code.to_be_bytes().to_vec();
        b.extend_from_slice(reason);
        b
    }

    #[test]
    fn accepts_defined_registered_and_private_codes() {
        for code in (1000..=1003).chain(1007..=1014).chain(3000..=4999) {
            let b = body(code, b"bye");
            let frame = parse_close_body(&b).unwrap().unwrap();
            assert_eq!(frame.code.as_u16(), code);
            assert_eq!(frame.reason, "bye");
        }
    }

    #[test]
    fn rejects_reserved_local_and_unassigned_codes() {
        let bad = (0..=999)
            .chain(1004..=1006)
            .chain([1015])
            .chain(1016..=2999)
            .chain(5000..=u16::MAX);
        for code in bad {
            assert_eq!(
                parse_close_body(&body(code, b"")),
                Err(ProtocolError::InvalidCloseCode(code)),
                "code {code}"
            );
        }
    }

    #[test]
    fn empty_body_means_no_status_and_one_byte_is_an_error() {
        assert_eq!(parse_close_body(&[]), Ok(None));
        assert_eq!(
            parse_close_body(&[3]),
            Err(ProtocolError::CloseBodyTooShort)
        );
    }

    #[test]
    fn reason_must_be_utf8() {
        let b = body(1000, &[0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xff]);
        assert_eq!(parse_close_body(&b), Err(ProtocolError::InvalidCloseReason));
        assert_eq!(
            ProtocolError::InvalidCloseReason.close_code(),
            CloseCode::INVALID_PAYLOAD
        );
        let b = body(1000, "κόσμε".as_bytes());
        assert_eq!(parse_close_body(&b).unwrap().unwrap().reason, "κόσμε");
    }

    #[test]
    fn encode_round_trips_and_checks_limits() {
        let mut out = [0u8; 125];
        let n = encode_close_body(CloseCode::GOING_AWAY, "restart", &mut out).unwrap();
        let frame = parse_close_body(&out[..n]).unwrap().unwrap();
        assert_eq!(
            (frame.code, frame.reason),
            (CloseCode::GOING_AWAY, "restart")
        );
        assert_eq!(
            encode_close_body(CloseCode::ABNORMAL, "", &mut out),
            Err(CloseBodyError::InvalidCode(1006))
        );
        let long = "x".repeat(124);
        assert_eq!(
            encode_close_body(CloseCode::NORMAL, &long, &mut out),
            Err(CloseBodyError::ReasonTooLong(124))
        );
        assert_eq!(
            encode_close_body(CloseCode::NORMAL, &long[..123], &mut out),
            Ok(125)
        );
    }
}
