//! The least a tokio program does per WebSocket echo: the floor under
//! wsbench's server and load generator in the echo comparisons of
//! docs/performance.md, measured the same way (`scripts/peer-compare.sh`).
//!
//! ```sh
//! cargo run --release -p wsbench-benches --example tokio_floor -- server PORT [--spin NS | --epoll | --codec]
//! cargo run --release -p wsbench-benches --example tokio_floor -- client PORT CONNS SECS [--timed] [--epoll | --codec]
//! ```
//!
//! Both run on tokio's single-threaded runtime, one task per connection,
//! as `wsbench serve` and `wsbench run` do on one CPU, and do less than
//! a WebSocket endpoint must:
//!
//! - `server` answers the upgrade, then per read unmasks every complete
//!   frame in the buffer and writes their echoes at once; no UTF-8 check,
//!   no control-frame rules, no limits, no close handshake beyond echoing
//!   the close frame. What it costs per echo is what tokio's readiness,
//!   task and socket machinery cost plus the system calls.
//! - `client` opens CONNS connections, each with one 20-byte binary
//!   message in flight (`load_test`'s workload), counts the echoes over
//!   SECS seconds after a 1 s warm-up and prints `msg/s N` and `client
//!   us/msg N` (its CPU time per echo over those seconds). `--timed`
//!   also reads the clock at each send and at each echo and records every
//!   round trip in an HDR histogram (what a load generator that measures
//!   must add), then prints `p50 us` and `p99 us`.
//!
//! `server PORT --spin NS` also busy-waits NS nanoseconds of user-space
//! time per echo before each write: a stand-in for a stack's own work per
//! message, to see what that much more user space costs a server in all
//! (its throughput and its kernel time per echo) when nothing else differs.
//!
//! `server PORT --epoll` serves without tokio, on one epoll set
//! (`tokio_floor_parts/epoll.rs`): each connection read once per
//! readiness and its frames answered as above. Against uWS `echo_server`
//! it shows what the runtime costs a server per echo. `client … --epoll`
//! is the client the same way, one message in flight per connection.
//!
//! `server PORT --codec` and `client … --codec` do the WebSocket work
//! with the codec's sans-IO connection, every rule wsbench's endpoints
//! apply, still one task per connection owning its socket
//! (`tokio_floor_parts/codec.rs`): what the codec costs per echo, and
//! what wsbench's transport layers above it cost.
//!
//! Loopback only: the client connects to 127.0.0.1, and both exit by
//! themselves (the server when killed, the client after SECS).

use std::cell::{Cell, RefCell};
use std::io;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::LocalSet;
use wsbench_codec::handshake::Request;
use wsbench_codec::mask;

#[path = "floor_parts/bare.rs"]
mod bare;
#[path = "tokio_floor_parts/codec.rs"]
mod codec;
#[path = "tokio_floor_parts/epoll.rs"]
mod epoll;

const PAYLOAD: usize = 20;
const KEY: [u8; 4] = [1, 2, 3, 4];
const UPGRADE: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n\
    Sec-WebSocket-Version: 13\r\n\r\n";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize| args.get(i).and_then(|a| a.parse::<u64>().ok());
    let run = match (args.first().map(String::as_str), num(1), num(2), num(3)) {
        (Some("server"), Some(port), _, _) => {
            let (mut spin, mut epoll, mut codec, mut i) = (0, false, false, 2);
            while let Some(flag) = args.get(i) {
                match flag.as_str() {
                    "--spin" => match num(i + 1) {
                        Some(ns) => spin = ns,
                        None => return usage(),
                    },
                    "--epoll" => epoll = true,
                    "--codec" => codec = true,
                    _ => return usage(),
                }
                i += if flag == "--spin" { 2 } else { 1 };
            }
            if codec && (epoll || spin > 0) {
                return usage();
            }
            let spin = Duration::from_nanos(spin);
            if epoll {
                epoll::serve(port as u16, spin)
            } else {
                serve(port as u16, spin, codec)
            }
        }
        (Some("client"), Some(port), Some(conns), Some(secs)) => {
            let flags = &args[4..];
            let has = |name: &str| flags.iter().any(|f| f == name);
            let (timed, codec) = (has("--timed"), has("--codec"));
            if flags
                .iter()
                .any(|f| !["--timed", "--epoll", "--codec"].contains(&f.as_str()))
                || (codec && has("--epoll"))
            {
                return usage();
            }
            if has("--epoll") {
                epoll::drive(port as u16, conns as usize, secs, timed)
            } else {
                drive(port as u16, conns as usize, secs, timed, codec)
            }
        }
        _ => return usage(),
    };
    match run {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tokio_floor: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: tokio_floor server PORT [--spin NS | --epoll | --codec] | client PORT CONNS SECS [--timed] [--epoll | --codec]"
    );
    ExitCode::from(2)
}

