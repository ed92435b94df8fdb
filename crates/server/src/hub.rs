//! The message bus behind every push transport: one sequence of published
//! messages, each stamped with its sequence number and publish time.
//!
//! WebSocket and SSE subscribers are woken per message; pollers read the
//! retained history after their cursor. Every transport sees the same
//! messages, so comparisons between them are fair.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{broadcast, watch};
use wsbench_transport::clock::monotonic_ns;

/// Messages kept for pollers that fall behind.
const RETAIN: usize = 4096;

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
        Hub {
            history: Mutex::new(History {
                last_seq: 0,
                retained: VecDeque::with_capacity(RETAIN),
            }),
            live: broadcast::channel(1024).0,
            latest: watch::channel(0).0,
        }
    }

    fn history(&self) -> MutexGuard<'_, History> {
        self.history.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Publishes `payload` (any text) to every subscriber.
    pub fn publish(&self, payload: &str) -> Arc<Published> {
        let quoted = serde_json::to_string(payload).expect("a string always serialises");
        let message = {
            let mut h = self.history();
            h.last_seq += 1;
            let seq = h.last_seq;
            let ts_ns = monotonic_ns();
            let message = Arc::new(Published {
                seq,
                ts_ns,
                json: format!("{{\"seq\":{seq},\"ts\":{ts_ns},\"payload\":{quoted}}}"),
            });
            if h.retained.len() == RETAIN {
                h.retained.pop_front();
            }
            h.retained.push_back(Arc::clone(&message));
            message
        };
        // No subscribers is not an error.
        let _ = self.live.send(Arc::clone(&message));
        self.latest.send_replace(message.seq);
        message
    }

    /// The last sequence number published (0 before the first).
    pub fn last_seq(&self) -> u64 {
        self.history().last_seq
    }

    /// Retained messages with `seq > cursor`, oldest first.
    pub fn since(&self, cursor: u64) -> Vec<Arc<Published>> {
        let h = self.history();
        let skip = h.retained.partition_point(|m| m.seq <= cursor);
        h.retained.iter().skip(skip).cloned().collect()
    }

    /// A live feed of messages published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Published>> {
        self.live.subscribe()
    }

    /// Waits until a message with `seq > cursor` exists.
    pub async fn wait_after(&self, cursor: u64) {
        let mut rx = self.latest.subscribe();
        // The sender lives as long as the hub, which outlives this borrow.
        let _ = rx.wait_for(|&seq| seq > cursor).await;
    }
}

#[cfg(test)]
mod tests {
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
