//! Frame headers (RFC 6455 §5.2): opcodes, parsing, encoding and the rules a
//! header must follow for a given role and configuration.

use crate::error::ProtocolError;

/// Longest possible frame header: 2 bytes, 8 of extended length, 4 of mask key.
pub const MAX_HEADER_LEN: usize = 14;
/// Largest payload a control frame may carry.
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// RSV1, as it appears in [`FrameHeader::rsv`] (used by permessage-deflate).
pub const RSV1: u8 = 0b100;
/// RSV2, as it appears in [`FrameHeader::rsv`].
pub const RSV2: u8 = 0b010;
/// RSV3, as it appears in [`FrameHeader::rsv`].
pub const RSV3: u8 = 0b001;

/// A frame opcode defined by RFC 6455.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum OpCode {
    /// 0x0: continues a fragmented message.
    Continuation = 0x0,
    /// 0x1: text (UTF-8) data.
    Text = 0x1,
    /// 0x2: binary data.
    Binary = 0x2,
    /// 0x8: connection close.
    Close = 0x8,
    /// 0x9: ping.
    Ping = 0x9,
    /// 0xA: pong.
    Pong = 0xa,
}

impl OpCode {
    /// The opcode for a 4-bit value, or [`ProtocolError::ReservedOpcode`].
    #[inline]
    pub fn from_bits(bits: u8) -> Result<OpCode, ProtocolError> {
        Ok(match bits {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xa => OpCode::Pong,
            other => return Err(ProtocolError::ReservedOpcode(other)),
        })
    }

    /// Close, ping and pong.
    #[inline]
    pub fn is_control(self) -> bool {
        self as u8 & 0x8 != 0
    }
}

/// Which end of the connection this codec instance is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// We are the client: we mask what we send; what we receive must be unmasked.
    Client,
    /// We are the server: we send unmasked; what we receive must be masked.
    Server,
}

/// A parsed frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Last frame of its message.
    pub fin: bool,
    /// RSV1..RSV3 as a 3-bit value, RSV1 highest (see [`RSV1`]).
    pub rsv: u8,
    /// Frame type.
    pub opcode: OpCode,
    /// Masking key, present on frames sent by clients.
    pub mask: Option<[u8; 4]>,
    /// Payload length in bytes.
    pub payload_len: u64,
}

impl FrameHeader {
    /// Parses a header from the start of `buf`.
    ///
    /// Returns `Ok(None)` when `buf` holds only part of the header, and the
    /// header with its length in bytes otherwise. Checks what a header can
    /// break on its own: reserved opcodes, the top bit of a 64-bit length and
    /// non-minimal length encodings. Rules that depend on the role and the
    /// negotiated extensions are in [`FrameRules::check`].
    #[inline]
    pub fn parse(buf: &[u8]) -> Result<Option<(FrameHeader, usize)>, ProtocolError> {
        let [b0, b1, ..] = *buf else { return Ok(None) };
        let opcode = OpCode::from_bits(b0 & 0x0f)?;
        let masked = b1 & 0x80 != 0;
        let (payload_len, mut at) = match b1 & 0x7f {
            126 => {
                let Some(ext) = buf.get(2..4) else {
                    return Ok(None);
                };
                let len = u64::from(u16::from_be_bytes([ext[0], ext[1]]));
                if len < 126 {
                    return Err(ProtocolError::NonMinimalLength(len));
                }
                (len, 4)
            }
            127 => {
                let Some(ext) = buf.get(2..10) else {
                    return Ok(None);
                };
                let len = u64::from_be_bytes(ext.try_into().expect("8 bytes"));
                if len >> 63 != 0 {
                    return Err(ProtocolError::LengthTopBitSet);
                }
                if len <= 0xffff {
                    return Err(ProtocolError::NonMinimalLength(len));
                }
                (len, 10)
            }
            short => (u64::from(short), 2),
        };
        let mask = if masked {
            let Some(key) = buf.get(at..at + 4) else {
                return Ok(None);
            };
            at += 4;
            Some(key.try_into().expect("4 bytes"))
        } else {
            None
        };
        let header = FrameHeader {
            fin: b0 & 0x80 != 0,
            rsv: (b0 >> 4) & 0x7,
            opcode,
            mask,
            payload_len,
        };
        Ok(Some((header, at)))
    }

