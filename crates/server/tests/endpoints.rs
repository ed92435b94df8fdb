//! Every endpoint of the reference server, over loopback, and its defences.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wsbench_server::{ServerConfig, WsImpl};
use wsbench_transport::{ClientOptions, Data, Event, TcpWebSocket, connect};

mod common;
use common::{LIMIT, body, http, server};

async fn ws(addr: SocketAddr, path: &str) -> TcpWebSocket {
    connect(&format!("ws://{addr}{path}"), &ClientOptions::default())
        .await
        .unwrap()
        .socket
}

async fn next(ws: &mut TcpWebSocket) -> Event {
    tokio::time::timeout(LIMIT, ws.next_event())
        .await
        .expect("event in time")
        .expect("event before close")
}

#[tokio::test]
async fn echo_returns_each_message_with_its_opcode() {
    let s = server(ServerConfig::default()).await;
    for path in ["/", "/echo"] {
        let mut c = ws(s.local_addr(), path).await;
        c.send_text("ping?").await.unwrap();
        c.send_binary(&[9, 8, 7]).await.unwrap();
        assert!(matches!(next(&mut c).await, Event::Message(Data::Text(t)) if t == "ping?"));
        assert!(matches!(next(&mut c).await, Event::Message(Data::Binary(b)) if b == [9, 8, 7]));
        c.close(1000, "").await.unwrap();
        assert!(matches!(next(&mut c).await, Event::Close(e) if e.was_clean && e.code == 1000));
    }
}

#[tokio::test]
async fn push_over_websocket_carries_sequence_and_publish_time() {
    let s = server(ServerConfig::default()).await;
    let mut c = ws(s.local_addr(), "/push").await;
    // The subscription exists once the upgrade is answered; give the
    // server task a moment to subscribe before publishing.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let published = s.hub().publish("hello");
    let Event::Message(Data::Text(t)) = next(&mut c).await else {
        panic!("expected a text message")
    };
    let v: serde_json::Value = serde_json::from_str(&t).unwrap();
    assert_eq!(v["seq"].as_u64(), Some(published.seq));
    assert_eq!(v["ts"].as_u64(), Some(published.ts_ns));
    assert_eq!(v["payload"], "hello");
}

