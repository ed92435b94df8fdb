//! The own stack's WebSocket loops: echo and push, each reading all along
//! while its writes are pending, under the connection's write limits.
//!
//! A loop waits in `select!` for one thing to happen and acts on it after
//! the `select!` has ended, so the futures it waited on are gone while it
//! queues. Queuing never waits, and is corked: every message already at
//! hand (echoes of the messages already read, pushes already published) is
//! queued before one write; a lone echo is written without the queue. The
//! bytes go to the socket at once if it takes them, else a flush waits
//! alongside the reads, under the write deadline; a message that would
//! pass the cap on queued bytes cuts the connection (1008). Shutdown,
//! rare, is boxed. The loops split the
//! connection before their `async move` block, which then holds the two
//! halves alone (an `async fn` would also keep the connection they came
//! from).

use std::future::Future;
use std::pin::Pin;
use std::task::{Poll, ready};
use std::time::Duration;

use futures_util::FutureExt;
use tokio::sync::watch;
use tokio::time::error::Elapsed;
use wsbench_transport::net::{NetReadHalf, NetWriteHalf};
use wsbench_transport::{Data, Error, Event, TcpWebSocket, WsReader, WsWriter};

use crate::Ctx;
use crate::limits::{Cut, WriteLimits};
use crate::shutdown::shutting_down;

type Reader = WsReader<NetReadHalf, NetWriteHalf>;
type Writer = WsWriter<NetWriteHalf>;

/// Echoes gathered into one write while more messages are readable.
const CORK: usize = 64 << 10;

/// How long WebSocket clients get to answer our 1001 at shutdown.
const SHUTDOWN_CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// The flush of bytes the socket did not take at once, under the write
/// deadline. (Boxed: only a connection with pending writes holds it, and
/// an idle connection's task stays small.)
type Flush<'w> = Pin<Box<dyn Future<Output = Result<Result<(), Error>, Elapsed>> + Send + 'w>>;

#[derive(Default)]
struct Pending<'w>(Option<Flush<'w>>);

impl<'w> Pending<'w> {
    /// After queuing: writes what the socket takes now, and starts a
    /// flush under the deadline if something is left (unless one is
    /// running, which writes the new bytes too). `false`: the peer is gone.
    fn write_now(&mut self, w: &'w Writer, limits: &WriteLimits) -> bool {
        if self.0.is_some() {
            return true;
        }
        match w.flush().now_or_never() {
            Some(r) => r.is_ok(),
            None => {
                self.0 = Some(Box::pin(tokio::time::timeout(limits.deadline, w.flush())));
                true
            }
        }
    }

    /// Resolves when the pending flush ends (never when none is running):
    /// `Ok` when everything queued was written, else why not.
    fn done(&mut self) -> impl Future<Output = Result<(), Option<Cut>>> + '_ {
        std::future::poll_fn(|cx| {
            let Some(flush) = self.0.as_mut() else {
                return Poll::Pending;
            };
            let r = ready!(flush.as_mut().poll(cx));
            self.0 = None;
            Poll::Ready(match r {
                Ok(Ok(())) => Ok(()),
                Ok(Err(_)) => Err(None),
                Err(_) => Err(Some(Cut::WriteTimeout)),
            })
        })
    }
}

/// What woke a loop.
enum Wake<T> {
    Event(Option<Event>),
    Item(T),
    Flushed(Result<(), Option<Cut>>),
    Stop,
}

/// Cuts the connection: counted, a 1008 with the reason if the socket
/// takes it now, and the socket reset, so the kernel drops what it still
/// holds for this client too.
fn cut(w: &Writer, pending: &mut Pending<'_>, ctx: &Ctx, why: Cut) {
    // The pending flush holds the socket: give it up first.
    pending.0 = None;
    ctx.cuts.count(why);
    let _ = w.close(1008, why.reason()).now_or_never();
    w.discard_unsent();
}

/// Sends 1001 and waits (bounded) for the client's answer.
async fn going_away(r: &mut Reader, w: &Writer) {
    let _ = tokio::time::timeout(SHUTDOWN_CLOSE_TIMEOUT, async {
        if w.close(1001, "server shutting down").await.is_ok() {
            while r.next_event().await.is_some() {}
        }
    })
    .await;
}

/// A connection error the server counts (a 1009), noted.
fn note_error(event: &Option<Event>, ctx: &Ctx) {
    if let Some(Event::Error(e)) = event
        && let Some(c) = Cut::of_error(e)
    {
        ctx.cuts.count(c);
    }
}

/// Answers one message: queued when `corked` (`Ok(false)`), else sent
/// now; `Ok(false)`: bytes are left to write.
fn echo(w: &Writer, data: &Data, corked: bool) -> Result<bool, Error> {
    match (data, corked) {
        (Data::Text(t), true) => w.queue_text(t).map(|()| false),
        (Data::Binary(b), true) => w.queue_binary(b).map(|()| false),
        (Data::Text(t), false) => w.send_text_now(t),
        (Data::Binary(b), false) => w.send_binary_now(b),
    }
}

