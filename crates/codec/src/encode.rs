//! Frame encoding: minimal headers, masking with a caller-supplied key
//! source, output into caller buffers.
//!
//! For vectored writes, [`Encoder::header`] returns the header bytes and the
//! key alone; the caller masks its payload in place with
//! [`EncodedHeader::mask_payload`] (a no-op for servers) and writes both.
//! [`Encoder::encode_into`] and [`Encoder::encode_to_vec`] write the whole
//! frame, masking during the copy.

use crate::close::{CloseBodyError, CloseCode, encode_close_body};
use crate::frame::{FrameHeader, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN, OpCode, Role};
use crate::mask;

/// Where a client's masking keys come from. RFC 6455 §5.3 asks for keys an
/// intermediary cannot predict; seed the source from the OS.
pub trait MaskKeySource {
    /// The key for the next frame.
    fn next_key(&mut self) -> [u8; 4];
}

impl<F: FnMut() -> [u8; 4]> MaskKeySource for F {
    fn next_key(&mut self) -> [u8; 4] {
        self()
    }
}

/// A fast key source (xorshift64*), seeded by the caller. Unpredictable to
/// an intermediary only if the seed is: seed it from the OS's entropy.
#[derive(Clone, Debug)]
pub struct FastMaskKeys {
    state: u64,
}

impl FastMaskKeys {
    /// A source seeded with `seed` (zero is replaced by a fixed odd constant).
    pub fn new(seed: u64) -> FastMaskKeys {
        FastMaskKeys {
            state: if seed == 0 {
                0x9e37_79b9_7f4a_7c15
            } else {
                seed
            },
        }
    }
}

impl MaskKeySource for FastMaskKeys {
    fn next_key(&mut self) -> [u8; 4] {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        let out = x.wrapping_mul(0x2545_f491_4f6c_dd1d);
        ((out >> 32) as u32).to_le_bytes()
    }
}

/// The key source of a server's encoder: servers never mask.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoMasking;

impl MaskKeySource for NoMasking {
    fn next_key(&mut self) -> [u8; 4] {
        unreachable!("a server encoder never masks")
    }
}

/// A frame the encoder refuses to produce.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// Control frames carry at most 125 bytes.
    #[error("control frame payload of {0} bytes (at most 125)")]
    ControlFrameTooLong(usize),
    /// Control frames cannot be fragmented.
    #[error("control frames cannot be fragmented")]
    FragmentedControlFrame,
    /// The output buffer is too small for the frame.
    #[error("output buffer of {available} bytes, frame needs {needed}")]
    BufferTooSmall {
        /// Bytes the frame takes.
        needed: usize,
        /// Bytes the buffer has.
        available: usize,
    },
    /// The close body is invalid.
    #[error(transparent)]
    Close(#[from] CloseBodyError),
    /// A frame encoded once for many connections is unmasked: a client
    /// must mask every frame with its own key.
    #[error("a client cannot send a frame encoded for servers")]
    ServerFrameFromClient,
}

/// A header ready to write, with the key the payload must be masked with.
#[derive(Clone, Copy, Debug)]
pub struct EncodedHeader {
    bytes: [u8; MAX_HEADER_LEN],
    len: u8,
    mask: Option<[u8; 4]>,
}

impl EncodedHeader {
    /// The header bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// The masking key (clients only).
    pub fn mask(&self) -> Option<[u8; 4]> {
        self.mask
    }

    /// Masks `payload` in place for sending after this header (no-op
    /// without a key).
    pub fn mask_payload(&self, payload: &mut [u8]) {
        if let Some(key) = self.mask {
            mask::mask(payload, key, 0);
        }
    }
}

/// What a frame carries besides its payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameKind {
    /// Frame type.
    pub opcode: OpCode,
    /// Last frame of its message.
    pub fin: bool,
    /// RSV bits (RSV1 for a permessage-deflate compressed message's first frame).
    pub rsv: u8,
}

impl FrameKind {
    /// An unfragmented frame of this type, no RSV bits.
    pub const fn whole(opcode: OpCode) -> FrameKind {
        FrameKind {
            opcode,
            fin: true,
            rsv: 0,
        }
    }
}

/// Encodes frames for one side of a connection. See the module docs.
#[derive(Clone, Debug)]
pub struct Encoder<K = NoMasking> {
    role: Role,
    keys: K,
}

impl Encoder<NoMasking> {
    /// An encoder for a server: frames go out unmasked.
    pub fn server() -> Encoder<NoMasking> {
        Encoder {
            role: Role::Server,
            keys: NoMasking,
        }
    }
}