    /// Length of this header when encoded (always the minimal encoding).
    #[inline]
    pub fn encoded_len(&self) -> usize {
        let len = match self.payload_len {
            0..=125 => 2,
            126..=0xffff => 4,
            _ => 10,
        };
        len + if self.mask.is_some() { 4 } else { 0 }
    }

    /// Writes this header into `out` in its minimal encoding and returns the
    /// number of bytes written.
    ///
    /// # Panics
    /// If `payload_len` has its top bit set (no valid frame can carry it).
    #[inline]
    pub fn encode(&self, out: &mut [u8; MAX_HEADER_LEN]) -> usize {
        assert!(
            self.payload_len >> 63 == 0,
            "payload length {} too large",
            self.payload_len
        );
        out[0] = (u8::from(self.fin) << 7) | ((self.rsv & 0x7) << 4) | self.opcode as u8;
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let mut at = match self.payload_len {
            len @ 0..=125 => {
                out[1] = mask_bit | len as u8;
                2
            }
            len @ 126..=0xffff => {
                out[1] = mask_bit | 126;
                out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
                4
            }
            len => {
                out[1] = mask_bit | 127;
                out[2..10].copy_from_slice(&len.to_be_bytes());
                10
            }
        };
        if let Some(key) = self.mask {
            out[at..at + 4].copy_from_slice(&key);
            at += 4;
        }
        at
    }
}

/// The frame-level rules for one endpoint: who we are, which RSV bits the
/// negotiated extensions define, and the largest frame we accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameRules {
    /// Our role; frames from the peer must be masked iff we are the server.
    pub role: Role,
    /// RSV bits that negotiated extensions define (e.g. [`RSV1`] for
    /// permessage-deflate). Any other RSV bit fails the connection.
    pub allowed_rsv: u8,
    /// Largest frame payload accepted.
    pub max_frame_size: u64,
}

