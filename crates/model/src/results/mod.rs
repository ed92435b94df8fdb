//! What a run writes: `summary.json` (this schema, versioned), one HDR
//! histogram file per phase and metric, the push ledger and publish
//! record, and `run.md`. The file names are made here ([`files`]).
//!
//! Histograms are stored in the HdrHistogram V2 compressed encoding (the
//! one `HdrHistogram` tools read), values in nanoseconds.

mod folder;
mod hdr;
mod merge;
mod phase;
mod stages;
mod timeline;

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::Path;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

pub use self::folder::{RunFolder, folder_stamp};
use self::hdr::invalid;
pub use self::hdr::{
    Interval, MAX_LATENCY_NS, latency_histogram, read_histogram, read_interval_log,
    write_histogram, write_interval_log,
};
pub use self::merge::{PhasePart, merge_part_dirs, merge_parts};
pub use self::stages::{DROPPED, RECONNECT_GAVE_UP, Recovery, STILL_RECONNECTING, StageSpan};
pub use self::timeline::{OpenSample, OpenTrace, StreamLine, TimelinePoint};
use crate::health::Health;
use crate::threshold::{Measure, Threshold};

/// The `summary.json` format version; bumped on any incompatible change.
/// Version 2: push counts are accounted against the publisher's record
/// (`published`, `owed`, `lost` changed meaning), latencies run from the
/// intended publish time, every phase carries a harness verdict.
pub const SUMMARY_SCHEMA_VERSION: u32 = 2;

/// The names of a phase's files in a results folder (or a part's folder).
pub mod files {
    /// The histogram of `metric` in phase `transport`.
    pub fn histogram(transport: &str, metric: &str) -> String {
        format!("{transport}-{metric}.hdr")
    }

    /// The histogram of the main latency `metric` in stage `stage` of
    /// phase `transport`.
    pub fn stage_histogram(transport: &str, stage: &str, metric: &str) -> String {
        format!("{transport}-{stage}-{metric}.hdr")
    }

    /// The per-second interval log of the phase's main latency.
    pub fn timeline_log(transport: &str) -> String {
        format!("{transport}-timeline.hlog")
    }

    /// The push ledger (what subscribers owed and got, per message).
    pub fn ledger(transport: &str) -> String {
        format!("{transport}-ledger.json")
    }

    /// The push ledger of what reconnecting subscribers owed in their
    /// gaps.
    pub fn gap_ledger(transport: &str) -> String {
        format!("{transport}-gap-ledger.json")
    }

    /// The publisher's record of publisher `index`.
    pub fn publish_record(transport: &str, index: u64) -> String {
        format!("{transport}-publish-{index}.csv")
    }

    /// The harness floor's loopback echo histogram.
    pub const FLOOR_HISTOGRAM: &str = "floor-echo_rtt.hdr";

    /// The run's summary (the schema of this module).
    pub const SUMMARY: &str = "summary.json";
    /// The run's record for people: command, environment, verdicts.
    pub const RUN_MD: &str = "run.md";
    /// The scenario file as run.
    pub const SCENARIO: &str = "scenario.toml";
    /// The builtin server's last stderr lines.
    pub const SERVER_LOG: &str = "server.log";
    /// The folder of the worker processes' parts.
    pub const SHARDS: &str = "shards";
    /// A worker's or shard's part of a phase.
    pub const PART: &str = "part.json";
    /// A worker's latest second, for the coordinator's progress line.
    pub const PROGRESS: &str = "progress.json";
    /// The report page.
    pub const REPORT_HTML: &str = "report.html";
}

/// Summary statistics of one histogram, nanoseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyStats {
    /// Values recorded.
    pub count: u64,
    /// Smallest.
    pub min: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// 99.99th percentile.
    pub p9999: u64,
    /// Largest.
    pub max: u64,
    /// The histogram file, relative to the results folder.
    pub file: String,
}