impl<K: MaskKeySource> Encoder<K> {
    /// An encoder for a client: every frame is masked with a key from `keys`.
    pub fn client(keys: K) -> Encoder<K> {
        Encoder {
            role: Role::Client,
            keys,
        }
    }

    /// Which side this encoder writes for.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The header for a frame of `payload_len` bytes, with a fresh key when
    /// this is a client.
    pub fn header(
        &mut self,
        kind: FrameKind,
        payload_len: u64,
    ) -> Result<EncodedHeader, EncodeError> {
        if kind.opcode.is_control() {
            if !kind.fin {
                return Err(EncodeError::FragmentedControlFrame);
            }
            if payload_len > MAX_CONTROL_PAYLOAD as u64 {
                return Err(EncodeError::ControlFrameTooLong(payload_len as usize));
            }
        }
        let mask = match self.role {
            Role::Client => Some(self.keys.next_key()),
            Role::Server => None,
        };
        let header = FrameHeader {
            fin: kind.fin,
            rsv: kind.rsv,
            opcode: kind.opcode,
            mask,
            payload_len,
        };
        let mut bytes = [0; MAX_HEADER_LEN];
        let len = header.encode(&mut bytes) as u8;
        Ok(EncodedHeader { bytes, len, mask })
    }

    /// Writes a whole frame (header, then the payload masked during the
    /// copy) into `out`; returns the bytes written.
    pub fn encode_into(
        &mut self,
        out: &mut [u8],
        kind: FrameKind,
        payload: &[u8],
    ) -> Result<usize, EncodeError> {
        let header = self.header(kind, payload.len() as u64)?;
        let h = header.as_bytes();
        let needed = h.len() + payload.len();
        if out.len() < needed {
            return Err(EncodeError::BufferTooSmall {
                needed,
                available: out.len(),
            });
        }
        out[..h.len()].copy_from_slice(h);
        let dst = &mut out[h.len()..needed];
        match header.mask {
            Some(key) => mask::copy_mask(payload, dst, key, 0),
            None => dst.copy_from_slice(payload),
        }
        Ok(needed)
    }

    /// Appends a whole frame to `out`.
    pub fn encode_to_vec(
        &mut self,
        out: &mut Vec<u8>,
        kind: FrameKind,
        payload: &[u8],
    ) -> Result<(), EncodeError> {
        let header = self.header(kind, payload.len() as u64)?;
        out.reserve(header.as_bytes().len() + payload.len());
        out.extend_from_slice(header.as_bytes());
        match header.mask {
            Some(key) => {
                let start = out.len();
                out.resize(start + payload.len(), 0);
                mask::copy_mask(payload, &mut out[start..], key, 0);
            }
            None => out.extend_from_slice(payload),
        }
        Ok(())
    }

    /// Appends a close frame with `code` and `reason` to `out`.
    pub fn encode_close(
        &mut self,
        out: &mut Vec<u8>,
        code: CloseCode,
        reason: &str,
    ) -> Result<(), EncodeError> {
        let mut body = [0; MAX_CONTROL_PAYLOAD];
        let n = encode_close_body(code, reason, &mut body)?;
        self.encode_to_vec(out, FrameKind::whole(OpCode::Close), &body[..n])
    }
}

/// A whole data frame encoded once and sent as is on any number of server
/// connections: servers do not mask, so every client gets the same bytes
/// (a broadcast frames a message once, not once per subscriber).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerFrame {
    bytes: Vec<u8>,
    header_len: usize,
    opcode: OpCode,
}

impl ServerFrame {
    /// `payload` as one unfragmented, uncompressed frame of `opcode`.
    pub fn new(opcode: OpCode, payload: &[u8]) -> Result<ServerFrame, EncodeError> {
        let mut bytes = Vec::with_capacity(MAX_HEADER_LEN + payload.len());
        Encoder::server().encode_to_vec(&mut bytes, FrameKind::whole(opcode), payload)?;
        Ok(ServerFrame {
            header_len: bytes.len() - payload.len(),
            bytes,
            opcode,
        })
    }

    /// The frame as it goes on the wire.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The payload it carries.
    pub fn payload(&self) -> &[u8] {
        &self.bytes[self.header_len..]
    }