impl FrameRules {
    /// Checks a received header against RFC 6455 §5 and the limits. The
    /// order of checks is fixed, so a header breaking several rules always
    /// gets the same error.
    #[inline]
    pub fn check(&self, h: &FrameHeader) -> Result<(), ProtocolError> {
        if h.rsv & !self.allowed_rsv != 0 {
            return Err(ProtocolError::ReservedBits { bits: h.rsv });
        }
        if h.opcode.is_control() {
            if !h.fin {
                return Err(ProtocolError::FragmentedControlFrame);
            }
            if h.payload_len > MAX_CONTROL_PAYLOAD as u64 {
                return Err(ProtocolError::ControlFrameTooLong(h.payload_len));
            }
            // Extensions defined so far (RFC 7692) never apply to control frames.
            if h.rsv != 0 {
                return Err(ProtocolError::ReservedBits { bits: h.rsv });
            }
        }
        match (self.role, h.mask.is_some()) {
            (Role::Server, false) => return Err(ProtocolError::UnmaskedClientFrame),
            (Role::Client, true) => return Err(ProtocolError::MaskedServerFrame),
            _ => {}
        }
        if h.payload_len > self.max_frame_size {
            return Err(ProtocolError::FrameTooLarge {
                len: h.payload_len,
                max: self.max_frame_size,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(opcode: OpCode, len: u64, mask: Option<[u8; 4]>) -> FrameHeader {
        FrameHeader {
            fin: true,
            rsv: 0,
            opcode,
            mask,
            payload_len: len,
        }
    }

    #[test]
    fn encode_uses_minimal_lengths_and_parses_back() {
        let cases = [
            (0, 2),
            (125, 2),
            (126, 4),
            (0xffff, 4),
            (0x1_0000, 10),
            (u64::MAX >> 1, 10),
        ];
        for (len, hlen) in cases {
            for mask in [None, Some([1, 2, 3, 4])] {
                let h = header(OpCode::Binary, len, mask);
                let mut out = [0; MAX_HEADER_LEN];
                let n = h.encode(&mut out);
                let expected = hlen + if mask.is_some() { 4 } else { 0 };
                assert_eq!(n, expected, "len {len}");
                assert_eq!(h.encoded_len(), n);
                assert_eq!(FrameHeader::parse(&out[..n]), Ok(Some((h, n))));
                // Every proper prefix is incomplete, not an error.
                for cut in 0..n {
                    assert_eq!(FrameHeader::parse(&out[..cut]), Ok(None), "cut {cut}");
                }
            }
        }
    }

    #[test]
    fn parses_fin_rsv_and_opcode_bits() {
        let (h, n) = FrameHeader::parse(&[0b0101_0001, 0x03]).unwrap().unwrap();
        assert_eq!(n, 2);
        assert!(!h.fin);
        assert_eq!(h.rsv, RSV1 | RSV3);
        assert_eq!(h.opcode, OpCode::Text);
        assert_eq!(h.payload_len, 3);
    }

    #[test]
    fn rejects_reserved_opcodes() {
        for op in (0x3..=0x7).chain(0xb..=0xf) {
            assert_eq!(
                FrameHeader::parse(&[0x80 | op, 0]),
                Err(ProtocolError::ReservedOpcode(op))
            );
        }
    }

    #[test]
    fn rejects_length_top_bit_and_non_minimal_lengths() {
        let mut b = vec![0x82, 127];
        b.extend_from_slice(&(1u64 << 63).to_be_bytes());
        assert_eq!(FrameHeader::parse(&b), Err(ProtocolError::LengthTopBitSet));
        let mut b = vec![0x82, 127];
        b.extend_from_slice(&0xffffu64.to_be_bytes());
        assert_eq!(
            FrameHeader::parse(&b),
            Err(ProtocolError::NonMinimalLength(0xffff))
        );
        assert_eq!(
            FrameHeader::parse(&[0x82, 126, 0, 125]),
            Err(ProtocolError::NonMinimalLength(125))
        );
    }

    const SERVER: FrameRules = FrameRules {
        role: Role::Server,
        allowed_rsv: 0,
        max_frame_size: 1000,
    };
    const KEY: Option<[u8; 4]> = Some([9, 9, 9, 9]);

    #[test]
    fn rules_enforce_masking_by_role() {
        let client = FrameRules {
            role: Role::Client,
            ..SERVER
        };
        assert_eq!(
            SERVER.check(&header(OpCode::Text, 1, None)),
            Err(ProtocolError::UnmaskedClientFrame)
        );
        assert_eq!(SERVER.check(&header(OpCode::Text, 1, KEY)), Ok(()));
        assert_eq!(
            client.check(&header(OpCode::Text, 1, KEY)),
            Err(ProtocolError::MaskedServerFrame)
        );
        assert_eq!(client.check(&header(OpCode::Text, 1, None)), Ok(()));
    }

    #[test]
    fn rules_enforce_control_frame_limits() {
        let long_ping = header(OpCode::Ping, 126, KEY);
        assert_eq!(
            SERVER.check(&long_ping),
            Err(ProtocolError::ControlFrameTooLong(126))
        );
        let fragmented = FrameHeader {
            fin: false,
            ..header(OpCode::Pong, 1, KEY)
        };
        assert_eq!(
            SERVER.check(&fragmented),
            Err(ProtocolError::FragmentedControlFrame)
        );
        assert_eq!(SERVER.check(&header(OpCode::Close, 125, KEY)), Ok(()));
    }

    #[test]
    fn rules_allow_only_negotiated_rsv_bits_and_never_on_control_frames() {
        let compressed = FrameHeader {
            rsv: RSV1,
            ..header(OpCode::Text, 5, KEY)
        };
        assert_eq!(
            SERVER.check(&compressed),
            Err(ProtocolError::ReservedBits { bits: RSV1 })
        );
        let deflate = FrameRules {
            allowed_rsv: RSV1,
            ..SERVER
        };
        assert_eq!(deflate.check(&compressed), Ok(()));
        let ping = FrameHeader {
            rsv: RSV1,
            ..header(OpCode::Ping, 0, KEY)
        };
        assert_eq!(
            deflate.check(&ping),
            Err(ProtocolError::ReservedBits { bits: RSV1 })
        );
        let rsv2 = FrameHeader {
            rsv: RSV2,
            ..header(OpCode::Binary, 0, KEY)
        };
        assert_eq!(
            deflate.check(&rsv2),
            Err(ProtocolError::ReservedBits { bits: RSV2 })
        );
    }

    #[test]
    fn rules_enforce_the_frame_size_limit() {
        assert_eq!(SERVER.check(&header(OpCode::Binary, 1000, KEY)), Ok(()));
        let err = SERVER
            .check(&header(OpCode::Binary, 1001, KEY))
            .unwrap_err();
        assert_eq!(
            err,
            ProtocolError::FrameTooLarge {
                len: 1001,
                max: 1000
            }
        );
        assert_eq!(err.close_code().as_u16(), 1009);
    }
}
