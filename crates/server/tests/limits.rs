//! The server's limits, each tried as an attacker would: clients that do
//! not read, read too slowly, send compression bombs, smuggle lengths or
//! hold connections at shutdown. Each test fails if the limit were not
//! enforced (the cut would not be counted, the memory not freed, the
//! shutdown not prompt).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wsbench_server::{ServerConfig, WriteLimits, WsImpl};
use wsbench_transport::{ClientOptions, Data, DeflateConfig, Event, TcpWebSocket, connect};

mod common;
use common::{body, http, server};

/// How long a cut may take to show (the slow cases wait for deadlines).
const LIMIT: Duration = Duration::from_secs(20);

fn limits(deadline_ms: u64, queue_max: usize) -> WriteLimits {
    WriteLimits {
        deadline: Duration::from_millis(deadline_ms),
        queue_max,
    }
}

async fn ws(addr: SocketAddr, path: &str, deflate: bool) -> TcpWebSocket {
    let options = ClientOptions {
        deflate: deflate.then(DeflateConfig::default),
        ..ClientOptions::default()
    };
    connect(&format!("ws://{addr}{path}"), &options)
        .await
        .unwrap()
        .socket
}

/// The count of connections cut for `reason`, from `/health`.
async fn cut(addr: SocketAddr, reason: &str) -> u64 {
    let h = body(&http(addr, b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\n").await);
    h["cut"][reason].as_u64().unwrap_or_else(|| panic!("{h}"))
}

/// Waits until `/health` counts `n` cuts for `reason`.
async fn until_cut(addr: SocketAddr, reason: &str, n: u64) {
    let t0 = Instant::now();
    while cut(addr, reason).await < n {
        assert!(t0.elapsed() < LIMIT, "no {reason} cut within {LIMIT:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_echo_client_that_never_reads_is_cut_by_the_queue_cap() {
    // The deadline is far: only a server that keeps reading while its
    // writes are pending sees the queue grow past the cap.
    let s = server(ServerConfig {
        write: limits(60_000, 256 << 10),
        ..ServerConfig::default()
    })
    .await;
    let c = ws(s.local_addr(), "/echo", false).await;
    let chunk = vec![7u8; 32 << 10];
    let sending = async { while c.send_binary(&chunk).await.is_ok() {} };
    let _ = tokio::time::timeout(LIMIT, sending).await;
    until_cut(s.local_addr(), "send_queue_full", 1).await;
    assert_eq!(cut(s.local_addr(), "write_timeout").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_subscriber_that_never_reads_is_cut_at_the_write_deadline() {
    for stack in [
        WsImpl::Own,
        WsImpl::FastWebSockets,
        WsImpl::TokioTungstenite,
    ] {
        let s = server(ServerConfig {
            write: limits(300, 1 << 30),
            ws_impl: stack,
            ..ServerConfig::default()
        })
        .await;
        let _silent = ws(s.local_addr(), "/push", false).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let big = "x".repeat(512 << 10);
        let t0 = Instant::now();
        // Enough to fill both sockets' buffers many times over.
        for _ in 0..64 {
            s.hub().publish(&big);
        }
        until_cut(s.local_addr(), "write_timeout", 1).await;
        assert!(
            t0.elapsed() >= Duration::from_millis(300),
            "{stack:?}: cut before the deadline"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_push_reader_is_dropped_and_a_normal_one_misses_nothing() {
    let s = server(ServerConfig {
        write: limits(5_000, 1 << 20),
        ..ServerConfig::default()
    })
    .await;
    let mut slow = ws(s.local_addr(), "/push", false).await;
    let mut normal = ws(s.local_addr(), "/push", false).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let payload = "p".repeat(64 << 10);
    let n = 400;
    let hub = std::sync::Arc::clone(s.hub());
    let publisher = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(2));
        for _ in 0..n {
            tick.tick().await;
            hub.publish(&payload);
        }
    });
    // The slow reader takes one message every 250 ms.
    let slow_reader = tokio::spawn(async move {
        let mut got = 0;
        loop {
            match tokio::time::timeout(LIMIT, slow.next_event()).await {
                Ok(Some(Event::Message(_))) => got += 1,
                Ok(Some(Event::Close(c))) => return (got, c.code),
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => return (got, 0),
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    });
    let mut seqs = Vec::new();
    while seqs.len() < n {
        match tokio::time::timeout(LIMIT, normal.next_event()).await {
            Ok(Some(Event::Message(Data::Text(t)))) => {
                let v: serde_json::Value = serde_json::from_str(&t).unwrap();
                seqs.push(v["seq"].as_u64().unwrap());
            }
            other => panic!("normal subscriber: {other:?} after {}", seqs.len()),
        }
    }
    publisher.await.unwrap();
    assert_eq!(
        seqs,
        (1..=n as u64).collect::<Vec<_>>(),
        "none lost, none repeated"
    );
    until_cut(s.local_addr(), "send_queue_full", 1).await;
    let (got, _) = tokio::time::timeout(LIMIT, slow_reader)
        .await
        .unwrap()
        .unwrap();
    assert!(got < n, "the slow reader was cut before it read everything");
}

#[tokio::test]
async fn history_is_served_in_pages_from_an_old_cursor() {
    let s = server(ServerConfig {
        history_bytes: 4 << 20,
        ..ServerConfig::default()
    })
    .await;
    let payload = "\u{1}".repeat(64 << 10);
    for _ in 0..40 {
        s.hub().publish(&payload);
    }
    let h = body(
        &http(
            s.local_addr(),
            b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\n",
        )
        .await,
    );
    let kept = h["history"]["bytes"].as_u64().unwrap();
    assert!(kept <= 4 << 20, "history {kept} bytes over its budget");
    let first = h["history"]["messages"].as_u64().unwrap();
    assert!(
        first < 40,
        "control characters are escaped: fewer than 40 fit"
    );
    // From cursor 0, page after page, each bounded, until the newest.
    let (mut cursor, mut seen) = (0, Vec::new());
    while cursor < 40 {
        let r = http(
            s.local_addr(),
            format!("GET /poll?cursor={cursor}&wait=0 HTTP/1.1\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await;
        assert!(
            r.len() < 2 * wsbench_server::hub::PAGE_BYTES,
            "a page: {} bytes",
            r.len()
        );
        let v = body(&r);
        let messages = v["messages"].as_array().unwrap();
        assert!(!messages.is_empty());
        seen.extend(messages.iter().map(|m| m["seq"].as_u64().unwrap()));
        cursor = v["cursor"].as_u64().unwrap();
    }
    assert_eq!(seen, (40 - first + 1..=40).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compression_bomb_gets_1009_and_normal_compressed_echo_works() {
    let s = server(ServerConfig::default()).await;
    let mut c = ws(s.local_addr(), "/echo", true).await;
    // Below the 1 MiB floor: echoed, however well it compresses.
    let fine = "a".repeat(512 << 10);
    c.send_text(&fine).await.unwrap();
    match tokio::time::timeout(LIMIT, c.next_event()).await.unwrap() {
        Some(Event::Message(Data::Text(t))) => assert_eq!(t, fine),
        other => panic!("{other:?}"),
    }
    // 8 MiB that deflates to a few KiB: far past 100:1.
    c.send_text(&"a".repeat(8 << 20)).await.unwrap();
    let close = loop {
        match tokio::time::timeout(LIMIT, c.next_event()).await.unwrap() {
            Some(Event::Close(close)) => break close,
            Some(_) => {}
            None => panic!("no close event"),
        }
    };
    assert_eq!(close.code, 1009, "{close:?}");
    assert_eq!(cut(s.local_addr(), "compression_ratio").await, 1);
}

#[tokio::test]
async fn the_echo_endpoint_returns_the_close_code_and_reason() {
    let s = server(ServerConfig::default()).await;
    let mut c = ws(s.local_addr(), "/echo", false).await;
    c.close(4001, "seed done").await.unwrap();
    match tokio::time::timeout(LIMIT, c.next_event()).await.unwrap() {
        Some(Event::Close(e)) => {
            assert_eq!(
                (e.code, e.reason.as_str(), e.was_clean),
                (4001, "seed done", true)
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn smuggling_lengths_get_400_which_the_client_reads() {
    let s = server(ServerConfig::default()).await;
    for request in [
        &b"POST /publish HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 40\r\n\r\nabc"[..],
        b"POST /publish HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc",
    ] {
        // More input follows the refused head: the response must still
        // arrive intact, not be overtaken by a reset.
        let mut tcp = TcpStream::connect(s.local_addr()).await.unwrap();
        tcp.write_all(request).await.unwrap();
        tcp.write_all(&vec![b'z'; 32 << 10]).await.unwrap();
        let mut out = Vec::new();
        tokio::time::timeout(LIMIT, tcp.read_to_end(&mut out))
            .await
            .unwrap()
            .unwrap();
        let r = String::from_utf8(out).unwrap();
        assert!(r.starts_with("HTTP/1.1 400 "), "{r}");
    }
    assert_eq!(s.hub().last_seq(), 0, "nothing was published");
}

#[tokio::test]
async fn publishing_needs_the_token_when_one_is_set() {
    let s = server(ServerConfig {
        publish_token: Some("t0ken".into()),
        ..ServerConfig::default()
    })
    .await;
    let publish = |auth: &str| {
        format!("POST /publish HTTP/1.1\r\n{auth}Content-Length: 2\r\nConnection: close\r\n\r\nhi")
    };
    for auth in [
        "",
        "Authorization: Bearer nope\r\n",
        "Authorization: t0ken\r\n",
    ] {
        let r = http(s.local_addr(), publish(auth).as_bytes()).await;
        assert!(r.starts_with("HTTP/1.1 403 "), "{auth:?}: {r}");
    }
    let r = http(
        s.local_addr(),
        publish("Authorization: Bearer t0ken\r\n").as_bytes(),
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 200 "), "{r}");
    assert_eq!(s.hub().last_seq(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_idle_keep_alive_connections_and_held_long_polls_at_once() {
    let s = server(ServerConfig::default()).await;
    let addr = s.local_addr();
    let mut idle = Vec::new();
    for _ in 0..100 {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(b"GET /health HTTP/1.1\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 1024];
        assert!(tcp.read(&mut buf).await.unwrap() > 0);
        idle.push(tcp);
    }
    let held = tokio::spawn(http(addr, b"GET /poll HTTP/1.1\r\n\r\n"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t0 = Instant::now();
    s.shutdown(Duration::from_secs(5)).await;
    let took = t0.elapsed();
    // The grace is 5 s: a shutdown that waited for these connections
    // would take it all.
    assert!(took < Duration::from_secs(1), "shutdown took {took:?}");
    let answer = tokio::time::timeout(LIMIT, held).await.unwrap().unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    assert!(answer.contains("Connection: close"), "{answer}");
    assert_eq!(body(&answer)["messages"], serde_json::json!([]));
    for mut tcp in idle {
        let mut buf = [0u8; 16];
        let n = tokio::time::timeout(LIMIT, tcp.read(&mut buf))
            .await
            .unwrap();
        assert!(matches!(n, Ok(0) | Err(_)), "closed");
    }
}
