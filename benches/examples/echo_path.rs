//! What one echo costs in user space above the socket, without the kernel
//! and its noise: a server connection reading each client frame (20 bytes
//! of masked text) from an in-memory stream, one frame per read, and
//! answering it, on CONNS connections taken in turn (their state out of
//! the nearest caches, as on a server with many clients).
//!
//! ```sh
//! cargo run --release -p wsbench-benches --example echo_path [-- SECONDS [CONNS [EVICT_KIB]]]
//! ```
//!
//! Contenders, interleaved in short bursts (each keeps its fastest, as in
//! `mask_pairs`), SECONDS (default 4) in all, CONNS (default 100):
//! - `transport`: wsbench's `WebSocket` (`wsbench_transport`), each echo
//!   `next_event` then the writer's `send_text_now`, as `wsbench serve`'s
//!   echo loop answers a lone message; the stream halves are in memory
//!   (`WebSocket::over`): each read first finds nothing, as a socket the
//!   last read emptied (the reader waits as between two echoes, its
//!   buffer given back), then the frame; every write is taken whole and
//!   dropped.
//! - `codec`: the codec's sans-IO `Connection` alone doing the same
//!   WebSocket work, as the floors' `--codec` loop does it (the frame
//!   copied into the connection's read buffer as a read would, the clock
//!   read once per read, the message copied out, the echo framed and taken
//!   for writing).
//!
//! With EVICT_KIB (default 0), every echo is followed by a walk over the
//! next EVICT_KIB KiB of a 64 MiB buffer, one load per cache line, as a
//! server's kernel work between two echoes of one connection evicts that
//! connection's state from the nearest caches; the walk alone is timed as
//! a third contender and taken out of both figures.
//!
//! Prints ns per echo for each and the transport's extra over the codec:
//! the part of an echo's user-space time that the transport's layers
//! (reader and writer halves, their shared state and locks, events, the
//! owned message, the read buffer given back while waiting) add, which end-to-end runs cannot resolve from the
//! kernel's time and its spread. Not in it: tokio's socket and task work,
//! and the server loop's own (its `select!`, limits, cork).
//!
//! The absolute figures move with the machine's speed from run to run
//! (by tens of percent on a shared machine), the transport's over the
//! codec's by a few percent: two builds are compared by that ratio, run
//! by run in pairs (`AB_PARTS=echo-path scripts/ab-patch.sh PATCH`).

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

/// A read half that hands out one client frame per read, each time after
/// one poll that finds nothing, as a socket that the last read emptied:
/// the reader then waits as it does between two echoes (giving its
/// buffer back) before the frame arrives.
struct Frames {
    frame: Vec<u8>,
    empty: bool,
}

impl AsyncRead for Frames {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.empty = !self.empty;
        if self.empty {
            return Poll::Pending;
        }
        buf.put_slice(&self.frame);
        Poll::Ready(Ok(()))
    }
}

impl ReadReady for Frames {}

/// A write half that takes every byte and keeps none.
struct Discard;

impl AsyncWrite for Discard {
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

type Socket = WebSocket<Frames, Discard>;

/// One echo on the transport's connection: the wait for the frame (one
/// poll that finds nothing), then the message and its echo.
fn transport_echo(ws: &mut Socket) {
    let mut cx = Context::from_waker(Waker::noop());
    let (waited, event) = {
        let mut next = std::pin::pin!(ws.next_event());
        let waited = next.as_mut().poll(&mut cx).is_pending();
        let Poll::Ready(event) = next.as_mut().poll(&mut cx) else {
            panic!("the frame was not read");
        };
        (waited, event)
    };
    assert!(waited, "the reader did not wait for the frame");
    match event {
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

/// The walk between echoes: one load per cache line over the next `kib`
/// KiB of `buf`, wrapping.
struct Evict {
    buf: Vec<u8>,
    at: usize,
    kib: usize,
}

impl Evict {
    fn walk(&mut self) {
        let mut sum = 0u8;
        for _ in 0..self.kib * 16 {
            sum = sum.wrapping_add(self.buf[self.at]);
            self.at = (self.at + 64) % self.buf.len();
        }
        black_box(sum);
    }
}

/// ns per echo of one burst: `PER_CONN` rounds over every connection,
/// each echo followed by `evict`'s walk.
fn burst<C>(conns: &mut [C], evict: &mut Evict, mut echo: impl FnMut(&mut C)) -> f64 {
    let t = Instant::now();
    for _ in 0..PER_CONN {
        for c in conns.iter_mut() {
            echo(c);
            evict.walk();
        }
    }
    t.elapsed().as_nanos() as f64 / (PER_CONN * conns.len()) as f64
}

/// Argument `name` (`default` when absent), or the usage and exit 2.
fn arg<T: std::str::FromStr>(v: Option<String>, name: &str, default: T) -> T {
    match v.map(|s| s.parse()) {
        None => default,
        Some(Ok(x)) => x,
        Some(Err(_)) => {
            eprintln!(
                "echo_path: {name} is not a number\nusage: echo_path [SECONDS [CONNS [EVICT_KIB]]]"
            );
            std::process::exit(2);
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let secs: f64 = arg(args.next(), "SECONDS", 4.0);
    let n: usize = arg(args.next(), "CONNS", 100);
    if n == 0 {
        eprintln!("echo_path: CONNS must be at least 1");
        std::process::exit(2);
    }
    let kib: usize = arg(args.next(), "EVICT_KIB", 0);
    let f = frame();
    let mut sockets: Vec<Socket> = (0..n)
        .map(|_| {
            WebSocket::over(
                Frames {
                    frame: f.clone(),
                    empty: false,
                },
                Discard,
                Role::Server,
                Config::default(),
                &[],
            )
        })
        .collect();
    let mut codecs: Vec<Codec> = (0..n).map(|_| Codec::new()).collect();
    let mut evict = Evict {
        buf: vec![1; if kib > 0 { 64 << 20 } else { 64 }],
        at: 0,
        kib,
    };
    // Fastest burst of: the transport, the codec, the walk alone.
    let mut best = [f64::MAX; 3];
    let mut bursts = 0;
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < secs {
        // The order turns burst by burst.
        for k in 0..3 {
            let c = (bursts + k) % 3;
            let t = match c {
                0 => burst(&mut sockets, &mut evict, transport_echo),
                1 => burst(&mut codecs, &mut evict, |c| c.echo(&f)),
                _ => burst(&mut vec![(); n], &mut evict, |_| {}),
            };
            best[c] = best[c].min(t);
        }
        bursts += 1;
    }
    let [t, c, walk] = best;
    let (t, c) = if kib > 0 {
        (t - walk, c - walk)
    } else {
        (t, c)
    };
    println!(
        "{n} connections, {kib} KiB walked after each echo, {bursts} bursts each, the fastest; ns per echo:"
    );
    if kib > 0 {
        println!("(the walk alone: {walk:.1} ns, taken out of both)");
    }
    println!("transport {t:.1}");
    println!("codec     {c:.1}");
    println!("transport - codec {:.1} ({:.2}x)", t - c, t / c);
}
