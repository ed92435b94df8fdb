//! Payloads: what kinds there are, echo payloads that carry their
//! sequence number (so a reply can be checked byte for byte against what
//! was sent), and the builtin publisher's bodies.

use serde::Deserialize;

/// What a payload holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PayloadKind {
    /// Text (ASCII).
    #[default]
    Text,
    /// Binary frames (echo, throughput); push messages are always text.
    Binary,
    /// A JSON document, parsed by the client with simd-json on arrival.
    Json,
}

impl PayloadKind {
    /// The name used in scenarios and results.
    pub fn name(self) -> &'static str {
        match self {
            PayloadKind::Text => "text",
            PayloadKind::Binary => "binary",
            PayloadKind::Json => "json",
        }
    }
}

/// The payload of message `seq`, `size` bytes or the least that holds its
/// sequence number (text: 16 hex digits; binary: 8 bytes; JSON: its `seq`
/// field and an empty `pad`).
pub fn make(kind: PayloadKind, size: usize, seq: u64) -> Vec<u8> {
    // Allocated once, at its final size.
    let mut p = Vec::with_capacity(size.max(32));
    make_into(kind, size, seq, &mut p);
    p
}

/// [`make`] into `p` (cleared first), for a caller that reuses one buffer.
pub fn make_into(kind: PayloadKind, size: usize, seq: u64, p: &mut Vec<u8>) {
    let parts = Parts::of(kind, size, seq);
    p.clear();
    p.extend_from_slice(parts.head());
    let pad_end = parts.len - parts.tail.len();
    match kind {
        PayloadKind::Binary => p.extend((p.len()..pad_end).map(|i| pad(kind, seq, i))),
        PayloadKind::Text | PayloadKind::Json => p.resize(pad_end, pad(kind, seq, 0)),
    }
    p.extend_from_slice(parts.tail);
}

/// Whether `bytes` are exactly the payload [`make`] builds for message
/// `seq`, checked in place (an echo checked per message allocates
/// nothing).
pub fn is_payload(kind: PayloadKind, size: usize, seq: u64, bytes: &[u8]) -> bool {
    let parts = Parts::of(kind, size, seq);
    // Byte by byte in one pass: at these sizes the entry of a library
    // compare of slices costs more than the bytes.
    bytes.len() == parts.len
        && bytes
            .iter()
            .enumerate()
            .all(|(i, &b)| b == parts.byte(kind, seq, i))
}

/// Message `seq`'s payload in three parts: the head (its tag, and for
/// JSON the padding field's opening), the padding ([`pad`]) and the tail;
/// `len` bytes in all, `size` or the least that holds head and tail.
struct Parts {
    head: [u8; HEAD_MAX],
    head_len: usize,
    tail: &'static [u8],
    len: usize,
}

/// The longest head: a JSON tag and `"pad":"`.
const HEAD_MAX: usize = TAG_MAX + 7;

impl Parts {
    fn of(kind: PayloadKind, size: usize, seq: u64) -> Parts {
        let tag = tag(kind, seq);
        let mut head = [0; HEAD_MAX];
        head[..tag.len()].copy_from_slice(&tag);
        let (open, tail): (&[u8], &'static [u8]) = match kind {
            PayloadKind::Json => (b"\"pad\":\"", b"\"}"),
            PayloadKind::Text | PayloadKind::Binary => (b"", b""),
        };
        let head_len = tag.len() + open.len();
        head[tag.len()..head_len].copy_from_slice(open);
        Parts {
            head,
            head_len,
            tail,
            len: size.max(head_len + tail.len()),
        }
    }

    fn head(&self) -> &[u8] {
        &self.head[..self.head_len]
    }

    /// Byte `i` (below `len`) of the payload.
    fn byte(&self, kind: PayloadKind, seq: u64, i: usize) -> u8 {
        let pad_end = self.len - self.tail.len();
        if i < self.head_len {
            self.head[i]
        } else if i < pad_end {
            pad(kind, seq, i)
        } else {
            self.tail[i - pad_end]
        }
    }
}

/// Byte `i` of message `seq`'s payload, in its padding: `x` in text and
/// JSON, a pattern of the position and the sequence number in binary.
fn pad(kind: PayloadKind, seq: u64, i: usize) -> u8 {
    match kind {
        PayloadKind::Binary => (i as u8) ^ (seq as u8),
        PayloadKind::Text | PayloadKind::Json => b'x',
    }
}

