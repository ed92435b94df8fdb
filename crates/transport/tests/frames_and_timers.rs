//! Over loopback TCP, through the public API: a frame encoded once for a
//! broadcast, the keepalive deadline moved by traffic, what a frame sent
//! now does, whether more input is at hand after a message, and which
//! waker the keepalive deadline wakes.

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

/// Accepts one connection on `l` and completes its WebSocket handshake
/// by hand: the test then speaks raw TCP.
async fn accept_by_hand(l: &TcpListener) -> tokio::net::TcpStream {
    let (mut tcp, _) = l.accept().await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tcp.read(&mut buf).await.unwrap();
    let req = wsbench_codec::handshake::Request::parse(&buf[..n])
        .unwrap()
        .unwrap();
    let mut out = Vec::new();
    req.accept().write(&mut out);
    tcp.write_all(&out).await.unwrap();
    tcp
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
        let mut tcp = accept_by_hand(&l).await;
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

/// A frame sent now goes straight to the socket when nothing is queued,
/// behind what is queued when something is, and what a full socket
/// refuses stays queued and counted: every message arrives whole and in
/// order once the client reads.
#[tokio::test]
async fn a_frame_sent_now_keeps_order_and_what_the_socket_refuses() {
    use wsbench_codec::{OpCode, ServerFrame};
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", l.local_addr().unwrap());
    let body = |i: usize| format!("{i:06}").repeat(2730);
    let (filled_tx, filled) = tokio::sync::oneshot::channel();
    let server = tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let a = accept(tcp, &ServerOptions::default()).await.unwrap();
        let (r, w) = a.socket.split();
        // Nothing queued: all of it on the socket, nothing counted.
        let first = ServerFrame::new(OpCode::Text, b"first").unwrap();
        assert!(w.send_frame_now(&first).unwrap());
        assert_eq!(w.buffered_amount(), 0);
        // Behind a queued message, never before it.
        w.queue_text("queued").unwrap();
        let second = ServerFrame::new(OpCode::Text, b"second").unwrap();
        assert!(w.send_frame_now(&second).unwrap());
        assert_eq!(w.buffered_amount(), 0);
        // The client does not read: the socket fills.
        let mut sent = 0;
        let left = loop {
            assert!(sent < 10_000, "the socket never filled");
            let frame = ServerFrame::new(OpCode::Text, body(sent).as_bytes()).unwrap();
            sent += 1;
            if !w.send_frame_now(&frame).unwrap() {
                break w.buffered_amount();
            }
            assert_eq!(w.buffered_amount(), 0);
        };
        assert!(left > 0 && left <= body(0).len(), "{left} bytes counted");
        filled_tx.send(()).unwrap();
        // Bytes in flight: the next one is queued whole behind them.
        let frame = ServerFrame::new(OpCode::Text, body(sent).as_bytes()).unwrap();
        sent += 1;
        assert!(!w.send_frame_now(&frame).unwrap());
        assert_eq!(w.buffered_amount(), left + body(0).len());
        tokio::time::timeout(LIMIT, w.flush())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(w.buffered_amount(), 0);
        w.send_text("end").await.unwrap();
        drop(r);
        sent
    });
    let mut c = connect(&url, &ClientOptions::default()).await.unwrap();
    for want in ["first", "queued", "second"] {
        assert!(matches!(next(&mut c.socket).await, Event::Message(Data::Text(t)) if t == want));
    }
    // Read only once the server has filled its socket, up to its "end".
    tokio::time::timeout(LIMIT, filled).await.unwrap().unwrap();
    let mut got = 0;
    loop {
        match next(&mut c.socket).await {
            Event::Message(Data::Text(t)) if t == "end" => break,
            Event::Message(Data::Text(t)) => assert_eq!(t, body(got), "message {got}"),
            other => panic!("{other:?}"),
        }
        got += 1;
    }
    assert_eq!(got, server.await.unwrap());
}

/// After a message, more input is at hand when the read that brought it
/// filled the reader's buffer (512 bytes at first), even with nothing of
/// it left to decode, and not when the read stopped short.
#[tokio::test]
async fn input_is_ready_after_a_read_that_filled_the_buffer() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", l.local_addr().unwrap());
    let (go_tx, go) = tokio::sync::oneshot::channel();
    let server = tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let a = accept(tcp, &ServerOptions::default()).await.unwrap();
        let (mut r, _w) = a.socket.split();
        let len = |got: Result<Option<Event>, _>| match got {
            Ok(Some(Event::Message(Data::Binary(b)))) => b.len(),
            other => panic!("{other:?}"),
        };
        assert_eq!(len(tokio::time::timeout(LIMIT, r.next_event()).await), 4);
        assert!(!r.input_ready(), "a lone message");
        go_tx.send(()).unwrap();
        // Two frames of 512 bytes (8 of header, 504 of payload) in one
        // write: the first read takes exactly the first.
        assert_eq!(len(tokio::time::timeout(LIMIT, r.next_event()).await), 504);
        assert!(r.input_ready(), "the read filled the buffer");
        assert_eq!(len(tokio::time::timeout(LIMIT, r.next_event()).await), 504);
        assert!(!r.input_ready(), "the (grown) buffer was not filled");
    });
    let c = connect(&url, &ClientOptions::default()).await.unwrap();
    let (_r, w) = c.socket.split();
    w.send_binary(&[0; 4]).await.unwrap();
    tokio::time::timeout(LIMIT, go).await.unwrap().unwrap();
    w.queue_binary(&[1; 504]).unwrap();
    w.queue_binary(&[2; 504]).unwrap();
    w.flush().await.unwrap();
    tokio::time::timeout(LIMIT, server).await.unwrap().unwrap();
}

/// Counts its wakes.
#[derive(Default)]
struct Wakes(std::sync::atomic::AtomicUsize);

impl std::task::Wake for Wakes {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A read that waits is woken by the keepalive deadline through the
/// waker it was polled with last, also when an earlier poll with another
/// waker had already armed the timer: the deadline then queues a ping.
#[tokio::test]
async fn the_keepalive_wakes_the_waker_a_waiting_read_was_polled_with_last() {
    use std::sync::Arc;
    use std::sync::atomic::Ordering;
    use std::task::{Context, Poll, Waker};
    use wsbench_transport::Polled;
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", l.local_addr().unwrap());
    let server = tokio::spawn(async move {
        // Completes the handshake, then stays silent.
        let tcp = accept_by_hand(&l).await;
        tokio::time::sleep(LIMIT).await;
        drop(tcp);
    });
    let options = ClientOptions {
        config: Config {
            keepalive: Some(Duration::from_millis(100)),
            ..Config::default()
        },
        ..ClientOptions::default()
    };
    let c = connect(&url, &options).await.unwrap();
    let (mut r, _w) = c.socket.split();
    let (a, b) = (Arc::new(Wakes::default()), Arc::new(Wakes::default()));
    let (wa, wb) = (Waker::from(Arc::clone(&a)), Waker::from(Arc::clone(&b)));
    for w in [&wa, &wa, &wb, &wb] {
        let polled = r.poll_next_event(&mut Context::from_waker(w));
        assert!(polled.is_pending(), "nothing to read yet: {polled:?}");
    }
    let woken = async {
        while b.0.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), woken)
        .await
        .expect("the keepalive deadline woke the last waker");
    assert_eq!(
        a.0.load(Ordering::SeqCst),
        0,
        "the first waker was replaced"
    );
    match r.poll_next_event(&mut Context::from_waker(&wb)) {
        Poll::Ready(Polled::Write(_)) => {}
        other => panic!("a ping to write, not {other:?}"),
    }
    server.abort();
}