impl LatencyStats {
    /// The statistics of `h`, stored in `file`.
    pub fn of(h: &Histogram<u64>, file: &str) -> LatencyStats {
        if h.is_empty() {
            return LatencyStats {
                file: file.to_owned(),
                ..LatencyStats::default()
            };
        }
        LatencyStats {
            count: h.len(),
            min: h.min(),
            mean: h.mean(),
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            p9999: h.value_at_quantile(0.9999),
            max: h.max(),
            file: file.to_owned(),
        }
    }
}

/// Counters of one phase.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    /// Connections the phase tried to open.
    pub connections_attempted: u64,
    /// Connections that opened.
    pub connections_opened: u64,
    /// Connections that failed to open.
    pub connections_failed: u64,
    /// Most connections open at once.
    pub connections_peak: u64,
    /// Push: window messages the target accepted from the publisher.
    /// Echo, throughput: messages sent in the window.
    pub published: u64,
    /// Push: window messages whose publish failed or was never sent (owed
    /// by nobody).
    #[serde(default)]
    pub publish_failed: u64,
    /// Push: window messages received, once per receiving connection.
    /// Echo, throughput: replies to messages sent in the window.
    pub delivered: u64,
    /// Push: the published window messages each connection owed (those
    /// intended while it was subscribed), summed over connections.
    pub owed: u64,
    /// Push: owed messages that were not received.
    pub lost: u64,
    /// Window messages a connection received more than once (each repeat).
    pub duplicated: u64,
    /// Window messages received after one the target placed later (by its
    /// sequence number when it gives one, else by the schedule).
    pub out_of_order: u64,
    /// Messages the publisher never sent (no marker of this run, or one
    /// that does not fit its schedule).
    #[serde(default)]
    pub unknown: u64,
    /// Messages of a target of another profile that carry no wsbench
    /// marker at all (its greetings, heartbeats, answers to connection
    /// steps): counted and otherwise ignored.
    #[serde(default)]
    pub other: u64,
    /// Messages received while the window was open (by receive time, any
    /// message): the count `msg_rate`, `bytes_per_msg` and
    /// `requests_per_msg` divide by, over the same wall-clock interval as
    /// the bytes and requests.
    #[serde(default)]
    pub received: u64,
    /// Echoes whose payload differed from what was sent.
    pub payload_mismatches: u64,
    /// Bytes written to sockets (headers, framing, TLS included).
    pub bytes_sent: u64,
    /// Bytes read from sockets.
    pub bytes_received: u64,
    /// HTTP requests answered while the window was open (polls, SSE
    /// reconnects), counted by answer time as the messages are.
    pub http_requests: u64,
    /// Errors by kind (`refused`, `reset`, `timeout`, `http-503`,
    /// `close-1011`, …).
    pub errors: BTreeMap<String, u64>,
    /// With a reconnect policy: connections opened again after they
    /// ended while the phase ran.
    #[serde(default)]
    pub reconnects: u64,
    /// Of `lost`: messages intended while their subscriber was
    /// reconnecting (from its end to its new subscribe point).
    #[serde(default)]
    pub lost_in_gaps: u64,
}

