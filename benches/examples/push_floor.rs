//! The least a tokio program does per pushed message it receives: the
//! floor under wsbench's load generator in the push rows of
//! docs/performance.md, measured the same way (`scripts/peer-compare.sh`,
//! against `wsbench serve`).
//!
//! ```sh
//! cargo run --release -p wsbench-benches --example push_floor -- websocket|long-poll PORT CONNS RATE SECS [--timed] [--delayed-ack] [--epoll]
//! ```
//!
//! It runs on tokio's single-threaded runtime, one task per connection,
//! as `wsbench run` does on one CPU, subscribes CONNS connections to the
//! server on 127.0.0.1:PORT, publishes RATE 20-byte messages a second
//! (`POST /publish` on one kept-alive connection), and after a 3 s warm-up
//! counts the messages received over SECS seconds and the process's CPU
//! time over them. It prints `msg/s N` and `client us/msg N`; with
//! `--timed` also `p50 ms` and `p99 ms` of the one-way latency (the
//! clock read after each read that brought messages, less each message's
//! `ts`), recorded in an HDR histogram, which a load generator that
//! measures must add.
//!
//! It does less than a subscriber must, reading only what `wsbench serve`
//! writes: over WebSocket `/push`, the frames' lengths and nothing of
//! their rules; over long-poll `GET /poll?cursor=N`, the answer's
//! `Content-Length` and the body's cursor and messages found by their
//! fixed prefixes (the protocol crate's `push::CURSOR`, `SEQ` and `TS`),
//! with no JSON parse, no loss or order accounting and no reconnects.
//!
//! Two variants show what the floor itself is made of
//! (`scripts/floor-ab.sh` runs them side by side): `--epoll` (WebSocket
//! only) drives the subscribers without tokio, on one epoll set
//! (`push_floor_parts/epoll.rs`); `--delayed-ack` puts the subscribers'
//! sockets in delayed-ACK mode (`TCP_QUICKACK` 0), so that the kernel
//! acknowledges every second small segment instead of each one as it is
//! read (this holds while messages come faster than the delayed-ACK timer,
//! 40 ms). It changes what the server sees, so it is a measurement of the
//! ACK's cost, not a way to run.
//!
//! Loopback only, and it exits by itself after the warm-up and SECS.

use std::cell::{Cell, RefCell};
use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::LazyLock;
use std::time::Duration;

use hdrhistogram::Histogram;
use memchr::memmem::Finder;
use rustix::time::{ClockId, clock_gettime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::LocalSet;
use wsbench_protocol::push;

#[path = "floor_parts/bare.rs"]
mod bare;
use bare::cpu_ns;
#[path = "push_floor_parts/epoll.rs"]
mod epoll;

const WARMUP: Duration = Duration::from_secs(3);
const PAYLOAD: &[u8; 20] = b"push-floor-message-1";
const UPGRADE: &[u8] = b"GET /push HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n\
    Sec-WebSocket-Version: 13\r\n\r\n";

// Built once: a searcher built per search costs more than the search.
// The message's pieces are the protocol crate's, as the server writes them.
static SEQ: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(push::SEQ));
static TS: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(push::TS));
static HEAD_END: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\r\n\r\n"));
static LENGTH: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"Content-Length: "));

/// What the subscribers share: the messages received, and the latencies
/// when timed.
struct Tally {
    received: Cell<u64>,
    hist: Option<RefCell<Histogram<u64>>>,
}

impl Tally {
    fn new(timed: bool) -> Tally {
        Tally {
            received: Cell::new(0),
            hist: timed.then(|| RefCell::new(Histogram::new(3).expect("3 digits is valid"))),
        }
    }

    fn timed(&self) -> bool {
        self.hist.is_some()
    }

    /// The latencies recorded so far forgotten (at the window's start).
    fn reset(&self) {
        if let Some(h) = &self.hist {
            h.borrow_mut().reset();
        }
    }

    /// Prints the window's figures: `n` messages, `cpu` ns, `secs`.
    fn print(&self, n: u64, cpu: u64, secs: f64) {
        println!("msg/s {:.0}", n as f64 / secs);
        println!("client us/msg {:.3}", cpu as f64 / 1e3 / n.max(1) as f64);
        if let Some(h) = &self.hist {
            let h = h.borrow();
            println!("p50 ms {:.3}", h.value_at_quantile(0.5) as f64 / 1e6);
            println!("p99 ms {:.3}", h.value_at_quantile(0.99) as f64 / 1e6);
        }
    }

