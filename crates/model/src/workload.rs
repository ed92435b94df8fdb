//! What a phase runs: its transport, its workload and its payload. The
//! scenario, the metric vocabulary and thresholds all speak of these.

use std::fmt;

use serde::Deserialize;
pub use wsbench_protocol::PayloadKind;

/// A transport a phase runs over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    /// WebSocket (`/push`, `/echo`).
    Websocket,
    /// HTTP long-polling (`GET /poll?cursor=N`).
    LongPoll,
    /// HTTP short polling on an interval (`GET /poll?cursor=N&wait=0`).
    ShortPoll,
    /// Server-Sent Events (`GET /events`).
    Sse,
}

impl Transport {
    /// The name used in scenarios and results.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Websocket => "websocket",
            Transport::LongPoll => "long-poll",
            Transport::ShortPoll => "short-poll",
            Transport::Sse => "sse",
        }
    }

    /// Every transport, in the order phases run.
    pub const ALL: [Transport; 4] = [
        Transport::Websocket,
        Transport::LongPoll,
        Transport::ShortPoll,
        Transport::Sse,
    ];
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What each connection does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WorkloadKind {
    /// The server publishes at a rate; every subscriber receives each
    /// message; one-way latency from the publish timestamp.
    Push,
    /// Each connection sends at a fixed rate (open model) and checks the
    /// echo; round trips from the intended and the actual send time.
    Echo,
    /// Each connection keeps N messages in flight, as fast as the echo
    /// comes back.
    Throughput,
    /// Open and hold connections: connect and handshake times, memory.
    Connect,
    /// Request–response: each connection sends a request carrying an id
    /// at a fixed rate (open model, as echo) and waits for the reply
    /// carrying that id.
    Rpc,
    /// Each connection runs the scenario's flow: its steps (send,
    /// expect, sleep, capture) over and over; the timed expects are
    /// measured from the send before them.
    Flow,
}

impl WorkloadKind {
    /// Every workload.
    pub const ALL: [WorkloadKind; 6] = [
        WorkloadKind::Push,
        WorkloadKind::Echo,
        WorkloadKind::Throughput,
        WorkloadKind::Connect,
        WorkloadKind::Rpc,
        WorkloadKind::Flow,
    ];

    /// The name used in scenarios and results.
    pub fn name(self) -> &'static str {
        match self {
            WorkloadKind::Push => "push",
            WorkloadKind::Echo => "echo",
            WorkloadKind::Throughput => "throughput",
            WorkloadKind::Connect => "connect",
            WorkloadKind::Rpc => "rpc",
            WorkloadKind::Flow => "flow",
        }
    }
}

/// What decides which metrics a phase produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunShape {
    /// The workload.
    pub workload: WorkloadKind,
    /// The payload.
    pub payload: PayloadKind,
    /// The target is the builtin server (its CPU is read).
    pub builtin: bool,
    /// Connections reconnect (`[load] reconnect`).
    pub reconnect: bool,
}
