//! `tokio_floor server PORT --codec` and `client … --codec`: the floor's
//! server and client with the WebSocket work done by the codec's sans-IO
//! connection (`wsbench_codec::connection::Connection`, as wsbench's
//! transport drives it), each connection still one task that owns its
//! socket, its connection and its buffers: no reader and writer halves,
//! no shared state, no locks, no events. The connection decodes with
//! every rule wsbench's endpoints apply (masking, UTF-8 checked as it
//! streams, control frames, fragments, size limits), answers pings and
//! close frames, and frames what is sent; the socket's clock is read once
//! per read, as the transport's reader does. What it does not do that
//! `wsbench serve` does: deadlines (no keepalive, no write timeout), write
//! limits, `bufferedAmount`, permessage-deflate, the shutdown signal.
//!
//! Against the floor's own loop it shows what the codec's work costs per
//! echo; against `wsbench serve` and `wsbench run`, what the transport's
//! layers above the codec cost.

use std::cell::{Cell, RefCell};
use std::io;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wsbench_codec::connection::{Connection, Incoming, Timeouts};
use wsbench_codec::{DecoderConfig, FrameKind, Message, OpCode, Role};
use wsbench_protocol::clock::monotonic_ns;

use super::PAYLOAD;

/// The connection's deadlines: none running (the floor arms no timer).
const TIMEOUTS: Timeouts = Timeouts {
    keepalive: None,
    close: Duration::from_secs(2),
};

fn open(role: Role, seed: u64) -> Connection {
    Connection::open(DecoderConfig::new(role), TIMEOUTS, seed, monotonic_ns())
}

/// What the input read so far brought.
#[derive(Default)]
struct Took {
    /// Data messages decoded.
    messages: u64,
    /// The peer's close frame, or a protocol error (its close frame is
    /// queued): write what is queued and end.
    ends: bool,
}

/// Feeds `input`, read at `now`, to `conn`; each data message's payload
/// goes to `each` with its opcode (copied into `scratch` first: the
/// message borrows the connection, and the echo is framed by it).
fn take(
    conn: &mut Connection,
    input: &mut [u8],
    now: u64,
    scratch: &mut Vec<u8>,
    mut each: impl FnMut(&mut Connection, OpCode, &[u8]),
) -> Took {
    let mut took = Took::default();
    let mut start = 0;
    loop {
        let (n, incoming) = match conn.receive(&mut input[start..], now) {
            Ok(r) => r,
            Err(_) => {
                took.ends = true;
                return took;
            }
        };
        start += n;
        let opcode = match incoming {
            // All of the input is consumed.
            None => return took,
            Some(Incoming::Message(Message::Text(t))) => {
                scratch.clear();
                scratch.extend_from_slice(t.as_bytes());
                OpCode::Text
            }
            Some(Incoming::Message(Message::Binary(b))) => {
                scratch.clear();
                scratch.extend_from_slice(b);
                OpCode::Binary
            }
            Some(Incoming::PeerClosed(_)) => {
                took.ends = true;
                return took;
            }
            // A pong, a ping answered, a message after our close.
            Some(_) => continue,
        };
        took.messages += 1;
        each(conn, opcode, scratch);
    }
}

/// One connection of the server after its upgrade (`buf[..end]`: bytes
/// read after the request's head): echoes until the peer closes, every
/// message decoded from one read answered in one write.
pub(super) async fn echo(mut s: TcpStream, mut buf: Vec<u8>, mut end: usize) -> io::Result<()> {
    let mut conn = open(Role::Server, 0);
    let mut out = Vec::with_capacity(buf.len());
    let mut scratch = Vec::new();
    let mut now = monotonic_ns();
    loop {
        let took = take(&mut conn, &mut buf[..end], now, &mut scratch, |c, op, p| {
            // Cannot fail: the connection is open while messages come.
            let _ = c.send(FrameKind::whole(op), p);
        });
        if conn.pending() > 0 {
            conn.take_outgoing(&mut out);
            s.write_all(&out).await?;
        }
        if took.ends {
            // The server closes TCP first (RFC 6455 §7.1.1).
            return s.shutdown().await;
        }
        end = s.read(&mut buf).await?;
        if end == 0 {
            return Ok(());
        }
        now = monotonic_ns();
    }
}

/// One connection of the client: the upgrade, then one 20-byte binary
/// message in flight at a time, framed (masked) by the connection, each
/// echo decoded by it.
pub(super) async fn client(
    mut s: TcpStream,
    echoes: &Cell<u64>,
    hist: Option<&RefCell<Histogram<u64>>>,
) -> io::Result<()> {
    super::upgrade(&mut s).await?;
    // The seed of the mask keys; a load generator draws it from the OS.
    let mut conn = open(Role::Client, 0x9e37_79b9_7f4a_7c15);
    let (mut out, mut scratch) = (Vec::new(), Vec::new());
    let payload = [b'T'; PAYLOAD];
    let mut buf = vec![0u8; 4096];
    let mut end = 0;
    let mut now = monotonic_ns();
    loop {
        let sent = hist.map(|_| Instant::now());
        // Cannot fail: the connection is open.
        let _ = conn.send(FrameKind::whole(OpCode::Binary), &payload);
        conn.take_outgoing(&mut out);
        s.write_all(&out).await?;
        loop {
            let took = take(&mut conn, &mut buf[..end], now, &mut scratch, |_, _, _| {});
            if took.ends {
                return Err(io::Error::other("closed by the server"));
            }
            end = 0;
            if took.messages > 0 {
                break;
            }
            end = s.read(&mut buf).await?;
            if end == 0 {
                return Err(io::Error::other("closed by the server"));
            }
            now = monotonic_ns();
        }
        if let (Some(sent), Some(hist)) = (sent, hist) {
            let _ = hist.borrow_mut().record(sent.elapsed().as_nanos() as u64);
        }
        echoes.set(echoes.get() + 1);
    }
}
