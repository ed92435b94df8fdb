//! From a URL to a connected byte stream: the URL taken apart, TCP
//! connected (from a chosen source address), TLS when the scheme asks,
//! byte counters attached. The WebSocket and HTTP clients both dial here.

use std::net::SocketAddr;
use std::sync::Arc;

use http::Uri;
use tokio::net::{TcpSocket, TcpStream};

use crate::config::ClientOptions;
use crate::error::Error;
use crate::net::{CountedTcp, NetStream};
use crate::tls;

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
