//! The polling and publishing client: one kept-alive connection, each
//! request written and its answer read by the caller's task ([`H1`]).

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};

use super::h1::{self, Body, H1, Response};
use super::{HttpStats, OpenTimes, Reply, option_headers};
use crate::config::ClientOptions;
use crate::dial::{Target, parse_target};
use crate::error::Error;

/// An HTTP/1.1 client for the poll endpoint (`GET /poll?cursor=N`, with
/// `&wait=0` for short polling), and for publishing. It keeps one
/// connection alive and opens a new one when the server closes it between
/// requests. Each request is written and its answer read by the caller's
/// task (`h1.rs`); a request cancelled half-way takes its connection down.
///
/// What each poll touches is kept together and small (a subscriber's
/// state is cold by the time its next answer comes): the connection, the
/// request, the counts; the rest lives out of line.
#[derive(Debug)]
pub struct PollClient {
    conn: Option<H1>,
    /// The request being sent, reused.
    out: Vec<u8>,
    /// Where the cursor sits in `out` when it holds a poll.
    last_poll: Option<PollRequest>,
    stats: HttpStats,
    read_ns: u64,
    setup: Box<Setup>,
}

/// What a poll seldom needs.
#[derive(Debug)]
struct Setup {
    target: Target,
    options: ClientOptions,
    /// The options' header fields, sent with every request.
    headers: HeaderMap,
    /// The host field of a request without fields of its own.
    host: HeaderValue,
    open_times: OpenTimes,
    /// The last poll's body when its connection was not kept (else it
    /// stays in the connection's buffer).
    owned: Bytes,
}

/// A poll request in `out`: its cursor's digits at `at..at + len`, so
/// that the next poll with as many digits rewrites those alone.
#[derive(Clone, Copy, Debug)]
struct PollRequest {
    at: usize,
    len: usize,
    wait: bool,
}

/// A poll's answer: its body, lent until the client's next request, and
/// when it arrived.
#[derive(Clone, Copy, Debug)]
pub struct Polled<'a> {
    /// The body, to parse with `wsbench_protocol::push::PollBatch::parse`.
    pub body: &'a [u8],
    /// CLOCK_MONOTONIC ns right after the socket read that completed it
    /// ([`PollClient::last_read_ns`]).
    pub read_ns: u64,
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
        let setup = Setup {
            host: h1::host_field(&headers, &target.authority)?,
            target,
            options: options.clone(),
            headers,
            open_times: OpenTimes::default(),
            owned: Bytes::new(),
        };
        let mut client = PollClient {
            conn: None,
            out: Vec::new(),
            last_poll: None,
            stats: HttpStats::default(),
            read_ns: 0,
            setup: Box::new(setup),
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
        let (conn, times) = H1::open(&self.setup.target, &self.setup.options).await?;
        self.stats.connections += 1;
        self.setup.open_times = times;
        Ok(conn)
    }

    /// The request target polled (path and query).
    pub fn path(&self) -> &str {
        &self.setup.target.path
    }

    /// Requests answered and connections opened so far.
    pub fn stats(&self) -> HttpStats {
        self.stats
    }

    /// How long the last connection took to open: TCP, then TLS.
    pub fn open_times(&self) -> OpenTimes {
        self.setup.open_times
    }

    /// CLOCK_MONOTONIC ns right after the socket read that completed the
    /// last response returned (before it was parsed).
    pub fn last_read_ns(&self) -> u64 {
        self.read_ns
    }

    /// One poll: the messages after `cursor` (`None`: from now on). A long
    /// poll (`wait`) is held by the server until there is data or its
    /// timeout passes; a short poll answers at once. The answer's body is
    /// lent from the connection's buffer (no copy), until the next request.
    pub async fn poll(&mut self, cursor: Option<u64>, wait: bool) -> Result<Polled<'_>, Error> {
        self.poll_request(cursor, wait);
        let response = self.exchange_out(&Method::GET, None).await?;
        check_status(response.status, true)?;
        let body = match response.body {
            Body::Owned(b) => {
                self.setup.owned = b;
                &self.setup.owned[..]
            }
            Body::Held => self.conn.as_ref().map_or(&[][..], H1::body),
        };
        Ok(Polled {
            body,
            read_ns: self.read_ns,
        })
    }

    /// Puts the poll request into `out`: the last one with its cursor
    /// rewritten when that is all that changes, else written anew.
    fn poll_request(&mut self, cursor: Option<u64>, wait: bool) {
        let mut digits = itoa::Buffer::new();
        let c = cursor.map(|c| digits.format(c).as_bytes());
        match (c, self.last_poll) {
            (Some(c), Some(p)) if p.wait == wait && p.len == c.len() => {
                self.out[p.at..p.at + p.len].copy_from_slice(c);
            }
            _ => self.write_poll(c, wait),
        }
    }

    /// Writes a poll request with the cursor's `digits` into `out`.
    fn write_poll(&mut self, digits: Option<&[u8]>, wait: bool) {
        // Written in place: the target's path and query came checked
        // from its URL, and a cursor's digits and `wait=0` keep them a
        // URI's path and query.
        let Setup {
            target,
            host,
            headers,
            ..
        } = &*self.setup;
        let mut sep = if target.path.contains('?') {
            b'&'
        } else {
            b'?'
        };
        let out = &mut self.out;
        h1::start_request(out, &Method::GET);
        out.extend_from_slice(target.path.as_bytes());
        self.last_poll = None;
        if let Some(d) = digits {
            out.push(sep);
            out.extend_from_slice(b"cursor=");
            let at = out.len();
            out.extend_from_slice(d);
            sep = b'&';
            self.last_poll = Some(PollRequest {
                at,
                len: d.len(),
                wait,
            });
        }
        if !wait {
            out.push(sep);
            out.extend_from_slice(b"wait=0");
        }
        h1::end_request(out, &Method::GET, host, headers, &[]);
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
        check_status(response.status, get)?;
        Ok(self.own(response.body))
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
            body: self.own(response.body),
        })
    }

    /// An answer's body as bytes of its own.
    fn own(&mut self, body: Body) -> Bytes {
        match body {
            Body::Owned(b) => b,
            Body::Held => self.conn.as_mut().map(H1::take_body).unwrap_or_default(),
        }
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
        self.last_poll = None;
        let authority = self.setup.target.authority.as_str();
        if headers.is_empty() {
            return h1::encode(
                &mut self.out,
                method,
                path,
                authority,
                &self.setup.headers,
                body,
            );
        }
        let mut all = self.setup.headers.clone();
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
                Ok((mut response, reuse)) => {
                    self.stats.requests += 1;
                    self.read_ns = conn.last_read_ns();
                    if reuse {
                        self.conn = Some(conn);
                    } else if let Body::Held = response.body {
                        // Out of the connection before it goes.
                        response.body = Body::Owned(conn.take_body());
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

/// Whether `status` answers a GET (`get`) or a publish, else the error
/// it is: a GET wants its 200; a publish is done on any 2xx (publishers
/// answer 201 Created or 202 Accepted, as Nchan does).
fn check_status(status: u16, get: bool) -> Result<(), Error> {
    if status == 200 || (!get && (200..300).contains(&status)) {
        Ok(())
    } else {
        Err(Error::HttpStatus(status))
    }
}

#[cfg(test)]
mod tests;
