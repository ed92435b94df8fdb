//! The server side: read and check the upgrade request, answer it.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wsbench_codec::Role;
use wsbench_codec::handshake::{Request, RequestError, Response};

use super::TcpWebSocket;
use crate::config::{DEFAULT_HANDSHAKE_TIMEOUT, ServerOptions};
use crate::deflate::{self, DeflateParams};
use crate::error::Error;
use crate::net::NetStream;

/// An accepted connection and what its request asked for.
#[derive(Debug)]
pub struct Accepted {
    /// The connection, OPEN.
    pub socket: TcpWebSocket,
    /// The request target (path and query).
    pub path: String,
    /// The subprotocol chosen from the client's offer.
    pub protocol: Option<String>,
    /// permessage-deflate parameters, when the client offered it and the
    /// server accepts it.
    pub deflate: Option<DeflateParams>,
}

/// Reads the upgrade request from `stream` and answers it.
pub async fn accept(
    stream: impl Into<NetStream>,
    options: &ServerOptions,
) -> Result<Accepted, Error> {
    accept_with_head(stream, Vec::new(), options).await
}

/// Like [`accept`], for a server that has already read the first bytes of
/// the request (`head`, possibly incomplete) to route it.
///
/// An invalid request is answered with its HTTP status (400, 426, 431) and
/// returned as [`Error::Request`].
pub async fn accept_with_head(
    stream: impl Into<NetStream>,
    mut head: Vec<u8>,
    options: &ServerOptions,
) -> Result<Accepted, Error> {
    let mut stream = stream.into();
    let limit = options
        .handshake_timeout
        .unwrap_or(DEFAULT_HANDSHAKE_TIMEOUT);
    let mut filled = head.len();
    if head.len() < 1024 {
        head.resize(1024, 0);
    }
    let read_request = async {
        loop {
            match Request::parse(&head[..filled]) {
                Ok(Some(_)) => return Ok(()),
                Ok(None) => {}
                Err(e) => return Err(Error::Request(e)),
            }
            if filled == head.len() {
                head.resize(head.len() * 2, 0);
            }
            let n = stream.read(&mut head[filled..]).await?;
            if n == 0 {
                return Err(Error::HandshakeEof);
            }
            filled += n;
        }
    };
    let parsed = tokio::time::timeout(limit, read_request)
        .await
        .map_err(|_| Error::Timeout("reading the upgrade request"))?;
    if let Err(e) = parsed {
        if let Error::Request(refusal) = &e {
            refuse(&mut stream, refusal).await;
        }
        return Err(e);
    }

    let request = Request::parse(&head[..filled])?.expect("complete: checked above");
    let supported: Vec<&str> = options.protocols.iter().map(String::as_str).collect();
    let protocol = request.select_protocol(&supported);
    let deflate = options.deflate.as_ref().and_then(|config| {
        deflate::accept(request.extensions.iter().copied(), config)
            .map(|(params, header)| (params, config.level, header))
    });
    let mut response: Response<'_> = request.accept();
    response.protocol = protocol;
    response.extensions = deflate.as_ref().map(|(_, _, header)| header.as_str());
    let mut out = Vec::with_capacity(256);
    response.write(&mut out);
    let path = request.path.to_owned();
    let protocol = protocol.map(str::to_owned);
    let head_len = request.head_len;
    stream.write_all(&out).await?;
    stream.tcp().set_nodelay(true)?;
    let (read, write) = stream.into_split();
    let socket = TcpWebSocket::open(
        read,
        write,
        Role::Server,
        options.config.clone(),
        &head[head_len..filled],
        deflate.as_ref().map(|&(params, level, _)| (params, level)),
    );
    Ok(Accepted {
        socket,
        path,
        protocol,
        deflate: deflate.map(|(params, _, _)| params),
    })
}

/// Answers a refused upgrade request with its status, then closes.
async fn refuse(stream: &mut NetStream, refusal: &RequestError) {
    let mut out = Vec::with_capacity(256);
    refusal.write_response(&mut out);
    // The client may already be gone; the refusal is reported either way.
    let _ = stream.write_all(&out).await;
    let _ = stream.shutdown().await;
}
