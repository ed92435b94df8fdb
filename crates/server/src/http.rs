//! The little HTTP/1.1 this server speaks: request heads parsed with
//! httparse, fixed-length bodies, keep-alive, and plain responses.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

use crate::hub::Published;

/// Largest request head accepted.
pub(crate) const MAX_HEAD: usize = 16 << 10;
/// Largest request body accepted (`POST /publish`).
pub(crate) const MAX_BODY: usize = 1 << 20;
const MAX_HEADERS: usize = 64;

/// The parts of a request head the routes use.
#[derive(Debug, Default)]
pub(crate) struct Head {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) query: String,
    pub(crate) head_len: usize,
    pub(crate) upgrade_websocket: bool,
    pub(crate) content_length: usize,
    pub(crate) keep_alive: bool,
    pub(crate) last_event_id: Option<u64>,
    /// `X-Wsbench-Sent-Ns` of a publish: the publisher's clock at sending,
    /// used as the message's publish time.
    pub(crate) sent_ns: Option<u64>,
    /// The `Authorization` header.
    pub(crate) authorization: Option<String>,
}

impl Head {
    /// The value of `name` in the query string.
    pub(crate) fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .split('&')
            .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }
}

/// Why a request could not be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The peer closed or went silent between requests: no answer due.
    Gone,
    /// Answer with this status and close.
    Status(u16, &'static str),
}

fn parse(buf: &[u8]) -> Result<Option<Head>, ReadError> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut fields);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
            return Err(ReadError::Status(431, "request head too large"));
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(ReadError::Status(431, "too many header fields"));
        }
        Err(_) => return Err(ReadError::Status(400, "malformed request")),
    };
    let target = req.path.unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut head = Head {
        method: req.method.unwrap_or("").to_owned(),
        path: path.to_owned(),
        query: query.to_owned(),
        head_len,
        keep_alive: req.version == Some(1),
        ..Head::default()
    };
    let (mut content_length, mut chunked) = (None, false);
    for h in req.headers.iter() {
        let value = std::str::from_utf8(h.value).unwrap_or("").trim();
        if h.name.eq_ignore_ascii_case("upgrade") {
            head.upgrade_websocket = value.eq_ignore_ascii_case("websocket");
        } else if h.name.eq_ignore_ascii_case("content-length") {
            let n = content_length_value(value)?;
            // Two different lengths are how requests are smuggled past a
            // proxy that reads the other one (RFC 9112 §6.3).
            if content_length.is_some_and(|m| m != n) {
                return Err(ReadError::Status(400, "conflicting Content-Length headers"));
            }
            content_length = Some(n);
        } else if h.name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    head.keep_alive = false;
                } else if token.eq_ignore_ascii_case("keep-alive") {
                    head.keep_alive = true;
                }
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = true;
        } else if h.name.eq_ignore_ascii_case("authorization") {
            head.authorization = Some(value.to_owned());
        } else if h.name.eq_ignore_ascii_case("last-event-id") {
            head.last_event_id = value.parse().ok();
        } else if h
            .name
            .eq_ignore_ascii_case(wsbench_protocol::push::SENT_NS_HEADER)
        {
            head.sent_ns = Some(
                value
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or(ReadError::Status(400, "invalid X-Wsbench-Sent-Ns"))?,
            );
        }
    }
    match (content_length, chunked) {
        (Some(_), true) => {
            return Err(ReadError::Status(
                400,
                "Content-Length together with Transfer-Encoding",
            ));
        }
        (None, true) => {
            return Err(ReadError::Status(
                501,
                "Transfer-Encoding is not supported; send Content-Length",
            ));
        }
        (n, false) => head.content_length = n.unwrap_or(0),
    }
    if head.content_length > MAX_BODY {
        return Err(ReadError::Status(413, "body over 1 MiB"));
    }
    Ok(Some(head))
}

/// A `Content-Length` value: digits only (no sign, no list).
fn content_length_value(value: &str) -> Result<usize, ReadError> {
    let invalid = ReadError::Status(400, "invalid Content-Length");
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid);
    }
    value.parse().map_err(|_| invalid)
}