/// The bytes that name message `seq` in its payload (the start of what
/// [`make`] builds): a reply that holds them is the echo of `seq`, right
/// or wrong; one that does not is some other message.
pub fn tag(kind: PayloadKind, seq: u64) -> Tag {
    let mut t = Tag {
        buf: [0; TAG_MAX],
        len: 0,
    };
    // Written in place, not through `fmt` (decimal digits by `itoa`): a
    // tag is made for every message sent and every reply checked. (Every
    // tag fits: `{"seq":` + at most 20 digits + `,`.)
    let len = match kind {
        // 16 hex digits, most significant first.
        PayloadKind::Text => {
            for (k, d) in t.buf[..16].iter_mut().enumerate() {
                *d = b"0123456789abcdef"[(seq >> (60 - 4 * k)) as usize & 0xf];
            }
            16
        }
        PayloadKind::Binary => {
            t.buf[..8].copy_from_slice(&seq.to_le_bytes());
            8
        }
        PayloadKind::Json => {
            let mut decimal = itoa::Buffer::new();
            let digits = decimal.format(seq).as_bytes();
            let open = b"{\"seq\":";
            t.buf[..open.len()].copy_from_slice(open);
            t.buf[open.len()..][..digits.len()].copy_from_slice(digits);
            t.buf[open.len() + digits.len()] = b',';
            open.len() + digits.len() + 1
        }
    };
    t.len = len as u8;
    t
}

const TAG_MAX: usize = 28;

/// A [`tag`], held inline: finding one per reply allocates nothing.
#[derive(Clone, Copy, Debug)]
pub struct Tag {
    buf: [u8; TAG_MAX],
    len: u8,
}

impl std::ops::Deref for Tag {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }
}

/// The builtin publisher's message `n` (from 1): `size` bytes of `x`, or
/// with `json` a JSON document `{"n":N,"pad":"xx…"}` of `size` bytes (more
/// when `size` is too small to hold it).
pub fn builtin_body(json: bool, size: usize, n: u64) -> String {
    if !json {
        return "x".repeat(size);
    }
    let head = format!("{{\"n\":{n},\"pad\":\"");
    let fill = size.saturating_sub(head.len() + 2);
    let mut body = head;
    body.extend(std::iter::repeat_n('x', fill));
    body.push_str("\"}");
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_have_their_size_and_differ_by_sequence() {
        for kind in [PayloadKind::Text, PayloadKind::Binary, PayloadKind::Json] {
            let a = make(kind, 64, 1);
            let b = make(kind, 64, 2);
            assert_eq!(a.len(), 64, "{kind:?}");
            assert_ne!(a, b);
        }
        for kind in [PayloadKind::Text, PayloadKind::Binary, PayloadKind::Json] {
            assert!(make(kind, 64, 9).starts_with(&tag(kind, 9)), "{kind:?}");
            assert!(!make(kind, 64, 9).starts_with(&tag(kind, 10)), "{kind:?}");
        }
        // The longest tags fit whole.
        assert_eq!(
            &*tag(PayloadKind::Json, u64::MAX),
            br#"{"seq":18446744073709551615,"#
        );
        assert_eq!(&*tag(PayloadKind::Text, u64::MAX), b"ffffffffffffffff");
        assert_eq!(&*tag(PayloadKind::Binary, 1), [1, 0, 0, 0, 0, 0, 0, 0]);
        for seq in [0, 1, 9, 10, 255, 256, 99_999, 1 << 40, u64::MAX - 1] {
            assert_eq!(
                &*tag(PayloadKind::Text, seq),
                format!("{seq:016x}").as_bytes()
            );
            let json = format!("{{\"seq\":{seq},");
            assert_eq!(&*tag(PayloadKind::Json, seq), json.as_bytes());
        }
        let j = make(PayloadKind::Json, 40, 7);
        let v: serde_json::Value = serde_json::from_slice(&j).unwrap();
        assert_eq!(v["seq"], 7);
    }

    #[test]
    fn a_payload_is_recognised_in_place_and_any_change_is_not() {
        for kind in [PayloadKind::Text, PayloadKind::Binary, PayloadKind::Json] {
            for size in [0, 1, 7, 8, 16, 20, 31, 32, 40, 125, 1000] {
                for seq in [0, 1, 255, 256, 1 << 40, u64::MAX] {
                    let p = make(kind, size, seq);
                    let at = format!("{kind:?} size {size} seq {seq}");
                    assert!(is_payload(kind, size, seq, &p), "{at}");
                    assert!(!is_payload(kind, size, seq.wrapping_add(1), &p), "{at}");
                    if p.len() == size {
                        // (Below its minimum a payload has the minimum's size.)
                        assert!(!is_payload(kind, size + 1, seq, &p), "{at}");
                    }
                    assert!(!is_payload(kind, size, seq, &p[..p.len() - 1]), "{at}");
                    let mut longer = p.clone();
                    longer.push(b'x');
                    assert!(!is_payload(kind, size, seq, &longer), "{at}");
                    for i in 0..p.len() {
                        let mut bad = p.clone();
                        bad[i] ^= 0x20;
                        assert!(!is_payload(kind, size, seq, &bad), "{at}: byte {i}");
                    }
                }
            }
        }
    }

    #[test]
    fn builtin_bodies_have_their_size_and_json_parses() {
        assert_eq!(builtin_body(false, 64, 7), "x".repeat(64));
        let json = builtin_body(true, 64, 7);
        assert_eq!(json.len(), 64);
        assert!(json.starts_with(r#"{"n":7,"pad":"xx"#), "{json}");
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["n"], 7);
        assert_eq!(builtin_body(true, 4, 12), r#"{"n":12,"pad":""}"#);
    }
}
