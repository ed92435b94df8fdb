//! Client and server over loopback TCP, through the public API.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wsbench_transport::{
    Accepted, ClientOptions, CloseEvent, Config, Data, Error, Event, ReadyState, ServerOptions,
    TcpWebSocket, accept, connect,
};

const LIMIT: Duration = Duration::from_secs(10);

async fn listener() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/echo", l.local_addr().unwrap());
    (l, url)
}

/// A server task that accepts one connection and echoes messages until the
/// connection closes; returns the events it saw.
fn echo_server(l: TcpListener) -> tokio::task::JoinHandle<(String, Vec<Event>)> {
    tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let Accepted {
            mut socket, path, ..
        } = accept(tcp, &ServerOptions::default()).await.unwrap();
        let mut seen = Vec::new();
        while let Some(ev) = socket.next_event().await {
            if let Event::Message(m) = &ev {
                let r = match m {
                    Data::Text(t) => socket.send_text(t).await,
                    Data::Binary(b) => socket.send_binary(b).await,
                };
                assert!(r.is_ok() || socket.ready_state() != ReadyState::Open);
            }
            seen.push(ev);
        }
        (path, seen)
    })
}

async fn next(ws: &mut TcpWebSocket) -> Event {
    tokio::time::timeout(LIMIT, ws.next_event())
        .await
        .expect("event in time")
        .expect("an event before close")
}

fn close_of(ev: &Event) -> &CloseEvent {
    match ev {
        Event::Close(c) => c,
        other => panic!("expected close, got {other:?}"),
    }
}

#[tokio::test]
async fn echo_text_and_binary_then_client_closes_cleanly() {
    let (l, url) = listener().await;
    let server = echo_server(l);
    let mut c = connect(&url, &ClientOptions::default()).await.unwrap();
    assert_eq!(c.socket.ready_state(), ReadyState::Open);
    c.socket.send_text("héllo").await.unwrap();
    c.socket.send_binary(&[0, 1, 2, 255]).await.unwrap();
    let big = vec![7u8; 200_000];
    c.socket.send_binary(&big).await.unwrap();
    let ws = &mut c.socket;
    assert!(matches!(next(ws).await, Event::Message(Data::Text(t)) if t == "héllo"));
    assert!(matches!(next(ws).await, Event::Message(Data::Binary(b)) if b == [0, 1, 2, 255]));
    assert!(matches!(next(ws).await, Event::Message(Data::Binary(b)) if b == big));

    ws.close(1000, "bye").await.unwrap();
    assert_eq!(ws.ready_state(), ReadyState::Closing);
    assert!(ws.send_text("late").await.is_err(), "send after close");
    let ev = next(ws).await;
    // The server's answer carries our code and reason back.
    assert_eq!(
        close_of(&ev),
        &CloseEvent {
            code: 1000,
            reason: "bye".to_owned(),
            was_clean: true
        }
    );
    assert_eq!(ws.ready_state(), ReadyState::Closed);
    assert!(ws.next_event().await.is_none(), "nothing after close");

    let (path, seen) = server.await.unwrap();
    assert_eq!(path, "/echo");
    let last = close_of(seen.last().unwrap());
    assert_eq!(
        (last.code, last.reason.as_str(), last.was_clean),
        (1000, "bye", true)
    );
}

#[tokio::test]
async fn server_initiated_close_reaches_the_client_with_code_and_reason() {
    let (l, url) = listener().await;
    let server = tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let mut a = accept(tcp, &ServerOptions::default()).await.unwrap();
        a.socket.close(4001, "shutting down").await.unwrap();
        let ev = next(&mut a.socket).await;
        close_of(&ev).clone()
    });
    let mut c = connect(&url, &ClientOptions::default()).await.unwrap();
    let ev = next(&mut c.socket).await;
    let close = close_of(&ev);
    assert_eq!(
        (close.code, close.reason.as_str(), close.was_clean),
        (4001, "shutting down", true)
    );
    let server_saw = server.await.unwrap();
    assert_eq!((server_saw.code, server_saw.was_clean), (4001, true));
}

#[tokio::test]
async fn buffered_amount_counts_queued_payload_until_flushed() {
    let (l, url) = listener().await;
    let _server = echo_server(l);
    let c = connect(&url, &ClientOptions::default()).await.unwrap();
    let w = c.socket.writer();
    assert_eq!(w.buffered_amount(), 0);
    w.queue_text("12345").unwrap();
    w.queue_binary(&[0; 300]).unwrap();
    assert_eq!(w.buffered_amount(), 305, "payload bytes, headers excluded");
    w.flush().await.unwrap();
    assert_eq!(w.buffered_amount(), 0);
}

