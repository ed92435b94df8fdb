//! Server side: parse and validate an upgrade request, answer it.

use httparse::Status;

use super::{AcceptKey, MAX_HEAD_LEN, MAX_HEADERS, VERSION, has_token, is_header_safe, list};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

/// Why an upgrade request was refused. [`RequestError::status`] gives the
/// HTTP status to answer with and [`RequestError::write_response`] the whole
/// response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// Not a parseable HTTP/1.x request head.
    #[error("malformed HTTP request: {0}")]
    Malformed(httparse::Error),
    /// The head exceeds [`MAX_HEAD_LEN`] bytes or [`MAX_HEADERS`] fields.
    #[error("request head too large")]
    TooLarge,
    /// The method is not `GET`.
    #[error("method {0} cannot open a WebSocket (GET required)")]
    Method(String),
    /// HTTP/1.0: the upgrade needs HTTP/1.1.
    #[error("HTTP/1.1 required")]
    HttpVersion,
    /// No `Host` header.
    #[error("missing Host header")]
    MissingHost,
    /// No `Upgrade: websocket`: not a WebSocket request at all.
    #[error("not a WebSocket upgrade (Upgrade: websocket missing)")]
    NotUpgrade,
    /// `Connection` lacks the `Upgrade` token.
    #[error("Connection header lacks the Upgrade token")]
    MissingConnectionUpgrade,
    /// `Sec-WebSocket-Version` missing or not 13.
    #[error("unsupported WebSocket version {0:?} (13 required)")]
    UnsupportedVersion(Option<String>),
    /// No `Sec-WebSocket-Key`.
    #[error("missing Sec-WebSocket-Key")]
    MissingKey,
    /// The key is not base64 of 16 bytes.
    #[error("Sec-WebSocket-Key is not base64 of 16 bytes")]
    InvalidKey,
    /// A header that must appear once appeared again.
    #[error("duplicate {0} header")]
    DuplicateHeader(&'static str),
    /// A header value is not valid text where text is required.
    #[error("invalid {0} header value")]
    InvalidHeader(&'static str),
}

impl RequestError {
    /// The HTTP status to answer with: 426 when the client should retry with
    /// a (version 13) WebSocket upgrade, 431 for an oversized head, 400 otherwise.
    pub fn status(&self) -> u16 {
        match self {
            RequestError::NotUpgrade | RequestError::UnsupportedVersion(_) => 426,
            RequestError::TooLarge => 431,
            _ => 400,
        }
    }

    /// Appends the full HTTP response for this error to `out` (it closes
    /// the connection).
    pub fn write_response(&self, out: &mut Vec<u8>) {
        let (status, reason) = match self.status() {
            426 => (426, "Upgrade Required"),
            431 => (431, "Request Header Fields Too Large"),
            _ => (400, "Bad Request"),
        };
        let body = format!("{self}\n");
        out.extend_from_slice(format!("HTTP/1.1 {status} {reason}\r\n").as_bytes());
        if status == 426 {
            out.extend_from_slice(b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n");
        }
        out.extend_from_slice(
            format!(
                "Connection: close\r\nContent-Type: text/plain; charset=utf-8\r\n\
                 Content-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
    }
}

/// A valid upgrade request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request<'b> {
    /// The request target (path and query).
    pub path: &'b str,
    /// The `Host` header.
    pub host: &'b str,
    /// The `Sec-WebSocket-Key` header.
    pub key: &'b str,
    /// The `Origin` header, when sent (browsers always send it).
    pub origin: Option<&'b str>,
    /// Subprotocols offered, in the client's order of preference.
    pub protocols: Vec<&'b str>,
    /// Extension offers (`Sec-WebSocket-Extensions` elements, with parameters).
    pub extensions: Vec<&'b str>,
    /// Every header, as sent.
    pub headers: Vec<(&'b str, &'b [u8])>,
    /// Length of the request head; bytes after it belong to the WebSocket.
    pub head_len: usize,
}

impl<'b> Request<'b> {
    /// Parses and validates an upgrade request at the start of `buf`.
    ///
    /// `Ok(None)`: the head is incomplete, read more. Errors say what is
    /// wrong and how to answer (see [`RequestError::write_response`]).
    pub fn parse(buf: &'b [u8]) -> Result<Option<Request<'b>>, RequestError> {
        let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut fields);
        let head_len = match req.parse(buf) {
            Ok(Status::Complete(n)) if n <= MAX_HEAD_LEN => n,
            Ok(Status::Partial) if buf.len() <= MAX_HEAD_LEN => return Ok(None),
            Ok(_) | Err(httparse::Error::TooManyHeaders) => return Err(RequestError::TooLarge),
            Err(e) => return Err(RequestError::Malformed(e)),
        };
        let method = req.method.expect("complete request has a method");
        if method != "GET" {
            return Err(RequestError::Method(method.to_owned()));
        }
        if req.version != Some(1) {
            return Err(RequestError::HttpVersion);
        }
        let path = req.path.expect("complete request has a path");
        let headers: Vec<(&'b str, &'b [u8])> =
            req.headers.iter().map(|h| (h.name, h.value)).collect();
        let find = |name: &'static str| {
            headers
                .iter()
                .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
        };
        let single = |name: &'static str| -> Result<Option<&'b [u8]>, RequestError> {
            let mut it = find(name);
            let first = it.next().map(|(_, v)| *v);
            if it.next().is_some() {
                return Err(RequestError::DuplicateHeader(name));
            }
            Ok(first)
        };
        let text = |name: &'static str, v: &'b [u8]| {
            std::str::from_utf8(v).map_err(|_| RequestError::InvalidHeader(name))
        };

        let host = single("Host")?.ok_or(RequestError::MissingHost)?;
        let host = text("Host", host)?;
        if !find("Upgrade").any(|(_, v)| has_token(v, "websocket")) {
            return Err(RequestError::NotUpgrade);
        }
        if !find("Connection").any(|(_, v)| has_token(v, "upgrade")) {
            return Err(RequestError::MissingConnectionUpgrade);
        }
        match single("Sec-WebSocket-Version")? {
            Some(v) if v.trim_ascii() == VERSION.as_bytes() => {}
            other => {
                let got = other.map(|v| String::from_utf8_lossy(v).into_owned());
                return Err(RequestError::UnsupportedVersion(got));
            }
        }
        let key = single("Sec-WebSocket-Key")?.ok_or(RequestError::MissingKey)?;
        let key = text("Sec-WebSocket-Key", key)?.trim();
        let mut decoded = [0u8; 18];
        match BASE64.decode_slice(key, &mut decoded) {
            Ok(16) => {}
            _ => return Err(RequestError::InvalidKey),
        }
        let origin = single("Origin")?.map(|v| text("Origin", v)).transpose()?;
        let mut protocols = Vec::new();
        for (_, v) in find("Sec-WebSocket-Protocol") {
            protocols.extend(list(text("Sec-WebSocket-Protocol", v)?));
        }
        let mut extensions = Vec::new();
        for (_, v) in find("Sec-WebSocket-Extensions") {
            extensions.extend(list(text("Sec-WebSocket-Extensions", v)?));
        }
        Ok(Some(Request {
            path,
            host,
            key,
            origin,
            protocols,
            extensions,
            headers,
            head_len,
        }))
    }

    /// The first subprotocol the client offered that `supported` contains.
    pub fn select_protocol(&self, supported: &[&str]) -> Option<&'b str> {
        self.protocols
            .iter()
            .copied()
            .find(|p| supported.contains(p))
    }

    /// The value of the first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'b [u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }

    /// The accept response to this request, with no subprotocol or extension.
    pub fn accept(&self) -> Response<'static> {
        Response::new(AcceptKey::for_key(self.key.as_bytes()))
    }
}

