//! Helpers the server's test files share: a server on a free loopback
//! port and one-shot HTTP exchanges.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wsbench_server::{Server, ServerConfig};

/// How long any one step of a test may take.
pub const LIMIT: Duration = Duration::from_secs(10);

/// `config`'s server, listening on a free loopback port.
pub async fn server(config: ServerConfig) -> Server {
    Server::start(ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..config
    })
    .await
    .unwrap()
}

/// One HTTP/1.1 exchange on a fresh connection; returns the whole response.
pub async fn http(addr: SocketAddr, request: &[u8]) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(LIMIT, tcp.read_to_end(&mut out))
        .await
        .expect("response in time")
        .unwrap();
    String::from_utf8(out).unwrap()
}

/// The JSON body of a response.
pub fn body(response: &str) -> serde_json::Value {
    let (_, body) = response.split_once("\r\n\r\n").expect("a head and a body");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}
