//! `tokio_floor server PORT --epoll` and `client … --epoll`: the floor's
//! server and client without a runtime, each on one epoll set of its
//! thread, each socket read once per readiness. The server answers every
//! complete frame in its buffer in one write; the client sends a
//! connection's next message when its echo is whole. What is left per
//! echo is the system calls and the kernel's work for them.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rustix::buffer::spare_capacity;
use rustix::event::epoll;
use wsbench_codec::handshake::Request;

use super::bare::{cpu_ns, upgrade, wait};
use super::{PAYLOAD, UPGRADE, Window, answer, message};

/// The listener's token; a connection's is its index.
const LISTENER: u64 = u64::MAX;

/// One connection: its socket, what it has sent and not yet answered, and
/// whether its upgrade is done.
struct Conn {
    s: TcpStream,
    buf: Vec<u8>,
    end: usize,
    upgraded: bool,
}

/// Serves on 127.0.0.1:`port` until killed, each echo with `spin` of
/// user-space time.
pub(super) fn serve(port: u16, spin: Duration) -> io::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    listener.set_nonblocking(true)?;
    let ep = epoll::create(epoll::CreateFlags::CLOEXEC)?;
    epoll::add(
        &ep,
        &listener,
        epoll::EventData::new_u64(LISTENER),
        epoll::EventFlags::IN,
    )?;
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut events = Vec::with_capacity(1024);
    let mut out = Vec::with_capacity(64 * 1024);
    loop {
        events.clear();
        epoll::wait(&ep, spare_capacity(&mut events), None)?;
        for e in &events {
            let token = e.data.u64();
            if token == LISTENER {
                accept(&listener, &ep, &mut conns)?;
                continue;
            }
            let slot = &mut conns[token as usize];
            if let Some(c) = slot
                && !step(c, &mut out, spin)
            {
                // Closing the socket takes it out of the epoll set.
                *slot = None;
            }
            out.clear();
        }
    }
}

/// Accepts every pending connection into a free slot.
fn accept(
    listener: &TcpListener,
    ep: &impl std::os::fd::AsFd,
    conns: &mut Vec<Option<Conn>>,
) -> io::Result<()> {
    loop {
        let s = match listener.accept() {
            Ok((s, _)) => s,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(e),
        };
        s.set_nodelay(true)?;
        s.set_nonblocking(true)?;
        let i = match conns.iter().position(Option::is_none) {
            Some(i) => i,
            None => {
                conns.push(None);
                conns.len() - 1
            }
        };
        epoll::add(
            ep,
            &s,
            epoll::EventData::new_u64(i as u64),
            epoll::EventFlags::IN,
        )?;
        conns[i] = Some(Conn {
            s,
            buf: vec![0; 64 * 1024],
            end: 0,
            upgraded: false,
        });
    }
}

/// One read of a ready connection, and its answers written; false when
/// the connection is done (closed, failed or its close answered).
fn step(c: &mut Conn, out: &mut Vec<u8>, spin: Duration) -> bool {
    match c.s.read(&mut c.buf[c.end..]) {
        Ok(0) => return false,
        Ok(n) => c.end += n,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
        Err(_) => return false,
    }
    if !c.upgraded {
        let req = match Request::parse(&c.buf[..c.end]) {
            Ok(Some(req)) => req,
            Ok(None) => return c.end < c.buf.len(),
            Err(_) => return false,
        };
        req.accept().write(out);
        let head_len = req.head_len;
        c.buf.copy_within(head_len..c.end, 0);
        c.end -= head_len;
        c.upgraded = true;
    }
    let (start, closed) = answer(&mut c.buf[..c.end], out, spin);
    // The answers of one read: written whole to a peer that reads them
    // (a peer that does not is dropped).
    if !out.is_empty() && c.s.write_all(out).is_err() {
        return false;
    }
    c.buf.copy_within(start..c.end, 0);
    c.end -= start;
    !closed && c.end < c.buf.len()
}

/// One client connection: its socket, the echo's bytes read so far, and
/// when its message was sent (when timed).
struct Echoer {
    s: TcpStream,
    got: usize,
    sent: Instant,
}

/// `conns` connections with one message in flight each; after a 1 s
/// warm-up counts the echoes for `secs` seconds and prints as the tokio
/// client does.
pub(super) fn drive(port: u16, conns: usize, secs: u64, timed: bool) -> io::Result<()> {
    let ep = epoll::create(epoll::CreateFlags::CLOEXEC)?;
    let msg = message();
    let mut all = Vec::with_capacity(conns);
    for i in 0..conns {
        let s = upgraded(port)?;
        epoll::add(
            &ep,
            &s,
            epoll::EventData::new_u64(i as u64),
            epoll::EventFlags::IN,
        )?;
        all.push(Echoer {
            s,
            got: 0,
            sent: Instant::now(),
        });
    }
    for e in &mut all {
        e.sent = Instant::now();
        e.s.write_all(&msg)?;
    }
    let mut hist = Histogram::<u64>::new(3).expect("3 significant digits is valid");
    let (mut echoes, mut buf, mut events) = (0u64, [0u8; 2 + PAYLOAD], Vec::with_capacity(1024));
    let start = Instant::now();
    let (warm, end) = (
        start + Duration::from_secs(1),
        start + Duration::from_secs(1 + secs),
    );
    let mut window = None;
    loop {
        let now = Instant::now();
        if window.is_none() && now >= warm {
            window = Some((echoes, cpu_ns(), now));
            hist.reset();
        }
        if now >= end {
            let (n0, c0, t0) = window.unwrap_or((0, 0, start));
            let measured = Window {
                echoes: echoes - n0,
                cpu_ns: cpu_ns() - c0,
                secs: t0.elapsed().as_secs_f64(),
            };
            measured.report(timed.then_some(&hist));
            return Ok(());
        }
        wait(
            &ep,
            &mut events,
            (if now < warm { warm } else { end }) - now,
        )?;
        for ev in &events {
            let e = &mut all[ev.data.u64() as usize];
            let n = match e.s.read(&mut buf[e.got..]) {
                Ok(0) => return Err(io::Error::other("closed by the server")),
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
                Err(err) => return Err(err),
            };
            e.got += n;
            if e.got < buf.len() {
                continue;
            }
            if timed {
                let _ = hist.record(e.sent.elapsed().as_nanos() as u64);
            }
            echoes += 1;
            e.got = 0;
            if timed {
                e.sent = Instant::now();
            }
            e.s.write_all(&msg)?;
        }
    }
}

/// A connection to the server, upgraded, non-blocking.
fn upgraded(port: u16) -> io::Result<TcpStream> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_nodelay(true)?;
    upgrade(&mut s, UPGRADE)?;
    s.set_nonblocking(true)?;
    Ok(s)
}
