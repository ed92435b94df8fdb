//! Over loopback TCP, through the public API: a frame encoded once for a
//! broadcast, and the keepalive deadline moved by traffic.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use wsbench_transport::{
    ClientOptions, Config, Data, Error, Event, ServerOptions, TcpWebSocket, accept, connect,
};

const LIMIT: Duration = Duration::from_secs(10);

async fn next(ws: &mut TcpWebSocket) -> Event {
    tokio::time::timeout(LIMIT, ws.next_event())
        .await
        .expect("event in time")
        .expect("an event before close")
}

/// One frame encoded for a broadcast reaches a plain and a compressing
/// client alike (the latter compressed on its own connection); a client
/// cannot send it.
#[tokio::test]
async fn a_frame_encoded_once_reaches_plain_and_compressing_clients() {
    use wsbench_codec::{OpCode, ServerFrame};
    use wsbench_transport::DeflateConfig;
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", l.local_addr().unwrap());
    let text = "broadcast ".repeat(300);
    let frame = ServerFrame::new(OpCode::Text, text.as_bytes()).unwrap();
    let server = tokio::spawn(async move {
        let options = ServerOptions {
            deflate: Some(DeflateConfig::default()),
            ..ServerOptions::default()
        };
        let mut held = Vec::new();
        for _ in 0..2 {
            let (tcp, _) = l.accept().await.unwrap();
            let a = accept(tcp, &options).await.unwrap();
            let (r, w) = a.socket.split();
            w.queue_frame(&frame).unwrap();
            assert_eq!(w.buffered_amount(), frame.payload().len());
            w.flush().await.unwrap();
            assert_eq!(w.buffered_amount(), 0);
            held.push((r, w));
        }
        held
    });
    let deflate = ClientOptions {
        deflate: Some(DeflateConfig::default()),
        ..ClientOptions::default()
    };
    for (options, compressed) in [(ClientOptions::default(), false), (deflate, true)] {
        let mut c = connect(&url, &options).await.unwrap();
        assert_eq!(c.deflate.is_some(), compressed);
        assert!(matches!(next(&mut c.socket).await, Event::Message(Data::Text(t)) if t == text));
        let (_r, w) = c.socket.split();
        let own = ServerFrame::new(OpCode::Text, b"x").unwrap();
        assert!(matches!(w.queue_frame(&own), Err(Error::Encode(_))));
    }
    drop(server.await.unwrap());
}

/// Messages more often than the keepalive interval keep the connection
/// quiet: the first ping goes out one interval after the last message,
/// not one interval after the connection opened (the timer armed first
/// fires early and is moved, not taken for silence).
#[tokio::test]
async fn traffic_defers_the_keepalive_ping() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", l.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let (mut tcp, _) = l.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        let n = tcp.read(&mut buf).await.unwrap();
        let req = wsbench_codec::handshake::Request::parse(&buf[..n])
            .unwrap()
            .unwrap();
        let mut out = Vec::new();
        req.accept().write(&mut out);
        tcp.write_all(&out).await.unwrap();
        // 15 messages 30 ms apart: 450 ms, over four keepalive intervals.
        for _ in 0..15 {
            tcp.write_all(&[0x81, 1, b'x']).await.unwrap();
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        let last = std::time::Instant::now();
        let mut first = [0u8; 1];
        tcp.read_exact(&mut first).await.unwrap();
        (first[0], last.elapsed())
    });
    let options = ClientOptions {
        config: Config {
            keepalive: Some(Duration::from_millis(100)),
            ..Config::default()
        },
        ..ClientOptions::default()
    };
    let mut c = connect(&url, &options).await.unwrap();
    let reader = tokio::spawn(async move {
        let mut messages = 0;
        while let Some(ev) = c.socket.next_event().await {
            match ev {
                Event::Message(_) => messages += 1,
                _ => break,
            }
        }
        messages
    });
    let (byte, after_last) = tokio::time::timeout(LIMIT, server).await.unwrap().unwrap();
    assert_eq!(byte, 0x89, "the first thing the client sends is a ping");
    assert!(
        after_last >= Duration::from_millis(60),
        "pinged {after_last:?} after the last message, inside the interval"
    );
    reader.abort();
}
