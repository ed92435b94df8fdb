//! Protocol violations, each naming the close code the peer should get
//! (the mapping is in `close.rs`, with the codes).

/// A violation of RFC 6455 (or of a configured limit) found while decoding.
///
/// Every variant says, through [`ProtocolError::close_code`], which close
/// code the connection should be failed with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// RSV bits set that no negotiated extension defines (§5.2).
    #[error("reserved bits {bits:#05b} set without a negotiated extension")]
    ReservedBits {
        /// The RSV1..RSV3 bits of the frame, RSV1 as the highest of three.
        bits: u8,
    },
    /// Opcode 0x3–0x7 or 0xB–0xF (§5.2).
    #[error("reserved opcode {0:#x}")]
    ReservedOpcode(u8),
    /// A control frame with more than 125 bytes of payload (§5.5).
    #[error("control frame with {0} bytes of payload (at most 125)")]
    ControlFrameTooLong(u64),
    /// A control frame without FIN (§5.5).
    #[error("fragmented control frame")]
    FragmentedControlFrame,
    /// A 64-bit payload length with the most significant bit set (§5.2).
    #[error("64-bit payload length with the most significant bit set")]
    LengthTopBitSet,
    /// A payload length not written in the fewest bytes possible (§5.2).
    #[error("payload length {0} not in its minimal encoding")]
    NonMinimalLength(u64),
    /// A frame from a client without a mask (§5.1).
    #[error("unmasked frame from a client")]
    UnmaskedClientFrame,
    /// A frame from a server with a mask (§5.1).
    #[error("masked frame from a server")]
    MaskedServerFrame,
    /// A continuation frame with no fragmented message in progress (§5.4).
    #[error("continuation frame without a message in progress")]
    UnexpectedContinuation,
    /// A new text or binary frame inside a fragmented message (§5.4).
    #[error("new data frame inside a fragmented message")]
    ExpectedContinuation,
    /// A frame larger than the configured maximum.
    #[error("frame of {len} bytes exceeds the {max}-byte limit")]
    FrameTooLarge {
        /// Payload length announced by the frame header.
        len: u64,
        /// The configured limit.
        max: u64,
    },
    /// A message larger than the configured maximum.
    #[error("message of at least {len} bytes exceeds the {max}-byte limit")]
    MessageTooLarge {
        /// Bytes the message has reached, counting the frame that broke the limit.
        len: u64,
        /// The configured limit.
        max: u64,
    },
    /// Text that is not UTF-8 (§8.1), found as soon as the offending bytes arrive.
    #[error("invalid UTF-8 in a text message")]
    InvalidUtf8,
    /// A close frame whose body is a single byte (§5.5.1).
    #[error("close frame with a 1-byte body")]
    CloseBodyTooShort,
    /// A close code that may not appear on the wire (§7.4).
    #[error("invalid close code {0}")]
    InvalidCloseCode(u16),
    /// A close reason that is not UTF-8 (§5.5.1).
    #[error("close reason is not valid UTF-8")]
    InvalidCloseReason,
    /// Bytes received after the peer's close frame (§5.5.1).
    #[error("data received after a close frame")]
    DataAfterClose,
}
