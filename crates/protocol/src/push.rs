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
    /// Parses one message: as [`encode`] writes it, with a payload that
    /// needs no escapes, read straight from the bytes (every message a
    /// subscriber receives goes through here); anything else through
    /// serde_json, which gives the same message or the error.
    pub fn parse(json: &[u8]) -> Result<PushMessage<'_>, BadMessage> {
        match parse_plain(json) {
            Some(m) => Ok(m),
            None => serde_json::from_slice(json).map_err(|e| BadMessage(e.to_string())),
        }
    }
}

/// `json` when it is exactly `{"seq":N,"ts":T,"payload":"…"}` as
/// [`encode`] writes a payload without `"`, `\` or control characters;
/// `None` for anything else, including what is not JSON.
fn parse_plain(json: &[u8]) -> Option<PushMessage<'_>> {
    let rest = json.strip_prefix(b"{\"seq\":")?;
    let (seq, rest) = number(rest)?;
    let rest = rest.strip_prefix(b",\"ts\":")?;
    let (ts_ns, rest) = number(rest)?;
    let rest = rest.strip_prefix(b",\"payload\":\"")?;
    let payload = rest.strip_suffix(b"\"}")?;
    if payload.iter().any(|&b| b == b'"' || b == b'\\' || b < 0x20) {
        return None;
    }
    let payload = std::str::from_utf8(payload).ok()?;
    Some(PushMessage {
        seq,
        ts_ns,
        payload: Cow::Borrowed(payload),
    })
}

/// A JSON number that is a `u64` in plain digits (no sign, fraction,
/// exponent or leading zero) at the start of `b`, and what follows it.
fn number(b: &[u8]) -> Option<(u64, &[u8])> {
    let digits = b.iter().take_while(|d| d.is_ascii_digit()).count();
    if digits == 0 || (digits > 1 && b[0] == b'0') {
        return None;
    }
    let (d, rest) = b.split_at(digits);
    let n = d.iter().try_fold(0u64, |n, &c| {
        n.checked_mul(10)?.checked_add(u64::from(c - b'0'))
    })?;
    Some((n, rest))
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

    /// The bytes-first path and serde_json agree on every message: the
    /// same fields, or both an error.
    #[test]
    fn every_message_parses_as_serde_json_parses_it() {
        fn serde(b: &[u8]) -> Option<PushMessage<'_>> {
            serde_json::from_slice(b).ok()
        }
        let mut cases: Vec<Vec<u8>> = Vec::new();
        for payload in [
            "",
            "x",
            "plain text",
            "\u{e9}t\u{e9}",
            "a\"q",
            "back\\slash",
            "tab\t",
            "\u{7f}",
            "~wsb.1.2.3.4~xx",
        ] {
            for (seq, ts) in [(0, 0), (1, 2), (u64::MAX, u64::MAX - 1), (10, 1 << 40)] {
                cases.push(encode(seq, ts, payload).into_bytes());
            }
        }
        let raw = [
            &br#"{"seq":01,"ts":2,"payload":"x"}"#[..],
            br#"{"seq":18446744073709551616,"ts":2,"payload":"x"}"#,
            br#"{"seq":-1,"ts":2,"payload":"x"}"#,
            br#"{"seq":1.5,"ts":2,"payload":"x"}"#,
            br#"{"seq":1e3,"ts":2,"payload":"x"}"#,
            br#"{"seq":,"ts":2,"payload":"x"}"#,
            br#"{"seq": 1,"ts":2,"payload":"x"}"#,
            br#"{"ts":2,"seq":1,"payload":"x"}"#,
            br#"{"seq":1,"ts":2,"payload":"x"} "#,
            br#"{"seq":1,"ts":2,"payload":"x","more":1}"#,
            br#"{"seq":1,"ts":2,"payload":"x"}}"#,
            br#"{"seq":1,"ts":2,"payload":"x""}"#,
            br#"{"seq":1,"ts":2,"payload":"a"b"}"#,
            br#"{"seq":1,"ts":2,"payload":"a\"}"#,
            br#"{"seq":1,"ts":2,"payload":"a\u0041"}"#,
            b"{\"seq\":1,\"ts\":2,\"payload\":\"a\nb\"}",
            b"{\"seq\":1,\"ts\":2,\"payload\":\"\xff\"}",
            b"{\"seq\":1,\"ts\":2,\"payload\":\"\xc3\xa9\"}",
            br#"{"seq":1,"ts":2,"payload":"x"#,
            br#"{"seq":1,"ts":2,"payload":}"#,
            b"",
        ];
        cases.extend(raw.iter().map(|r| r.to_vec()));
        for case in &cases {
            let at = String::from_utf8_lossy(case);
            assert_eq!(PushMessage::parse(case).ok(), serde(case), "{at}");
        }
        // Each kind of input above: messages read straight from the bytes,
        // others through serde_json, and errors.
        assert!(parse_plain(&cases[4]).is_some());
        assert!(parse_plain(&encode(1, 2, "a\"q").into_bytes()).is_none());
        assert!(cases.iter().any(|c| serde(c).is_none()));
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
