//! HTTP/1.1 clients for the push baselines: long-polling and short
//! polling ([`PollClient`], on its own connection code in `h1.rs`) and
//! Server-Sent Events ([`SseClient`], on hyper).
//!
//! Both keep their connection alive across requests and count what they
//! do (requests sent, connections opened), so a load test can report HTTP
//! requests per delivered message. Bytes on the wire are counted at the
//! socket through [`crate::ClientOptions::counters`].

mod h1;
mod poll;
mod sse;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{ACCEPT, HOST};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::task::JoinHandle;

pub use poll::PollClient;
pub use sse::{SseEvent, SseParser};

use crate::config::{ClientOptions, DEFAULT_HANDSHAKE_TIMEOUT};
use crate::dial::{Target, parse_target, secure, tcp_connect};
use crate::error::Error;
use crate::net::NetStream;

fn http_error(e: impl std::fmt::Display) -> Error {
    Error::Http(e.to_string())
}

/// One keep-alive HTTP/1.1 connection: hyper's request sender, the task
/// that drives the socket, and when the socket last returned bytes.
#[derive(Debug)]
struct Conn {
    sender: SendRequest<Full<Bytes>>,
    driver: JoinHandle<()>,
    read_ns: Arc<AtomicU64>,
}

impl Conn {
    fn last_read_ns(&self) -> u64 {
        self.read_ns.load(Ordering::Relaxed)
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// How long opening a connection took: TCP connect, then the TLS handshake
/// (zero without TLS).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenTimes {
    /// TCP connect.
    pub tcp: Duration,
    /// The TLS handshake after it.
    pub tls: Duration,
}

/// Opens a connection to `target`: TCP, then TLS when the target asks for
/// it, within the options' handshake timeout. From then on every socket
/// read that returns bytes stores CLOCK_MONOTONIC ns in `read_ns`.
async fn dial(
    target: &Target,
    options: &ClientOptions,
    read_ns: Arc<AtomicU64>,
) -> Result<(NetStream, OpenTimes), Error> {
    let limit = options
        .handshake_timeout
        .unwrap_or(DEFAULT_HANDSHAKE_TIMEOUT);
    let setup = async {
        let start = Instant::now();
        let tcp = tcp_connect(&target.host, target.port, options).await?;
        let tcp_done = Instant::now();
        let stream = secure(target, tcp, options).await?;
        let times = OpenTimes {
            tcp: tcp_done - start,
            tls: tcp_done.elapsed(),
        };
        Ok::<_, Error>((stream, times))
    };
    let (mut stream, times) = tokio::time::timeout(limit, setup)
        .await
        .map_err(|_| Error::Timeout("TCP connect (and TLS handshake)"))??;
    stream.stamp_reads(read_ns);
    Ok((stream, times))
}

/// A connection driven by hyper in a task of its own (the SSE stream).
async fn open(target: &Target, options: &ClientOptions) -> Result<(Conn, OpenTimes), Error> {
    let read_ns = Arc::new(AtomicU64::new(0));
    // hyper reads the socket in its own task: the stream notes when each
    // read arrived, before hyper parses it.
    let (stream, times) = dial(target, options, Arc::clone(&read_ns)).await?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(http_error)?;
    let driver = tokio::spawn(async move {
        // Errors surface through the sender as failed requests.
        let _ = connection.await;
    });
    Ok((
        Conn {
            sender,
            driver,
            read_ns,
        },
        times,
    ))
}

/// Requests and connections a client has used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HttpStats {
    /// Requests sent.
    pub requests: u64,
    /// TCP connections opened (1 while keep-alive holds).
    pub connections: u64,
}

