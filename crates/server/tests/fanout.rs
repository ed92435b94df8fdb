//! The push fan-out over WebSocket: every subscriber gets every message
//! published after its upgrade was answered, once and in order, while
//! others join and leave mid-stream, on both fan-out tasks of a
//! two-worker runtime; the drop and duplicate faults reach every
//! subscriber alike.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{LIMIT, server};
use wsbench_server::{Faults, ServerConfig};
use wsbench_transport::{ClientOptions, Data, Event, TcpWebSocket, connect};

async fn subscriber(addr: std::net::SocketAddr) -> TcpWebSocket {
    let url = format!("ws://{addr}/push");
    connect(&url, &ClientOptions::default())
        .await
        .unwrap()
        .socket
}

/// Sequence numbers received until `last` arrives.
async fn read_until(ws: &mut TcpWebSocket, last: u64) -> Vec<u64> {
    let mut seqs = Vec::new();
    while seqs.last() != Some(&last) {
        let ev = tokio::time::timeout(LIMIT, ws.next_event())
            .await
            .expect("messages in time")
            .expect("open");
        let Event::Message(Data::Text(t)) = ev else {
            panic!("expected a message, got {ev:?}")
        };
        let v: serde_json::Value = serde_json::from_str(&t).unwrap();
        seqs.push(v["seq"].as_u64().unwrap());
    }
    seqs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_joining_and_leaving_mid_stream_miss_nothing_after_their_upgrade() {
    let s = server(ServerConfig::default()).await;
    let addr = s.local_addr();
    let hub = Arc::clone(s.hub());
    let mut early = Vec::new();
    for _ in 0..40 {
        early.push(subscriber(addr).await);
    }
    let publisher = tokio::spawn({
        let hub = Arc::clone(&hub);
        async move {
            for i in 0..3_000 {
                hub.publish("x");
                if i % 100 == 0 {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
        }
    });
    // Joining while messages flow: each is owed everything after the last
    // message published before its upgrade was answered, so at least
    // everything published once it saw the connection open.
    let mut late = Vec::new();
    for _ in 0..20 {
        let before = hub.last_seq();
        let ws = subscriber(addr).await;
        late.push(((before, hub.last_seq()), ws));
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // Some leave mid-stream.
    early.truncate(30);
    publisher.await.unwrap();
    let last = hub.last_seq();
    assert_eq!(last, 3_000);
    for ws in &mut early {
        assert_eq!(read_until(ws, last).await, (1..=last).collect::<Vec<_>>());
    }
    for ((before, opened), ws) in &mut late {
        let got = read_until(ws, last).await;
        let first = got[0];
        assert!(
            first > *before && first <= *opened + 1,
            "first {first}: published before the connect {before}, once open {opened}"
        );
        assert_eq!(got, (first..=last).collect::<Vec<_>>(), "no gap, no repeat");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_and_duplicate_faults_reach_every_subscriber_alike() {
    let s = server(ServerConfig {
        faults: Faults {
            drop_every: 5,
            duplicate_every: 7,
            ..Faults::default()
        },
        ..ServerConfig::default()
    })
    .await;
    let mut subs = Vec::new();
    for _ in 0..8 {
        subs.push(subscriber(s.local_addr()).await);
    }
    for _ in 0..36 {
        s.hub().publish("x");
    }
    let want: Vec<u64> = (1..=36u64)
        .filter(|n| n % 5 != 0)
        .flat_map(|n| if n % 7 == 0 { vec![n, n] } else { vec![n] })
        .collect();
    for ws in &mut subs {
        assert_eq!(read_until(ws, 36).await, want);
    }
}
