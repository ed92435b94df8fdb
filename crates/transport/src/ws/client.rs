//! The client side: TCP connect and the opening handshake.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wsbench_codec::Role;
use wsbench_codec::handshake::{ClientHandshake, ClientRequest};

use super::TcpWebSocket;
use super::write::random_u64;
use crate::config::{ClientOptions, DEFAULT_HANDSHAKE_TIMEOUT};
use crate::deflate::{self, DeflateParams};
use crate::dial::{Target, parse_target, secure, tcp_connect};
use crate::error::Error;

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

fn parse_url(url: &str) -> Result<Target, Error> {
    parse_target(url, false)
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
