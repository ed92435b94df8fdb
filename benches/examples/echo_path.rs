//! What one echo costs in user space above the socket, without the kernel
//! and its noise: a server connection reading each client frame (20 bytes
//! of masked text) from an in-memory stream, one frame per read, and
//! answering it, on CONNS connections taken in turn (their state out of
//! the nearest caches, as on a server with many clients).
//!
//! ```sh
//! cargo run --release -p wsbench-benches --example echo_path [-- SECONDS [CONNS]]
//! ```
//!
//! Contenders, interleaved in short bursts (each keeps its fastest, as in
//! `mask_pairs`), SECONDS (default 4) in all, CONNS (default 100):
//! - `transport`: wsbench's `WebSocket` (`wsbench_transport`), each echo
//!   `next_event` then the writer's `send_text_now`, as `wsbench serve`'s
//!   echo loop answers a lone message; the stream halves are in memory
//!   (`WebSocket::over`), always ready, the written bytes dropped.
//! - `codec`: the codec's sans-IO `Connection` alone doing the same
//!   WebSocket work, as the floors' `--codec` loop does it (the frame
//!   copied into the connection's read buffer as a read would, the clock
//!   read once per read, the message copied out, the echo framed and taken
//!   for writing).
//!
//! Prints ns per echo for each and the transport's extra over the codec:
//! the part of an echo's user-space time that the transport's layers
//! (reader and writer halves, their shared state and locks, events, the
//! owned message) add, which end-to-end runs cannot resolve from the
//! kernel's time and its spread. Not in it: tokio's socket and task work,
//! and the server loop's own (its `select!`, limits, cork).

use std::hint::black_box;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use wsbench_codec::connection::{Connection, Incoming, Timeouts};
use wsbench_codec::{DecoderConfig, FrameKind, Message, OpCode, Role};
use wsbench_protocol::clock::monotonic_ns;
use wsbench_transport::{Config, Data, Event, ReadReady, WebSocket};

/// The payload: 20 bytes, as in peer-compare's echo rows.
const PAYLOAD: &[u8; 20] = b"0123456789abcdefwxyz";
const KEY: [u8; 4] = [0x12, 0x34, 0x56, 0x78];
/// Echoes per burst on each connection.
const PER_CONN: usize = 50;

/// The client's frame: FIN text, masked with `KEY`.
fn frame() -> Vec<u8> {
    let mut f = vec![0x81, 0x80 | PAYLOAD.len() as u8];
    f.extend_from_slice(&KEY);
    f.extend(PAYLOAD.iter().enumerate().map(|(i, b)| b ^ KEY[i % 4]));
    f
}

/// A read half that hands out one client frame per read, always ready.
struct Frames(Vec<u8>);

impl AsyncRead for Frames {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        buf.put_slice(&self.0);
        Poll::Ready(Ok(()))
    }
}

impl ReadReady for Frames {}

/// A write half that takes every byte and keeps none.
struct Drop;

impl AsyncWrite for Drop {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(black_box(b).len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

type Socket = WebSocket<Frames, Drop>;

/// Polls `f` once: everything here is ready, so it must be done.
fn now<T>(f: impl Future<Output = T>) -> T {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("an in-memory echo waited"),
    }
}

/// One echo on the transport's connection.
fn transport_echo(ws: &mut Socket) {
    match now(ws.next_event()) {
        Some(Event::Message(Data::Text(t))) => {
            let sent = ws.writer().send_text_now(&t);
            assert!(matches!(sent, Ok(true)), "echo not written: {sent:?}");
        }
        other => panic!("expected a text message, got {other:?}"),
    }
}

/// The codec's connection with its buffers, as the floors hold them.
struct Codec {
    conn: Connection,
    buf: Vec<u8>,
    scratch: Vec<u8>,
    out: Vec<u8>,
}

impl Codec {
    fn new() -> Codec {
        let timeouts = Timeouts {
            keepalive: None,
            close: Duration::from_secs(2),
        };
        let conn = Connection::open(
            DecoderConfig::new(Role::Server),
            timeouts,
            0,
            monotonic_ns(),
        );
        Codec {
            conn,
            buf: vec![0; 4096],
            scratch: Vec::new(),
            out: Vec::new(),
        }
    }

    /// One echo: `frame` read, decoded, its payload copied out, answered.
    fn echo(&mut self, frame: &[u8]) {
        self.buf[..frame.len()].copy_from_slice(frame);
        let now = monotonic_ns();
        let (n, incoming) = self
            .conn
            .receive(&mut self.buf[..frame.len()], now)
            .expect("a valid frame");
        assert_eq!(n, frame.len());
        let Some(Incoming::Message(Message::Text(t))) = incoming else {
            panic!("expected a text message");
        };
        self.scratch.clear();
        self.scratch.extend_from_slice(t.as_bytes());
        // Cannot fail: the connection is open.
        let _ = self
            .conn
            .send(FrameKind::whole(OpCode::Text), &self.scratch);
        self.conn.take_outgoing(&mut self.out);
        black_box(&self.out);
    }
}

/// ns per echo of one burst: `PER_CONN` rounds over every connection.
fn burst<C>(conns: &mut [C], mut echo: impl FnMut(&mut C)) -> f64 {
    let t = Instant::now();
    for _ in 0..PER_CONN {
        for c in conns.iter_mut() {
            echo(c);
        }
    }
    t.elapsed().as_nanos() as f64 / (PER_CONN * conns.len()) as f64
}

fn main() {
    let mut args = std::env::args().skip(1);
    let secs: f64 = args
        .next()
        .map_or(4.0, |s| s.parse().expect("SECONDS: a number"));
    let n: usize = args
        .next()
        .map_or(100, |s| s.parse().expect("CONNS: a count"));
    assert!(n > 0, "CONNS: at least 1");
    let f = frame();
    let mut sockets: Vec<Socket> = (0..n)
        .map(|_| {
            WebSocket::over(
                Frames(f.clone()),
                Drop,
                Role::Server,
                Config::default(),
                &[],
            )
        })
        .collect();
    let mut codecs: Vec<Codec> = (0..n).map(|_| Codec::new()).collect();
    let (mut best_t, mut best_c) = (f64::MAX, f64::MAX);
    let mut bursts = 0;
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < secs {
        // The order turns burst by burst.
        if bursts % 2 == 0 {
            best_t = best_t.min(burst(&mut sockets, transport_echo));
            best_c = best_c.min(burst(&mut codecs, |c| c.echo(&f)));
        } else {
            best_c = best_c.min(burst(&mut codecs, |c| c.echo(&f)));
            best_t = best_t.min(burst(&mut sockets, transport_echo));
        }
        bursts += 1;
    }
    println!("{n} connections, {bursts} bursts each, the fastest; ns per echo:");
    println!("transport {best_t:.1}");
    println!("codec     {best_c:.1}");
    println!(
        "transport - codec {:.1} ({:.2}x)",
        best_t - best_c,
        best_t / best_c
    );
}
