//! The push message format the reference server delivers over every
//! transport: `{"seq":N,"ts":T,"payload":"..."}`, where `seq` counts 1, 2,
//! 3, … in publish order and `ts` is the publish time in CLOCK_MONOTONIC
//! nanoseconds (see [`crate::clock`]), so a subscriber on the same host can
//! compute one-way latency.
//!
//! A publisher may send its own clock with `POST /publish` in the
//! [`SENT_NS_HEADER`] header; the message then carries that time instead,
//! so a publisher on another host than the server can time, on its own
//! clock, the messages it published (publisher → server → subscriber).

use std::borrow::Cow;

use serde::Deserialize;

/// A message or poll response that is not in the push format.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a push message: {0}")]
pub struct BadMessage(pub String);

/// One push message.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct PushMessage<'a> {
    /// Sequence number, from 1.
    pub seq: u64,
    /// Publish time, CLOCK_MONOTONIC nanoseconds.
    #[serde(rename = "ts")]
    pub ts_ns: u64,
    /// What the publisher sent.
    #[serde(borrow)]
    pub payload: Cow<'a, str>,
}

impl PushMessage<'_> {
    /// Parses one message.
    pub fn parse(json: &[u8]) -> Result<PushMessage<'_>, BadMessage> {
        serde_json::from_slice(json).map_err(|e| BadMessage(e.to_string()))
    }
}

/// The header of `POST /publish` that carries the publisher's
/// CLOCK_MONOTONIC nanoseconds at sending.
pub const SENT_NS_HEADER: &str = "x-wsbench-sent-ns";

/// Encodes a message as the server sends it.
pub fn encode(seq: u64, ts_ns: u64, payload: &str) -> String {
    use std::io::Write;
    // Sized for a payload with nothing to escape; one with much to escape
    // grows, and is trimmed so a retained message holds no spare room.
    let mut out = Vec::with_capacity(payload.len() + 64);
    let _ = write!(out, "{{\"seq\":{seq},\"ts\":{ts_ns},\"payload\":");
    serde_json::to_writer(&mut out, payload).expect("a string always serialises");
    out.push(b'}');
    if out.capacity() - out.len() > 4096 {
        out.shrink_to_fit();
    }
    String::from_utf8(out).expect("JSON text is UTF-8")
}

/// A poll response: `{"cursor":N,"messages":[...]}`.
#[derive(Debug, Deserialize)]
pub struct PollBatch<'a> {
    /// The cursor to send with the next poll (the last `seq` delivered, or
    /// the request's cursor when nothing was).
    pub cursor: u64,
    /// The messages after the request's cursor, oldest first.
    #[serde(borrow)]
    pub messages: Vec<PushMessage<'a>>,
}

impl PollBatch<'_> {
    /// Parses a poll response body.
    pub fn parse(json: &[u8]) -> Result<PollBatch<'_>, BadMessage> {
        serde_json::from_slice(json).map_err(|e| BadMessage(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_then_parse_round_trips_with_escapes() {
        let json = encode(7, 123_456_789, "a \"quoted\"\n\u{e9}");
        let m = PushMessage::parse(json.as_bytes()).unwrap();
        assert_eq!(
            (m.seq, m.ts_ns, m.payload.as_ref()),
            (7, 123_456_789, "a \"quoted\"\n\u{e9}")
        );
        // Without escapes the payload is borrowed, not copied.
        let json = encode(1, 2, "plain");
        let m = PushMessage::parse(json.as_bytes()).unwrap();
        assert!(matches!(m.payload, Cow::Borrowed("plain")));
    }

    #[test]
    fn batches_parse_and_bad_input_is_an_error() {
        let body = format!(
            r#"{{"cursor":9,"messages":[{},{}]}}"#,
            encode(8, 1, "x"),
            encode(9, 2, "y")
        );
        let b = PollBatch::parse(body.as_bytes()).unwrap();
        assert_eq!(b.cursor, 9);
        assert_eq!(b.messages.iter().map(|m| m.seq).collect::<Vec<_>>(), [8, 9]);
        for bad in [&b"{"[..], br#"{"seq":"x","ts":1,"payload":""}"#, b""] {
            assert!(PushMessage::parse(bad).is_err());
        }
    }
}