/// An answer: its status, header fields and body.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Header fields.
    pub headers: http::HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl Reply {
    /// A header field's value, when it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

fn build_request(
    target: &Target,
    options: &ClientOptions,
    method: Method,
    path: &str,
    body: Bytes,
    last_event_id: Option<&str>,
) -> Result<Request<Full<Bytes>>, Error> {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header(HOST, target.authority.as_str());
    if let Some(id) = last_event_id {
        // As the server wrote it: ids need not be numbers (Nchan's are
        // `time:n`).
        let id = HeaderValue::try_from(id).map_err(http_error)?;
        builder = builder.header("last-event-id", id);
    }
    let mut request = builder.body(Full::new(body)).map_err(http_error)?;
    for (name, value) in &option_headers(options)? {
        request.headers_mut().append(name, value.clone());
    }
    Ok(request)
}

/// The options' extra header fields, checked.
pub(super) fn option_headers(options: &ClientOptions) -> Result<HeaderMap, Error> {
    let mut map = HeaderMap::new();
    for (name, value) in &options.headers {
        let name = HeaderName::try_from(name.as_str()).map_err(http_error)?;
        let value = HeaderValue::try_from(value.as_str()).map_err(http_error)?;
        map.append(name, value);
    }
    Ok(map)
}

/// A Server-Sent Events client (`GET /events`).
#[derive(Debug)]
pub struct SseClient {
    body: Incoming,
    parser: SseParser,
    ready: std::collections::VecDeque<SseEvent>,
    conn: Conn,
    open_times: OpenTimes,
    done: bool,
}

impl SseClient {
    /// Opens the event stream at `url` (`http://` or `https://`; the path
    /// defaults to `/events`). With `last_event_id` (an event's `id`, as
    /// the server sent it), the server resumes after that event.
    pub async fn connect(
        url: &str,
        last_event_id: Option<&str>,
        options: &ClientOptions,
    ) -> Result<SseClient, Error> {
        let mut target = parse_target(url, true)?;
        if target.path == "/" {
            "/events".clone_into(&mut target.path);
        }
        let (mut conn, open_times) = open(&target, options).await?;
        let mut request = build_request(
            &target,
            options,
            Method::GET,
            &target.path,
            Bytes::new(),
            last_event_id,
        )?;
        request
            .headers_mut()
            .insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
        conn.sender.ready().await.map_err(http_error)?;
        let response = conn
            .sender
            .send_request(request)
            .await
            .map_err(http_error)?;
        if response.status() != StatusCode::OK {
            return Err(Error::HttpStatus(response.status().as_u16()));
        }
        Ok(SseClient {
            body: response.into_body(),
            parser: SseParser::default(),
            ready: Default::default(),
            conn,
            open_times,
            done: false,
        })
    }

    /// How long the connection took to open: TCP, then TLS.
    pub fn open_times(&self) -> OpenTimes {
        self.open_times
    }

    /// CLOCK_MONOTONIC ns right after the latest socket read, before hyper
    /// parsed its bytes. Taken when [`Self::next_event`] returns, it is the
    /// read that completed that event, or one later: hyper may read one
    /// body chunk ahead of the events handed out.
    pub fn last_read_ns(&self) -> u64 {
        self.conn.last_read_ns()
    }

    /// Shuts the stream's connection at once; events parsed but not yet
    /// handed out are dropped with it, and [`Self::next_event`] gives
    /// `None` from now on.
    pub fn disconnect(&mut self) {
        self.conn.driver.abort();
        self.ready.clear();
        self.done = true;
    }

    /// The next event; `None` when the server ended the stream.
    /// Cancel-safe.
    pub async fn next_event(&mut self) -> Result<Option<SseEvent>, Error> {
        loop {
            if let Some(e) = self.ready.pop_front() {
                return Ok(Some(e));
            }
            if self.done {
                return Ok(None);
            }
            match self.body.frame().await {
                None => {
                    self.done = true;
                    self.parser.finish(&mut self.ready);
                }
                Some(Err(e)) => {
                    self.done = true;
                    return Err(http_error(e));
                }
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.parser.feed(&data, &mut self.ready);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_id_is_sent_back_as_the_server_wrote_it() {
        let target = parse_target("http://127.0.0.1:1/sub/x", true).unwrap();
        let options = ClientOptions::default();
        for id in ["17", "1796214505:0", "a b"] {
            let request = build_request(
                &target,
                &options,
                Method::GET,
                "/sub/x",
                Bytes::new(),
                Some(id),
            )
            .unwrap();
            assert_eq!(request.headers()["last-event-id"], id);
        }
        // Not a header value: an error, not a request without it.
        let bad = build_request(
            &target,
            &options,
            Method::GET,
            "/",
            Bytes::new(),
            Some("a\nb"),
        );
        assert!(bad.is_err());
    }
}
