//! HTTP/1.1 clients for the push baselines, on hyper: long-polling and
//! short polling ([`PollClient`]) and Server-Sent Events ([`SseClient`]).
//!
//! Both keep their connection alive across requests and count what they
//! do (requests sent, connections opened), so a load test can report HTTP
//! requests per delivered message. Bytes on the wire are counted at the
//! socket through [`crate::ClientOptions::counters`].

mod sse;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{ACCEPT, HOST};
use http::{HeaderName, HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::task::JoinHandle;

pub use sse::{SseEvent, SseParser};

use crate::config::{ClientOptions, DEFAULT_HANDSHAKE_TIMEOUT};
use crate::dial::{Target, parse_target, secure, tcp_connect};
use crate::error::Error;

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

async fn open(target: &Target, options: &ClientOptions) -> Result<(Conn, OpenTimes), Error> {
    let limit = options
        .handshake_timeout
        .unwrap_or(DEFAULT_HANDSHAKE_TIMEOUT);
    let read_ns = Arc::new(AtomicU64::new(0));
    let stamp = Arc::clone(&read_ns);
    let setup = async {
        let start = Instant::now();
        let tcp = tcp_connect(&target.host, target.port, options).await?;
        let tcp_done = Instant::now();
        let mut stream = secure(target, tcp, options).await?;
        let times = OpenTimes {
            tcp: tcp_done - start,
            tls: tcp_done.elapsed(),
        };
        // hyper reads the socket in its own task: the stream notes when
        // each read arrived, before hyper parses it.
        stream.stamp_reads(stamp);
        http1::handshake(TokioIo::new(stream))
            .await
            .map(|c| (c, times))
            .map_err(http_error)
    };
    let ((sender, connection), times) = tokio::time::timeout(limit, setup)
        .await
        .map_err(|_| Error::Timeout("TCP connect (and TLS handshake)"))??;
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

/// An HTTP/1.1 client for the poll endpoint (`GET /poll?cursor=N`, with
/// `&wait=0` for short polling). It keeps one connection alive and opens
/// a new one when the server closes it between requests.
#[derive(Debug)]
pub struct PollClient {
    target: Target,
    options: ClientOptions,
    conn: Option<Conn>,
    stats: HttpStats,
    open_times: OpenTimes,
    read_ns: u64,
}

impl PollClient {
    /// Connects to the poll endpoint `url` (`http://` or `https://`; the
    /// path defaults to `/poll`).
    pub async fn connect(url: &str, options: &ClientOptions) -> Result<PollClient, Error> {
        let mut target = parse_target(url, true)?;
        if target.path == "/" {
            "/poll".clone_into(&mut target.path);
        }
        let mut client = PollClient {
            target,
            options: options.clone(),
            conn: None,
            stats: HttpStats::default(),
            open_times: OpenTimes::default(),
            read_ns: 0,
        };
        client.reconnect().await?;
        Ok(client)
    }

    /// Shuts the connection at once (a request in flight gets no
    /// answer); the next request opens a new one.
    pub fn disconnect(&mut self) {
        self.conn = None;
    }

    async fn reconnect(&mut self) -> Result<(), Error> {
        self.conn = None;
        let (conn, times) = open(&self.target, &self.options).await?;
        self.conn = Some(conn);
        self.stats.connections += 1;
        self.open_times = times;
        Ok(())
    }

    /// The request target polled (path and query).
    pub fn path(&self) -> &str {
        &self.target.path
    }

    /// Requests and connections so far.
    pub fn stats(&self) -> HttpStats {
        self.stats
    }

    /// How long the last connection took to open: TCP, then TLS.
    pub fn open_times(&self) -> OpenTimes {
        self.open_times
    }

    /// CLOCK_MONOTONIC ns right after the socket read that completed the
    /// last response returned (before hyper parsed it).
    pub fn last_read_ns(&self) -> u64 {
        self.read_ns
    }

    /// One poll: the messages after `cursor` (`None`: from now on). A long
    /// poll (`wait`) is held by the server until there is data or its
    /// timeout passes; a short poll answers at once. Returns the response
    /// body, to parse with `wsbench_protocol::push::PollBatch::parse`.
    pub async fn poll(&mut self, cursor: Option<u64>, wait: bool) -> Result<Bytes, Error> {
        let sep = if self.target.path.contains('?') {
            '&'
        } else {
            '?'
        };
        let mut uri = self.target.path.clone();
        if let Some(c) = cursor {
            uri.push(sep);
            uri.push_str(&format!("cursor={c}"));
        }
        if !wait {
            uri.push(if cursor.is_some() { '&' } else { sep });
            uri.push_str("wait=0");
        }
        self.get(&uri).await
    }

    /// `GET path` on the kept-alive connection; the body of a 200 response.
    pub async fn get(&mut self, path: &str) -> Result<Bytes, Error> {
        self.request(Method::GET, path, Bytes::new(), &[]).await
    }

    /// `POST path` with `body` (e.g. `/publish`); the body of a 2xx
    /// response.
    pub async fn post(&mut self, path: &str, body: Bytes) -> Result<Bytes, Error> {
        self.request(Method::POST, path, body, &[]).await
    }

    /// `method path` with `body` and extra header fields (a publish:
    /// POST, PUT or PATCH); the body of a 2xx response.
    pub async fn send_with(
        &mut self,
        method: Method,
        path: &str,
        body: Bytes,
        headers: &[(http::HeaderName, http::HeaderValue)],
    ) -> Result<Bytes, Error> {
        self.request(method, path, body, headers).await
    }

    async fn request(
        &mut self,
        method: Method,
        path: &str,
        body: Bytes,
        headers: &[(http::HeaderName, http::HeaderValue)],
    ) -> Result<Bytes, Error> {
        let get = method == Method::GET;
        let reply = self.exchange(method, path, body, headers).await?;
        // A GET wants its 200; a publish is done on any 2xx (publishers
        // answer 201 Created or 202 Accepted, as Nchan does).
        let done = reply.status == 200 || (!get && (200..300).contains(&reply.status));
        if !done {
            return Err(Error::HttpStatus(reply.status));
        }
        Ok(reply.body)
    }

    /// One request on the kept-alive connection, whatever the status of
    /// its answer (a server's "nothing new" is not an error here).
    pub async fn exchange(
        &mut self,
        method: Method,
        path: &str,
        body: Bytes,
        headers: &[(http::HeaderName, http::HeaderValue)],
    ) -> Result<Reply, Error> {
        if self.conn.as_ref().is_none_or(|c| c.sender.is_closed()) {
            self.reconnect().await?;
        }
        let mut request = build_request(&self.target, &self.options, method, path, body, None)?;
        for (name, value) in headers {
            request.headers_mut().insert(name.clone(), value.clone());
        }
        let mut retried = false;
        let response = loop {
            let conn = self.conn.as_mut().expect("connected above");
            // A kept-alive connection the server has closed fails here or
            // hands the unsent request back; that request is retried once
            // on a new connection.
            let failure = match conn.sender.ready().await {
                Err(e) => (http_error(e), Some(request)),
                Ok(()) => match conn.sender.try_send_request(request).await {
                    Ok(r) => break r,
                    Err(mut e) => {
                        let unsent = e.take_message();
                        (http_error(e.into_error()), unsent)
                    }
                },
            };
            self.conn = None;
            match failure {
                (_, Some(unsent)) if !retried => {
                    retried = true;
                    request = unsent;
                    self.reconnect().await?;
                }
                (e, _) => return Err(e),
            }
        };
        self.stats.requests += 1;
        let (parts, incoming) = response.into_parts();
        let body = match incoming.collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                self.conn = None;
                return Err(http_error(e));
            }
        };
        // No request is pipelined behind this one: the last read is the one
        // that completed this response.
        self.read_ns = self.conn.as_ref().map_or(0, Conn::last_read_ns);
        Ok(Reply {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        })
    }
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
    for (name, value) in &options.headers {
        let name = HeaderName::try_from(name.as_str()).map_err(http_error)?;
        let value = HeaderValue::try_from(value.as_str()).map_err(http_error)?;
        request.headers_mut().append(name, value);
    }
    Ok(request)
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
