//! # wsbench-server
//!
//! The reference targets every scenario drives, on one port:
//!
//! | request | what it does |
//! |---|---|
//! | WebSocket upgrade on `/` or `/echo` | echoes every message, same opcode |
//! | WebSocket upgrade on `/push` | subscribes to the push hub: one text message per publish |
//! | WebSocket upgrade on `/push?after=N` | resumes: every message after `N` still kept, then the same (`N` ahead of the stream: from now) |
//! | `GET /poll?cursor=N` | long-poll: every message after `N`, held until there is one |
//! | `GET /poll?cursor=N&wait=0` | short poll: answers at once |
//! | `GET /events` | the same stream as Server-Sent Events |
//! | `POST /publish` | publishes the body (UTF-8) to the hub |
//! | `GET /health` | `{"status":"ok","pid":P,"last_seq":N}` |
//!
//! Every pushed message is `{"seq":N,"ts":T,"payload":"..."}`, with `T` the
//! publish time in CLOCK_MONOTONIC nanoseconds. Depends on the transport and
//! codec; must not depend on the load generator or reports.

#![forbid(unsafe_code)]

pub mod args;
pub mod cluster;
mod fanout;
mod http;
pub mod hub;
mod limits;
mod routes;
mod shutdown;
mod stacks;
mod streams;
mod ws_loops;

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

pub use hub::Hub;
pub use limits::WriteLimits;
pub use stacks::WsImpl;
use wsbench_protocol::payload;
use wsbench_transport::net::NetStream;
use wsbench_transport::tls::{self, rustls};

/// How to run the server.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Listening sockets sharing the address (`SO_REUSEPORT`), each with its
    /// own accept loop.
    pub listeners: usize,
    /// Largest WebSocket message accepted (larger: close 1009).
    pub max_message_size: u64,
    /// A compressed message may inflate to this many times its size (past
    /// 1 MiB; larger: close 1009); 0: no ratio limit.
    pub max_inflate_ratio: u32,
    /// The write deadline and the cap on bytes queued, per connection.
    pub write: WriteLimits,
    /// Bytes of published messages retained for pollers and resuming
    /// clients (at most 4,096 messages).
    pub history_bytes: usize,
    /// Who may `POST /publish`: with a token, requests carrying it as
    /// `Authorization: Bearer TOKEN`; without, loopback clients only.
    pub publish_token: Option<String>,
    /// Time allowed for a request head, the upgrade included (slowloris).
    pub handshake_timeout: Duration,
    /// Time an HTTP keep-alive connection may sit between requests, and a
    /// WebSocket without traffic before a keepalive ping.
    pub idle_timeout: Duration,
    /// Open connections allowed; more are answered 503 and closed.
    pub max_connections: usize,
    /// Messages per second the built-in publisher sends (0: none).
    pub publish_rate: f64,
    /// Payload length of each built-in message, bytes.
    pub payload_size: usize,
    /// Built-in messages carry a JSON document (`{"n":K,"pad":"x…"}`) as
    /// their payload instead of plain text.
    pub payload_json: bool,
    /// How long a long-poll request is held when nothing arrives.
    pub long_poll_timeout: Duration,
    /// The WebSocket stack behind `/echo` and `/push`.
    pub ws_impl: WsImpl,
    /// Accept permessage-deflate when offered (own stack only).
    pub deflate: bool,
    /// Serve TLS (`wss://`, `https://`) instead of plain TCP on the port.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Set `SO_REUSEPORT` even with one listener, so other processes (the
    /// workers of a [`cluster`]) can listen on the same port.
    pub reuse_port: bool,
    /// Deliberate misbehaviour, to check that the load generator sees it.
    pub faults: Faults,
    /// Run as a worker: mirror the hub of the primary whose [`cluster::Relay`]
    /// listens at this path (no built-in publisher here; publishes go to the
    /// primary).
    pub upstream: Option<PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 9001)),
            listeners: 1,
            max_message_size: 16 << 20,
            max_inflate_ratio: 100,
            write: WriteLimits::default(),
            history_bytes: hub::DEFAULT_HISTORY_BYTES,
            publish_token: None,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 18_000,
            publish_rate: 0.0,
            payload_size: 64,
            payload_json: false,
            long_poll_timeout: Duration::from_secs(25),
            ws_impl: WsImpl::Own,
            deflate: true,
            tls: None,
            reuse_port: false,
            upstream: None,
            faults: Faults::default(),
        }
    }
}

