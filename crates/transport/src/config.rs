//! Connection limits and options.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio_rustls::rustls;

pub use crate::deflate::DeflateConfig;
use crate::net::ByteCounters;

/// Limits and timers of one connection, either side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Largest frame payload accepted from the peer (larger: close 1009).
    pub max_frame_size: u64,
    /// Largest message accepted from the peer (larger: close 1009).
    pub max_message_size: u64,
    /// Read buffer size at the start and after a burst of traffic.
    pub read_buffer_initial: usize,
    /// The read buffer doubles while reads fill it, up to this size.
    pub read_buffer_max: usize,
    /// How long to wait for the peer's close frame (and, on a client, for the
    /// server to close TCP) once a close frame is sent.
    pub close_timeout: Duration,
    /// Send a ping after this long without any byte from the peer; fail the
    /// connection when a second interval passes in silence.
    pub keepalive: Option<Duration>,
    /// A compressed message may inflate to this many times its size on the
    /// wire (past its first MiB, `INFLATE_RATIO_FLOOR`; larger: close 1009, a
    /// compression bomb); 0: no ratio limit, only `max_message_size`.
    pub max_inflate_ratio: u32,
}

/// Inflated sizes up to this are never refused for their ratio.
pub const INFLATE_RATIO_FLOOR: usize = 1 << 20;

impl Default for Config {
    /// 16 MiB frames, 64 MiB messages, a 512-byte read buffer growing to
    /// 64 KiB, 5 s close timeout, no keepalive, no inflate ratio limit.
    fn default() -> Config {
        Config {
            max_frame_size: 16 << 20,
            max_message_size: 64 << 20,
            read_buffer_initial: 512,
            read_buffer_max: 64 << 10,
            close_timeout: Duration::from_secs(5),
            keepalive: None,
            max_inflate_ratio: 0,
        }
    }
}

/// Options for [`crate::connect`].
#[derive(Clone, Debug, Default)]
pub struct ClientOptions {
    /// Connection limits and timers.
    pub config: Config,
    /// Subprotocols to offer, in order of preference.
    pub protocols: Vec<String>,
    /// An `Origin` header, as browsers send.
    pub origin: Option<String>,
    /// More request headers.
    pub headers: Vec<(String, String)>,
    /// Local address to bind before connecting (spreads connections over
    /// 127.0.0.x source addresses).
    pub local_addr: Option<IpAddr>,
    /// Limit on TCP connect plus the opening handshake (default 10 s).
    pub handshake_timeout: Option<Duration>,
    /// Offer permessage-deflate (RFC 7692).
    pub deflate: Option<DeflateConfig>,
    /// TLS for `wss://` (see [`crate::tls`]); `None`: the system's roots.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Count the bytes this connection moves through its socket.
    pub counters: Option<Arc<ByteCounters>>,
}

/// Options for [`crate::accept`].
#[derive(Clone, Debug, Default)]
pub struct ServerOptions {
    /// Connection limits and timers.
    pub config: Config,
    /// Subprotocols this server speaks, in order of preference.
    pub protocols: Vec<String>,
    /// Limit on reading the upgrade request (default 10 s; slowloris defence).
    pub handshake_timeout: Option<Duration>,
    /// Accept permessage-deflate when a client offers it.
    pub deflate: Option<DeflateConfig>,
}

pub(crate) const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
