//! Push fan-out to the own stack's WebSocket subscribers.
//!
//! A few fan-out tasks (one per runtime worker) each follow the hub's
//! stream for a share of the subscribers. A task frames each published
//! message once ([`ServerFrame`]) and, in one pass over its share, writes
//! the same bytes to every subscriber's socket: straight from the frame
//! when nothing waits before them, queued behind what does, and queued
//! where the socket does not take them all. A subscriber's own task is
//! not woken per message:
//! only when bytes are left over (it then flushes them under the write
//! deadline while it goes on reading), or when the fan-out cut it for
//! passing the cap on queued bytes. When several messages are ready, a
//! task queues them all (up to [`CORK`] bytes) before one write per
//! subscriber.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use futures_util::FutureExt;
use tokio::sync::{Notify, watch};
use wsbench_codec::{OpCode, ServerFrame};
use wsbench_transport::WsWriter;
use wsbench_transport::net::NetWriteHalf;

use crate::hub::{Hub, Published};
use crate::limits::{Cut, WriteLimits};
use crate::shutdown::shutting_down;

type Writer = WsWriter<NetWriteHalf>;

/// Bytes of messages a fan-out task gathers before writing, when more
/// than one is ready.
const CORK: usize = 64 << 10;

/// The fan-out tasks' shares of the subscribers.
#[derive(Debug)]
pub(crate) struct Fanout {
    shards: Box<[Shard]>,
    next: AtomicUsize,
}

#[derive(Debug, Default)]
struct Shard {
    members: Mutex<Members>,
}

#[derive(Debug, Default)]
struct Members {
    slots: Vec<Option<Member>>,
    free: Vec<usize>,
    /// The last sequence number this share's task passed on.
    last: u64,
}

#[derive(Debug)]
struct Member {
    w: Writer,
    /// Messages numbered up to this are not for this subscriber.
    after: u64,
    signal: Arc<Signal>,
}

/// What the fan-out tells a subscriber's own task.
#[derive(Debug, Default)]
pub(crate) struct Signal {
    wake: Notify,
    cut: Mutex<Option<Cut>>,
}

/// One message as the fan-out sends it: framed once, and how many times
/// it goes out (the drop and duplicate faults).
struct Framed {
    seq: u64,
    frame: ServerFrame,
    copies: usize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update of the members is a single assignment or push.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Fanout {
    /// `shards` shares (at least one), starting after the hub's last
    /// message.
    pub(crate) fn new(shards: usize, hub: &Hub) -> Fanout {
        let last = hub.last_seq();
        Fanout {
            shards: (0..shards.max(1))
                .map(|_| Shard {
                    members: Mutex::new(Members {
                        last,
                        ..Members::default()
                    }),
                })
                .collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// Shares, one fan-out task each.
    pub(crate) fn shards(&self) -> usize {
        self.shards.len()
    }

    /// Adds a subscriber owed every message after `after` (the hub's last
    /// when it subscribed): those its share's task already passed on are
    /// queued now, from the history. Leaves when the membership drops.
    pub(crate) fn join(
        &self,
        w: &Writer,
        after: u64,
        hub: &Hub,
        send: &Sending<'_>,
    ) -> Membership<'_> {
        let shard = &self.shards[self.next.fetch_add(1, Ordering::Relaxed) % self.shards.len()];
        let signal = Arc::new(Signal::default());
        let mut member = Member {
            w: w.clone(),
            after,
            signal: Arc::clone(&signal),
        };
        let mut m = lock(&shard.members);
        let upto = m.last;
        let mut keep = true;
        while member.after < upto && keep {
            let page: Vec<Framed> = hub
                .since(member.after)
                .iter()
                .take_while(|p| p.seq <= upto)
                .map(|p| send.framed(p))
                .collect();
            if page.is_empty() {
                // Gone from the history: nothing more to send.
                member.after = upto;
                break;
            }
            keep = send.deliver(&mut member, &page);
        }
        let slot = if keep {
            member.after = member.after.max(upto);
            let slot = m.free.pop().unwrap_or(m.slots.len());
            if slot == m.slots.len() {
                m.slots.push(None);
            }
            m.slots[slot] = Some(member);
            Some(slot)
        } else {
            None
        };
        Membership {
            shard,
            slot,
            signal,
        }
    }

    /// Runs share `i`'s fan-out task until shutdown or the hub's end.
    pub(crate) async fn run(
        &self,
        i: usize,
        hub: &Hub,
        send: Sending<'_>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let shard = &self.shards[i];
        let mut sub = hub.subscribe_after(lock(&shard.members).last);
        loop {
            let mut batch = tokio::select! {
                b = sub.next() => match b {
                    Some(b) => b,
                    None => return,
                },
                () = shutting_down(&mut shutdown) => return,
            };
            let mut bytes: usize = batch.iter().map(|m| m.json.len()).sum();
            while bytes < CORK
                && let Some(Some(more)) = sub.next().now_or_never()
            {
                bytes += more.iter().map(|m| m.json.len()).sum::<usize>();
                batch.extend(more);
            }
            let framed: Vec<Framed> = batch.iter().map(|m| send.framed(m)).collect();
            let mut m = lock(&shard.members);
            let Members {
                slots, free, last, ..
            } = &mut *m;
            for (i, slot) in slots.iter_mut().enumerate() {
                if let Some(member) = slot
                    && !send.deliver(member, &framed)
                {
                    *slot = None;
                    free.push(i);
                }
            }
            *last = framed.last().map_or(*last, |f| f.seq);
        }
    }
}

/// How messages are sent: the connection's write limits and the push
/// faults.
#[derive(Clone, Copy)]
pub(crate) struct Sending<'c> {
    pub(crate) limits: &'c WriteLimits,
    pub(crate) faults: &'c crate::Faults,
}

impl Sending<'_> {
    fn framed(&self, m: &Published) -> Framed {
        Framed {
            seq: m.seq,
            // A text frame of a string cannot fail to encode.
            frame: ServerFrame::new(OpCode::Text, m.json.as_bytes())
                .expect("a data frame of any length encodes"),
            copies: self.faults.push_copies(m.seq),
        }
    }

