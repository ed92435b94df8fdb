//! HTTP polling dialects of servers other than wsbench's: how a poll
//! says where the subscriber is in the stream (its cursor), how the
//! answer holds messages, and which statuses mean "nothing new". Sans-IO:
//! [`PollState`] says what to add to the next request and reads each
//! answer.
//!
//! - `etag`: the next request sends `If-None-Match` and
//!   `If-Modified-Since` from the last answer's `Etag` and
//!   `Last-Modified` (Nchan, the nginx push-stream module).
//! - `query`: the next request carries `?<param>=<cursor>`, the cursor
//!   read from each answer at a JSON pointer.
//! - `none`: every request is the same; what arrived between two answers
//!   is the server's to keep or lose.

use serde::Deserialize;

/// How a poll says where the subscriber is.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cursor {
    /// `Etag` / `Last-Modified` sent back as `If-None-Match` /
    /// `If-Modified-Since`.
    Etag,
    /// A query parameter, read from the answer at a JSON pointer.
    Query,
    /// No cursor.
    None,
}

/// How an answer holds its messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Batch {
    /// The whole body is one message.
    Body,
    /// One message per non-empty line.
    Lines,
    /// A JSON array at this pointer; each element a message (a string
    /// element is its text, any other its JSON).
    Array(String),
}

/// A polling dialect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PollDialect {
    /// Where the subscriber is.
    pub cursor: Cursor,
    /// `query`: the parameter's name.
    pub param: String,
    /// `query`: the JSON pointer to the next cursor in each answer.
    pub cursor_at: String,
    /// How an answer holds its messages.
    pub batch: Batch,
    /// Statuses that mean "nothing new" (not errors).
    pub nothing_new: Vec<u16>,
}

impl Default for PollDialect {
    /// Nchan's: `etag`, one message per answer, 304 and 408 on timeout.
    fn default() -> PollDialect {
        PollDialect {
            cursor: Cursor::Etag,
            param: "cursor".into(),
            cursor_at: "/cursor".into(),
            batch: Batch::Body,
            nothing_new: vec![304, 408],
        }
    }
}

/// An answer the dialect cannot read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PollError {
    /// A status that is neither 200 nor "nothing new".
    #[error("HTTP {0}")]
    Status(u16),
    /// The body is not what the dialect says.
    #[error("bad poll answer: {0}")]
    Body(String),
}

/// One answer to a poll, as the client saw it.
#[derive(Clone, Copy, Debug)]
pub struct Answer<'a> {
    /// HTTP status.
    pub status: u16,
    /// The `Etag` header.
    pub etag: Option<&'a str>,
    /// The `Last-Modified` header.
    pub last_modified: Option<&'a str>,
    /// The body.
    pub body: &'a [u8],
}

/// Where one subscriber is in the stream.
#[derive(Clone, Debug, Default)]
pub struct PollState {
    etag: Option<String>,
    last_modified: Option<String>,
    cursor: Option<String>,
    answered: bool,
}

impl PollState {
    /// Whether the subscriber holds a place in the stream, so that every
    /// later message reaches it by a later poll: from the first answer
    /// that gave a cursor (`none`: the first answer).
    pub fn placed(&self, d: &PollDialect) -> bool {
        match d.cursor {
            Cursor::Etag => self.etag.is_some() || self.last_modified.is_some(),
            Cursor::Query => self.cursor.is_some(),
            Cursor::None => self.answered,
        }
    }

    /// The request target for the next poll of `path` (its query extended
    /// with the cursor).
    pub fn path(&self, d: &PollDialect, path: &str) -> String {
        match (&d.cursor, &self.cursor) {
            (Cursor::Query, Some(c)) => {
                let sep = if path.contains('?') { '&' } else { '?' };
                format!("{path}{sep}{}={}", d.param, percent_encode(c))
            }
            _ => path.to_owned(),
        }
    }

    /// Header fields the next poll carries.
    pub fn headers(&self, d: &PollDialect) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if d.cursor == Cursor::Etag {
            if let Some(e) = &self.etag {
                out.push(("if-none-match", e.clone()));
            }
            if let Some(m) = &self.last_modified {
                out.push(("if-modified-since", m.clone()));
            }
        }
        out
    }

    /// Reads an answer: the messages it holds (none for "nothing new"),
    /// the cursor moved past them.
    pub fn on_answer(&mut self, d: &PollDialect, a: &Answer<'_>) -> Result<Vec<String>, PollError> {
        if d.nothing_new.contains(&a.status) {
            self.answered = true;
            return Ok(Vec::new());
        }
        if !(200..300).contains(&a.status) {
            return Err(PollError::Status(a.status));
        }
        self.answered = true;
        let json = match (&d.batch, &d.cursor) {
            (Batch::Array(_), _) | (_, Cursor::Query) => Some(
                serde_json::from_slice::<serde_json::Value>(a.body)
                    .map_err(|e| PollError::Body(format!("not JSON: {e}")))?,
            ),
            _ => None,
        };
        match d.cursor {
            Cursor::Etag => {
                if let Some(e) = a.etag {
                    self.etag = Some(e.to_owned());
                }
                if let Some(m) = a.last_modified {
                    self.last_modified = Some(m.to_owned());
                }
            }
            Cursor::Query => {
                let at = json.as_ref().and_then(|j| j.pointer(&d.cursor_at));
                self.cursor = Some(match at {
                    Some(serde_json::Value::String(s)) => s.clone(),
                    Some(v @ serde_json::Value::Number(_)) => v.to_string(),
                    _ => {
                        return Err(PollError::Body(format!(
                            "no cursor (a string or number) at {}",
                            d.cursor_at
                        )));
                    }
                });
            }
            Cursor::None => {}
        }
        let text = || String::from_utf8_lossy(a.body);
        Ok(match &d.batch {
            Batch::Body if a.body.is_empty() => Vec::new(),
            Batch::Body => vec![text().into_owned()],
            Batch::Lines => text()
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(str::to_owned)
                .collect(),
            Batch::Array(at) => match json.as_ref().and_then(|j| j.pointer(at)) {
                Some(serde_json::Value::Array(items)) => items
                    .iter()
                    .map(|v| match v {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect(),
                _ => return Err(PollError::Body(format!("no array at {at}"))),
            },
        })
    }
}

/// A cursor as a query value: unreserved characters as they are, the
/// rest percent-encoded.
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests;
