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
        let j = make(PayloadKind::Json, 40, 7);
        let v: serde_json::Value = serde_json::from_slice(&j).unwrap();
        assert_eq!(v["seq"], 7);
    }
}
