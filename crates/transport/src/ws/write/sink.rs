//! The socket's side of the writer: the bytes being written, and which
//! queued frames they belong to, so `bufferedAmount` falls as the socket
//! takes them.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use tokio::io::AsyncWrite;

/// A stretch of queued bytes: its size on the wire, its payload's size on
/// the wire, and the application bytes it counts towards `bufferedAmount`
/// (a data frame; or control frames, which count for nothing).
#[derive(Clone, Copy, Debug)]
pub(super) struct Queued {
    pub(super) wire: usize,
    pub(super) body: usize,
    pub(super) app: usize,
}

impl Queued {
    /// An uncompressed data frame of `wire` bytes carrying `app` payload
    /// bytes.
    pub(super) fn plain(wire: usize, app: usize) -> Queued {
        Queued {
            wire,
            body: app,
            app,
        }
    }
}

#[derive(Debug)]
pub(super) struct Sink<W> {
    pub(super) io: W,
    pub(super) inflight: Vec<u8>,
    pub(super) pos: usize,
    pub(super) frames: VecDeque<Queued>,
    /// Bytes of `frames[0]` already written.
    head_done: usize,
    pub(super) shut: bool,
}

impl<W> Sink<W> {
    pub(super) fn new(io: W) -> Sink<W> {
        Sink {
            io,
            inflight: Vec::new(),
            pos: 0,
            frames: VecDeque::new(),
            head_done: 0,
            shut: false,
        }
    }

    /// Whether a frame may go to the socket directly: it is open for
    /// writing and no bytes are in flight.
    pub(super) fn idle(&self) -> bool {
        !self.shut && self.pos == self.inflight.len()
    }

    /// Records `n` more bytes written; returns the application bytes they
    /// complete: byte for byte for a plain payload, all at once when a
    /// compressed frame has gone out.
    pub(super) fn account(&mut self, mut n: usize) -> usize {
        let mut app = 0;
        while n > 0 {
            let f = *self.frames.front().expect("written bytes belong to frames");
            let header = f.wire - f.body;
            let take = n.min(f.wire - self.head_done);
            let (from, to) = (self.head_done, self.head_done + take);
            if f.app == f.body {
                app += to.saturating_sub(from.max(header));
            } else if to == f.wire {
                app += f.app;
            }
            self.head_done = to;
            n -= take;
            if self.head_done == f.wire {
                self.frames.pop_front();
                self.head_done = 0;
            }
        }
        app
    }

    /// A frame written directly, of which the socket took the first `n`
    /// bytes: its rest (already in `inflight[pos..]`) is what the next
    /// flush writes first. Returns the application bytes still to write,
    /// for `bufferedAmount`.
    pub(super) fn left(&mut self, frame: Queued, n: usize) -> usize {
        self.frames.push_back(frame);
        frame.app - self.account(n)
    }
}

/// Writes what the socket takes of `bytes` now, without waiting (a full
/// socket took 0). The no-op waker registers nothing: the flush that
/// writes a remainder waits with its own.
pub(super) fn write_now<W: AsyncWrite + Unpin>(io: &mut W, bytes: &[u8]) -> io::Result<usize> {
    let mut cx = Context::from_waker(Waker::noop());
    match Pin::new(io).poll_write(&mut cx, bytes) {
        Poll::Ready(r) => r,
        Poll::Pending => Ok(0),
    }
}
