//! The client side: TCP connect and the opening handshake.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::Uri;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use wsbench_codec::Role;
use wsbench_codec::handshake::{ClientHandshake, ClientRequest};

use super::TcpWebSocket;
use super::write::random_u64;
use crate::config::{ClientOptions, DEFAULT_HANDSHAKE_TIMEOUT};
use crate::deflate::{self, DeflateParams};
use crate::error::Error;
use crate::net::{CountedTcp, NetStream};
use crate::tls;

/// Largest response head accepted (the codec refuses larger ones too).
const MAX_HEAD: usize = 16 << 10;

/// An open client connection and what the handshake settled.
#[derive(Debug)]
pub struct Connected {
    /// The connection, OPEN.
    pub socket: TcpWebSocket,
    /// The subprotocol the server chose, if any.
    pub protocol: Option<String>,
    /// Time from the start of TCP connect to its completion.
    pub connect_time: Duration,
    /// Time from the end of TCP connect to a validated 101 response (the TLS
    /// handshake included, for `wss://`).
    pub handshake_time: Duration,
    /// permessage-deflate parameters, when the server accepted the offer.
    pub deflate: Option<DeflateParams>,
}

/// A `ws://`, `wss://`, `http://` or `https://` URL taken apart.
#[derive(Debug)]
pub(crate) struct Target {
    pub(crate) host: String,
    pub(crate) port: u16,
    /// The `Host` header: the host, with the port when not the default.
    pub(crate) authority: String,
    /// Path and query, `/` at least.
    pub(crate) path: String,
    /// `wss://` or `https://`.
    pub(crate) tls: bool,
}

fn parse_url(url: &str) -> Result<Target, Error> {
    parse_target(url, false)
}

/// Parses a WebSocket URL, or with `http`, an HTTP one.
pub(crate) fn parse_target(url: &str, http: bool) -> Result<Target, Error> {
    let bad = |reason| Error::Url {
        url: url.to_owned(),
        reason,
    };
    let uri: Uri = url.parse().map_err(|_| bad("not a URL"))?;
    let tls = match (uri.scheme_str(), http) {
        (Some("ws"), false) | (Some("http"), true) => false,
        (Some("wss"), false) | (Some("https"), true) => true,
        (_, false) => return Err(bad("the scheme must be ws:// or wss://")),
        (_, true) => return Err(bad("the scheme must be http:// or https://")),
    };
    let host = uri.host().ok_or_else(|| bad("no host"))?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let authority = uri
        .authority()
        .map(|a| a.as_str().rsplit('@').next().unwrap_or_default().to_owned())
        .ok_or_else(|| bad("no host"))?;
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "/".to_owned());
    Ok(Target {
        host,
        port,
        authority,
        path,
        tls,
    })
}

/// Opens a WebSocket to `url` (`ws://` or `wss://`, `host[:port][/path]`).
///
/// `wss://` uses [`ClientOptions::tls`], or the system's root certificates
/// when that is `None`.
pub async fn connect(url: &str, options: &ClientOptions) -> Result<Connected, Error> {
    let target = parse_url(url)?;
    let limit = options
        .handshake_timeout
        .unwrap_or(DEFAULT_HANDSHAKE_TIMEOUT);
    tokio::time::timeout(limit, connect_inner(&target, options))
        .await
        .map_err(|_| Error::Timeout("TCP connect and opening handshake"))?
}