/// A `101 Switching Protocols` response.
#[derive(Clone, Debug)]
pub struct Response<'a> {
    /// `Sec-WebSocket-Accept` for the request's key.
    pub accept: AcceptKey,
    /// The chosen subprotocol, one the client offered.
    pub protocol: Option<&'a str>,
    /// The accepted extensions, as a `Sec-WebSocket-Extensions` value.
    pub extensions: Option<&'a str>,
    /// More headers to send.
    pub headers: &'a [(&'a str, &'a str)],
}

impl<'a> Response<'a> {
    /// A response with just the accept key.
    pub fn new(accept: AcceptKey) -> Response<'a> {
        Response {
            accept,
            protocol: None,
            extensions: None,
            headers: &[],
        }
    }

    /// Appends the response head to `out`.
    ///
    /// # Panics
    /// If a value holds CR, LF or NUL (they would break the head).
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
              Connection: Upgrade\r\nSec-WebSocket-Accept: ",
        );
        out.extend_from_slice(self.accept.as_str().as_bytes());
        out.extend_from_slice(b"\r\n");
        let optional = [
            ("Sec-WebSocket-Protocol", self.protocol),
            ("Sec-WebSocket-Extensions", self.extensions),
        ];
        let extra = self.headers.iter().map(|&(n, v)| (n, Some(v)));
        for (name, value) in optional.into_iter().chain(extra) {
            if let Some(value) = value {
                assert!(
                    is_header_safe(name) && is_header_safe(value),
                    "header {name:?} would break the response head"
                );
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(b": ");
                out.extend_from_slice(value.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
        }
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\n\
        Upgrade: websocket\r\nConnection: Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n\
        Sec-WebSocket-Version: 13\r\n\r\n";

    fn with(replace: &str, by: &str) -> Vec<u8> {
        String::from_utf8(RFC_REQUEST.to_vec())
            .unwrap()
            .replace(replace, by)
            .into_bytes()
    }

    #[test]
    fn parses_the_rfc_example_and_answers_it() {
        let mut buf = RFC_REQUEST.to_vec();
        buf.extend_from_slice(b"\x81\x80"); // a frame right behind the head
        let req = Request::parse(&buf).unwrap().unwrap();
        assert_eq!(req.path, "/chat");
        assert_eq!(req.host, "server.example.com");
        assert_eq!(req.origin, Some("http://example.com"));
        assert_eq!(req.protocols, ["chat", "superchat"]);
        assert_eq!(req.head_len, RFC_REQUEST.len());
        assert_eq!(req.select_protocol(&["superchat", "chat"]), Some("chat"));
        assert_eq!(req.select_protocol(&["mqtt"]), None);
        let mut out = Vec::new();
        Response {
            protocol: Some("chat"),
            ..req.accept()
        }
        .write(&mut out);
        assert_eq!(
            out,
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
              Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
              Sec-WebSocket-Protocol: chat\r\n\r\n"
        );
    }

    #[test]
    fn incomplete_heads_ask_for_more() {
        for cut in 0..RFC_REQUEST.len() {
            assert_eq!(Request::parse(&RFC_REQUEST[..cut]), Ok(None), "cut {cut}");
        }
    }

    #[test]
    fn header_names_and_tokens_are_case_insensitive() {
        let buf = String::from_utf8(RFC_REQUEST.to_vec())
            .unwrap()
            .replace("Upgrade: websocket", "upgrade: WebSocket")
            .replace("Connection: Upgrade", "CONNECTION: keep-alive, upgrade");
        assert!(Request::parse(buf.as_bytes()).unwrap().is_some());
    }

    #[test]
    fn each_invalid_request_is_a_typed_error_with_its_status() {
        let cases: Vec<(Vec<u8>, RequestError, u16)> = vec![
            (
                with("GET /chat", "POST /chat"),
                RequestError::Method("POST".into()),
                400,
            ),
            (
                with("HTTP/1.1\r\nHost", "HTTP/1.0\r\nHost"),
                RequestError::HttpVersion,
                400,
            ),
            (
                with("Host: server.example.com\r\n", ""),
                RequestError::MissingHost,
                400,
            ),
            (
                with("Upgrade: websocket\r\n", ""),
                RequestError::NotUpgrade,
                426,
            ),
            (
                with("Upgrade: websocket", "Upgrade: h2c"),
                RequestError::NotUpgrade,
                426,
            ),
            (
                with("Connection: Upgrade", "Connection: keep-alive"),
                RequestError::MissingConnectionUpgrade,
                400,
            ),
            (
                with("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8"),
                RequestError::UnsupportedVersion(Some("8".into())),
                426,
            ),
            (
                with("Sec-WebSocket-Version: 13\r\n", ""),
                RequestError::UnsupportedVersion(None),
                426,
            ),
            (
                with("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", ""),
                RequestError::MissingKey,
                400,
            ),
            (
                with("dGhlIHNhbXBsZSBub25jZQ==", "c2hvcnQ="),
                RequestError::InvalidKey,
                400,
            ),
            (
                with("dGhlIHNhbXBsZSBub25jZQ==", "not base64!!"),
                RequestError::InvalidKey,
                400,
            ),
            (
                with("Host: server.example.com", "Host: a\r\nHost: b"),
                RequestError::DuplicateHeader("Host"),
                400,
            ),
        ];
        for (buf, expected, status) in cases {
            let err = Request::parse(&buf).unwrap_err();
            assert_eq!(err, expected);
            assert_eq!(err.status(), status, "{err}");
            let mut out = Vec::new();
            err.write_response(&mut out);
            let text = String::from_utf8(out).unwrap();
            assert!(text.starts_with(&format!("HTTP/1.1 {status} ")), "{text}");
            if status == 426 {
                assert!(text.contains("Sec-WebSocket-Version: 13\r\n"));
            }
        }
    }

    #[test]
    fn malformed_and_oversized_heads_are_refused() {
        assert!(matches!(
            Request::parse(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n"),
            Err(RequestError::Malformed(_))
        ));
        let mut huge = b"GET / HTTP/1.1\r\n".to_vec();
        huge.extend(std::iter::repeat_n(b'a', MAX_HEAD_LEN));
        assert_eq!(Request::parse(&huge), Err(RequestError::TooLarge));
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: y\r\n")).collect();
        let buf = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert_eq!(Request::parse(buf.as_bytes()), Err(RequestError::TooLarge));
        assert_eq!(RequestError::TooLarge.status(), 431);
    }

    #[test]
    #[should_panic(expected = "would break the response head")]
    fn response_refuses_header_injection() {
        let mut out = Vec::new();
        Response {
            headers: &[("X-Evil", "a\r\nSet-Cookie: b")],
            ..Response::new(AcceptKey::for_key(b"k"))
        }
        .write(&mut out);
    }
}