/// A raw TCP peer that completes the upgrade by hand.
async fn raw_client(url_addr: std::net::SocketAddr) -> TcpStream {
    let mut tcp = TcpStream::connect(url_addr).await.unwrap();
    tcp.write_all(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            tcp.read(&mut b).await.unwrap(),
            1,
            "server closed during handshake"
        );
        head.push(b[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"));
    tcp
}

async fn read_all(tcp: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    tokio::time::timeout(LIMIT, tcp.read_to_end(&mut out))
        .await
        .expect("peer closes in time")
        .unwrap();
    out
}

#[tokio::test]
async fn unmasked_client_frame_gets_close_1002_and_an_error_event() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let mut a = accept(tcp, &ServerOptions::default()).await.unwrap();
        let first = next(&mut a.socket).await;
        let second = next(&mut a.socket).await;
        (first, second)
    });
    let mut tcp = raw_client(addr).await;
    tcp.write_all(&[0x82, 0x02, 1, 2]).await.unwrap(); // binary, unmasked
    let got = read_all(&mut tcp).await;
    assert_eq!(
        got,
        [0x88, 0x02, 0x03, 0xea],
        "close frame with 1002, then TCP close"
    );
    let (first, second) = server.await.unwrap();
    assert!(
        matches!(first, Event::Error(Error::Protocol(_))),
        "{first:?}"
    );
    assert_eq!(close_of(&second), &CloseEvent::abnormal());
}

#[tokio::test]
async fn pings_are_answered_and_a_split_frame_survives_a_cancelled_read() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let mut a = accept(tcp, &ServerOptions::default()).await.unwrap();
        // Cancel reads repeatedly while the frame trickles in.
        loop {
            match tokio::time::timeout(Duration::from_millis(5), a.socket.next_event()).await {
                Err(_) => continue,
                Ok(ev) => return ev.unwrap(),
            }
        }
    });
    let mut tcp = raw_client(addr).await;
    let key = [1u8, 2, 3, 4];
    // A masked ping "hi".
    let mut ping = vec![0x89, 0x82];
    ping.extend_from_slice(&key);
    ping.extend(b"hi".iter().zip(key.iter().cycle()).map(|(b, k)| b ^ k));
    tcp.write_all(&ping).await.unwrap();
    let mut pong = [0u8; 4];
    tokio::time::timeout(LIMIT, tcp.read_exact(&mut pong))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pong, [0x8a, 0x02, b'h', b'i']);
    // A masked text frame "hello", in three pieces with pauses between.
    let mut frame = vec![0x81, 0x85];
    frame.extend_from_slice(&key);
    frame.extend(b"hello".iter().zip(key.iter().cycle()).map(|(b, k)| b ^ k));
    for piece in [&frame[..3], &frame[3..8], &frame[8..]] {
        tcp.write_all(piece).await.unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let ev = tokio::time::timeout(LIMIT, server).await.unwrap().unwrap();
    assert!(matches!(ev, Event::Message(Data::Text(t)) if t == "hello"));
}

/// A close the peer never answers ends the connection unclean after the
/// close timeout: also when a read was already waiting when it was sent
/// (the deadline is armed while the read waits, not only when one starts).
#[tokio::test]
async fn close_without_answer_times_out_unclean() {
    for read_waiting in [false, true] {
        close_unanswered(read_waiting).await;
    }
}

async fn close_unanswered(read_waiting: bool) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", l.local_addr().unwrap());
    let _server = tokio::spawn(async move {
        // Completes the handshake, then never reads or answers.
        let (mut tcp, _) = l.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        let n = tcp.read(&mut buf).await.unwrap();
        let head = &buf[..n];
        let req = wsbench_codec::handshake::Request::parse(head)
            .unwrap()
            .unwrap();
        let mut out = Vec::new();
        req.accept().write(&mut out);
        tcp.write_all(&out).await.unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    let options = ClientOptions {
        config: Config {
            close_timeout: Duration::from_millis(200),
            ..Config::default()
        },
        ..ClientOptions::default()
    };
    let mut c = connect(&url, &options).await.unwrap();
    if read_waiting {
        // A read under way: polled once, nothing to read.
        let waiting = std::future::poll_fn(|cx| {
            std::task::Poll::Ready(c.socket.poll_next_event(cx).is_pending())
        })
        .await;
        assert!(waiting, "nothing to read yet");
    }
    c.socket.close(1000, "").await.unwrap();
    let started = std::time::Instant::now();
    let ev = next(&mut c.socket).await;
    assert_eq!(close_of(&ev), &CloseEvent::abnormal());
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert_eq!(c.socket.ready_state(), ReadyState::Closed);
}

#[tokio::test]
async fn peer_vanishing_gives_close_1006() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let mut a = accept(tcp, &ServerOptions::default()).await.unwrap();
        next(&mut a.socket).await
    });
    drop(raw_client(addr).await);
    let ev = server.await.unwrap();
    assert_eq!(close_of(&ev), &CloseEvent::abnormal());
}

#[tokio::test]
async fn bad_upgrade_requests_get_their_http_status() {
    for (request, status) in [
        (
            &b"POST / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
            &b"HTTP/1.1 4"[..],
        ),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
            b"HTTP/1.1 426",
        ),
    ] {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (tcp, _) = l.accept().await.unwrap();
            accept(tcp, &ServerOptions::default()).await
        });
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(request).await.unwrap();
        let got = read_all(&mut tcp).await;
        assert!(got.starts_with(status), "{}", String::from_utf8_lossy(&got));
        assert!(matches!(server.await.unwrap(), Err(Error::Request(_))));
    }
}

