//! The measurement vocabulary: every metric wsbench reports, its kind and
//! unit, and which runs produce it. Thresholds, results, reports and the
//! regression gate all name metrics from this one list; what each metric
//! measures (its start and end instant, clock, and which messages count)
//! is written in `docs/load.md`.

use crate::workload::{PayloadKind, RunShape, WorkloadKind};

/// What a metric's values are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A latency histogram, nanoseconds; thresholds take a statistic.
    Latency,
    /// A count of things.
    Count,
    /// A fraction, 0 to 1.
    Ratio,
    /// Messages per second.
    Rate,
    /// Bytes per message.
    Bytes,
    /// Microseconds per message.
    Micros,
    /// A share of the cores a process may use, 0 to 1.
    Share,
}

/// Who produces a metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Producer {
    /// Every phase.
    All,
    /// Phases that move messages (push, echo, throughput).
    Messages,
    /// Push phases.
    Push,
    /// Echo phases.
    Echo,
    /// Request–response phases.
    Rpc,
    /// Flow phases.
    Flow,
    /// Throughput phases.
    Throughput,
    /// Echo and throughput phases (payloads come back to be checked).
    Echoes,
    /// Phases with JSON payloads.
    Json,
    /// Message phases against the builtin server (its CPU is read).
    Builtin,
    /// Phases against the builtin server.
    BuiltinAny,
    /// Phases with a reconnect policy.
    Reconnect,
    /// Push phases with a reconnect policy.
    PushReconnect,
}

/// Every metric wsbench reports, by identity; its name, kind, unit and
/// producers are its [`Def`] ([`Metric::def`]). The latencies come first,
/// in a block ([`Metric::LATENCIES`]), so histogram tables can be indexed
/// by `metric as usize`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    /// `push_latency`
    PushLatency,
    /// `push_latency_uncorrected`
    PushLatencyUncorrected,
    /// `publish_lag`
    PublishLag,
    /// `echo_rtt`
    EchoRtt,
    /// `echo_rtt_uncorrected`
    EchoRttUncorrected,
    /// `throughput_rtt`
    ThroughputRtt,
    /// `rpc_rtt`
    RpcRtt,
    /// `rpc_rtt_uncorrected`
    RpcRttUncorrected,
    /// `flow_time`
    FlowTime,
    /// `flow_time_uncorrected`
    FlowTimeUncorrected,
    /// `connect_time`
    ConnectTime,
    /// `handshake_time`
    HandshakeTime,
    /// `json_parse`
    JsonParse,
    /// `harness_lag`
    HarnessLag,
    /// `reconnect_time`
    ReconnectTime,
    /// `errors`
    Errors,
    /// `connections_failed`
    ConnectionsFailed,
    /// `published`
    Published,
    /// `publish_failed`
    PublishFailed,
    /// `delivered`
    Delivered,
    /// `owed`
    Owed,
    /// `lost`
    Lost,
    /// `duplicated`
    Duplicated,
    /// `out_of_order`
    OutOfOrder,
    /// `unknown`
    Unknown,
    /// `other`
    Other,
    /// `payload_mismatches`
    PayloadMismatches,
    /// `delivered_ratio`
    DeliveredRatio,
    /// `msg_rate`
    MsgRate,
    /// `bytes_per_msg`
    BytesPerMsg,
    /// `requests_per_msg`
    RequestsPerMsg,
    /// `server_cpu_us_per_msg`
    ServerCpuUsPerMsg,
    /// `client_cpu_share`
    ClientCpuShare,
    /// `server_cpu_share`
    ServerCpuShare,
    /// `steal_share`
    StealShare,
    /// `connections_opened`
    ConnectionsOpened,
    /// `reconnects`
    Reconnects,
    /// `lost_in_gaps`
    LostInGaps,
}

impl Metric {
    /// Every metric, in the order tables show them.
    pub const ALL: [Metric; 38] = [
        Metric::PushLatency,
        Metric::PushLatencyUncorrected,
        Metric::PublishLag,
        Metric::EchoRtt,
        Metric::EchoRttUncorrected,
        Metric::ThroughputRtt,
        Metric::RpcRtt,
        Metric::RpcRttUncorrected,
        Metric::FlowTime,
        Metric::FlowTimeUncorrected,
        Metric::ConnectTime,
        Metric::HandshakeTime,
        Metric::JsonParse,
        Metric::HarnessLag,
        Metric::ReconnectTime,
        Metric::Errors,
        Metric::ConnectionsFailed,
        Metric::Published,
        Metric::PublishFailed,
        Metric::Delivered,
        Metric::Owed,
        Metric::Lost,
        Metric::Duplicated,
        Metric::OutOfOrder,
        Metric::Unknown,
        Metric::Other,
        Metric::PayloadMismatches,
        Metric::DeliveredRatio,
        Metric::MsgRate,
        Metric::BytesPerMsg,
        Metric::RequestsPerMsg,
        Metric::ServerCpuUsPerMsg,
        Metric::ClientCpuShare,
        Metric::ServerCpuShare,
        Metric::StealShare,
        Metric::ConnectionsOpened,
        Metric::Reconnects,
        Metric::LostInGaps,
    ];

    /// The latency histograms, `Metric::ALL[..LATENCIES]`.
    pub const LATENCIES: usize = 15;