    /// Its opcode.
    pub fn opcode(&self) -> OpCode {
        self.opcode
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{FrameDecoder, FrameEvent};
    use crate::frame::FrameRules;

    fn decode_one(role: Role, bytes: &mut [u8]) -> (FrameHeader, Vec<u8>) {
        let mut dec = FrameDecoder::new(FrameRules {
            role,
            allowed_rsv: 0b111,
            max_frame_size: u64::MAX,
        });
        let (n, Some(FrameEvent::Header(h))) = dec.decode(bytes).unwrap() else {
            panic!()
        };
        let (_, Some(FrameEvent::Payload(p))) = dec.decode(&mut bytes[n..]).unwrap() else {
            panic!()
        };
        (h, p.unmask().to_vec())
    }

    #[test]
    fn client_frames_are_masked_and_decode_back() {
        let mut enc = Encoder::client(FastMaskKeys::new(42));
        for len in [0, 1, 125, 126, 65_535, 65_536] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut out = Vec::new();
            enc.encode_to_vec(&mut out, FrameKind::whole(OpCode::Binary), &payload)
                .unwrap();
            let (h, got) = decode_one(Role::Server, &mut out);
            assert!(h.mask.is_some());
            assert_eq!(got, payload, "len {len}");
            let mut buf = vec![0; len + MAX_HEADER_LEN];
            let n = enc
                .encode_into(&mut buf, FrameKind::whole(OpCode::Binary), &payload)
                .unwrap();
            let (_, got) = decode_one(Role::Server, &mut buf[..n]);
            assert_eq!(got, payload);
        }
    }

    #[test]
    fn server_frames_are_unmasked_with_minimal_headers() {
        let mut enc = Encoder::server();
        let mut out = Vec::new();
        enc.encode_to_vec(&mut out, FrameKind::whole(OpCode::Text), b"hi")
            .unwrap();
        assert_eq!(out, [0x81, 0x02, b'h', b'i']);
        let kind = FrameKind {
            opcode: OpCode::Binary,
            fin: false,
            rsv: crate::frame::RSV1,
        };
        let h = enc.header(kind, 300).unwrap();
        assert_eq!(h.as_bytes(), [0x42, 126, 0x01, 0x2c]);
        assert_eq!(h.mask(), None);
    }

    #[test]
    fn vectored_header_and_in_place_payload_match_the_copying_path() {
        let payload: Vec<u8> = (0..1000).map(|i| (i * 3) as u8).collect();
        let mut a = Encoder::client(FastMaskKeys::new(7));
        let mut b = Encoder::client(FastMaskKeys::new(7));
        let mut whole = Vec::new();
        a.encode_to_vec(&mut whole, FrameKind::whole(OpCode::Binary), &payload)
            .unwrap();
        let h = b.header(FrameKind::whole(OpCode::Binary), 1000).unwrap();
        let mut body = payload.clone();
        h.mask_payload(&mut body);
        assert_eq!([h.as_bytes(), &body].concat(), whole);
    }

    #[test]
    fn refuses_invalid_control_frames_and_small_buffers() {
        let mut enc = Encoder::server();
        let ping = FrameKind::whole(OpCode::Ping);
        assert_eq!(
            enc.header(ping, 126).unwrap_err(),
            EncodeError::ControlFrameTooLong(126)
        );
        let fragmented = FrameKind { fin: false, ..ping };
        assert_eq!(
            enc.header(fragmented, 1).unwrap_err(),
            EncodeError::FragmentedControlFrame
        );
        let mut small = [0u8; 4];
        assert_eq!(
            enc.encode_into(&mut small, FrameKind::whole(OpCode::Binary), b"abc"),
            Err(EncodeError::BufferTooSmall {
                needed: 5,
                available: 4
            })
        );
    }

    #[test]
    fn close_frames_carry_code_and_reason() {
        let mut out = Vec::new();
        Encoder::server()
            .encode_close(&mut out, CloseCode::GOING_AWAY, "bye")
            .unwrap();
        assert_eq!(out, [0x88, 5, 0x03, 0xe9, b'b', b'y', b'e']);
        let err = Encoder::server().encode_close(&mut out, CloseCode::new(1005), "");
        assert_eq!(
            err,
            Err(EncodeError::Close(CloseBodyError::InvalidCode(1005)))
        );
    }

    #[test]
    fn key_sources_vary_and_closures_work() {
        let mut keys = FastMaskKeys::new(1);
        let a = keys.next_key();
        let b = keys.next_key();
        assert_ne!(a, b);
        let mut n = 0u8;
        let mut enc = Encoder::client(move || {
            n += 1;
            [n; 4]
        });
        let h = enc.header(FrameKind::whole(OpCode::Binary), 0).unwrap();
        assert_eq!(h.mask(), Some([1; 4]));
    }
}
