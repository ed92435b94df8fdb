//! Echo payloads: each carries its sequence number, so a reply can be
//! checked byte for byte against what was sent.

use wsbench_model::PayloadKind;

/// The payload of message `seq`, `size` bytes (at least the sequence
/// number's 16 hex digits; JSON at least 32 bytes).
pub fn make(kind: PayloadKind, size: usize, seq: u64) -> Vec<u8> {
    match kind {
        PayloadKind::Text => {
            let mut p = format!("{seq:016x}").into_bytes();
            p.resize(size.max(16), b'x');
            p
        }
        PayloadKind::Binary => {
            let mut p = seq.to_le_bytes().to_vec();
            p.extend((8..size.max(8)).map(|i| (i as u8) ^ (seq as u8)));
            p
        }
        PayloadKind::Json => {
            let head = format!("{{\"seq\":{seq},\"pad\":\"");
            let fill = size.saturating_sub(head.len() + 2);
            let mut p = head.into_bytes();
            p.resize(p.len() + fill, b'x');
            p.extend_from_slice(b"\"}");
            p
        }
    }
}

/// A JSON payload for the push publisher: `{"n":0,"pad":"xx…"}` of about
/// `size` bytes.
pub fn push_json(size: usize) -> String {
    let head = "{\"n\":0,\"pad\":\"";
    let fill = size.saturating_sub(head.len() + 2);
    format!("{head}{}\"}}", "x".repeat(fill))
}

/// The body a load generator publishes when it times its own messages
/// (`push_clock = "publisher"`): marked with its origin `k` (text
/// `o<k>:xx…`, JSON `{"o":k,"pad":"xx…"}`), about `size` bytes.
pub fn push_from(kind: PayloadKind, size: usize, k: u64) -> String {
    match kind {
        PayloadKind::Json => {
            let head = format!("{{\"o\":{k},\"pad\":\"");
            let fill = size.saturating_sub(head.len() + 2);
            format!("{head}{}\"}}", "x".repeat(fill))
        }
        _ => {
            let head = format!("o{k}:");
            let fill = size.saturating_sub(head.len());
            format!("{head}{}", "x".repeat(fill))
        }
    }
}

/// The origin mark of a pushed payload written by [`push_from`].
pub fn origin_of(payload: &str) -> Option<u64> {
    let rest = payload
        .strip_prefix("{\"o\":")
        .or_else(|| payload.strip_prefix('o'))?;
    let end = rest.find([',', ':'])?;
    rest[..end].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_marks_round_trip() {
        for kind in [PayloadKind::Text, PayloadKind::Json] {
            for k in [0, 7, 12345] {
                let p = push_from(kind, 64, k);
                assert_eq!(p.len(), 64, "{p}");
                assert_eq!(origin_of(&p), Some(k), "{p}");
            }
        }
        let json = push_from(PayloadKind::Json, 64, 3);
        assert!(simd_json::to_borrowed_value(&mut json.clone().into_bytes()).is_ok());
        assert_eq!(origin_of(&push_json(64)), None);
        assert_eq!(origin_of(&"x".repeat(64)), None);
        assert_eq!(origin_of("oops"), None);
    }

    #[test]
    fn payloads_have_their_size_and_differ_by_sequence() {
        for kind in [PayloadKind::Text, PayloadKind::Binary, PayloadKind::Json] {
            let a = make(kind, 64, 1);
            let b = make(kind, 64, 2);
            assert_eq!(a.len(), 64, "{kind:?}");
            assert_ne!(a, b);
        }
        let j = make(PayloadKind::Json, 40, 7);
        let v: serde_json::Value = serde_json::from_slice(&j).unwrap();
        assert_eq!(v["seq"], 7);
        let v: serde_json::Value = serde_json::from_str(&push_json(100)).unwrap();
        assert_eq!(v["n"], 0);
        assert_eq!(push_json(100).len(), 100);
    }
}
