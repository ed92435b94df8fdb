//! The Server-Sent Events stream format (HTML Living Standard, "Parsing an
//! event stream"), parsed incrementally as body chunks arrive.

use std::collections::VecDeque;

/// One dispatched event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SseEvent {
    /// The event type (`message` unless the stream named one).
    pub event: String,
    /// The data lines, joined with `\n`.
    pub data: String,
    /// The last event ID the stream set (it carries over between events).
    pub last_event_id: Option<String>,
}

/// An incremental parser: feed it chunks split anywhere.
#[derive(Debug, Default)]
pub struct SseParser {
    /// The current line, not yet ended.
    line: Vec<u8>,
    /// The last chunk ended with CR: a LF starting the next one belongs to it.
    after_cr: bool,
    /// The first line may start with a byte order mark.
    started: bool,
    data: String,
    has_data: bool,
    event: String,
    last_event_id: Option<String>,
}

impl SseParser {
    /// Parses `chunk`, pushing each event it completes onto `out`.
    pub fn feed(&mut self, mut chunk: &[u8], out: &mut VecDeque<SseEvent>) {
        if self.after_cr {
            if let Some(rest) = chunk.strip_prefix(b"\n") {
                chunk = rest;
            }
            self.after_cr = false;
        }
        while let Some(end) = chunk.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.line.extend_from_slice(&chunk[..end]);
            let line = std::mem::take(&mut self.line);
            self.line_ended(&line, out);
            self.line = line;
            self.line.clear();
            let crlf = chunk[end] == b'\r';
            chunk = &chunk[end + 1..];
            if crlf {
                match chunk.first() {
                    Some(b'\n') => chunk = &chunk[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
        }
        self.line.extend_from_slice(chunk);
    }

    /// The stream ended: an incomplete event is discarded, as the standard
    /// says.
    pub fn finish(&mut self, _out: &mut VecDeque<SseEvent>) {
        self.line.clear();
        self.data.clear();
        self.has_data = false;
        self.event.clear();
    }

    fn line_ended(&mut self, mut line: &[u8], out: &mut VecDeque<SseEvent>) {
        if !self.started {
            self.started = true;
            line = line.strip_prefix("\u{feff}".as_bytes()).unwrap_or(line);
        }
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line[0] == b':' {
            return;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        let value = String::from_utf8_lossy(value);
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&value);
                self.has_data = true;
            }
            b"event" => value.as_ref().clone_into(&mut self.event),
            b"id" if !value.contains('\0') => self.last_event_id = Some(value.into_owned()),
            // `retry` and unknown fields do not change what is delivered.
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut VecDeque<SseEvent>) {
        let event = std::mem::take(&mut self.event);
        if !self.has_data {
            return;
        }
        self.has_data = false;
        out.push_back(SseEvent {
            event: if event.is_empty() {
                "message".to_owned()
            } else {
                event
            },
            data: std::mem::take(&mut self.data),
            last_event_id: self.last_event_id.clone(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in_pieces(stream: &[u8], piece: usize) -> Vec<SseEvent> {
        let mut p = SseParser::default();
        let mut out = VecDeque::new();
        for chunk in stream.chunks(piece) {
            p.feed(chunk, &mut out);
        }
        p.finish(&mut out);
        out.into()
    }

    #[test]
    fn events_parse_the_same_whatever_the_chunking() {
        let stream = "\u{feff}: comment\r\nid: 1\r\ndata: {\"seq\":1}\r\n\r\n\
                      event: tick\rdata:a\rdata: b\r\rid: 2\ndata\n\nretry: 5\n\n\
                      data: cut off";
        let expected = vec![
            SseEvent {
                event: "message".into(),
                data: "{\"seq\":1}".into(),
                last_event_id: Some("1".into()),
            },
            SseEvent {
                event: "tick".into(),
                data: "a\nb".into(),
                last_event_id: Some("1".into()),
            },
            SseEvent {
                event: "message".into(),
                data: String::new(),
                last_event_id: Some("2".into()),
            },
        ];
        for piece in 1..=stream.len() {
            assert_eq!(
                parse_in_pieces(stream.as_bytes(), piece),
                expected,
                "pieces of {piece}"
            );
        }
    }

    #[test]
    fn a_cr_at_a_chunk_end_followed_by_lf_is_one_line_end() {
        let mut p = SseParser::default();
        let mut out = VecDeque::new();
        p.feed(b"data: x\r", &mut out);
        p.feed(b"\n\r", &mut out);
        p.feed(b"\n", &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].data, "x");
    }
}
