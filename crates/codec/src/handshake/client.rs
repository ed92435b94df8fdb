//! Client side: build the upgrade request, validate the server's answer.

use httparse::Status;

use super::{AcceptKey, MAX_HEAD_LEN, MAX_HEADERS, has_token, is_header_safe, is_token, list};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

/// What to ask the server for.
#[derive(Clone, Copy, Debug, Default)]
pub struct ClientRequest<'a> {
    /// `Host` header value (host, and port when not the default).
    pub host: &'a str,
    /// Request target: path and query, starting with `/`.
    pub path: &'a str,
    /// Subprotocols to offer, in order of preference.
    pub protocols: &'a [&'a str],
    /// A `Sec-WebSocket-Extensions` offer, e.g. `permessage-deflate`.
    pub extensions: Option<&'a str>,
    /// `Origin` header, as a browser would send it.
    pub origin: Option<&'a str>,
    /// More headers to send.
    pub headers: &'a [(&'a str, &'a str)],
}

/// A failed opening handshake, seen from the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The request could not be built from the given values.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The response head is not valid HTTP/1.1.
    #[error("malformed HTTP response: {0}")]
    Malformed(httparse::Error),
    /// The response head exceeds the size or header-count limits.
    #[error("response head too large")]
    TooLarge,
    /// The server answered with a status other than 101.
    #[error("server answered {code} {reason} instead of 101")]
    Status {
        /// HTTP status code.
        code: u16,
        /// Reason phrase.
        reason: String,
    },
    /// No `Upgrade: websocket` in the response.
    #[error("response lacks Upgrade: websocket")]
    MissingUpgrade,
    /// No `Upgrade` token in the response's `Connection` header.
    #[error("response Connection header lacks the Upgrade token")]
    MissingConnectionUpgrade,
    /// `Sec-WebSocket-Accept` missing or not the value for our key.
    #[error("Sec-WebSocket-Accept missing or wrong")]
    AcceptMismatch,
    /// The server chose a subprotocol we did not offer.
    #[error("server chose subprotocol {0:?}, which was not offered")]
    UnofferedProtocol(String),
    /// The server accepted an extension when we offered none.
    #[error("server accepted extension {0:?}, which was not offered")]
    UnofferedExtension(String),
}

/// The server's accepting response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerResponse<'b> {
    /// The subprotocol the server chose, one of those offered.
    pub protocol: Option<&'b str>,
    /// Extensions the server accepted (elements of `Sec-WebSocket-Extensions`).
    pub extensions: Vec<&'b str>,
    /// Length of the response head; bytes after it are WebSocket frames.
    pub head_len: usize,
}

/// A client handshake in progress: the request has been built, the
/// response is awaited.
#[derive(Clone, Debug)]
pub struct ClientHandshake {
    key: [u8; 24],
    accept: AcceptKey,
    protocols: Vec<String>,
    offered_extensions: bool,
}