/// Deliberate misbehaviour of the own WebSocket stack, for testing that a
/// load generator measures what happens (none by default).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    /// `/echo`: hold every echo this long before sending it (one message at
    /// a time per connection).
    pub echo_delay: Duration,
    /// `/echo`: pause for `.0` once every `.1` (measured from server
    /// start), as a garbage-collection pause or a stalled disk would.
    pub stall: Option<(Duration, Duration)>,
    /// `/push`: leave out every message whose sequence number is a multiple
    /// of this (0: none).
    pub drop_every: u64,
    /// `/push`: send every message whose sequence number is a multiple of
    /// this twice (0: none).
    pub duplicate_every: u64,
    /// `POST /publish`: hold every publish this long before it reaches the
    /// hub (and before it is answered): every push transport delivers it
    /// that much later.
    pub push_delay: Duration,
    /// Accept every publish but deliver only messages numbered up to this,
    /// on every push transport (0: all).
    pub stop_delivering_after: u64,
}

impl Faults {
    /// Waits as the echo faults say, before an echo at `now`.
    pub(crate) async fn before_echo(&self, epoch: tokio::time::Instant) {
        if !self.echo_delay.is_zero() {
            tokio::time::sleep(self.echo_delay).await;
        }
        if let Some((pause, period)) = self.stall
            && !period.is_zero()
        {
            let into = epoch.elapsed().as_nanos() % period.as_nanos();
            let into = Duration::from_nanos(u64::try_from(into).unwrap_or(u64::MAX));
            if into < pause {
                tokio::time::sleep(pause - into).await;
            }
        }
    }

