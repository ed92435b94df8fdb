//! One HTTP/1.1 client connection for polling and publishing: one request
//! at a time on a kept-alive socket, driven by the caller's own task (no
//! connection task, no channels between the two). Response heads are
//! parsed with httparse; bodies are framed by Content-Length, the chunked
//! transfer coding or the end of the connection (RFC 9112 §6.3).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{Buf, Bytes, BytesMut};
use futures_util::FutureExt;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{OpenTimes, dial, http_error};
use crate::config::ClientOptions;
use crate::dial::Target;
use crate::error::Error;
use crate::net::NetStream;

/// The most a response head may take.
const MAX_HEAD: usize = 64 * 1024;
/// The most header fields a response may have.
const MAX_HEADERS: usize = 64;
/// The most a response body may take.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// A response: its status and whole body (its header fields go to the
/// map the caller passed, when it passed one).
#[derive(Debug)]
pub(super) struct Response {
    pub(super) status: u16,
    pub(super) body: Bytes,
}

/// Why an exchange failed, and whether the request may be sent again on a
/// new connection.
#[derive(Debug)]
pub(super) struct Failure {
    pub(super) error: Error,
    /// Nothing of an answer arrived and the server cannot have acted on
    /// the request: its connection had closed before it (a kept-alive
    /// connection the server let go), or the request is a GET.
    pub(super) retry: bool,
}

/// A kept-alive connection.
#[derive(Debug)]
pub(super) struct H1 {
    stream: NetStream,
    buf: BytesMut,
    read_ns: Arc<AtomicU64>,
    /// Whether a request has been answered on it.
    used: bool,
}

impl H1 {
    /// Opens a connection to `target` (TCP, then TLS when asked), within
    /// the options' handshake timeout.
    pub(super) async fn open(
        target: &Target,
        options: &ClientOptions,
    ) -> Result<(H1, OpenTimes), Error> {
        let read_ns = Arc::new(AtomicU64::new(0));
        let (stream, times) = dial(target, options, Arc::clone(&read_ns)).await?;
        let h1 = H1 {
            stream,
            buf: BytesMut::with_capacity(4096),
            read_ns,
            used: false,
        };
        Ok((h1, times))
    }

    /// CLOCK_MONOTONIC ns right after the latest socket read that returned
    /// bytes (below TLS).
    pub(super) fn last_read_ns(&self) -> u64 {
        self.read_ns.load(Ordering::Relaxed)
    }

