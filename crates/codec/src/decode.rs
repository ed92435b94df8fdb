//! Resumable frame decoding: headers and payload chunks from bytes that may
//! arrive split anywhere, one byte at a time included.
//!
//! [`FrameDecoder`] is the frame layer under [`crate::Decoder`]; use it
//! directly to see frames rather than messages (proxies, fuzzers, benches).
//! It never buffers payload: each call hands back the payload bytes present
//! in the input, still masked, as a [`PayloadChunk`] that the caller unmasks
//! in place or copies out with the unmask fused into the copy. Only an
//! incomplete header (at most 13 bytes) is kept between calls.

use crate::error::ProtocolError;
use crate::frame::{FrameHeader, FrameRules, MAX_HEADER_LEN};
use crate::mask;

/// What one [`FrameDecoder::decode`] call found.
#[derive(Debug)]
pub enum FrameEvent<'a> {
    /// A complete frame header, already checked against the [`FrameRules`].
    /// The frame's payload follows as [`FrameEvent::Payload`] events.
    Header(FrameHeader),
    /// Payload bytes of the current frame. Every frame yields at least one
    /// chunk (empty for an empty payload); the last has
    /// [`PayloadChunk::is_last`] set.
    Payload(PayloadChunk<'a>),
}

/// Payload bytes of a frame, as they sit in the input (still masked).
#[derive(Debug)]
pub struct PayloadChunk<'a> {
    data: &'a mut [u8],
    mask: Option<[u8; 4]>,
    offset: u64,
    last: bool,
}

impl<'a> PayloadChunk<'a> {
    /// Number of payload bytes in this chunk.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether this chunk holds no bytes (only for empty payloads).
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Offset of this chunk's first byte in the frame's payload.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Whether this chunk ends the frame's payload.
    pub fn is_last(&self) -> bool {
        self.last
    }

    /// Unmasks the chunk in place in the input buffer and returns it.
    #[inline]
    pub fn unmask(self) -> &'a [u8] {
        if let Some(key) = self.mask {
            mask::mask(self.data, key, self.offset as usize);
        }
        self.data
    }

    /// Writes the unmasked chunk into `dst` in one pass, leaving the input
    /// untouched.
    ///
    /// # Panics
    /// If `dst.len() != self.len()`.
    #[inline]
    pub fn unmask_into(&self, dst: &mut [u8]) {
        match self.mask {
            Some(key) => mask::copy_mask(self.data, dst, key, self.offset as usize),
            None => dst.copy_from_slice(self.data),
        }
    }
}

/// The current frame's header and how much of its payload has been handed out.
#[derive(Clone, Copy, Debug)]
struct InPayload {
    header: FrameHeader,
    done: u64,
}

/// Decodes frames from a byte stream, resumably. See the module docs.
#[derive(Clone, Debug)]
pub struct FrameDecoder {
    rules: FrameRules,
    header: [u8; MAX_HEADER_LEN],
    header_len: u8,
    current: Option<InPayload>,
}

impl FrameDecoder {
    /// A decoder at the start of a stream.
    pub fn new(rules: FrameRules) -> FrameDecoder {
        FrameDecoder {
            rules,
            header: [0; MAX_HEADER_LEN],
            header_len: 0,
            current: None,
        }
    }

    /// The rules headers are checked against.
    pub fn rules(&self) -> &FrameRules {
        &self.rules
    }

    /// Changes the rules (e.g. once an extension is negotiated).
    pub fn set_rules(&mut self, rules: FrameRules) {
        self.rules = rules;
    }

    /// Whether the next byte of input starts a new frame.
    #[inline]
    pub fn is_at_frame_boundary(&self) -> bool {
        self.header_len == 0 && self.current.is_none()
    }