    /// How many times `/push` sends message `seq`: 0, 1 or 2.
    pub(crate) fn push_copies(&self, seq: u64) -> usize {
        if self.drop_every > 0 && seq.is_multiple_of(self.drop_every) {
            0
        } else if self.duplicate_every > 0 && seq.is_multiple_of(self.duplicate_every) {
            2
        } else {
            1
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The listening socket could not be set up.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
    /// A setting is out of range.
    #[error("invalid setting: {0}")]
    Config(&'static str),
    /// A worker could not reach its primary.
    #[error("cannot reach the primary process at {path}: {source}")]
    Upstream {
        /// The relay socket.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

/// What every connection task needs.
#[derive(Debug)]
pub(crate) struct Ctx {
    pub(crate) config: ServerConfig,
    pub(crate) hub: Arc<Hub>,
    pub(crate) shutdown: watch::Receiver<bool>,
    pub(crate) upstream: Option<cluster::Upstream>,
    /// When the server started (the stall fault's clock).
    pub(crate) epoch: tokio::time::Instant,
    /// Connections cut for going past a limit, by reason.
    pub(crate) cuts: limits::Cuts,
    /// The own stack's WebSocket push subscribers, by fan-out task.
    pub(crate) fanout: fanout::Fanout,
}

impl Ctx {
    /// How the fan-out sends: this server's write limits and push faults.
    pub(crate) fn sending(&self) -> fanout::Sending<'_> {
        fanout::Sending {
            limits: &self.config.write,
            faults: &self.config.faults,
        }
    }
}

impl Ctx {
    /// Publishes `payload`, here or (on a worker) through the primary: the
    /// message's sequence number and publish time, `None` when a worker's
    /// primary is gone.
    pub(crate) async fn publish(&self, payload: &str, sent_ns: Option<u64>) -> Option<(u64, u64)> {
        let delay = self.config.faults.push_delay;
        match &self.upstream {
            Some(up) => {
                if !delay.is_zero() {
                    let _ = tokio::task::spawn_blocking(move || wait_exactly(delay)).await;
                }
                up.publish(payload.to_owned(), sent_ns).await
            }
            None if !delay.is_zero() => {
                // Waited and published on the blocking thread: no hop back
                // to a runtime worker between the deadline and the hub.
                let (hub, payload) = (Arc::clone(&self.hub), payload.to_owned());
                let published = tokio::task::spawn_blocking(move || {
                    wait_exactly(delay);
                    hub.publish_at(&payload, sent_ns)
                });
                published.await.ok().map(|m| (m.seq, m.ts_ns))
            }
            None => {
                let m = self.hub.publish_at(payload, sent_ns);
                Some((m.seq, m.ts_ns))
            }
        }
    }
}

/// Blocks the thread for `d`, to the microsecond: a sleep to just short of
/// the deadline (not tokio's millisecond timer), then a spin to it.
fn wait_exactly(d: Duration) {
    let deadline = std::time::Instant::now() + d;
    std::thread::sleep(d.saturating_sub(Duration::from_micros(500)));
    while std::time::Instant::now() < deadline {
        std::hint::spin_loop();
    }
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    hub: Arc<Hub>,
    shutdown: watch::Sender<bool>,
    connections: Arc<Semaphore>,
    max_connections: usize,
    tasks: JoinSet<()>,
    ctx: Arc<Ctx>,
}

impl Server {
    /// Binds and starts serving in the background (on the current tokio
    /// runtime).
    pub async fn start(config: ServerConfig) -> Result<Server, ServeError> {
        if config.listeners == 0 || config.max_connections == 0 {
            return Err(ServeError::Config(
                "listeners and max-connections must be at least 1",
            ));
        }
        if !(config.publish_rate >= 0.0 && config.publish_rate.is_finite()) {
            return Err(ServeError::Config(
                "publish rate must be a finite number ≥ 0",
            ));
        }
        let reuse_port = config.listeners > 1 || config.reuse_port;
        let first = bind(config.listen, reuse_port)?;
        let addr = first.local_addr().map_err(|source| ServeError::Bind {
            addr: config.listen,
            source,
        })?;
        let mut listeners = vec![first];
        for _ in 1..config.listeners {
            listeners.push(bind(addr, true)?);
        }
        let hub = Arc::new(Hub::bounded(
            config.history_bytes,
            config.faults.stop_delivering_after,
        ));
        let upstream = match &config.upstream {
            Some(path) => Some(
                cluster::Upstream::connect(path, Arc::clone(&hub))
                    .await
                    .map_err(|source| ServeError::Upstream {
                        path: path.clone(),
                        source,
                    })?,
            ),
            None => None,
        };
        let (shutdown, shutdown_rx) = watch::channel(false);
        let connections = Arc::new(Semaphore::new(config.max_connections));
        let ctx = Arc::new(Ctx {
            config: config.clone(),
            hub: Arc::clone(&hub),
            shutdown: shutdown_rx,
            upstream,
            epoch: tokio::time::Instant::now(),
            cuts: limits::Cuts::default(),
            // One fan-out task per runtime worker.
            fanout: fanout::Fanout::new(
                tokio::runtime::Handle::current().metrics().num_workers(),
                &hub,
            ),
        });
        let mut tasks = JoinSet::new();
        for i in 0..ctx.fanout.shards() {
            let ctx = Arc::clone(&ctx);
            // Unconstrained: a pass writes to thousands of sockets in one
            // poll, and tokio's cooperative budget would otherwise make every
            // write after the 128th report "not now" (handing it to the
            // subscriber's own task). A pass ends; the task waits between
            // passes.
            tasks.spawn(tokio::task::unconstrained(async move {
                let shutdown = ctx.shutdown.clone();
                ctx.fanout.run(i, &ctx.hub, ctx.sending(), shutdown).await;
            }));
        }
        for l in listeners {
            tasks.spawn(accept_loop(l, Arc::clone(&ctx), Arc::clone(&connections)));
        }
        if config.publish_rate > 0.0 && config.upstream.is_none() {
            tasks.spawn(publisher(Arc::clone(&ctx)));
        }
        Ok(Server {
            addr,
            hub,
            shutdown,
            connections,
            max_connections: config.max_connections,
            tasks,
            ctx,
        })
    }

    /// Resolves when this worker's primary has gone away (never, for a
    /// server that is not a worker). The worker should then shut down.
    pub async fn upstream_gone(&self) {
        match &self.ctx.upstream {
            Some(up) => up.gone().await,
            None => std::future::pending().await,
        }
    }

    /// The address the server listens on (the real port when 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The push hub, to publish from the same process.
    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// Stops accepting, closes WebSocket clients with 1001 and waits up to
    /// `grace` for connections to finish.
    pub async fn shutdown(mut self, grace: Duration) {
        self.shutdown.send_replace(true);
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
        let all = u32::try_from(self.max_connections).unwrap_or(u32::MAX);
        // Every connection holds a permit until its task ends.
        let _ = tokio::time::timeout(grace, self.connections.acquire_many(all)).await;
    }
}

fn bind(addr: SocketAddr, reuse_port: bool) -> Result<TcpListener, ServeError> {
    let err = |source| ServeError::Bind { addr, source };
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(err)?;
    socket.set_reuseaddr(true).map_err(err)?;
    if reuse_port {
        socket.set_reuseport(true).map_err(err)?;
    }
    socket.bind(addr).map_err(err)?;
    socket.listen(4096).map_err(err)
}

async fn accept_loop(listener: TcpListener, ctx: Arc<Ctx>, connections: Arc<Semaphore>) {
    loop {
        let (mut stream, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                // Out of file descriptors or a connection reset before
                // accept: keep serving the others.
                if e.raw_os_error() == Some(24) {
                    eprintln!("wsbench serve: accept: {e} (at the open-files limit)");
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&connections).try_acquire_owned() else {
            let shutdown = ctx.shutdown.clone();
            tokio::spawn(async move {
                let refusal = http::error_response(503, "connection limit reached");
                limits::refuse(&mut stream, &refusal, shutdown).await;
            });
            continue;
        };
        let ctx = Arc::clone(&ctx);
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            let stream = match &ctx.config.tls {
                None => NetStream::from(stream),
                Some(tls) => {
                    let handshake = tls::accept(Arc::clone(tls), stream, None);
                    let handshake = tokio::time::timeout(ctx.config.handshake_timeout, handshake);
                    match Box::pin(handshake).await {
                        Ok(Ok(s)) => s,
                        // A failed or slow TLS handshake ends this
                        // connection only.
                        Ok(Err(_)) | Err(_) => return,
                    }
                }
            };
            // Boxed: the request handling is freed once the connection
            // upgrades, and an open WebSocket's task holds its loop alone.
            if let Some(upgraded) = Box::pin(routes::connection(stream, peer.ip(), &ctx)).await {
                routes::serve_websocket(upgraded, &ctx).await;
            }
            drop(permit);
        });
    }
}

async fn publisher(ctx: Arc<Ctx>) {
    let period = Duration::from_secs_f64(1.0 / ctx.config.publish_rate);
    let mut tick = tokio::time::interval(period);
    // Late ticks are caught up, so the count over a run matches the rate.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    for n in 1.. {
        tick.tick().await;
        ctx.hub.publish(&payload::builtin_body(
            ctx.config.payload_json,
            ctx.config.payload_size,
            n,
        ));
    }
}
