//! Shared inputs for the criterion benches in `benches/benches/`.

#![forbid(unsafe_code)]

use std::time::Duration;

use criterion::Criterion;
use wsbench_codec::{Encoder, FastMaskKeys, FrameKind, OpCode};

/// Criterion settings for a shared 2-core machine: enough samples for a
/// stable median, short enough that `cargo bench` finishes in minutes.
pub fn criterion() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(40)
        .configure_from_args()
}

/// A byte buffer whose slice `[offset..offset + len]` starts exactly
/// `offset` bytes past a 64-byte boundary.
#[derive(Debug)]
pub struct AlignedBuf {
    bytes: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedBuf {
    /// `len` bytes of a repeating pattern, `offset` bytes past alignment.
    pub fn new(len: usize, offset: usize) -> AlignedBuf {
        let mut bytes: Vec<u8> = (0..len + offset + 64).map(|i| (i * 13) as u8).collect();
        let pad = (64 - bytes.as_ptr().addr() % 64) % 64;
        bytes.truncate(pad + offset + len);
        AlignedBuf {
            bytes,
            start: pad + offset,
            len,
        }
    }

    /// The slice under test. Inlined: benches call it inside their timed
    /// loops, and a call across crates would add a few ns to each iteration.
    #[inline]
    pub fn slice(&mut self) -> &mut [u8] {
        &mut self.bytes[self.start..self.start + self.len]
    }
}

/// `count` masked (client-to-server) frames of `payload_len` bytes each,
/// back to back, as a server reads them off a socket.
pub fn masked_frames(opcode: OpCode, payload_len: usize, count: usize) -> Vec<u8> {
    let mut enc = Encoder::client(FastMaskKeys::new(0xdead_beef));
    let payload: Vec<u8> = (0..payload_len).map(|i| b'a' + (i % 26) as u8).collect();
    let mut out = Vec::new();
    for _ in 0..count {
        enc.encode_to_vec(&mut out, FrameKind::whole(opcode), &payload)
            .expect("valid frame");
    }
    out
}

/// Text of `len` bytes: all ASCII, or mixed (about a third of the bytes in
/// 2-, 3- and 4-byte characters).
pub fn text(len: usize, mixed: bool) -> String {
    let unit = if mixed {
        "Grüße, 世界! κόσμε 🦀 plain ascii words here, "
    } else {
        "The quick brown fox jumps over the lazy dog. "
    };
    let mut s = String::with_capacity(len + unit.len());
    while s.len() < len {
        s.push_str(unit);
    }
    let mut end = len;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s
}