impl ClientHandshake {
    /// Appends the upgrade request to `out`. `nonce` must be 16 random bytes
    /// (RFC 6455 §4.1: a fresh random key per connection).
    pub fn start(
        request: &ClientRequest<'_>,
        nonce: [u8; 16],
        out: &mut Vec<u8>,
    ) -> Result<ClientHandshake, HandshakeError> {
        let invalid = |what: &str| Err(HandshakeError::InvalidRequest(what.to_owned()));
        if !request.path.starts_with('/') || request.path.bytes().any(|b| b <= b' ') {
            return invalid("path must start with / and hold no spaces or control bytes");
        }
        if request.host.is_empty() || !is_header_safe(request.host) {
            return invalid("host must be non-empty and hold no CR, LF or NUL");
        }
        if let Some(p) = request.protocols.iter().find(|p| !is_token(p)) {
            return Err(HandshakeError::InvalidRequest(format!(
                "subprotocol {p:?} is not an HTTP token"
            )));
        }
        if let Some((name, _)) = request.headers.iter().find(|(n, _)| !is_token(n)) {
            return Err(HandshakeError::InvalidRequest(format!(
                "header name {name:?} is not an HTTP token"
            )));
        }
        let optional = [request.extensions, request.origin];
        let extra = request.headers.iter().flat_map(|(n, v)| [*n, *v]);
        if !optional
            .into_iter()
            .flatten()
            .chain(extra)
            .all(is_header_safe)
        {
            return invalid("header values must hold no CR, LF or NUL");
        }

        let mut key = [0u8; 24];
        BASE64
            .encode_slice(nonce, &mut key)
            .expect("16 bytes encode to 24");
        let accept = AcceptKey::for_key(&key);
        let key_str = std::str::from_utf8(&key).expect("base64 is ASCII");

        out.extend_from_slice(b"GET ");
        out.extend_from_slice(request.path.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\n");
        let mut line = |name: &str, value: &str| {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        };
        line("Host", request.host);
        line("Upgrade", "websocket");
        line("Connection", "Upgrade");
        line("Sec-WebSocket-Key", key_str);
        line("Sec-WebSocket-Version", super::VERSION);
        if !request.protocols.is_empty() {
            line("Sec-WebSocket-Protocol", &request.protocols.join(", "));
        }
        if let Some(ext) = request.extensions {
            line("Sec-WebSocket-Extensions", ext);
        }
        if let Some(origin) = request.origin {
            line("Origin", origin);
        }
        for (name, value) in request.headers {
            line(name, value);
        }
        out.extend_from_slice(b"\r\n");

        Ok(ClientHandshake {
            key,
            accept,
            protocols: request.protocols.iter().map(|p| (*p).to_owned()).collect(),
            offered_extensions: request.extensions.is_some(),
        })
    }

    /// The `Sec-WebSocket-Key` sent.
    pub fn key(&self) -> &str {
        std::str::from_utf8(&self.key).expect("base64 is ASCII")
    }

    /// Validates the server's response at the start of `buf`.
    ///
    /// `Ok(None)`: the head is incomplete, read more. On success, bytes from
    /// [`ServerResponse::head_len`] on are the first WebSocket frames.
    pub fn parse_response<'b>(
        &self,
        buf: &'b [u8],
    ) -> Result<Option<ServerResponse<'b>>, HandshakeError> {
        let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut fields);
        let head_len = match resp.parse(buf) {
            Ok(Status::Complete(n)) if n <= MAX_HEAD_LEN => n,
            Ok(Status::Partial) if buf.len() <= MAX_HEAD_LEN => return Ok(None),
            Ok(_) | Err(httparse::Error::TooManyHeaders) => return Err(HandshakeError::TooLarge),
            Err(e) => return Err(HandshakeError::Malformed(e)),
        };
        let code = resp.code.expect("complete response has a status");
        if code != 101 {
            return Err(HandshakeError::Status {
                code,
                reason: resp.reason.unwrap_or("").to_owned(),
            });
        }
        let headers = &*resp.headers;
        let find = |name: &'static str| {
            headers
                .iter()
                .filter(move |h| h.name.eq_ignore_ascii_case(name))
                .map(|h| h.value)
        };
        if !find("Upgrade").any(|v| has_token(v, "websocket")) {
            return Err(HandshakeError::MissingUpgrade);
        }
        if !find("Connection").any(|v| has_token(v, "upgrade")) {
            return Err(HandshakeError::MissingConnectionUpgrade);
        }
        let mut accepts = find("Sec-WebSocket-Accept");
        match (accepts.next(), accepts.next()) {
            (Some(v), None) if v.trim_ascii() == self.accept.as_str().as_bytes() => {}
            _ => return Err(HandshakeError::AcceptMismatch),
        }
        let mut protocol = None;
        for v in find("Sec-WebSocket-Protocol") {
            let chosen = std::str::from_utf8(v).unwrap_or("").trim();
            if protocol.is_some() || !self.protocols.iter().any(|p| p == chosen) {
                return Err(HandshakeError::UnofferedProtocol(
                    String::from_utf8_lossy(v).into_owned(),
                ));
            }
            protocol = Some(chosen);
        }
        let mut extensions = Vec::new();
        for v in find("Sec-WebSocket-Extensions") {
            let Ok(v) = std::str::from_utf8(v) else {
                return Err(HandshakeError::UnofferedExtension(
                    String::from_utf8_lossy(v).into_owned(),
                ));
            };
            extensions.extend(list(v));
        }
        if let Some(ext) = extensions.first().filter(|_| !self.offered_extensions) {
            return Err(HandshakeError::UnofferedExtension((*ext).to_owned()));
        }
        Ok(Some(ServerResponse {
            protocol,
            extensions,
            head_len,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::server::Request;

    const NONCE: [u8; 16] = *b"the sample nonce";

    fn start(req: &ClientRequest<'_>) -> (ClientHandshake, Vec<u8>) {
        let mut out = Vec::new();
        let hs = ClientHandshake::start(req, NONCE, &mut out).unwrap();
        (hs, out)
    }

    fn basic() -> ClientRequest<'static> {
        ClientRequest {
            host: "server.example.com",
            path: "/chat",
            ..ClientRequest::default()
        }
    }

    fn response(accept: &str, extra: &str) -> Vec<u8> {
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n{extra}\r\n"
        )
        .into_bytes()
    }

    #[test]
    fn builds_the_rfc_request_and_accepts_the_rfc_response() {
        let (hs, out) = start(&ClientRequest {
            protocols: &["chat", "superchat"],
            origin: Some("http://example.com"),
            ..basic()
        });
        assert_eq!(hs.key(), "dGhlIHNhbXBsZSBub25jZQ==");
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.starts_with("GET /chat HTTP/1.1\r\nHost: server.example.com\r\n"));
        assert!(text.contains("Sec-WebSocket-Protocol: chat, superchat\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
        // Our own server parser accepts what the client builds.
        let req = Request::parse(&out).unwrap().unwrap();
        assert_eq!(req.key, hs.key());
        assert_eq!(req.protocols, ["chat", "superchat"]);

        let mut buf = response(
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
            "Sec-WebSocket-Protocol: chat\r\n",
        );
        let head = buf.len();
        buf.extend_from_slice(b"\x81\x00");
        let resp = hs.parse_response(&buf).unwrap().unwrap();
        assert_eq!(resp.protocol, Some("chat"));
        assert_eq!(resp.head_len, head);
        for cut in 0..head {
            assert_eq!(hs.parse_response(&buf[..cut]), Ok(None));
        }
    }

    #[test]
    fn rejects_wrong_answers() {
        let (hs, _) = start(&ClientRequest {
            protocols: &["chat"],
            ..basic()
        });
        let ok = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
        let cases = [
            (
                b"HTTP/1.1 403 Forbidden\r\n\r\n".to_vec(),
                HandshakeError::Status {
                    code: 403,
                    reason: "Forbidden".into(),
                },
            ),
            (
                response("AAAAAAAAAAAAAAAAAAAAAAAAAAA=", ""),
                HandshakeError::AcceptMismatch,
            ),
            (
                response(ok, "Sec-WebSocket-Accept: x\r\n"),
                HandshakeError::AcceptMismatch,
            ),
            (
                response(ok, "Sec-WebSocket-Protocol: mqtt\r\n"),
                HandshakeError::UnofferedProtocol("mqtt".into()),
            ),
            (
                response(ok, "Sec-WebSocket-Extensions: permessage-deflate\r\n"),
                HandshakeError::UnofferedExtension("permessage-deflate".into()),
            ),
            (
                String::from_utf8(response(ok, ""))
                    .unwrap()
                    .replace("Upgrade: websocket\r\n", "")
                    .into_bytes(),
                HandshakeError::MissingUpgrade,
            ),
            (
                String::from_utf8(response(ok, ""))
                    .unwrap()
                    .replace("Connection: Upgrade", "Connection: close")
                    .into_bytes(),
                HandshakeError::MissingConnectionUpgrade,
            ),
        ];
        for (buf, expected) in cases {
            assert_eq!(hs.parse_response(&buf), Err(expected));
        }
    }

    #[test]
    fn tokens_in_the_response_are_case_insensitive() {
        let (hs, _) = start(&basic());
        let buf = b"HTTP/1.1 101 OK\r\nupgrade: WebSocket\r\nconnection: keep-alive, UPGRADE\r\n\
            sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
        assert!(hs.parse_response(buf).unwrap().is_some());
    }

    #[test]
    fn offered_extensions_are_returned_for_negotiation() {
        let (hs, out) = start(&ClientRequest {
            extensions: Some("permessage-deflate; client_max_window_bits"),
            ..basic()
        });
        assert!(
            String::from_utf8(out).unwrap().contains(
                "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
            )
        );
        let buf = response(
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
            "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n",
        );
        let resp = hs.parse_response(&buf).unwrap().unwrap();
        assert_eq!(
            resp.extensions,
            ["permessage-deflate; server_no_context_takeover"]
        );
    }

    #[test]
    fn refuses_to_build_requests_that_would_break_the_head() {
        let bad = [
            ClientRequest {
                path: "chat",
                ..basic()
            },
            ClientRequest {
                path: "/a b",
                ..basic()
            },
            ClientRequest {
                host: "",
                ..basic()
            },
            ClientRequest {
                host: "h\r\nX: y",
                ..basic()
            },
            ClientRequest {
                protocols: &["a b"],
                ..basic()
            },
            ClientRequest {
                headers: &[("X-A", "1\n2")],
                ..basic()
            },
            ClientRequest {
                headers: &[("X-A: 1\r\nX-B", "2")],
                ..basic()
            },
        ];
        for req in bad {
            let mut out = Vec::new();
            assert!(matches!(
                ClientHandshake::start(&req, NONCE, &mut out),
                Err(HandshakeError::InvalidRequest(_))
            ));
        }
    }
}