#[tokio::test]
async fn long_poll_holds_until_a_message_and_short_poll_answers_at_once() {
    let s = server(ServerConfig::default()).await;
    let addr = s.local_addr();
    let short = http(
        addr,
        b"GET /poll?cursor=0&wait=0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(short.starts_with("HTTP/1.1 200"), "{short}");
    assert_eq!(body(&short)["messages"].as_array().unwrap().len(), 0);

    let long = tokio::spawn(http(
        addr,
        b"GET /poll?cursor=0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    ));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!long.is_finished(), "a long poll waits for data");
    s.hub().publish("a");
    s.hub().publish("b");
    let v = body(&long.await.unwrap());
    let messages = v["messages"].as_array().unwrap();
    assert!(!messages.is_empty());
    assert_eq!(messages[0]["payload"], "a");

    let all = body(
        &http(
            addr,
            b"GET /poll?cursor=0&wait=0 HTTP/1.1\r\nConnection: close\r\n\r\n",
        )
        .await,
    );
    assert_eq!(all["cursor"], 2);
    assert_eq!(all["messages"].as_array().unwrap().len(), 2);
    let after = body(
        &http(
            addr,
            b"GET /poll?cursor=1&wait=0 HTTP/1.1\r\nConnection: close\r\n\r\n",
        )
        .await,
    );
    assert_eq!(after["messages"][0]["seq"], 2);
}

#[tokio::test]
async fn polls_reuse_one_keep_alive_connection() {
    let s = server(ServerConfig::default()).await;
    s.hub().publish("m");
    let mut tcp = TcpStream::connect(s.local_addr()).await.unwrap();
    for _ in 0..3 {
        tcp.write_all(b"GET /poll?cursor=0&wait=0 HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut got = Vec::new();
        let mut b = [0u8; 1024];
        while !String::from_utf8_lossy(&got).contains("]}") {
            let n = tokio::time::timeout(LIMIT, tcp.read(&mut b))
                .await
                .unwrap()
                .unwrap();
            assert!(n > 0, "the server closed a keep-alive connection");
            got.extend_from_slice(&b[..n]);
        }
        assert!(got.starts_with(b"HTTP/1.1 200"));
    }
}

#[tokio::test]
async fn sse_streams_events_with_ids() {
    let s = server(ServerConfig::default()).await;
    let mut tcp = TcpStream::connect(s.local_addr()).await.unwrap();
    tcp.write_all(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    s.hub().publish("one");
    let mut got = String::new();
    let mut b = [0u8; 1024];
    while !got.contains("\n\n") || !got.contains("data: ") {
        let n = tokio::time::timeout(LIMIT, tcp.read(&mut b))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0);
        got.push_str(std::str::from_utf8(&b[..n]).unwrap());
    }
    assert!(got.starts_with("HTTP/1.1 200"));
    assert!(got.contains("Content-Type: text/event-stream"));
    assert!(got.contains("id: 1\ndata: {\"seq\":1,"), "{got}");
}

#[tokio::test]
async fn publish_endpoint_feeds_the_hub() {
    let s = server(ServerConfig::default()).await;
    let r = http(
        s.local_addr(),
        b"POST /publish HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    )
    .await;
    assert_eq!(body(&r)["seq"], 1);
    assert!(s.hub().since(0)[0].json.contains("\"payload\":\"hello\""));
}

#[tokio::test]
async fn a_publisher_may_stamp_its_own_clock_and_bad_stamps_are_refused() {
    let s = server(ServerConfig::default()).await;
    let r = http(
        s.local_addr(),
        b"POST /publish HTTP/1.1\r\nHost: x\r\nX-Wsbench-Sent-Ns: 123456789\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
    )
    .await;
    assert_eq!(body(&r)["ts"], 123_456_789);
    assert_eq!(s.hub().since(0)[0].ts_ns, 123_456_789);
    assert!(s.hub().since(0)[0].json.contains("\"ts\":123456789,"));
    for bad in ["soon", "0", "-5"] {
        let req = format!(
            "POST /publish HTTP/1.1\r\nHost: x\r\nX-Wsbench-Sent-Ns: {bad}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi"
        );
        let r = http(s.local_addr(), req.as_bytes()).await;
        assert!(r.starts_with("HTTP/1.1 400"), "{bad}: {r}");
    }
    assert_eq!(
        s.hub().last_seq(),
        1,
        "nothing published by a refused request"
    );
}

#[tokio::test]
async fn built_in_publisher_publishes_at_its_rate() {
    let s = server(ServerConfig {
        publish_rate: 100.0,
        payload_size: 10,
        ..ServerConfig::default()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let n = s.hub().last_seq();
    assert!((20..=80).contains(&n), "{n} messages in 0.5 s at 100/s");
    assert!(
        s.hub().since(0)[0]
            .json
            .contains("\"payload\":\"xxxxxxxxxx\"")
    );
}

#[tokio::test]
async fn bad_requests_get_statuses_and_the_server_keeps_serving() {
    let s = server(ServerConfig::default()).await;
    let addr = s.local_addr();
    for (request, status) in [
        (&b"GARBAGE\0\r\n\r\n"[..], "HTTP/1.1 400"),
        (b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 404"),
        (b"DELETE /poll HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 405"),
        (
            b"GET /poll?cursor=abc HTTP/1.1\r\nHost: x\r\n\r\n",
            "HTTP/1.1 400",
        ),
        (
            b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Version: 13\r\n\r\n",
            "HTTP/1.1 400",
        ),
        (
            b"POST /publish HTTP/1.1\r\nContent-Length: 2\r\n\r\n\xff\xfe",
            "HTTP/1.1 400",
        ),
    ] {
        let r = http(addr, request).await;
        assert!(
            r.starts_with(status),
            "{:?} → {r}",
            String::from_utf8_lossy(request)
        );
    }
    let mut c = ws(addr, "/echo").await;
    c.send_text("still here").await.unwrap();
    assert!(matches!(next(&mut c).await, Event::Message(_)));
}

#[tokio::test]
async fn oversized_message_gets_close_1009() {
    let s = server(ServerConfig {
        max_message_size: 1000,
        ..ServerConfig::default()
    })
    .await;
    let mut c = ws(s.local_addr(), "/echo").await;
    c.send_binary(&[0u8; 2000]).await.unwrap();
    let Event::Close(close) = next(&mut c).await else {
        panic!("expected the server to close")
    };
    assert_eq!(close.code, 1009);
}

#[tokio::test]
async fn silent_clients_are_dropped_after_the_handshake_timeout() {
    let s = server(ServerConfig {
        handshake_timeout: Duration::from_millis(200),
        ..ServerConfig::default()
    })
    .await;
    let mut tcp = TcpStream::connect(s.local_addr()).await.unwrap();
    tcp.write_all(b"GET /echo HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(LIMIT, tcp.read_to_end(&mut out))
        .await
        .expect("the server hangs up on a slow head")
        .unwrap();
    assert!(
        out.starts_with(b"HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&out)
    );
}

#[tokio::test]
async fn connections_over_the_limit_get_503() {
    let s = server(ServerConfig {
        max_connections: 1,
        ..ServerConfig::default()
    })
    .await;
    let _held = ws(s.local_addr(), "/echo").await;
    let r = http(s.local_addr(), b"GET /health HTTP/1.1\r\n\r\n").await;
    assert!(r.starts_with("HTTP/1.1 503"), "{r}");
}

#[tokio::test]
async fn shutdown_closes_websocket_clients_with_1001() {
    let s = server(ServerConfig::default()).await;
    let mut echo = ws(s.local_addr(), "/echo").await;
    let mut push = ws(s.local_addr(), "/push").await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let stop = tokio::spawn(s.shutdown(Duration::from_secs(5)));
    for c in [&mut echo, &mut push] {
        let Event::Close(close) = next(c).await else {
            panic!("expected close")
        };
        assert_eq!((close.code, close.was_clean), (1001, true));
    }
    tokio::time::timeout(LIMIT, stop).await.unwrap().unwrap();
}

#[tokio::test]
async fn sse_resumes_after_last_event_id() {
    let s = server(ServerConfig::default()).await;
    for p in ["a", "b", "c"] {
        s.hub().publish(p);
    }
    let mut tcp = TcpStream::connect(s.local_addr()).await.unwrap();
    tcp.write_all(b"GET /events HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 1\r\n\r\n")
        .await
        .unwrap();
    let mut got = String::new();
    let mut b = [0u8; 1024];
    while !got.contains("id: 3\n") {
        let n = tokio::time::timeout(LIMIT, tcp.read(&mut b))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0);
        got.push_str(std::str::from_utf8(&b[..n]).unwrap());
    }
    assert!(!got.contains("id: 1\n"), "{got}");
    assert!(got.find("id: 2\n").unwrap() < got.find("id: 3\n").unwrap());
}

#[tokio::test]
async fn push_resumes_after_the_id_in_the_query_and_from_now_past_the_stream() {
    for ws_impl in [
        WsImpl::Own,
        WsImpl::FastWebSockets,
        WsImpl::TokioTungstenite,
    ] {
        let s = server(ServerConfig {
            ws_impl,
            ..ServerConfig::default()
        })
        .await;
        for p in ["a", "b", "c"] {
            s.hub().publish(p);
        }
        let seq = |e: Event| match e {
            Event::Message(Data::Text(t)) => serde_json::from_str::<serde_json::Value>(&t).unwrap()
                ["seq"]
                .as_u64()
                .unwrap(),
            other => panic!("{other:?}"),
        };
        // After 1: the kept 2 and 3 at once, then what comes.
        let mut back = ws(s.local_addr(), "/push?after=1").await;
        assert_eq!(seq(next(&mut back).await), 2, "{ws_impl:?}");
        assert_eq!(seq(next(&mut back).await), 3, "{ws_impl:?}");
        // Ahead of the stream (a server started again since): from now.
        let mut ahead = ws(s.local_addr(), "/push?after=99").await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        s.hub().publish("d");
        assert_eq!(seq(next(&mut back).await), 4, "{ws_impl:?}");
        assert_eq!(seq(next(&mut ahead).await), 4, "{ws_impl:?}");
    }
}

/// A client that speaks raw bytes after the upgrade.
async fn raw_upgrade(addr: SocketAddr) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(
        b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        tokio::time::timeout(LIMIT, tcp.read_exact(&mut b))
            .await
            .expect("the 101 in time")
            .unwrap();
        head.push(b[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{head:?}");
    tcp
}

#[tokio::test]
async fn a_message_read_with_a_bad_frame_is_echoed_before_the_close() {
    let s = server(ServerConfig::default()).await;
    let mut tcp = raw_upgrade(s.local_addr()).await;
    // In one write: "hello" (masked with a zero key), then a frame with
    // RSV2 set, which fails the connection (1002), as Autobahn case 3.2.
    let mut bytes = vec![0x81, 0x85, 0, 0, 0, 0];
    bytes.extend_from_slice(b"hello");
    bytes.extend_from_slice(&[0xA1, 0x80, 0, 0, 0, 0]);
    tcp.write_all(&bytes).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(LIMIT, tcp.read_to_end(&mut out))
        .await
        .expect("the server closes in time")
        .unwrap();
    let echo = [&[0x81, 0x05][..], b"hello"].concat();
    assert!(out.starts_with(&echo), "the echo first: {out:?}");
    let close = &out[echo.len()..];
    assert!(
        close.len() >= 4 && close[0] == 0x88,
        "then a close: {out:?}"
    );
    assert_eq!(u16::from_be_bytes([close[2], close[3]]), 1002);
}