fn runtime() -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
}

fn serve(port: u16, spin: Duration, codec: bool) -> io::Result<()> {
    runtime()?.block_on(LocalSet::new().run_until(async move {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        loop {
            let (socket, _) = listener.accept().await?;
            tokio::task::spawn_local(async move {
                let _ = echo(socket, spin, codec).await;
            });
        }
    }))
}

/// Busy-waits `d` of user-space time (none when zero).
fn spin_for(d: Duration) {
    if d.is_zero() {
        return;
    }
    let t = Instant::now();
    while t.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// One connection of the server: the upgrade, then echoes until the peer
/// closes, each with `spin` of user-space time (with `codec`, by the
/// codec's connection).
async fn echo(mut s: TcpStream, spin: Duration, codec: bool) -> io::Result<()> {
    s.set_nodelay(true)?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut end = 0;
    let head_len = loop {
        let n = s.read(&mut buf[end..]).await?;
        if n == 0 {
            return Ok(());
        }
        end += n;
        let Some(req) = Request::parse(&buf[..end]).map_err(io::Error::other)? else {
            continue;
        };
        let mut out = Vec::new();
        req.accept().write(&mut out);
        s.write_all(&out).await?;
        break req.head_len;
    };
    buf.copy_within(head_len..end, 0);
    end -= head_len;
    if codec {
        return codec::echo(s, buf, end).await;
    }
    let mut out = Vec::with_capacity(64 * 1024);
    loop {
        let (start, closed) = answer(&mut buf[..end], &mut out, spin);
        if !out.is_empty() {
            s.write_all(&out).await?;
            out.clear();
        }
        if closed {
            return Ok(());
        }
        buf.copy_within(start..end, 0);
        end -= start;
        if end == buf.len() {
            return Err(io::Error::other("frame larger than the read buffer"));
        }
        let n = s.read(&mut buf[end..]).await?;
        if n == 0 {
            return Ok(());
        }
        end += n;
    }
}

/// Unmasks every complete frame at the start of `buf` and appends its
/// echo to `out`, each with `spin` of user-space time; the bytes the
/// frames took, and whether a close frame was among them (the last one
/// answered).
fn answer(buf: &mut [u8], out: &mut Vec<u8>, spin: Duration) -> (usize, bool) {
    let mut start = 0;
    while let Some((hdr, len)) = frame(&buf[start..]) {
        let byte0 = buf[start];
        let key: [u8; 4] = buf[start + hdr - 4..start + hdr].try_into().unwrap();
        let payload = &mut buf[start + hdr..start + hdr + len];
        mask::mask(payload, key, 0);
        out.push(byte0);
        match len {
            0..=125 => out.push(len as u8),
            126..=0xffff => {
                out.push(126);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                out.push(127);
                out.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(payload);
        spin_for(spin);
        start += hdr + len;
        if byte0 & 0x0f == 8 {
            return (start, true);
        }
    }
    (start, false)
}

/// The header length and payload length of the masked frame at the start
/// of `buf`, when the whole frame is there.
fn frame(buf: &[u8]) -> Option<(usize, usize)> {
    let b1 = *buf.get(1)?;
    let (mut hdr, len) = match b1 & 0x7f {
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
    if b1 & 0x80 == 0 {
        return None; // unmasked client frame: never answered
    }
    hdr += 4;
    (buf.len() >= hdr + len).then_some((hdr, len))
}

fn drive(port: u16, conns: usize, secs: u64, timed: bool, codec: bool) -> io::Result<()> {
    let echoes = Rc::new(Cell::new(0u64));
    let hist = Rc::new(RefCell::new(
        Histogram::<u64>::new(3).expect("3 significant digits is valid"),
    ));
    runtime()?.block_on(LocalSet::new().run_until(async {
        for _ in 0..conns {
            let s = TcpStream::connect(("127.0.0.1", port)).await?;
            let (echoes, hist) = (echoes.clone(), hist.clone());
            tokio::task::spawn_local(async move {
                let hist = timed.then_some(&*hist);
                let run = if codec {
                    codec::client(s, &echoes, hist).await
                } else {
                    client(s, &echoes, hist).await
                };
                if let Err(e) = run {
                    eprintln!("tokio_floor: connection: {e}");
                }
            });
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (n0, c0, t0) = (echoes.get(), bare::cpu_ns(), Instant::now());
        hist.borrow_mut().reset();
        tokio::time::sleep(Duration::from_secs(secs)).await;
        let window = Window {
            echoes: echoes.get() - n0,
            cpu_ns: bare::cpu_ns() - c0,
            secs: t0.elapsed().as_secs_f64(),
        };
        window.report(timed.then_some(&*hist.borrow()));
        Ok(())
    }))
}

/// A client's measured window: the echoes, the process's CPU time, and
/// how long it lasted.
struct Window {
    echoes: u64,
    cpu_ns: u64,
    secs: f64,
}

impl Window {
    /// Prints the client's figures: echoes a second, its CPU per echo
    /// (µs; echoes a second per client core is 10⁶ over it), and the round
    /// trips' p50 and p99 when timed.
    fn report(&self, hist: Option<&Histogram<u64>>) {
        println!("msg/s {:.0}", self.echoes as f64 / self.secs);
        println!(
            "client us/msg {:.3}",
            self.cpu_ns as f64 / 1e3 / self.echoes.max(1) as f64
        );
        if let Some(h) = hist {
            println!("p50 us {:.1}", h.value_at_quantile(0.5) as f64 / 1e3);
            println!("p99 us {:.1}", h.value_at_quantile(0.99) as f64 / 1e3);
        }
    }
}

/// The client's message: a masked 20-byte binary frame.
fn message() -> [u8; 6 + PAYLOAD] {
    let mut msg = [0u8; 6 + PAYLOAD];
    msg[..6].copy_from_slice(&[0x82, 0x80 | PAYLOAD as u8, KEY[0], KEY[1], KEY[2], KEY[3]]);
    msg[6..].fill(b'T');
    mask::mask(&mut msg[6..], KEY, 0);
    msg
}

/// A client connection's upgrade: the request written, its answer read
/// to the head's end (the server sends nothing after it before a
/// message); an error unless it is `101`.
async fn upgrade(s: &mut TcpStream) -> io::Result<()> {
    s.set_nodelay(true)?;
    s.write_all(UPGRADE).await?;
    let mut buf = [0u8; 1024];
    let mut end = 0;
    while !buf[..end].ends_with(b"\r\n\r\n") {
        let n = s.read(&mut buf[end..]).await?;
        if n == 0 || end + n == buf.len() {
            return Err(io::Error::other("no upgrade answer"));
        }
        end += n;
    }
    if !buf.starts_with(b"HTTP/1.1 101") {
        return Err(io::Error::other("upgrade refused"));
    }
    Ok(())
}

/// One connection of the client: the upgrade, then one message in flight
/// at a time.
async fn client(
    mut s: TcpStream,
    echoes: &Cell<u64>,
    hist: Option<&RefCell<Histogram<u64>>>,
) -> io::Result<()> {
    upgrade(&mut s).await?;
    let mut buf = [0u8; 2 + PAYLOAD];
    let msg = message();
    loop {
        let sent = hist.map(|_| Instant::now());
        s.write_all(&msg).await?;
        let mut got = 0;
        while got < 2 + PAYLOAD {
            let n = s.read(&mut buf[got..2 + PAYLOAD]).await?;
            if n == 0 {
                return Err(io::Error::other("closed by the server"));
            }
            got += n;
        }
        if let (Some(sent), Some(hist)) = (sent, hist) {
            let _ = hist.borrow_mut().record(sent.elapsed().as_nanos() as u64);
        }
        echoes.set(echoes.get() + 1);
    }
}