#[tokio::test]
async fn an_idle_client_connection_holds_little_heap() {
    let (l, url) = listener().await;
    let _server = echo_server(l);
    let mut c = connect(&url, &ClientOptions::default()).await.unwrap();
    // Traffic first, so buffers have grown and had to shrink back.
    c.socket.send_binary(&vec![1u8; 100_000]).await.unwrap();
    assert!(matches!(next(&mut c.socket).await, Event::Message(_)));
    c.socket.send_text("small").await.unwrap();
    assert!(matches!(next(&mut c.socket).await, Event::Message(_)));
    let heap = c.socket.heap_bytes();
    assert!(
        heap <= 2048,
        "connection after traffic holds {heap} heap bytes"
    );
    // Waiting for data with nothing to read releases the read buffer.
    let waited = tokio::time::timeout(Duration::from_millis(50), c.socket.next_event()).await;
    assert!(waited.is_err(), "nothing arrives");
    let heap = c.socket.heap_bytes();
    assert!(heap <= 256, "idle connection holds {heap} heap bytes");
}

#[tokio::test]
async fn permessage_deflate_is_negotiated_and_messages_round_trip() {
    use wsbench_transport::DeflateConfig;
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", l.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let options = ServerOptions {
            deflate: Some(DeflateConfig::default()),
            ..ServerOptions::default()
        };
        let mut a = accept(tcp, &options).await.unwrap();
        assert!(a.deflate.is_some());
        while let Some(ev) = a.socket.next_event().await {
            if let Event::Message(m) = ev {
                let _ = match m {
                    Data::Text(t) => a.socket.send_text(&t).await,
                    Data::Binary(b) => a.socket.send_binary(&b).await,
                };
            }
        }
    });
    let options = ClientOptions {
        deflate: Some(DeflateConfig {
            client_no_context_takeover: true,
            ..DeflateConfig::default()
        }),
        ..ClientOptions::default()
    };
    let mut c = connect(&url, &options).await.unwrap();
    let params = c.deflate.expect("negotiated");
    assert!(params.client_no_context_takeover);
    let text = "compressible ".repeat(2000);
    for _ in 0..3 {
        c.socket.send_text(&text).await.unwrap();
        assert!(matches!(next(&mut c.socket).await, Event::Message(Data::Text(t)) if t == text));
    }
    c.socket.send_binary(&[]).await.unwrap();
    assert!(matches!(next(&mut c.socket).await, Event::Message(Data::Binary(b)) if b.is_empty()));
    c.socket.close(1000, "").await.unwrap();
    assert!(matches!(next(&mut c.socket).await, Event::Close(e) if e.was_clean));
    server.await.unwrap();
}

#[tokio::test]
async fn a_server_without_deflate_leaves_the_offer_unanswered() {
    let (l, url) = listener().await;
    let _server = echo_server(l);
    let options = ClientOptions {
        deflate: Some(wsbench_transport::DeflateConfig::default()),
        ..ClientOptions::default()
    };
    let mut c = connect(&url, &options).await.unwrap();
    assert!(c.deflate.is_none());
    c.socket.send_text("plain").await.unwrap();
    assert!(matches!(next(&mut c.socket).await, Event::Message(Data::Text(t)) if t == "plain"));
}

#[tokio::test]
async fn keepalive_pings_a_silent_peer_then_fails_the_connection() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", l.local_addr().unwrap());
    let server = tokio::spawn(async move {
        // Completes the handshake, then reads frames without ever answering.
        let (mut tcp, _) = l.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        let n = tcp.read(&mut buf).await.unwrap();
        let req = wsbench_codec::handshake::Request::parse(&buf[..n])
            .unwrap()
            .unwrap();
        let mut out = Vec::new();
        req.accept().write(&mut out);
        tcp.write_all(&out).await.unwrap();
        let mut seen = Vec::new();
        let _ = tokio::time::timeout(LIMIT, tcp.read_to_end(&mut seen)).await;
        seen
    });
    let options = ClientOptions {
        config: Config {
            keepalive: Some(Duration::from_millis(100)),
            ..Config::default()
        },
        ..ClientOptions::default()
    };
    let mut c = connect(&url, &options).await.unwrap();
    let first = next(&mut c.socket).await;
    assert!(
        matches!(first, Event::Error(Error::Timeout(_))),
        "{first:?}"
    );
    assert_eq!(
        close_of(&next(&mut c.socket).await),
        &CloseEvent::abnormal()
    );
    let seen = server.await.unwrap();
    // A masked ping first, then a masked close with 1008.
    assert_eq!(seen[0], 0x89, "a ping went out: {seen:?}");
    let close_at = 2 + 4 + usize::from(seen[1] & 0x7f);
    assert_eq!(seen[close_at], 0x88, "then a close frame: {seen:?}");
}