    /// Whether a kept-alive connection is still open as far as can be seen
    /// without waiting: the server has not closed it, and sent nothing
    /// unasked.
    pub(super) fn idle_and_open(&mut self) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        self.buf.reserve(4096);
        // Any outcome but "nothing yet" (closed, failed, or bytes no
        // request asked for) ends it.
        self.stream.read_buf(&mut self.buf).now_or_never().is_none()
    }

    /// Sends `request` (head and body, as [`encode`] wrote it) and reads
    /// the whole answer, its header fields into `fields` when given (a
    /// poll or a publish needs the body alone: nothing of the fields is
    /// built or moved then). `Ok` with the answer and whether the
    /// connection may carry another request.
    pub(super) async fn exchange(
        &mut self,
        request: &[u8],
        method: &Method,
        fields: Option<&mut HeaderMap>,
    ) -> Result<(Response, bool), Failure> {
        let idempotent = *method == Method::GET || *method == Method::HEAD;
        if let Err(e) = self.stream.write_all(request).await {
            // A kept-alive connection the server closed fails here; a
            // new one gets the request then.
            return Err(Failure {
                error: e.into(),
                retry: self.used,
            });
        }
        if let Err(e) = self.stream.flush().await {
            // Under TLS the whole request may have left before this.
            return Err(Failure {
                error: e.into(),
                retry: self.used && idempotent,
            });
        }
        match self.read_response(method, fields).await {
            Ok(r) => {
                self.used = true;
                Ok(r)
            }
            Err((error, answered)) => Err(Failure {
                error,
                retry: self.used && !answered && idempotent,
            }),
        }
    }

    /// Reads more bytes into the buffer; false at the end of the stream.
    async fn fill(&mut self) -> Result<bool, Error> {
        if self.buf.capacity() - self.buf.len() < 1024 {
            self.buf.reserve(4096);
        }
        Ok(self.stream.read_buf(&mut self.buf).await? > 0)
    }

    /// The answer, or an error and whether any of the answer had arrived.
    async fn read_response(
        &mut self,
        method: &Method,
        mut fields: Option<&mut HeaderMap>,
    ) -> Result<(Response, bool), (Error, bool)> {
        let (head, len) = loop {
            match parse_head(&self.buf, method, fields.as_deref_mut()).map_err(|e| (e, true))? {
                Some((head, len)) if head.status / 100 == 1 && head.status != 101 => {
                    // An interim answer (100 Continue): the final one follows.
                    self.buf.advance(len);
                }
                Some(done) => break done,
                None if self.buf.len() > MAX_HEAD => {
                    return Err((http_error("response head over 64 KiB"), true));
                }
                None => {
                    let had = !self.buf.is_empty();
                    if !self.fill().await.map_err(|e| (e, had))? {
                        return Err((http_error("connection closed before the answer"), had));
                    }
                }
            }
        };
        self.buf.advance(len);
        let body = self.read_body(head.framing).await.map_err(|e| (e, true))?;
        let reuse = head.keep_alive && !matches!(head.framing, Framing::UntilClose);
        let response = Response {
            status: head.status,
            body,
        };
        Ok((response, reuse))
    }

    async fn read_body(&mut self, framing: Framing) -> Result<Bytes, Error> {
        match framing {
            Framing::Length(n) => {
                if n > MAX_BODY {
                    return Err(http_error("response body over 64 MiB"));
                }
                while self.buf.len() < n {
                    if !self.fill().await? {
                        return Err(http_error("connection closed inside the body"));
                    }
                }
                Ok(self.buf.split_to(n).freeze())
            }
            Framing::UntilClose => {
                while self.fill().await? {
                    if self.buf.len() > MAX_BODY {
                        return Err(http_error("response body over 64 MiB"));
                    }
                }
                Ok(self.buf.split().freeze())
            }
            Framing::Chunked => self.read_chunked().await,
        }
    }

    async fn read_chunked(&mut self) -> Result<Bytes, Error> {
        let mut body = BytesMut::new();
        loop {
            let (len, size) = match httparse::parse_chunk_size(&self.buf) {
                Ok(httparse::Status::Complete(c)) => c,
                Ok(httparse::Status::Partial) if self.buf.len() < 1024 => {
                    self.fill_or_fail().await?;
                    continue;
                }
                _ => return Err(http_error("bad chunk size line")),
            };
            let size = usize::try_from(size)
                .ok()
                .filter(|s| body.len() + s <= MAX_BODY)
                .ok_or_else(|| http_error("response body over 64 MiB"))?;
            if size == 0 {
                self.buf.advance(len);
                return self.skip_trailers().await.map(|()| body.freeze());
            }
            while self.buf.len() < len + size + 2 {
                self.fill_or_fail().await?;
            }
            if &self.buf[len + size..len + size + 2] != b"\r\n" {
                return Err(http_error("chunk data not followed by CRLF"));
            }
            body.extend_from_slice(&self.buf[len..len + size]);
            self.buf.advance(len + size + 2);
        }
    }

    /// Reads past the trailer section and the empty line ending it.
    async fn skip_trailers(&mut self) -> Result<(), Error> {
        loop {
            match memchr::memmem::find(&self.buf, b"\r\n") {
                Some(0) => {
                    self.buf.advance(2);
                    return Ok(());
                }
                Some(i) => self.buf.advance(i + 2),
                None if self.buf.len() > MAX_HEAD => {
                    return Err(http_error("trailers over 64 KiB"));
                }
                None => self.fill_or_fail().await?,
            }
        }
    }

    async fn fill_or_fail(&mut self) -> Result<(), Error> {
        if self.fill().await? {
            Ok(())
        } else {
            Err(http_error("connection closed inside the body"))
        }
    }
}

/// A response head: status, whether the server keeps the connection,
/// and how the body ends.
#[derive(Debug)]
struct Head {
    status: u16,
    keep_alive: bool,
    framing: Framing,
}

/// How a response's body ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

/// The head at the start of `buf` and its length, `None` while
/// incomplete; its fields replace those in `fields` when given (framing
/// and keep-alive are read from the raw fields either way).
fn parse_head(
    buf: &[u8],
    method: &Method,
    fields: Option<&mut HeaderMap>,
) -> Result<Option<(Head, usize)>, Error> {
    // Left uninitialised for httparse to fill: initialising 64 empty
    // fields took most of this function's time per answer.
    let mut raw_fields = [const { std::mem::MaybeUninit::uninit() }; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut response,
        buf,
        &mut raw_fields,
    );
    let len = match parsed {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(http_error(format!("bad response head: {e}"))),
    };
    let status = response.code.unwrap_or(0);
    if let Some(headers) = fields {
        headers.clear();
        headers.reserve(response.headers.len());
        for f in response.headers.iter() {
            let name = HeaderName::from_bytes(f.name.as_bytes()).map_err(http_error)?;
            let value = HeaderValue::from_bytes(f.value).map_err(http_error)?;
            headers.append(name, value);
        }
    }
    let raw = Raw::read(response.headers)?;
    let keep_alive = match response.version {
        Some(1) => !raw.close,
        _ => !raw.close && raw.keep_alive,
    };
    let framing = if status / 100 == 1 {
        // An interim answer has no body.
        Framing::Length(0)
    } else {
        raw.framing(status, method)?
    };
    let head = Head {
        status,
        keep_alive,
        framing,
    };
    Ok(Some((head, len)))
}

