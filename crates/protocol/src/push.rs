//! The push message format the reference server delivers over every
//! transport: `{"seq":N,"ts":T,"payload":"..."}`, where `seq` counts 1, 2,
//! 3, … in publish order and `ts` is the publish time in CLOCK_MONOTONIC
//! nanoseconds (see [`crate::clock`]), so a subscriber on the same host can
//! compute one-way latency. A poll response carries the messages after
//! the request's cursor: `{"cursor":N,"messages":[M,M,…]}`.
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

/// `json` when it is exactly one message as [`plain_message`] reads one.
fn parse_plain(json: &[u8]) -> Option<PushMessage<'_>> {
    let (m, rest) = plain_message(json)?;
    rest.is_empty().then_some(m)
}

/// The message at the start of `b` when it is exactly
/// `{"seq":N,"ts":T,"payload":"…"}` as [`encode`] writes a payload without
/// `"`, `\` or control characters, and what follows it; `None` for
/// anything else, including what is not JSON.
fn plain_message(b: &[u8]) -> Option<(PushMessage<'_>, &[u8])> {
    let (seq, rest) = number(b.strip_prefix(SEQ)?)?;
    let (ts_ns, rest) = number(rest.strip_prefix(TS)?)?;
    let rest = rest.strip_prefix(PAYLOAD)?.strip_prefix(b"\"")?;
    let (payload, rest) = rest.split_at(memchr::memchr(b'"', rest)?);
    let rest = rest.strip_prefix(b"\"}")?;
    if payload.iter().any(|&b| b == b'\\' || b < 0x20) {
        return None;
    }
    let payload = std::str::from_utf8(payload).ok()?;
    let m = PushMessage {
        seq,
        ts_ns,
        payload: Cow::Borrowed(payload),
    };
    Some((m, rest))
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

// The pieces of a message, `{"seq":N,"ts":T,"payload":"…"}`, and of a
// poll response, `{"cursor":N,"messages":[M,M,…]}`.
/// The start of a message as the server writes it, before its `seq`.
pub const SEQ: &[u8] = b"{\"seq\":";
/// Before a message's `ts` (CLOCK_MONOTONIC ns of its publishing).
pub const TS: &[u8] = b",\"ts\":";
const PAYLOAD: &[u8] = b",\"payload\":";
/// The start of a poll response, before its cursor.
pub const CURSOR: &[u8] = b"{\"cursor\":";
const MESSAGES: &[u8] = b",\"messages\":[";
/// Between two messages of a poll response.
pub const BATCH_SEP: &[u8] = b",";
/// The end of a poll response, after its last message.
pub const BATCH_END: &[u8] = b"]}";

/// Encodes a message as the server sends it.
pub fn encode(seq: u64, ts_ns: u64, payload: &str) -> String {
    // Sized for a payload with nothing to escape; one with much to escape
    // grows, and is trimmed so a retained message holds no spare room.
    let mut out = Vec::with_capacity(payload.len() + 64);
    out.extend_from_slice(SEQ);
    out.extend_from_slice(itoa::Buffer::new().format(seq).as_bytes());
    out.extend_from_slice(TS);
    out.extend_from_slice(itoa::Buffer::new().format(ts_ns).as_bytes());
    out.extend_from_slice(PAYLOAD);
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
    /// Parses a poll response body: read straight from the bytes when it
    /// and its messages are as the server writes them and no payload needs
    /// escapes (see [`PushMessage::parse`]), else through serde_json.
    pub fn parse(json: &[u8]) -> Result<PollBatch<'_>, BadMessage> {
        match parse_plain_batch(json) {
            Some(b) => Ok(b),
            None => serde_json::from_slice(json).map_err(|e| BadMessage(e.to_string())),
        }
    }
}

/// The start of a poll response, up to its first message; the messages
/// follow, [`BATCH_SEP`] between two, then [`BATCH_END`].
pub fn batch_open(cursor: u64) -> Vec<u8> {
    let mut out = CURSOR.to_vec();
    out.extend_from_slice(itoa::Buffer::new().format(cursor).as_bytes());
    out.extend_from_slice(MESSAGES);
    out
}

/// `json` when it is exactly a poll response as the server writes it,
/// every message as [`plain_message`] reads one; `None` for anything else.
fn parse_plain_batch(json: &[u8]) -> Option<PollBatch<'_>> {
    let (cursor, rest) = number(json.strip_prefix(CURSOR)?)?;
    let mut rest = rest.strip_prefix(MESSAGES)?;
    let mut messages = Vec::new();
    if rest != BATCH_END {
        loop {
            let (m, after) = plain_message(rest)?;
            messages.push(m);
            match after.strip_prefix(BATCH_SEP) {
                Some(next) => rest = next,
                None if after == BATCH_END => break,
                None => return None,
            }
        }
    }
    Some(PollBatch { cursor, messages })
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

    /// Poll responses as the server writes them, and others, parse as
    /// serde_json parses them: the same cursor and messages, or both an
    /// error.
    #[test]
    fn every_batch_parses_as_serde_json_parses_it() {
        fn serde(b: &[u8]) -> Option<(u64, Vec<PushMessage<'_>>)> {
            let b: PollBatch<'_> = serde_json::from_slice(b).ok()?;
            Some((b.cursor, b.messages))
        }
        let batch = |cursor: u64, messages: &[String]| {
            let mut out = batch_open(cursor);
            out.extend_from_slice(&messages.join(",").into_bytes());
            out.extend_from_slice(BATCH_END);
            out
        };
        let m = |seq, payload| encode(seq, seq * 10, payload);
        let mut cases = vec![
            batch(5, &[]),
            batch(8, &[m(8, "x")]),
            batch(9, &[m(8, "x"), m(9, "y")]),
            batch(9, &[m(7, "\u{e9}"), m(8, "a\"q"), m(9, "y")]),
            batch(u64::MAX, &[m(1, ""), m(2, "~wsb.1.2.3.4~")]),
        ];
        assert_eq!(&cases[0], br#"{"cursor":5,"messages":[]}"#);
        for bad in [
            &br#"{"cursor":5,"messages":[]} "#[..],
            br#"{"cursor":5,"messages":[],"more":1}"#,
            br#"{"messages":[],"cursor":5}"#,
            br#"{"cursor":05,"messages":[]}"#,
            br#"{"cursor":5,"messages":[,]}"#,
            br#"{"cursor":5,"messages":[{"seq":1,"ts":2,"payload":"x"},]}"#,
            br#"{"cursor":5,"messages":[{"seq":1,"ts":2,"payload":"x"}{"seq":2,"ts":2,"payload":"x"}]}"#,
            br#"{"cursor":5,"messages":[{"seq":1,"ts":2,"payload":"x"}"#,
            br#"{"cursor":5,"messages":[{"seq":1,"ts":2,"payload":"x\"}]}"#,
            br#"{"cursor":5,"messages":[{"seq":1,"ts":2}]}"#,
            br#"{"cursor":5}"#,
        ] {
            cases.push(bad.to_vec());
        }
        for case in &cases {
            let at = String::from_utf8_lossy(case);
            let ours = PollBatch::parse(case).ok().map(|b| (b.cursor, b.messages));
            assert_eq!(ours, serde(case), "{at}");
        }
        // Read straight from the bytes: the batches without escapes.
        for (i, case) in cases[..5].iter().enumerate() {
            assert_eq!(parse_plain_batch(case).is_some(), i != 3, "batch {i}");
        }
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
