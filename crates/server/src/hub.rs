//! The message bus behind every push transport: one sequence of published
//! messages, each stamped with its sequence number and publish time.
//!
//! WebSocket and SSE subscribers are woken per message; pollers read the
//! retained history after their cursor. Every transport sees the same
//! messages, so comparisons between them are fair.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{broadcast, watch};
use wsbench_protocol::clock::monotonic_ns;
use wsbench_protocol::push;

/// Messages kept for pollers that fall behind (at most; the byte budget
/// may keep fewer).
const RETAIN: usize = 4096;

/// Bytes of retained messages (as delivered, JSON-escaped) by default.
pub const DEFAULT_HISTORY_BYTES: usize = 32 << 20;

/// Bytes of messages one catch-up step hands out (at least one message):
/// a subscriber or poller far behind is served page by page, never a copy
/// of the whole history.
pub const PAGE_BYTES: usize = 256 << 10;

/// One published message.
#[derive(Debug)]
pub struct Published {
    /// 1, 2, 3, … in publish order.
    pub seq: u64,
    /// CLOCK_MONOTONIC nanoseconds at publish (shared by processes on one
    /// host, so subscribers can compute one-way latency).
    pub ts_ns: u64,
    /// The message as every transport delivers it:
    /// `{"seq":N,"ts":T,"payload":"..."}`.
    pub json: String,
}

#[derive(Debug)]
struct History {
    last_seq: u64,
    retained: VecDeque<Arc<Published>>,
    /// Bytes of `retained`'s messages, and the most allowed.
    bytes: usize,
    max_bytes: usize,
    /// Fault injection: messages numbered above this are accepted (they get
    /// their sequence number) and never delivered (0: no limit).
    deliver_up_to: u64,
}

impl History {
    fn retain(&mut self, message: Arc<Published>) {
        self.last_seq = message.seq;
        self.bytes += message.json.len();
        self.retained.push_back(message);
        // The newest message stays even when it alone is over the budget.
        while self.retained.len() > RETAIN
            || (self.bytes > self.max_bytes && self.retained.len() > 1)
        {
            if let Some(old) = self.retained.pop_front() {
                self.bytes -= old.json.len();
            }
        }
    }

    /// Retained messages after `cursor`, oldest first, up to `max_bytes`
    /// (at least one).
    fn page(&self, cursor: u64, max_bytes: usize) -> Vec<Arc<Published>> {
        let skip = self.retained.partition_point(|m| m.seq <= cursor);
        let mut bytes = 0;
        let mut page = Vec::new();
        for m in self.retained.iter().skip(skip) {
            bytes += m.json.len();
            if bytes > max_bytes && !page.is_empty() {
                break;
            }
            page.push(Arc::clone(m));
        }
        page
    }
}

/// The push hub.
#[derive(Debug)]
pub struct Hub {
    history: Mutex<History>,
    live: broadcast::Sender<Arc<Published>>,
    latest: watch::Sender<u64>,
}

impl Default for Hub {
    fn default() -> Hub {
        Hub::new()
    }
}

impl Hub {
    /// An empty hub.
    pub fn new() -> Hub {
        Hub::delivering_up_to(0)
    }

    /// A hub that accepts every publish but delivers only messages up to
    /// sequence number `n` (0: all): a target that silently stops
    /// delivering, to check that a load generator counts the loss.
    pub fn delivering_up_to(n: u64) -> Hub {
        Hub::bounded(DEFAULT_HISTORY_BYTES, n)
    }

    /// A hub retaining at most `history_bytes` of messages (and at most
    /// 4,096 of them) that delivers messages up to `deliver_up_to` (0: all;
    /// see [`Hub::delivering_up_to`]).
    pub fn bounded(history_bytes: usize, deliver_up_to: u64) -> Hub {
        Hub {
            history: Mutex::new(History {
                last_seq: 0,
                retained: VecDeque::new(),
                bytes: 0,
                max_bytes: history_bytes,
                deliver_up_to,
            }),
            live: broadcast::channel(1024).0,
            latest: watch::channel(0).0,
        }
    }

    fn history(&self) -> MutexGuard<'_, History> {
        self.history.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Publishes `payload` (any text) to every subscriber, stamped with
    /// this host's CLOCK_MONOTONIC now.
    pub fn publish(&self, payload: &str) -> Arc<Published> {
        self.publish_at(payload, None)
    }

    /// Publishes `payload` stamped `ts_ns` when given (the publisher's own
    /// clock, so a publisher on another host can time what it sent), else
    /// with this host's CLOCK_MONOTONIC now.
    pub fn publish_at(&self, payload: &str, ts_ns: Option<u64>) -> Arc<Published> {
        let mut h = self.history();
        let seq = h.last_seq + 1;
        let ts_ns = ts_ns.unwrap_or_else(monotonic_ns);
        let message = Arc::new(Published {
            seq,
            ts_ns,
            json: push::encode(seq, ts_ns, payload),
        });
        if h.deliver_up_to > 0 && seq > h.deliver_up_to {
            h.last_seq = seq;
            return message;
        }
        h.retain(Arc::clone(&message));
        // Announced under the lock: subscribers see sequence numbers in
        // order even when publishes race (a subscriber skips anything at or
        // below the last number it took).
        self.announce(&message);
        message
    }

