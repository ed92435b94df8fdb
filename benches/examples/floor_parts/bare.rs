//! What the floors share: the blocking upgrade of a client connection,
//! the wait for ready sockets, and the process's CPU clock.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsFd;
use std::time::Duration;

use rustix::buffer::spare_capacity;
use rustix::event::{Timespec, epoll};
use rustix::time::{ClockId, clock_gettime};

/// Writes the upgrade `request` on `s` and reads its answer byte by byte
/// to the head's end (nothing after it is read); an error unless it is
/// `101`.
pub fn upgrade(s: &mut TcpStream, request: &[u8]) -> io::Result<()> {
    s.write_all(request)?;
    let (mut head, mut byte) = (Vec::new(), [0u8; 1]);
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte)? == 0 {
            return Err(io::Error::other("no upgrade answer"));
        }
        head.push(byte[0]);
    }
    if !head.starts_with(b"HTTP/1.1 101") {
        return Err(io::Error::other("upgrade refused"));
    }
    Ok(())
}

/// Waits at most `wait` for sockets of the epoll set `ep` to be ready,
/// into `events` (cleared first).
pub fn wait(ep: impl AsFd, events: &mut Vec<epoll::Event>, wait: Duration) -> io::Result<()> {
    let timeout = Timespec {
        tv_sec: wait.as_secs() as i64,
        tv_nsec: i64::from(wait.subsec_nanos()),
    };
    events.clear();
    epoll::wait(ep, spare_capacity(events), Some(&timeout))?;
    Ok(())
}

/// The CPU time of this process (all its threads), ns: a client's CPU
/// per message is its difference over the window over the messages.
pub fn cpu_ns() -> u64 {
    let t = clock_gettime(ClockId::ProcessCPUTime);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}