    /// Its entry in the vocabulary.
    pub fn def(self) -> &'static Def {
        &ALL[self as usize]
    }

    /// Its name in thresholds, `summary.json`, reports and `compare`.
    pub fn name(self) -> &'static str {
        self.def().name
    }

    /// What its values are.
    pub fn kind(self) -> Kind {
        self.def().kind
    }

    /// The metric called `name`.
    pub fn named(name: &str) -> Option<Metric> {
        find(name).map(|d| d.metric)
    }

    /// The same latency timed from the actual send instead of the
    /// intended one, for the latencies corrected for coordinated
    /// omission.
    pub fn uncorrected(self) -> Option<Metric> {
        match self {
            Metric::PushLatency => Some(Metric::PushLatencyUncorrected),
            Metric::EchoRtt => Some(Metric::EchoRttUncorrected),
            Metric::RpcRtt => Some(Metric::RpcRttUncorrected),
            Metric::FlowTime => Some(Metric::FlowTimeUncorrected),
            _ => None,
        }
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Def {
    /// Which metric this is.
    pub metric: Metric,
    /// Its name in thresholds, `summary.json`, reports and `compare`.
    pub name: &'static str,
    /// What its values are.
    pub kind: Kind,
    /// A short description.
    pub about: &'static str,
    producer: Producer,
}

mod defs;

pub use defs::ALL;

/// The metric called `name`.
pub fn find(name: &str) -> Option<&'static Def> {
    ALL.iter().find(|d| d.name == name)
}

/// The closest metric name to a misspelt one, if any is close.
pub fn closest(name: &str) -> Option<&'static str> {
    ALL.iter()
        .map(|d| (strsim::damerau_levenshtein(name, d.name), d.name))
        .min()
        .filter(|&(d, _)| d <= 3)
        .map(|(_, n)| n)
}

/// The latency a workload is judged by: tables, charts, the timeline,
/// harness verdicts and the regression gate use this one.
pub fn main_latency(workload: WorkloadKind) -> Metric {
    match workload {
        WorkloadKind::Push => Metric::PushLatency,
        WorkloadKind::Echo => Metric::EchoRtt,
        WorkloadKind::Throughput => Metric::ThroughputRtt,
        WorkloadKind::Connect => Metric::HandshakeTime,
        WorkloadKind::Rpc => Metric::RpcRtt,
        WorkloadKind::Flow => Metric::FlowTime,
    }
}

/// The latency a flow's timer `name` is reported under (`summary.json`'s
/// `latency`, its histogram file): `flow.<name>`, from the send's instant
/// on the flow's schedule, or `flow.<name>_uncorrected`, from the actual
/// send.
pub fn flow_timer(name: &str, corrected: bool) -> String {
    if corrected {
        format!("flow.{name}")
    } else {
        format!("flow.{name}_uncorrected")
    }
}

/// The timer a latency's name reports (`flow.say` → `("say", true)`,
/// `flow.say_uncorrected` → `("say", false)`); `None` for other names.
pub fn flow_timer_of(reported: &str) -> Option<(&str, bool)> {
    let name = reported.strip_prefix("flow.")?;
    Some(match name.strip_suffix("_uncorrected") {
        Some(bare) => (bare, false),
        None => (name, true),
    })
}

/// [`main_latency`] of a workload named in a result (`push`, `echo`, …).
pub fn main_latency_of(workload: &str) -> Metric {
    WorkloadKind::ALL
        .into_iter()
        .find(|w| w.name() == workload)
        .map_or(Metric::ConnectTime, main_latency)
}

impl Def {
    /// Whether a phase of this shape produces this metric; if not, why.
    pub fn produced_by(&self, shape: RunShape) -> Result<(), String> {
        let (w, builtin) = (shape.workload, shape.builtin);
        let ok = match self.producer {
            Producer::All => true,
            Producer::Messages => w != WorkloadKind::Connect,
            Producer::Push => w == WorkloadKind::Push,
            Producer::Echo => w == WorkloadKind::Echo,
            Producer::Rpc => w == WorkloadKind::Rpc,
            Producer::Flow => w == WorkloadKind::Flow,
            Producer::Throughput => w == WorkloadKind::Throughput,
            Producer::Echoes => matches!(w, WorkloadKind::Echo | WorkloadKind::Throughput),
            Producer::Json => w != WorkloadKind::Connect && shape.payload == PayloadKind::Json,
            Producer::Builtin => builtin && w != WorkloadKind::Connect,
            Producer::BuiltinAny => builtin,
            Producer::Reconnect => shape.reconnect,
            Producer::PushReconnect => shape.reconnect && w == WorkloadKind::Push,
        };
        if ok {
            return Ok(());
        }
        Err(match self.producer {
            Producer::Json => format!("{} needs payload = \"json\"", self.name),
            Producer::Reconnect | Producer::PushReconnect if !shape.reconnect => {
                format!("{} needs [load] reconnect", self.name)
            }
            Producer::Builtin | Producer::BuiltinAny => format!(
                "{} is measured for the builtin target only (wsbench cannot read a remote server's CPU)",
                self.name
            ),
            _ => format!(
                "the {} workload does not produce {} ({})",
                w.name(),
                self.name,
                self.about
            ),
        })
    }

    /// `v` with its unit, as tables and verdicts show it.
    pub fn format(&self, v: f64) -> String {
        match self.kind {
            Kind::Latency => fmt_ns(v),
            Kind::Count => format!("{v:.0}"),
            Kind::Ratio => format!("{v:.4}"),
            Kind::Rate => format!("{v:.0} msg/s"),
            Kind::Bytes => format!("{v:.1} B"),
            Kind::Micros => format!("{v:.2} µs"),
            Kind::Share => format!("{:.0}%", v * 100.0),
        }
    }
}

/// Nanoseconds as a readable duration: `14.44 ms`, `812.0 µs`, `2.10 s`.
pub fn fmt_ns(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.2} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

#[cfg(test)]
mod tests;