/// One phase: one transport over the scenario's workload.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PhaseSummary {
    /// `websocket`, `long-poll`, `short-poll` or `sse`.
    pub transport: String,
    /// In a mixed population, the group this phase is (its files are
    /// named after it; its groups ran side by side in one window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// `push`, `echo`, `throughput` or `connect`.
    pub workload: String,
    /// Measured seconds (after warm-up; less when stopped early).
    pub measured_s: f64,
    /// When the measured window opened, wall clock, RFC 3339 (the groups
    /// of a mixed population share it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_start: Option<String>,
    /// When the measured window opened on the timeline's clock: seconds
    /// since the phase started (before it: warm-up; after `window_at_s +
    /// measured_s`: the drain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_at_s: Option<f64>,
    /// The counters.
    pub counters: Counters,
    /// Messages received per second of the window (`received` /
    /// `measured_s`).
    pub msg_rate: f64,
    /// Push: (owed − lost) / owed. Echo, throughput: delivered / published.
    pub delivered_ratio: f64,
    /// Bytes on the wire, both ways, per message received in the window.
    pub bytes_per_msg: f64,
    /// HTTP requests per message received in the window.
    pub requests_per_msg: f64,
    /// Server CPU time (user + system) per delivered message, microseconds
    /// (the builtin target, or a URL target with `run --server-pid`).
    pub server_cpu_us_per_msg: Option<f64>,
    /// Load generator CPU seconds in the phase.
    pub client_cpu_s: f64,
    /// Load generator resident memory per open connection, bytes
    /// (increase over the phase's start).
    pub client_rss_per_conn: Option<f64>,
    /// Latency histograms by metric name (`push_latency`, `echo_rtt`, …).
    pub latency: BTreeMap<String, LatencyStats>,
    /// The harness verdict and what it was judged on.
    #[serde(default)]
    pub health: Option<Health>,
    /// Push: the publish schedule's rate and window.
    #[serde(default)]
    pub schedule: Option<Schedule>,
    /// Push: the ledger file (per window message, owed and received).
    #[serde(default)]
    pub ledger: Option<String>,
    /// Push with reconnects: the ledger of what subscribers owed while
    /// they were reconnecting (`lost_in_gaps` is its loss).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gap_ledger: Option<String>,
    /// Push: the publishers' record files.
    #[serde(default)]
    pub publish_records: Vec<String>,
    /// One point a second over the whole phase (warm-up included).
    #[serde(default)]
    pub timeline: Vec<TimelinePoint>,
    /// The open connections every 100 ms where they changed ([`OpenTrace`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub open_trace: Vec<OpenSample>,
    /// With stages: each stage's span on the timeline and how closely the
    /// open connections followed it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<StageSpan>,
    /// With reconnects: how the connections that went down came back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<Recovery>,
    /// The HdrHistogram interval log of the main latency, one interval a
    /// second, relative to the results folder.
    #[serde(default)]
    pub timeline_log: Option<String>,
}

/// A push phase's publish schedule: message `j` is intended at the
/// window's start + `j / rate` (`j` < 0: warm-up; `j` ≥ `window`: drain).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// Messages per second, over all publishers.
    pub rate: f64,
    /// Messages intended in the window.
    pub window: u64,
    /// Publishers, each sending every `publishers`-th message.
    pub publishers: u64,
}

/// The harness floor of a run: a short loopback echo measured in the load
/// generator's own process before the first phase, with its scheduling
/// lag: no target can be measured below it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Floor {
    /// Seconds measured.
    pub duration_s: f64,
    /// Loopback echo round trips (open model, corrected), ns; the
    /// histogram is [`files::FLOOR_HISTOGRAM`].
    pub echo_rtt: LatencyStats,
    /// The harness lag meanwhile, p99, ns.
    pub harness_lag_p99_ns: Option<u64>,
}

/// The machine and build a run happened on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    /// wsbench version.
    pub wsbench: String,
    /// `git rev-parse HEAD` of the source, when known.
    pub git_rev: Option<String>,
    /// `rustc --version` of the build.
    pub rustc: Option<String>,
    /// CPU model.
    pub cpu: Option<String>,
    /// Logical CPUs.
    pub cpus: usize,
    /// Kernel release.
    pub kernel: Option<String>,
    /// The masking backend the codec selected.
    pub simd_backend: String,
    /// Load generator processes.
    pub workers: u16,
}

/// A threshold's verdict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThresholdResult {
    /// As written in the scenario.
    pub threshold: String,
    /// The phase checked: its transport, or in a mixed population its
    /// group.
    pub transport: String,
    /// The measured value (nanoseconds for latencies); `None` when the phase
    /// has no such metric.
    pub value: Option<f64>,
    /// Whether it held (a missing value fails).
    pub passed: bool,
}

impl ThresholdResult {
    /// The measured value with its unit (`14.44 ms`, `0.9950`), or `no
    /// value`.
    pub fn shown_value(&self) -> String {
        let metric = Threshold::parse(&self.threshold).map(|t| t.metric);
        match (self.value, metric) {
            (None, _) => "no value".to_owned(),
            (Some(v), Ok(m)) => m.format_value(v),
            (Some(v), Err(_)) => format!("{v}"),
        }
    }
}