    /// Queues `framed`'s messages for `member` and writes what its socket
    /// takes now, waking its task if bytes are left. `false`: it leaves
    /// (cut, or its connection is closing or gone).
    fn deliver(&self, member: &mut Member, framed: &[Framed]) -> bool {
        if let [f] = framed
            && f.copies == 1
            && f.seq > member.after
        {
            // The common case: straight to the socket when nothing is
            // queued before it.
            if !self.admits(member, f) {
                return false;
            }
            member.after = f.seq;
            return written(member, member.w.send_frame_now(&f.frame));
        }
        let mut queued = false;
        let after = member.after;
        for f in framed.iter().filter(|f| f.seq > after) {
            for _ in 0..f.copies {
                if !self.admits(member, f) {
                    return false;
                }
                if member.w.queue_frame(&f.frame).is_err() {
                    member.signal.wake.notify_one();
                    return false;
                }
                queued = true;
            }
            member.after = f.seq;
        }
        if !queued {
            return true;
        }
        let flushed = match member.w.flush().now_or_never() {
            Some(r) => r.map(|()| true),
            None => Ok(false),
        };
        written(member, flushed)
    }

    /// Whether `member` may queue `f` under the cap on queued bytes; if
    /// not, it is cut.
    fn admits(&self, member: &Member, f: &Framed) -> bool {
        let admitted = self
            .limits
            .admits(member.w.buffered_amount(), f.frame.payload().len());
        if !admitted {
            member.signal.cut(Cut::SendQueueFull);
        }
        admitted
    }
}

/// After a write that does not wait (`Ok(true)`: all on the socket): a
/// subscriber with bytes left (the socket is full, or its own flush holds
/// it) is woken to write them under the deadline; one whose write failed
/// is woken to end, and leaves (`false`).
fn written(member: &Member, r: Result<bool, wsbench_transport::Error>) -> bool {
    match r {
        Ok(true) => true,
        Ok(false) => {
            member.signal.wake.notify_one();
            true
        }
        Err(_) => {
            member.signal.wake.notify_one();
            false
        }
    }
}

impl Signal {
    fn cut(&self, why: Cut) {
        *lock(&self.cut) = Some(why);
        self.wake.notify_one();
    }
}

/// A subscriber's place in the fan-out; it leaves when this drops.
#[derive(Debug)]
pub(crate) struct Membership<'f> {
    shard: &'f Shard,
    /// `None`: cut while joining.
    slot: Option<usize>,
    signal: Arc<Signal>,
}

impl Membership<'_> {
    /// Resolves when the fan-out left bytes to flush or cut this
    /// subscriber.
    pub(crate) async fn woken(&self) {
        self.signal.wake.notified().await;
    }

    /// Why the fan-out cut this subscriber, if it did.
    pub(crate) fn cut(&self) -> Option<Cut> {
        *lock(&self.signal.cut)
    }
}

impl Drop for Membership<'_> {
    fn drop(&mut self) {
        let Some(slot) = self.slot else { return };
        let mut m = lock(&self.shard.members);
        // The slot may have been freed (the fan-out dropped this member)
        // and taken by another since.
        if m.slots[slot]
            .as_ref()
            .is_some_and(|x| Arc::ptr_eq(&x.signal, &self.signal))
        {
            m.slots[slot] = None;
            m.free.push(slot);
        }
    }
}