/// Reads one request head into `buf` (which may already hold bytes of it):
/// `wait` bounds the time for the whole head.
pub(crate) async fn read_head<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut Vec<u8>,
    wait: Duration,
) -> Result<Head, ReadError> {
    let read = async {
        let mut chunk = [0u8; 2048];
        loop {
            if !buf.is_empty()
                && let Some(head) = parse(buf)?
            {
                return Ok(head);
            }
            let n = io.read(&mut chunk).await.map_err(|_| ReadError::Gone)?;
            if n == 0 {
                return Err(if buf.is_empty() {
                    ReadError::Gone
                } else {
                    ReadError::Status(400, "connection closed mid-request")
                });
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    };
    match tokio::time::timeout(wait, read).await {
        Ok(r) => r,
        Err(_) if buf.is_empty() => Err(ReadError::Gone),
        Err(_) => Err(ReadError::Status(408, "request head not received in time")),
    }
}

/// Reads the body that follows a head into `buf[head_len..head_len + n]`.
pub(crate) async fn read_body<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut Vec<u8>,
    head: &Head,
    wait: Duration,
) -> Result<(), ReadError> {
    let want = head.head_len + head.content_length;
    let read = async {
        let mut chunk = [0u8; 4096];
        while buf.len() < want {
            let n = io.read(&mut chunk).await.map_err(|_| ReadError::Gone)?;
            if n == 0 {
                return Err(ReadError::Gone);
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        Ok(())
    };
    tokio::time::timeout(wait, read)
        .await
        .map_err(|_| ReadError::Status(408, "request body not received in time"))?
}

/// A response head for a body of `len` bytes.
pub(crate) fn head(status: u16, content_type: &str, len: usize, keep_alive: bool) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {len}\r\n\
         Cache-Control: no-store\r\nConnection: {}\r\n\r\n",
        reason(status),
        if keep_alive { "keep-alive" } else { "close" },
    )
    .into_bytes()
}

/// A complete response with a body.
pub(crate) fn response(status: u16, content_type: &str, body: &[u8], keep_alive: bool) -> Vec<u8> {
    let mut out = head(status, content_type, body.len(), keep_alive);
    out.extend_from_slice(body);
    out
}

/// Bytes to send in order: owned, static, or a message of the history,
/// written from the hub's copy (shared by every reader, never copied per
/// client).
#[derive(Debug)]
pub(crate) enum Piece {
    Owned(Vec<u8>),
    Static(&'static [u8]),
    Message(Arc<Published>),
}

impl Piece {
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            Piece::Owned(b) => b,
            Piece::Static(b) => b,
            Piece::Message(m) => m.json.as_bytes(),
        }
    }
}

/// A plain-text error response that closes the connection.
pub(crate) fn error_response(status: u16, message: &str) -> Vec<u8> {
    response(
        status,
        "text/plain; charset=utf-8",
        format!("{message}\n").as_bytes(),
        false,
    )
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_route_query_and_headers() {
        let h = parse(b"GET /poll?cursor=5&wait=0 HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 9\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!((h.method.as_str(), h.path.as_str()), ("GET", "/poll"));
        assert_eq!(h.query_param("cursor"), Some("5"));
        assert_eq!(h.query_param("wait"), Some("0"));
        assert_eq!(h.query_param("nope"), None);
        assert!(h.keep_alive);
        assert_eq!(h.last_event_id, Some(9));
        let h = parse(b"GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert!(!h.keep_alive);
        assert!(parse(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap().is_none());
    }

    #[test]
    fn bad_heads_get_statuses() {
        let status = |b: &[u8]| match parse(b) {
            Err(ReadError::Status(s, _)) => s,
            other => panic!("{other:?}"),
        };
        assert_eq!(status(b"GET\0 / HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status(b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n"), 400);
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n"),
            413
        );
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            501
        );
        // Request smuggling: the lengths a proxy and this server might
        // each pick differ.
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n"),
            400
        );
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"),
            400
        );
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n"),
            400
        );
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n"),
            400
        );
        // obs-fold (a header continued on the next line) is refused.
        assert_eq!(
            status(b"GET / HTTP/1.1\r\nX-A: a\r\n b\r\nHost: x\r\n\r\n"),
            400
        );
        // The same length twice is one length.
        let same = b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n";
        assert_eq!(parse(same).unwrap().unwrap().content_length, 5);
        let mut big = b"GET / HTTP/1.1\r\nX: ".to_vec();
        big.resize(MAX_HEAD + 10, b'a');
        assert_eq!(status(&big), 431);
    }
}
