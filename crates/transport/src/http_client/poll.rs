//! The polling and publishing client: one kept-alive connection, each
//! request written and its answer read by the caller's task ([`H1`]).

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};

use super::h1::{self, H1, Response};
use super::{HttpStats, OpenTimes, Reply, option_headers};
use crate::config::ClientOptions;
use crate::dial::{Target, parse_target};
use crate::error::Error;

/// An HTTP/1.1 client for the poll endpoint (`GET /poll?cursor=N`, with
/// `&wait=0` for short polling), and for publishing. It keeps one
/// connection alive and opens a new one when the server closes it between
/// requests. Each request is written and its answer read by the caller's
/// task (`h1.rs`); a request cancelled half-way takes its connection down.
#[derive(Debug)]
pub struct PollClient {
    target: Target,
    options: ClientOptions,
    /// The options' header fields, sent with every request.
    headers: HeaderMap,
    /// The host field of a request without fields of its own.
    host: HeaderValue,
    conn: Option<H1>,
    /// The request being sent, reused.
    out: Vec<u8>,
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
        let headers = option_headers(options)?;
        let mut client = PollClient {
            host: h1::host_field(&headers, &target.authority)?,
            target,
            options: options.clone(),
            headers,
            conn: None,
            out: Vec::new(),
            stats: HttpStats::default(),
            open_times: OpenTimes::default(),
            read_ns: 0,
        };
        client.conn = Some(client.open().await?);
        Ok(client)
    }

    /// Shuts the connection at once (a request in flight gets no
    /// answer); the next request opens a new one.
    pub fn disconnect(&mut self) {
        self.conn = None;
    }

    async fn open(&mut self) -> Result<H1, Error> {
        let (conn, times) = H1::open(&self.target, &self.options).await?;
        self.stats.connections += 1;
        self.open_times = times;
        Ok(conn)
    }

    /// The request target polled (path and query).
    pub fn path(&self) -> &str {
        &self.target.path
    }

    /// Requests answered and connections opened so far.
    pub fn stats(&self) -> HttpStats {
        self.stats
    }

    /// How long the last connection took to open: TCP, then TLS.
    pub fn open_times(&self) -> OpenTimes {
        self.open_times
    }

    /// CLOCK_MONOTONIC ns right after the socket read that completed the
    /// last response returned (before it was parsed).
    pub fn last_read_ns(&self) -> u64 {
        self.read_ns
    }

    /// One poll: the messages after `cursor` (`None`: from now on). A long
    /// poll (`wait`) is held by the server until there is data or its
    /// timeout passes; a short poll answers at once. Returns the response
    /// body, to parse with `wsbench_protocol::push::PollBatch::parse`.
    pub async fn poll(&mut self, cursor: Option<u64>, wait: bool) -> Result<Bytes, Error> {
        // Written in place: the target's path and query came checked
        // from its URL, and a cursor's digits and `wait=0` keep them a
        // URI's path and query.
        let mut sep = if self.target.path.contains('?') {
            b'&'
        } else {
            b'?'
        };
        let out = &mut self.out;
        h1::start_request(out, &Method::GET);
        out.extend_from_slice(self.target.path.as_bytes());
        if let Some(c) = cursor {
            out.push(sep);
            out.extend_from_slice(b"cursor=");
            out.extend_from_slice(itoa::Buffer::new().format(c).as_bytes());
            sep = b'&';
        }
        if !wait {
            out.push(sep);
            out.extend_from_slice(b"wait=0");
        }
        h1::end_request(out, &Method::GET, &self.host, &self.headers, &[]);
        let response = self.exchange_out(&Method::GET, None).await?;
        body_of(response, true)
    }

    /// `GET path` on the kept-alive connection; the body of a 200 response.
    pub async fn get(&mut self, path: &str) -> Result<Bytes, Error> {
        self.send_with(Method::GET, path, Bytes::new(), &[]).await
    }

    /// `POST path` with `body` (e.g. `/publish`); the body of a 2xx
    /// response.
    pub async fn post(&mut self, path: &str, body: Bytes) -> Result<Bytes, Error> {
        self.send_with(Method::POST, path, body, &[]).await
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
        let get = method == Method::GET;
        self.write_request(&method, path, &body, headers)?;
        let response = self.exchange_out(&method, None).await?;
        body_of(response, get)
    }

    /// One request on the kept-alive connection, whatever the status of
    /// its answer (a server's "nothing new" is not an error here). The
    /// extra `headers` replace the options' fields of the same name.
    pub async fn exchange(
        &mut self,
        method: Method,
        path: &str,
        body: Bytes,
        headers: &[(http::HeaderName, http::HeaderValue)],
    ) -> Result<Reply, Error> {
        self.write_request(&method, path, &body, headers)?;
        let mut fields = HeaderMap::new();
        let response = self.exchange_out(&method, Some(&mut fields)).await?;
        Ok(Reply {
            status: response.status,
            headers: fields,
            body: response.body,
        })
    }

    /// Writes `method path` with `body` into `out`, with the options'
    /// header fields and `headers`, which replace those of the same name.
    fn write_request(
        &mut self,
        method: &Method,
        path: &str,
        body: &[u8],
        headers: &[(http::HeaderName, http::HeaderValue)],
    ) -> Result<(), Error> {
        let authority = self.target.authority.as_str();
        if headers.is_empty() {
            return h1::encode(&mut self.out, method, path, authority, &self.headers, body);
        }
        let mut all = self.headers.clone();
        for (name, value) in headers {
            all.insert(name.clone(), value.clone());
        }
        h1::encode(&mut self.out, method, path, authority, &all, body)
    }

    /// The request in `out` and its answer on the kept-alive connection
    /// (or a new one), sent again once on a new connection when the
    /// server had closed the old one and cannot have acted on it; the
    /// answer's header fields into `fields` when given.
    async fn exchange_out(
        &mut self,
        method: &Method,
        mut fields: Option<&mut HeaderMap>,
    ) -> Result<Response, Error> {
        let mut retried = false;
        loop {
            // Taken for the exchange: dropped with it if it is cancelled.
            let reusable = self.conn.as_mut().is_some_and(H1::idle_and_open);
            let mut conn = match self.conn.take() {
                Some(c) if reusable => c,
                // Boxed: opening is rare, and its state inline would make
                // every request's future larger.
                _ => Box::pin(self.open()).await?,
            };
            match conn
                .exchange(&self.out, method, fields.as_deref_mut())
                .await
            {
                Ok((response, reuse)) => {
                    self.stats.requests += 1;
                    self.read_ns = conn.last_read_ns();
                    if reuse {
                        self.conn = Some(conn);
                    }
                    return Ok(response);
                }
                // A kept-alive connection the server had closed: the
                // request once more on a new one.
                Err(f) if f.retry && !retried => retried = true,
                Err(f) => return Err(f.error),
            }
        }
    }
}

/// The body of an answer to a GET (`get`) or a publish, or the error its
/// status is: a GET wants its 200; a publish is done on any 2xx
/// (publishers answer 201 Created or 202 Accepted, as Nchan does).
fn body_of(response: Response, get: bool) -> Result<Bytes, Error> {
    let done = response.status == 200 || (!get && (200..300).contains(&response.status));
    if !done {
        return Err(Error::HttpStatus(response.status));
    }
    Ok(response.body)
}