    /// Decodes from `input`, returning how many bytes were consumed and the
    /// next event, if the input completed one.
    ///
    /// When no event is returned, all of `input` was consumed (a partial
    /// header is kept inside the decoder): the caller can discard it and call
    /// again with more bytes. When an event is returned, the caller handles
    /// it and calls again with `input[consumed..]`.
    pub fn decode<'a>(
        &mut self,
        input: &'a mut [u8],
    ) -> Result<(usize, Option<FrameEvent<'a>>), ProtocolError> {
        if let Some(cur) = &mut self.current {
            let remaining = cur.header.payload_len - cur.done;
            if remaining > 0 && input.is_empty() {
                return Ok((0, None));
            }
            let n = usize::try_from(remaining).map_or(input.len(), |r| r.min(input.len()));
            let chunk = PayloadChunk {
                data: &mut input[..n],
                mask: cur.header.mask,
                offset: cur.done,
                last: n as u64 == remaining,
            };
            cur.done += n as u64;
            if chunk.last {
                self.current = None;
            }
            return Ok((n, Some(FrameEvent::Payload(chunk))));
        }
        let (header, consumed) = if self.header_len == 0 {
            match FrameHeader::parse(input)? {
                Some(parsed) => parsed,
                None => {
                    // Shorter than a header: keep it all.
                    self.header[..input.len()].copy_from_slice(input);
                    self.header_len = input.len() as u8;
                    return Ok((input.len(), None));
                }
            }
        } else {
            let have = usize::from(self.header_len);
            let take = (MAX_HEADER_LEN - have).min(input.len());
            self.header[have..have + take].copy_from_slice(&input[..take]);
            match FrameHeader::parse(&self.header[..have + take])? {
                Some((header, len)) => {
                    self.header_len = 0;
                    (header, len - have)
                }
                None => {
                    self.header_len = (have + take) as u8;
                    return Ok((take, None));
                }
            }
        };
        self.rules.check(&header)?;
        self.current = Some(InPayload { header, done: 0 });
        Ok((consumed, Some(FrameEvent::Header(header))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{OpCode, Role};

    const RULES: FrameRules = FrameRules {
        role: Role::Server,
        allowed_rsv: 0,
        max_frame_size: 1 << 20,
    };

    /// A masked binary frame carrying `payload`.
    fn masked_frame(payload: &[u8], key: [u8; 4]) -> Vec<u8> {
        let h = FrameHeader {
            fin: true,
            rsv: 0,
            opcode: OpCode::Binary,
            mask: Some(key),
            payload_len: payload.len() as u64,
        };
        let mut hdr = [0; MAX_HEADER_LEN];
        let n = h.encode(&mut hdr);
        let mut out = hdr[..n].to_vec();
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        out
    }

    /// Feeds `bytes` in pieces of `piece` bytes and returns headers and the
    /// unmasked payload of every frame.
    fn decode_in_pieces(bytes: &[u8], piece: usize) -> Vec<(FrameHeader, Vec<u8>)> {
        let mut dec = FrameDecoder::new(RULES);
        let mut frames: Vec<(FrameHeader, Vec<u8>)> = Vec::new();
        for chunk in bytes.chunks(piece) {
            let mut chunk = chunk.to_vec();
            let mut pos = 0;
            loop {
                let (n, event) = dec.decode(&mut chunk[pos..]).unwrap();
                pos += n;
                match event {
                    None => break,
                    Some(FrameEvent::Header(h)) => frames.push((h, Vec::new())),
                    Some(FrameEvent::Payload(p)) => {
                        let mut copied = vec![0; p.len()];
                        p.unmask_into(&mut copied);
                        let in_place = p.unmask().to_vec();
                        assert_eq!(copied, in_place);
                        frames.last_mut().unwrap().1.extend_from_slice(&in_place);
                    }
                }
            }
            assert_eq!(pos, chunk.len(), "no event means all input consumed");
        }
        assert!(dec.is_at_frame_boundary());
        frames
    }

    #[test]
    fn any_piece_size_gives_the_same_frames() {
        let payloads: Vec<Vec<u8>> = [0usize, 1, 5, 125, 126, 300, 70_000]
            .iter()
            .map(|&n| (0..n).map(|i| (i * 7 % 256) as u8).collect())
            .collect();
        let mut stream = Vec::new();
        for (i, p) in payloads.iter().enumerate() {
            stream.extend(masked_frame(p, [i as u8, 0x5a, 0xc3, 0x11]));
        }
        for piece in [1, 2, 3, 7, 13, 14, 100, 4096, stream.len()] {
            let frames = decode_in_pieces(&stream, piece);
            let got: Vec<&Vec<u8>> = frames.iter().map(|(_, p)| p).collect();
            assert_eq!(got, payloads.iter().collect::<Vec<_>>(), "piece {piece}");
        }
    }

    #[test]
    fn empty_payloads_still_yield_a_last_chunk() {
        let mut bytes = masked_frame(&[], [1, 2, 3, 4]);
        let mut dec = FrameDecoder::new(RULES);
        let (n, ev) = dec.decode(&mut bytes).unwrap();
        assert!(matches!(ev, Some(FrameEvent::Header(h)) if h.payload_len == 0));
        let (m, ev) = dec.decode(&mut bytes[n..]).unwrap();
        assert_eq!(m, 0);
        assert!(matches!(ev, Some(FrameEvent::Payload(p)) if p.is_empty() && p.is_last()));
        assert!(dec.is_at_frame_boundary());
    }

    #[test]
    fn rule_violations_are_reported_once_the_header_is_complete() {
        // Unmasked frame to a server, fed one byte at a time.
        let mut bytes = [0x82, 0x01, 0xff];
        let mut dec = FrameDecoder::new(RULES);
        assert_eq!(dec.decode(&mut bytes[..1]).unwrap().0, 1);
        assert_eq!(
            dec.decode(&mut bytes[1..2]).unwrap_err(),
            ProtocolError::UnmaskedClientFrame
        );
    }

    #[test]
    fn chunk_offsets_track_the_position_in_the_payload() {
        let payload: Vec<u8> = (0..10).collect();
        let mut bytes = masked_frame(&payload, [7, 7, 7, 7]);
        let mut dec = FrameDecoder::new(RULES);
        let (n, _) = dec.decode(&mut bytes).unwrap();
        let mut offsets = Vec::new();
        let mut pos = n;
        while pos < bytes.len() {
            let end = (pos + 3).min(bytes.len());
            let (m, ev) = dec.decode(&mut bytes[pos..end]).unwrap();
            let Some(FrameEvent::Payload(p)) = ev else {
                panic!("payload expected")
            };
            offsets.push((p.offset(), p.is_last()));
            pos += m;
        }
        assert_eq!(offsets, [(0, false), (3, false), (6, false), (9, true)]);
    }
}
