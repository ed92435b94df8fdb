//! Decoding in pieces gives exactly what decoding whole gives. The first
//! bytes choose the cut points, the rest is the stream. Streams are mostly
//! valid: an optional mode re-frames the input as masked client frames so
//! the fuzzer reaches deep message-assembly states.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wsbench_codec::{
    Decoder, DecoderConfig, Encoder, FastMaskKeys, FrameKind, OpCode, OwnedMessage, ProtocolError,
    Role,
};

type Outcome = (Vec<OwnedMessage>, Option<ProtocolError>);

fn run(pieces: &[&[u8]]) -> Outcome {
    let mut dec = Decoder::new(DecoderConfig::new(Role::Server));
    let mut out = Vec::new();
    for piece in pieces {
        let mut piece = piece.to_vec();
        let mut pos = 0;
        loop {
            match dec.decode(&mut piece[pos..]) {
                Ok((n, Some(m))) => {
                    out.push(m.to_owned_message());
                    pos += n;
                }
                Ok((_, None)) => break,
                Err(e) => return (out, Some(e)),
            }
        }
    }
    (out, None)
}

/// Turns arbitrary bytes into a stream of well-formed masked frames: each
/// chunk's first byte picks opcode and FIN, the next its length.
fn reframe(data: &[u8]) -> Vec<u8> {
    let mut enc = Encoder::client(FastMaskKeys::new(7));
    let mut out = Vec::new();
    let mut rest = data;
    while let [op, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (payload, next) = tail.split_at(n);
        let opcode = match op % 6 {
            0 => OpCode::Continuation,
            1 => OpCode::Text,
            2 => OpCode::Binary,
            3 => OpCode::Ping,
            4 => OpCode::Pong,
            _ => OpCode::Close,
        };
        let control = opcode.is_control();
        let mut payload = payload.to_vec();
        if control {
            payload.truncate(125);
        }
        if opcode == OpCode::Close && payload.len() >= 2 {
            payload[..2].copy_from_slice(&1000u16.to_be_bytes());
        }
        let kind = FrameKind {
            opcode,
            fin: control || op & 0x80 != 0,
            rsv: 0,
        };
        enc.encode_to_vec(&mut out, kind, &payload)
            .expect("a valid frame");
        rest = next;
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let [mode, ncuts, rest @ ..] = data else {
        return;
    };
    let ncuts = usize::from(*ncuts % 16).min(rest.len() / 2);
    let (cut_bytes, body) = rest.split_at(ncuts * 2);
    let stream = if mode & 1 == 1 {
        reframe(body)
    } else {
        body.to_vec()
    };
    let mut cuts: Vec<usize> = cut_bytes
        .chunks(2)
        .map(|c| usize::from(u16::from_le_bytes([c[0], c[1]])) % (stream.len() + 1))
        .collect();
    cuts.sort_unstable();
    let mut pieces = Vec::new();
    let mut last = 0;
    for c in cuts {
        pieces.push(&stream[last..c]);
        last = c;
    }
    pieces.push(&stream[last..]);
    let whole = run(&[&stream]);
    assert_eq!(run(&pieces), whole);
});