/// Why a run ended before its planned end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopReason {
    /// Ctrl-C or SIGTERM.
    Interrupted,
    /// The target stopped answering or the builtin server died.
    TargetFailed,
}

/// `summary.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// [`SUMMARY_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The scenario's name.
    pub scenario: String,
    /// The command line.
    pub command: String,
    /// Start, RFC 3339 UTC.
    pub started_at: String,
    /// Whether the run ended early; the phases hold what was measured.
    pub partial: bool,
    /// Why it ended early.
    pub stop_reason: Option<StopReason>,
    /// Details of the early end.
    pub stop_detail: Option<String>,
    /// Where it ran.
    pub environment: Environment,
    /// One per transport, in run order.
    pub phases: Vec<PhaseSummary>,
    /// Threshold verdicts, one per threshold and phase.
    pub thresholds: Vec<ThresholdResult>,
    /// Set when this run is one shard of a larger run (`--shard I/N`).
    #[serde(default)]
    pub shard: Option<ShardInfo>,
    /// The harness floor measured at the start (absent with
    /// `--no-calibrate`).
    #[serde(default)]
    pub floor: Option<Floor>,
}

/// Which part of a sharded run a result is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardInfo {
    /// This shard, from 0.
    pub index: u64,
    /// Shards in the run.
    pub count: u64,
    /// The common start, RFC 3339 UTC.
    pub start_at: String,
}

impl Summary {
    /// Checks `thresholds` against every phase they apply to; `dir` holds
    /// the histograms of percentiles the summary does not keep.
    pub fn evaluate(
        phases: &[PhaseSummary],
        thresholds: &[Threshold],
        dir: Option<&Path>,
    ) -> Vec<ThresholdResult> {
        let mut out = Vec::new();
        for t in thresholds {
            for p in phases {
                if t.transport.is_some_and(|tr| tr.name() != p.transport) || !p.checked_by(t) {
                    continue;
                }
                let value = match (t.stage, t.metric) {
                    (Some(n), Measure::Latency { stat, .. }) => p
                        .stages
                        .get(n - 1)
                        .and_then(|s| s.main_latency.as_ref())
                        .and_then(|s| s.stat(stat, dir)),
                    (Some(_), Measure::Scalar(_)) => None,
                    (None, Measure::Latency { stat, .. }) if t.timer.is_some() => t
                        .timer
                        .as_ref()
                        .and_then(|key| p.latency.get(key))
                        .and_then(|s| s.stat(stat, dir)),
                    (None, _) => p.metric(&t.metric, dir),
                };
                out.push(ThresholdResult {
                    threshold: t.text.clone(),
                    transport: p.name().to_owned(),
                    value,
                    passed: value.is_some_and(|v| t.op.holds(v, t.value)),
                });
            }
        }
        out
    }

    /// Reads a `summary.json`, refusing other schema versions.
    pub fn read(path: &Path) -> io::Result<Summary> {
        let text = fs::read_to_string(path)?;
        let probe: serde_json::Value = serde_json::from_str(&text).map_err(|e| invalid(path, e))?;
        let version = probe
            .get("schema_version")
            .and_then(serde_json::Value::as_u64);
        match version {
            Some(v) if v == u64::from(SUMMARY_SCHEMA_VERSION) => {}
            Some(1) => {
                return Err(invalid(
                    path,
                    "summary schema_version 1 was written by an older wsbench, whose push \
                     counts (published, owed, lost) came from what subscribers received and \
                     whose push latency ran from the actual publish time; its figures cannot \
                     be compared with version 2: rerun that scenario",
                ));
            }
            other => {
                return Err(invalid(
                    path,
                    format!(
                        "summary schema_version {other:?}, this wsbench reads {SUMMARY_SCHEMA_VERSION}"
                    ),
                ));
            }
        }
        serde_json::from_str(&text).map_err(|e| invalid(path, e))
    }

    /// Writes `summary.json` (pretty-printed) into `dir`.
    pub fn write(&self, dir: &Path) -> io::Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(io::Error::other)?;
        fs::write(dir.join(files::SUMMARY), text + "\n")
    }
}

#[cfg(test)]
mod tests;