pub(crate) fn echo_loop<'a>(
    ws: TcpWebSocket,
    ctx: &'a Ctx,
    mut shutdown: watch::Receiver<bool>,
) -> impl Future<Output = ()> + 'a {
    // Split out here: the block then holds the halves alone, not also the
    // connection they came from.
    let (mut r, w) = ws.split();
    async move {
        let limits = &ctx.config.write;
        let faults = &ctx.config.faults;
        let faulty = *faults != crate::Faults::default();
        let mut pending = Pending::default();
        // An event already read while corked, to handle first.
        let mut ready: Option<Option<Event>> = None;
        // One shutdown future for the connection, not one per message,
        // registered with the signal here (outside the task's budget,
        // which could refuse the poll) and polled again only once the
        // signal has moved: an atomic load, where a poll locks the
        // signal's list of waiters. Looked at first: a client that never
        // stops sending still gets its 1001.
        let signal = shutdown.clone();
        let stop = tokio::task::unconstrained(shutting_down(&mut shutdown));
        tokio::pin!(stop);
        if std::future::poll_fn(|cx| Poll::Ready(stop.as_mut().poll(cx).is_ready())).await {
            return Box::pin(going_away(&mut r, &w)).await;
        }
        loop {
            let wake: Wake<()> = match ready.take() {
                Some(ev) => Wake::Event(ev),
                None => tokio::select! {
                    biased;
                    () = std::future::poll_fn(|cx| match signal.has_changed() {
                        Ok(false) => Poll::Pending,
                        _ => stop.as_mut().poll(cx),
                    }) => Wake::Stop,
                    ev = r.next_event() => Wake::Event(ev),
                    f = pending.done() => Wake::Flushed(f),
                },
            };
            let data = match wake {
                Wake::Event(Some(Event::Message(data))) => data,
                Wake::Event(ev @ Some(Event::Pong(_) | Event::Error(_))) => {
                    note_error(&ev, ctx);
                    // Echoes corked before this event go out now.
                    if !pending.write_now(&w, limits) {
                        return;
                    }
                    continue;
                }
                Wake::Event(Some(Event::Close(_)) | None) | Wake::Flushed(Err(None)) => return,
                Wake::Flushed(Ok(())) => continue,
                Wake::Flushed(Err(Some(why))) => return cut(&w, &mut pending, ctx, why),
                Wake::Stop => {
                    // A pending flush holds the socket: the close goes
                    // through its own.
                    drop(pending);
                    return Box::pin(going_away(&mut r, &w)).await;
                }
                Wake::Item(()) => continue,
            };
            if faulty {
                Box::pin(faults.before_echo(ctx.epoch)).await;
            }
            let len = data.as_bytes().len();
            if !limits.admits(w.buffered_amount(), len) {
                return cut(&w, &mut pending, ctx, Cut::SendQueueFull);
            }
            // Cork: while more input is at hand, this echo is queued
            // before the next event is read (a reply the reader queues
            // for that input, a pong or a close, goes out after it), to
            // be written with the next ones, up to CORK bytes. With none,
            // it is sent now, behind any queued before it. (Not with
            // faults, which hold each echo on its own.)
            let more = !faulty && w.buffered_amount() + len < CORK && r.input_ready();
            match echo(&w, &data, more) {
                Err(_) => return,
                Ok(true) => continue,
                Ok(false) => {}
            }
            if more {
                ready = r.next_event().now_or_never();
                if ready.is_some() {
                    continue;
                }
            }
            if !pending.write_now(&w, limits) {
                return;
            }
        }
    }
}

pub(crate) fn push_loop<'a>(
    ws: TcpWebSocket,
    after: u64,
    ctx: &'a Ctx,
    mut shutdown: watch::Receiver<bool>,
) -> impl Future<Output = ()> + 'a {
    // Split out here: the block then holds the halves alone, not also the
    // connection they came from.
    let (mut r, w) = ws.split();
    async move {
        let limits = &ctx.config.write;
        // The fan-out queues and writes the messages; this task reads, and
        // flushes what the socket did not take at once.
        let member = ctx.fanout.join(&w, after, &ctx.hub, &ctx.sending());
        let mut pending = Pending::default();
        let stop = shutting_down(&mut shutdown);
        tokio::pin!(stop);
        loop {
            let wake = tokio::select! {
                () = member.woken() => Wake::Item(()),
                ev = r.next_event() => Wake::Event(ev),
                f = pending.done() => Wake::Flushed(f),
                () = &mut stop => Wake::Stop,
            };
            match wake {
                Wake::Item(()) => {
                    if let Some(why) = member.cut() {
                        return cut(&w, &mut pending, ctx, why);
                    }
                    if !pending.write_now(&w, limits) {
                        return;
                    }
                }
                Wake::Event(Some(Event::Close(_)) | None) | Wake::Flushed(Err(None)) => return,
                Wake::Event(ev) => note_error(&ev, ctx),
                Wake::Flushed(Ok(())) => {}
                Wake::Flushed(Err(Some(why))) => return cut(&w, &mut pending, ctx, why),
                Wake::Stop => {
                    // Out of the fan-out first: the close goes last.
                    drop(member);
                    drop(pending);
                    return Box::pin(going_away(&mut r, &w)).await;
                }
            }
        }
    }
}
