//! The reader's socket reads: the buffer sized for each read (given back
//! while the connection is idle), readiness and the connection's next
//! deadline polled together, with no future kept while waiting.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker, ready};
use std::time::Duration;

use tokio::io::{AsyncWrite, ReadBuf};
use wsbench_codec::connection::Expired;
use wsbench_protocol::clock::monotonic_ns;

use super::{WsReader, spare};
use crate::net::ReadReady;

pin_project_lite::pin_project! {
    /// The connection's next deadline, armed, in one allocation.
    #[derive(Debug)]
    struct Armed {
        #[pin]
        sleep: tokio::time::Sleep,
        // The deadline armed, CLOCK_MONOTONIC ns.
        at: u64,
        // The waker the sleep was polled with since it was armed: the sleep
        // wakes it when it fires, so a read polled with the same waker
        // again asks only whether it fired, instead of polling it (which
        // registers the waker again) on every read that waits.
        registered: Option<Waker>,
    }
}

/// The reader's timer. (Boxed: a sleep is large, and a connection without
/// deadlines holds none.)
#[derive(Debug)]
pub(super) struct Timer(Pin<Box<Armed>>);

impl Timer {
    fn new(at: u64) -> Timer {
        Timer(Box::pin(Armed {
            sleep: tokio::time::sleep_until(Timer::instant(at)),
            at,
            registered: None,
        }))
    }

    fn instant(at: u64) -> tokio::time::Instant {
        tokio::time::Instant::now() + Duration::from_nanos(at.saturating_sub(monotonic_ns()))
    }

    /// Moves the timer to `at`: at once when earlier, and when later only
    /// once it has fired (a keepalive moved later by reads); fired for
    /// this very deadline, it stays, to be seen.
    fn arm(&mut self, at: u64) {
        let t = self.0.as_mut().project();
        if at < *t.at || (at > *t.at && t.sleep.is_elapsed()) {
            t.sleep.reset(Timer::instant(at));
            *t.at = at;
            *t.registered = None;
        }
    }

    /// Whether the armed deadline passed; if not, `cx` is woken when it
    /// does.
    fn poll_fired(&mut self, cx: &mut Context<'_>) -> bool {
        let t = self.0.as_mut().project();
        if t.registered
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            return t.sleep.is_elapsed();
        }
        if t.sleep.poll(cx).is_ready() {
            return true;
        }
        *t.registered = Some(cx.waker().clone());
        false
    }
}

impl<R, W> WsReader<R, W>
where
    R: ReadReady,
    W: AsyncWrite + Unpin,
{
    /// Reads into the (empty) buffer: `Some(n)` bytes (0 at EOF), or `None`
    /// when the keepalive interval passed and a ping was queued instead.
    pub(super) fn poll_read_more(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<usize>, ReadError>> {
        debug_assert!(
            self.start == 0 && self.end == 0,
            "reads start on an empty buffer"
        );
        if !self.reading {
            self.size_buffer();
            self.reading = true;
        }
        // Armed on every poll, not once per read: a deadline set while the
        // read waits (a close sent meanwhile) is armed the next time.
        let timed = self.arm_deadline();
        let filled = ready!(self.poll_fill(cx, timed));
        self.reading = false;
        let Some(n) = filled? else {
            // The armed deadline passed: which one, if any, is for the
            // connection to say (a keepalive moved later by reads is not).
            return Poll::Ready(match self.shared.on_timeout(monotonic_ns()) {
                Some(Expired::CloseUnanswered) => Err(ReadError::CloseTimeout),
                Some(Expired::KeepaliveFailed) => Err(ReadError::KeepaliveTimeout),
                Some(Expired::SendPing) => {
                    self.needs_flush = true;
                    Ok(None)
                }
                None => Ok(None),
            });
        };
        if n > 0 {
            self.read_ns = monotonic_ns();
        }
        self.last_read_filled = n == self.buf.len();
        self.end = n;
        Poll::Ready(Ok(Some(n)))
    }

    /// Sizes the buffer for the next read. (A read that finds nothing
    /// gives the buffer back, see [`Self::poll_fill`].)
    fn size_buffer(&mut self) {
        let initial = self.initial_buffer();
        if self.last_read_filled && self.buf.len() < self.config.read_buffer_max() {
            let grown = (self.buf.len() * 2).clamp(initial, self.config.read_buffer_max());
            self.buf.resize(grown, 0);
        } else if !self.last_read_filled && self.buf.len() > initial {
            // The burst is over: give the memory back; the next read
            // allocates the initial size once the socket is readable.
            self.buf = Vec::new();
        }
    }

    /// Arms the timer for the connection's next deadline, if it has one
    /// ([`Timer::arm`]); whether it has.
    fn arm_deadline(&mut self) -> bool {
        let Some(at) = self.shared.next_timeout() else {
            return false;
        };
        match self.timer.as_mut() {
            Some(t) => t.arm(at),
            None => self.timer = Some(Timer::new(at)),
        }
        true
    }

    /// The buffer's size when a read starts.
    fn initial_buffer(&self) -> usize {
        self.config.read_buffer_initial().max(64)
    }

    /// Fills the buffer from the socket: `Some(n)` bytes, or `None` when
    /// the armed deadline (if `timed`) passed first. A read that finds
    /// nothing gives the buffer back (as the thread's spare, [`spare`]),
    /// so a connection holds none while it waits (without a readiness
    /// probe before each read); an empty buffer waits for readiness first
    /// and is taken after.
    fn poll_fill(&mut self, cx: &mut Context<'_>, timed: bool) -> Poll<io::Result<Option<usize>>> {
        if self.buf.is_empty() {
            match self.io.poll_read_ready(cx) {
                Poll::Ready(r) => r?,
                Poll::Pending => return self.poll_deadline(cx, timed),
            }
            self.buf = spare::take(self.initial_buffer());
        }
        let mut into = ReadBuf::new(&mut self.buf[..]);
        match Pin::new(&mut self.io).poll_read(cx, &mut into) {
            Poll::Ready(r) => {
                r?;
                Poll::Ready(Ok(Some(into.filled().len())))
            }
            Poll::Pending => {
                spare::give(std::mem::take(&mut self.buf));
                self.poll_deadline(cx, timed)
            }
        }
    }

    /// Ready with `None` once the armed deadline (if `timed`) passed.
    fn poll_deadline(
        &mut self,
        cx: &mut Context<'_>,
        timed: bool,
    ) -> Poll<io::Result<Option<usize>>> {
        let fired = timed && self.timer.as_mut().is_some_and(|t| t.poll_fired(cx));
        if fired {
            Poll::Ready(Ok(None))
        } else {
            Poll::Pending
        }
    }
}

#[derive(Debug)]
pub(super) enum ReadError {
    Io(io::Error),
    CloseTimeout,
    KeepaliveTimeout,
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> ReadError {
        ReadError::Io(e)
    }
}