/// What framing and keep-alive need from a head's fields.
#[derive(Debug, Default)]
struct Raw<'a> {
    /// A transfer-encoding field, and the last coding named.
    coding: Option<&'a [u8]>,
    has_coding: bool,
    length: Option<&'a [u8]>,
    close: bool,
    keep_alive: bool,
}

impl<'a> Raw<'a> {
    fn read(fields: &[httparse::Header<'a>]) -> Result<Raw<'a>, Error> {
        let mut raw = Raw::default();
        for f in fields {
            let name = f.name.as_bytes();
            if name.eq_ignore_ascii_case(b"transfer-encoding") {
                raw.has_coding = true;
                raw.coding = tokens(f.value).last().or(raw.coding);
            } else if name.eq_ignore_ascii_case(b"content-length") {
                let v = f.value.trim_ascii();
                if raw.length.is_some_and(|l| l != v) {
                    return Err(http_error("conflicting content-length fields"));
                }
                raw.length = Some(v);
            } else if name.eq_ignore_ascii_case(b"connection") {
                for t in tokens(f.value) {
                    raw.close |= t.eq_ignore_ascii_case(b"close");
                    raw.keep_alive |= t.eq_ignore_ascii_case(b"keep-alive");
                }
            }
        }
        Ok(raw)
    }

    fn framing(&self, status: u16, method: &Method) -> Result<Framing, Error> {
        if *method == Method::HEAD || status == 204 || status == 304 {
            return Ok(Framing::Length(0));
        }
        if self.has_coding {
            let chunked = self
                .coding
                .is_some_and(|t| t.eq_ignore_ascii_case(b"chunked"));
            return Ok(if chunked {
                Framing::Chunked
            } else {
                Framing::UntilClose
            });
        }
        match self.length {
            None => Ok(Framing::UntilClose),
            Some(v) => std::str::from_utf8(v)
                .ok()
                .and_then(|v| v.parse::<usize>().ok())
                .map(Framing::Length)
                .ok_or_else(|| http_error("bad content-length")),
        }
    }
}

/// The comma-separated tokens of a field's value, trimmed, empty ones
/// left out.
fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|t| !t.is_empty())
}

/// The host field a request carries: `headers`' own, or else the
/// target's authority.
pub(super) fn host_field(headers: &HeaderMap, authority: &str) -> Result<HeaderValue, Error> {
    match headers.get(http::header::HOST) {
        Some(h) => Ok(h.clone()),
        None => HeaderValue::try_from(authority).map_err(http_error),
    }
}

/// Writes `request` (head and body) into `out`: `method path` with the
/// host field, `headers` and `body` (and its length when it has one or
/// the method sends one). `path` is checked to be a URI's path and
/// query: no spaces, no line breaks.
pub(super) fn encode(
    out: &mut Vec<u8>,
    method: &Method,
    path: &str,
    authority: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), Error> {
    let target = http::uri::PathAndQuery::try_from(path).map_err(http_error)?;
    let host = host_field(headers, authority)?;
    start_request(out, method);
    out.extend_from_slice(target.as_str().as_bytes());
    end_request(out, method, &host, headers, body);
    Ok(())
}

/// Starts a request in `out` (cleared): the method and the space before
/// its target, which the caller writes next.
pub(super) fn start_request(out: &mut Vec<u8>, method: &Method) {
    out.clear();
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
}

/// Ends a request whose target [`start_request`]'s caller wrote: the
/// version, the `host` field, `headers` (but their own host and length),
/// the body's length when it has one or `method` sends one, and `body`.
pub(super) fn end_request(
    out: &mut Vec<u8>,
    method: &Method,
    host: &HeaderValue,
    headers: &HeaderMap,
    body: &[u8],
) {
    out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    out.extend_from_slice(host.as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        if name == http::header::HOST || name == http::header::CONTENT_LENGTH {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let sends_body = matches!(*method, Method::POST | Method::PUT | Method::PATCH);
    if !body.is_empty() || sends_body {
        out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

#[cfg(test)]
mod tests;