    /// Counts the messages in `text` (each starts with `push::SEQ`), and records
    /// the latency of each at `now` when timed.
    fn messages(&self, text: &[u8], now: u64) {
        let mut n = 0;
        for at in SEQ.find_iter(text) {
            n += 1;
            if let Some(hist) = &self.hist {
                let rest = &text[at..];
                let ts = TS.find(rest).map(|i| number(&rest[i + push::TS.len()..]).0);
                if let Some(ts) = ts {
                    let _ = hist.borrow_mut().record(now.saturating_sub(ts));
                }
            }
        }
        self.received.set(self.received.get() + n);
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize| args.get(i).and_then(|a| a.parse::<u64>().ok());
    let ws = match args.first().map(String::as_str) {
        Some("websocket") => Some(true),
        Some("long-poll") => Some(false),
        _ => None,
    };
    let run = match (ws, num(1), num(2), num(3), num(4)) {
        (Some(ws), Some(port), Some(conns), Some(rate), Some(secs)) if rate > 0 => {
            let flags = &args[5..];
            if let Some(f) = flags.iter().find(|f| !FLAGS.contains(&f.as_str())) {
                eprintln!("push_floor: unknown flag {f} (of {})", FLAGS.join(", "));
                return ExitCode::from(2);
            }
            let has = |f: &str| flags.iter().any(|a| a == f);
            let how = How {
                timed: has("--timed"),
                delayed_ack: has("--delayed-ack"),
                epoll: has("--epoll"),
            };
            if how.epoll && !ws {
                eprintln!("push_floor: --epoll is for websocket");
                return ExitCode::from(2);
            }
            drive(ws, port as u16, conns, rate, secs, how)
        }
        _ => {
            eprintln!(
                "usage: push_floor websocket|long-poll PORT CONNS RATE SECS [--timed] [--delayed-ack] [--epoll]"
            );
            return ExitCode::from(2);
        }
    };
    match run {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("push_floor: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The flags after SECS.
const FLAGS: [&str; 3] = ["--timed", "--delayed-ack", "--epoll"];

/// What the flags ask for.
#[derive(Clone, Copy)]
struct How {
    /// Record each message's one-way latency.
    timed: bool,
    /// Subscribers' sockets in delayed-ACK mode (`TCP_QUICKACK` 0): the
    /// kernel acknowledges every second small segment received, not
    /// each one when it is read.
    delayed_ack: bool,
    /// WebSocket subscribers on one epoll set, without tokio.
    epoll: bool,
}

fn drive(ws: bool, port: u16, conns: u64, rate: u64, secs: u64, how: How) -> io::Result<()> {
    if how.epoll {
        return epoll::drive(port, conns, rate, secs, how);
    }
    let tally: &'static Tally = Box::leak(Box::new(Tally::new(how.timed)));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()?;
    rt.block_on(LocalSet::new().run_until(async move {
        for _ in 0..conns {
            let s = TcpStream::connect(("127.0.0.1", port)).await?;
            s.set_nodelay(true)?;
            if how.delayed_ack {
                rustix::net::sockopt::set_tcp_quickack(&s, false)?;
            }
            let task = async move {
                let r = if ws {
                    websocket(s, tally).await
                } else {
                    long_poll(s, tally).await
                };
                if let Err(e) = r {
                    eprintln!("push_floor: subscriber: {e}");
                }
            };
            tokio::task::spawn_local(task);
        }
        let publisher = TcpStream::connect(("127.0.0.1", port)).await?;
        tokio::task::spawn_local(async move {
            if let Err(e) = publish(publisher, rate).await {
                eprintln!("push_floor: publisher: {e}");
            }
        });
        tokio::time::sleep(WARMUP).await;
        let (n0, c0, t0) = (tally.received.get(), cpu_ns(), now_ns());
        tally.reset();
        tokio::time::sleep(Duration::from_secs(secs)).await;
        let (n, cpu, secs) = (
            tally.received.get() - n0,
            cpu_ns() - c0,
            (now_ns() - t0) as f64 / 1e9,
        );
        tally.print(n, cpu, secs);
        Ok(())
    }))
}

/// CLOCK_MONOTONIC ns (the clock of the server's `ts`).
fn now_ns() -> u64 {
    let t = clock_gettime(ClockId::Monotonic);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// The decimal number at the start of `b` and how many digits it took.
fn number(b: &[u8]) -> (u64, usize) {
    let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    let n = b[..digits]
        .iter()
        .fold(0u64, |n, &c| n.wrapping_mul(10) + u64::from(c - b'0'));
    (n, digits)
}

/// `POST /publish` of the 20-byte message.
fn publish_request() -> io::Result<Vec<u8>> {
    let mut req = Vec::new();
    write!(
        req,
        "POST /publish HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: {}\r\n\r\n",
        PAYLOAD.len()
    )?;
    req.extend_from_slice(PAYLOAD);
    Ok(req)
}

/// `POST /publish` of a 20-byte message RATE times a second, each answer
/// read before the next.
async fn publish(mut s: TcpStream, rate: u64) -> io::Result<()> {
    s.set_nodelay(true)?;
    let req = publish_request()?;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    let mut buf = Vec::with_capacity(4096);
    loop {
        tick.tick().await;
        s.write_all(&req).await?;
        let body = answer(&mut s, &mut buf).await?;
        buf.drain(..body.end);
    }
}

/// Reads one answer into `buf` (which may hold the start of it); the
/// body's range in `buf`.
async fn answer(s: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<std::ops::Range<usize>> {
    loop {
        if let Some(end) = HEAD_END.find(buf) {
            let head = &buf[..end];
            let len = LENGTH
                .find(head)
                .map(|i| number(&head[i + LENGTH.needle().len()..]).0 as usize)
                .ok_or_else(|| io::Error::other("an answer without Content-Length"))?;
            let body = end + 4..end + 4 + len;
            if !head.starts_with(b"HTTP/1.1 200") {
                return Err(io::Error::other("an answer other than 200"));
            }
            if buf.len() >= body.end {
                return Ok(body);
            }
        }
        if buf.capacity() - buf.len() < 1024 {
            buf.reserve(4096);
        }
        if s.read_buf(buf).await? == 0 {
            return Err(io::Error::other("closed by the server"));
        }
    }
}

/// A long-poll subscriber: a first poll without a cursor (`wait=0`)
/// places it, then each poll asks for what came after the last answer's
/// cursor.
async fn long_poll(mut s: TcpStream, tally: &Tally) -> io::Result<()> {
    let mut buf = Vec::with_capacity(4096);
    let mut req = Vec::with_capacity(128);
    req.extend_from_slice(b"GET /poll?wait=0 HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n");
    loop {
        s.write_all(&req).await?;
        let body = answer(&mut s, &mut buf).await?;
        let now = tally.hist.as_ref().map_or(0, |_| now_ns());
        let text = &buf[body.clone()];
        let cursor = text
            .strip_prefix(push::CURSOR)
            .map(|rest| number(rest).0)
            .ok_or_else(|| io::Error::other("a poll answer without a cursor"))?;
        tally.messages(text, now);
        buf.drain(..body.end);
        req.clear();
        write!(
            req,
            "GET /poll?cursor={cursor} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n"
        )?;
    }
}

/// A WebSocket subscriber of `/push`: the upgrade, then every data frame
/// counted as a message.
async fn websocket(mut s: TcpStream, tally: &Tally) -> io::Result<()> {
    s.write_all(UPGRADE).await?;
    let mut buf = Vec::with_capacity(64 * 1024);
    let head = loop {
        if s.read_buf(&mut buf).await? == 0 {
            return Err(io::Error::other("no upgrade answer"));
        }
        if let Some(end) = HEAD_END.find(&buf) {
            break end + 4;
        }
    };
    if !buf.starts_with(b"HTTP/1.1 101") {
        return Err(io::Error::other("upgrade refused"));
    }
    buf.drain(..head);
    loop {
        let now = tally.hist.as_ref().map_or(0, |_| now_ns());
        let mut start = 0;
        while let Some((hdr, len)) = frame(&buf[start..]) {
            let opcode = buf[start] & 0x0f;
            if opcode == 8 {
                return Ok(());
            }
            if opcode < 8 {
                tally.messages(&buf[start + hdr..start + hdr + len], now);
            }
            start += hdr + len;
        }
        buf.drain(..start);
        if buf.capacity() - buf.len() < 1024 {
            buf.reserve(64 * 1024);
        }
        if s.read_buf(&mut buf).await? == 0 {
            return Err(io::Error::other("closed by the server"));
        }
    }
}

/// The header length and payload length of the unmasked frame at the
/// start of `buf`, when the whole frame is there.
fn frame(buf: &[u8]) -> Option<(usize, usize)> {
    let (hdr, len) = match *buf.get(1)? & 0x7f {
        126 => (
            4,
            u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?) as usize,
        ),
        127 => (
            10,
            u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?) as usize,
        ),
        n => (2, n as usize),
    };
    (buf.len() >= hdr + len).then_some((hdr, len))
}