    /// Adds a message published by another process's hub (a worker mirrors
    /// its primary), keeping its sequence number and time. A message at or
    /// below the last sequence number is ignored.
    pub fn mirror(&self, seq: u64, ts_ns: u64, json: String) -> Option<Arc<Published>> {
        let mut h = self.history();
        if seq <= h.last_seq {
            return None;
        }
        let message = Arc::new(Published { seq, ts_ns, json });
        h.retain(Arc::clone(&message));
        self.announce(&message);
        Some(message)
    }

    fn announce(&self, message: &Arc<Published>) {
        // No subscribers is not an error.
        let _ = self.live.send(Arc::clone(message));
        self.latest.send_replace(message.seq);
    }

    /// The last sequence number published (0 before the first).
    pub fn last_seq(&self) -> u64 {
        self.history().last_seq
    }

    /// Retained messages with `seq > cursor`, oldest first, up to
    /// [`PAGE_BYTES`] of them (at least one): what a poll answers.
    pub fn since(&self, cursor: u64) -> Vec<Arc<Published>> {
        self.history().page(cursor, PAGE_BYTES)
    }

    /// Bytes and number of the retained messages.
    pub fn retained(&self) -> (usize, usize) {
        let h = self.history();
        (h.bytes, h.retained.len())
    }

    /// Every message published after `cursor` (those still retained), in
    /// order, each once: the history page by page, then the live feed.
    pub fn subscribe_after(&self, cursor: u64) -> Subscription<'_> {
        Subscription {
            // The live feed first, so nothing falls between it and history.
            feed: self.live.subscribe(),
            hub: self,
            last: cursor,
            behind: true,
        }
    }

    /// Every message published from now on.
    pub fn subscribe(&self) -> Subscription<'_> {
        let feed = self.live.subscribe();
        Subscription {
            feed,
            hub: self,
            last: self.last_seq(),
            behind: false,
        }
    }

    /// Waits until a message with `seq > cursor` exists.
    pub async fn wait_after(&self, cursor: u64) {
        let mut rx = self.latest.subscribe();
        // The sender lives as long as the hub, which outlives this borrow.
        let _ = rx.wait_for(|&seq| seq > cursor).await;
    }
}

/// One subscriber's position in the hub's stream.
#[derive(Debug)]
pub struct Subscription<'a> {
    hub: &'a Hub,
    feed: broadcast::Receiver<Arc<Published>>,
    last: u64,
    /// Serving from the history (a start in the past, or the feed
    /// overflowed) until it has nothing after `last`.
    behind: bool,
}

