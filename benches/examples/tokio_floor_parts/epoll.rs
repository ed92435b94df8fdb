//! `tokio_floor server PORT --epoll`: the floor's server without a
//! runtime, on one epoll set of this thread: each connection read once per
//! readiness, every complete frame in its buffer answered in one write, as
//! the tokio server does. What is left per echo is the system calls and
//! the kernel's work for them.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use rustix::buffer::spare_capacity;
use rustix::event::epoll;
use wsbench_codec::handshake::Request;

use super::answer;

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