/// Connects TCP to `host:port`, from `options.local_addr` when set.
pub(crate) async fn tcp_connect(
    host: &str,
    port: u16,
    options: &ClientOptions,
) -> Result<TcpStream, Error> {
    let addr: SocketAddr = tokio::net::lookup_host((host, port))
        .await?
        .next()
        .ok_or_else(|| Error::Url {
            url: host.to_owned(),
            reason: "the host resolves to no address",
        })?;
    let stream = match options.local_addr {
        Some(local) => {
            let socket = if addr.is_ipv4() {
                TcpSocket::new_v4()?
            } else {
                TcpSocket::new_v6()?
            };
            socket.bind(SocketAddr::new(local, 0))?;
            socket.connect(addr).await?
        }
        None => TcpStream::connect(addr).await?,
    };
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Wraps a connected socket in TLS when the target asks for it, and in the
/// options' byte counters.
pub(crate) async fn secure(
    target: &Target,
    tcp: TcpStream,
    options: &ClientOptions,
) -> Result<NetStream, Error> {
    if !target.tls {
        return Ok(NetStream::Tcp(CountedTcp::new(
            tcp,
            options.counters.clone(),
        )));
    }
    let config = match &options.tls {
        Some(c) => Arc::clone(c),
        None => tls::client_config_system()?,
    };
    tls::connect(config, &target.host, tcp, options.counters.clone()).await
}

async fn connect_inner(target: &Target, options: &ClientOptions) -> Result<Connected, Error> {
    let t0 = Instant::now();
    let tcp = tcp_connect(&target.host, target.port, options).await?;
    let t1 = Instant::now();
    let mut stream = secure(target, tcp, options).await?;

    let protocols: Vec<&str> = options.protocols.iter().map(String::as_str).collect();
    let headers: Vec<(&str, &str)> = options
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let offer = options.deflate.as_ref().map(deflate::offer);
    let request = ClientRequest {
        host: &target.authority,
        path: &target.path,
        protocols: &protocols,
        extensions: offer.as_deref(),
        origin: options.origin.as_deref(),
        headers: &headers,
    };
    let mut nonce = [0u8; 16];
    nonce[..8].copy_from_slice(&random_u64().to_le_bytes());
    nonce[8..].copy_from_slice(&random_u64().to_le_bytes());
    let mut out = Vec::with_capacity(256);
    let handshake = ClientHandshake::start(&request, nonce, &mut out)?;
    stream.write_all(&out).await?;

    let mut buf = vec![0u8; 1024];
    let mut filled = 0;
    loop {
        if filled == buf.len() {
            if buf.len() >= MAX_HEAD + 1024 {
                return Err(wsbench_codec::handshake::HandshakeError::TooLarge.into());
            }
            buf.resize(buf.len() * 2, 0);
        }
        let n = stream.read(&mut buf[filled..]).await?;
        if n == 0 {
            return Err(Error::HandshakeEof);
        }
        filled += n;
        if let Some(response) = handshake.parse_response(&buf[..filled])? {
            let protocol = response.protocol.map(str::to_owned);
            let head_len = response.head_len;
            let deflate = match &options.deflate {
                Some(config) => deflate::accepted(&response.extensions, config)
                    .map_err(Error::Extension)?
                    .map(|p| (p, config.level)),
                None => None,
            };
            let (read, write) = stream.into_split();
            let socket = TcpWebSocket::open(
                read,
                write,
                Role::Client,
                options.config.clone(),
                &buf[head_len..filled],
                deflate,
            );
            return Ok(Connected {
                socket,
                protocol,
                deflate: deflate.map(|(p, _)| p),
                connect_time: t1 - t0,
                handshake_time: t1.elapsed(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parts() {
        let t = parse_url("ws://127.0.0.1:9001/echo?x=1").unwrap();
        assert_eq!(
            (
                t.host.as_str(),
                t.port,
                t.authority.as_str(),
                t.path.as_str()
            ),
            ("127.0.0.1", 9001, "127.0.0.1:9001", "/echo?x=1")
        );
        let t = parse_url("ws://localhost").unwrap();
        assert_eq!((t.port, t.path.as_str()), (80, "/"));
        let t = parse_url("ws://[::1]:80/").unwrap();
        assert_eq!(t.host, "::1");
        let t = parse_url("wss://localhost/x").unwrap();
        assert_eq!(
            (t.port, t.tls, t.authority.as_str()),
            (443, true, "localhost")
        );
    }

    #[test]
    fn bad_urls_say_why() {
        for (url, why) in [
            ("http://x/", "scheme"),
            ("ftp://x/", "wss://"),
            ("not a url", "not a URL"),
        ] {
            let e = parse_url(url).expect_err("refused").to_string();
            assert!(e.contains(why), "{url}: {e}");
        }
    }
}