impl Subscription<'_> {
    /// The next messages: one from the live feed, or, while this
    /// subscriber is behind the feed, the next page of the history.
    /// `None` once the hub is gone. Cancel-safe.
    pub async fn next(&mut self) -> Option<Vec<Arc<Published>>> {
        loop {
            if self.behind {
                let page = self.hub.since(self.last);
                if let Some(m) = page.last() {
                    self.last = m.seq;
                    return Some(page);
                }
                // Caught up: everything newer is in the feed (or the
                // feed overflows again and says so).
                self.behind = false;
            }
            match self.feed.recv().await {
                Ok(m) if m.seq <= self.last => {}
                Ok(m) => {
                    self.last = m.seq;
                    return Some(vec![m]);
                }
                Err(broadcast::error::RecvError::Lagged(_)) => self.behind = true,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt;

    use super::*;

    #[test]
    fn messages_carry_sequence_and_time_and_history_serves_cursors() {
        let hub = Hub::new();
        let a = hub.publish("x\"y");
        let b = hub.publish("z");
        assert_eq!((a.seq, b.seq), (1, 2));
        assert!(b.ts_ns >= a.ts_ns && a.ts_ns > 0);
        let v: serde_json::Value = serde_json::from_str(&a.json).unwrap();
        assert_eq!(v["seq"], 1);
        assert_eq!(v["payload"], "x\"y");
        assert_eq!(v["ts"].as_u64(), Some(a.ts_ns));
        let seqs = |c| hub.since(c).iter().map(|m| m.seq).collect::<Vec<_>>();
        assert_eq!(seqs(0), [1, 2]);
        assert_eq!(seqs(1), [2]);
        assert!(seqs(2).is_empty());
    }

    #[test]
    fn history_is_bounded() {
        let hub = Hub::new();
        for _ in 0..RETAIN + 10 {
            hub.publish("");
        }
        let all = hub.since(0);
        assert_eq!(all.len(), RETAIN);
        assert_eq!(all[0].seq, 11);
    }

    #[test]
    fn history_is_bounded_in_bytes_as_delivered() {
        // Control characters are escaped six to one in JSON: the budget
        // counts what is kept, not what was published.
        let hub = Hub::bounded(1 << 20, 0);
        let body = "\u{1}".repeat(64 << 10);
        for _ in 0..100 {
            hub.publish(&body);
        }
        let (bytes, count) = hub.retained();
        let each = hub.since(99)[0].json.len();
        assert!(each > 6 * body.len(), "{each}");
        assert!(bytes <= 1 << 20, "{bytes} bytes retained");
        assert_eq!(count, (1 << 20) / each);
        // A message alone over the budget is still kept, the newest.
        hub.publish(&"y".repeat(2 << 20));
        assert_eq!(hub.retained().1, 1);
        assert_eq!(hub.since(0)[0].seq, 101);
    }

    #[test]
    fn catch_up_comes_in_pages() {
        let hub = Hub::new();
        let body = "z".repeat(100 << 10);
        for _ in 0..10 {
            hub.publish(&body);
        }
        // 2 messages of ~100 KiB fit a 256 KiB page; a page is never empty.
        let page = hub.since(0);
        assert_eq!(page.iter().map(|m| m.seq).collect::<Vec<_>>(), [1, 2]);
        let total: usize = page.iter().map(|m| m.json.len()).sum();
        assert!(total <= PAGE_BYTES);
        hub.publish(&"w".repeat(PAGE_BYTES * 2));
        assert_eq!(hub.since(10).len(), 1, "one message over a page");
    }

    #[test]
    fn a_mirror_keeps_the_primary_sequence_and_time_and_ignores_repeats() {
        let primary = Hub::new();
        let mirror = Hub::new();
        for p in ["a", "b"] {
            primary.publish(p);
        }
        for m in primary.since(0) {
            assert!(mirror.mirror(m.seq, m.ts_ns, m.json.clone()).is_some());
        }
        let first = &primary.since(0)[0];
        assert!(
            mirror
                .mirror(first.seq, first.ts_ns, first.json.clone())
                .is_none()
        );
        let got: Vec<(u64, u64)> = mirror.since(0).iter().map(|m| (m.seq, m.ts_ns)).collect();
        let want: Vec<(u64, u64)> = primary.since(0).iter().map(|m| (m.seq, m.ts_ns)).collect();
        assert_eq!(got, want);
        assert_eq!(mirror.last_seq(), 2);
    }

    #[tokio::test]
    async fn subscriptions_deliver_each_message_once_in_order_even_after_lagging() {
        let hub = Hub::new();
        hub.publish("old");
        let mut sub = hub.subscribe_after(0);
        hub.publish("new");
        let seqs = |b: Vec<Arc<Published>>| b.iter().map(|m| m.seq).collect::<Vec<_>>();
        assert_eq!(seqs(sub.next().await.unwrap()), [1, 2]);
        // The feed still holds 2; it must not come again.
        hub.publish("x");
        assert_eq!(seqs(sub.next().await.unwrap()), [3]);
        // Overflow the live feed: the subscriber catches up from history.
        for _ in 0..2000 {
            hub.publish("");
        }
        let mut got = Vec::new();
        while got.last() != Some(&2003) {
            got.extend(seqs(sub.next().await.unwrap()));
        }
        assert_eq!(got, (4..=2003).collect::<Vec<_>>());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn racing_publishes_reach_every_subscriber_in_order() {
        // Rounds of 4,000 racing publishes, within the retained history,
        // so a subscriber that falls behind catches up from it.
        for _ in 0..5 {
            let hub = Arc::new(Hub::new());
            let mut sub = hub.subscribe();
            let publishers: Vec<_> = (0..4)
                .map(|_| {
                    let hub = Arc::clone(&hub);
                    std::thread::spawn(move || (0..1_000).for_each(|_| drop(hub.publish("x"))))
                })
                .collect();
            let mut got = Vec::new();
            let collect = async {
                while got.len() < 4_000 {
                    got.extend(sub.next().await.unwrap().iter().map(|m| m.seq));
                }
            };
            let done = tokio::time::timeout(std::time::Duration::from_secs(10), collect).await;
            publishers.into_iter().for_each(|p| p.join().unwrap());
            assert!(done.is_ok(), "{} of 4,000 arrived", got.len());
            assert_eq!(
                got,
                (1..=4_000).collect::<Vec<_>>(),
                "none skipped, none repeated"
            );
        }
    }

    #[test]
    fn a_hub_limited_to_n_accepts_more_and_delivers_n() {
        let hub = Hub::delivering_up_to(2);
        let mut sub = hub.subscribe_after(0);
        let seqs: Vec<u64> = (0..4).map(|_| hub.publish("x").seq).collect();
        assert_eq!(seqs, [1, 2, 3, 4], "every publish is accepted and numbered");
        assert_eq!(
            hub.since(0).iter().map(|m| m.seq).collect::<Vec<_>>(),
            [1, 2]
        );
        let first = sub.next().now_or_never().flatten().unwrap();
        assert_eq!(first.len(), 2);
        assert!(sub.next().now_or_never().is_none(), "3 and 4 never come");
        assert_eq!(hub.last_seq(), 4);
    }

    #[tokio::test]
    async fn waiters_wake_on_publish() {
        let hub = Arc::new(Hub::new());
        let h = Arc::clone(&hub);
        let waiter = tokio::spawn(async move { h.wait_after(0).await });
        tokio::task::yield_now().await;
        hub.publish("hi");
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .unwrap();
    }
}
