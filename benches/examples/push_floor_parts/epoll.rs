//! `push_floor websocket … --epoll`: the WebSocket subscribers without a
//! runtime, on one epoll set of this thread: each socket read once per
//! readiness, its frames counted as the tokio subscribers count them. The
//! least any event loop on Linux does per pushed message: a wake-up shared
//! by the sockets ready together, a read per socket, and what the kernel
//! does for them (the read, and the ACK it sends back).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use rustix::event::epoll;

use super::bare::{cpu_ns, upgrade, wait};
use super::{How, Tally, UPGRADE, WARMUP, frame, now_ns, publish_request};

/// One subscriber: its socket, and the start of a frame a read cut.
struct Sub {
    s: TcpStream,
    partial: Vec<u8>,
}

/// Subscribes `conns` sockets, publishes `rate` messages a second, and
/// after the warm-up counts for `secs` seconds; prints as `drive` does.
pub(super) fn drive(port: u16, conns: u64, rate: u64, secs: u64, how: How) -> io::Result<()> {
    let tally = Tally::new(how.timed);
    let ep = epoll::create(epoll::CreateFlags::CLOEXEC)?;
    let mut subs = Vec::with_capacity(conns as usize);
    for i in 0..conns {
        let s = subscribe(port, how)?;
        epoll::add(
            &ep,
            &s.s,
            epoll::EventData::new_u64(i),
            epoll::EventFlags::IN,
        )?;
        subs.push(s);
    }
    let mut publisher = TcpStream::connect(("127.0.0.1", port))?;
    publisher.set_nodelay(true)?;
    publisher.set_nonblocking(true)?;
    epoll::add(
        &ep,
        &publisher,
        epoll::EventData::new_u64(conns),
        epoll::EventFlags::IN,
    )?;
    let request = publish_request()?;
    let period = Duration::from_secs_f64(1.0 / rate as f64);
    let started = Instant::now();
    let mut next = started;
    let mut window: Option<(u64, u64, u64)> = None;
    let mut events = Vec::with_capacity(1024);
    let mut scratch = vec![0u8; 64 * 1024];
    loop {
        let now = Instant::now();
        if window.is_none() && now >= started + WARMUP {
            tally.reset();
            window = Some((tally.received.get(), cpu_ns(), now_ns()));
        }
        if let Some((n0, c0, t0)) = window
            && now >= started + WARMUP + Duration::from_secs(secs)
        {
            let (n, cpu, t) = (tally.received.get() - n0, cpu_ns() - c0, now_ns() - t0);
            tally.print(n, cpu, t as f64 / 1e9);
            return Ok(());
        }
        while next <= now {
            // A 140-byte request on an idle socket: written whole.
            publisher.write_all(&request)?;
            next += period;
        }
        wait(&ep, &mut events, next - now)?;
        for e in &events {
            let i = e.data.u64() as usize;
            if let Some(sub) = subs.get_mut(i) {
                read_frames(sub, &mut scratch, &tally)?;
            } else {
                // The publisher's answers, not read further.
                if publisher.read(&mut scratch)? == 0 {
                    return Err(io::Error::other("the publisher's connection closed"));
                }
            }
        }
    }
}

/// A subscriber's socket, upgraded on `/push`, non-blocking.
fn subscribe(port: u16, how: How) -> io::Result<Sub> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_nodelay(true)?;
    if how.delayed_ack {
        rustix::net::sockopt::set_tcp_quickack(&s, false)?;
    }
    upgrade(&mut s, UPGRADE)?;
    s.set_nonblocking(true)?;
    Ok(Sub {
        s,
        partial: Vec::new(),
    })
}

/// One read of a ready subscriber, its whole frames counted.
fn read_frames(sub: &mut Sub, scratch: &mut [u8], tally: &Tally) -> io::Result<()> {
    let n = match sub.s.read(scratch) {
        Ok(0) => return Err(io::Error::other("closed by the server")),
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
        Err(e) => return Err(e),
    };
    let now = if tally.timed() { now_ns() } else { 0 };
    if sub.partial.is_empty() {
        let used = count(&scratch[..n], tally, now);
        sub.partial.extend_from_slice(&scratch[used..n]);
    } else {
        sub.partial.extend_from_slice(&scratch[..n]);
        let used = count(&sub.partial, tally, now);
        sub.partial.drain(..used);
    }
    Ok(())
}

/// Counts the whole data frames at the start of `buf`; the bytes they
/// took.
fn count(buf: &[u8], tally: &Tally, now: u64) -> usize {
    let mut start = 0;
    while let Some((hdr, len)) = frame(&buf[start..]) {
        if buf[start] & 0x0f < 8 {
            tally.messages(&buf[start + hdr..start + hdr + len], now);
        }
        start += hdr + len;
    }
    start
}
