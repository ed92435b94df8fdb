//! What a run writes: `summary.json` (this schema, versioned), one HDR
//! histogram file per phase and metric, and `run.md`.
//!
//! Histograms are stored in the HdrHistogram V2 compressed encoding (the
//! one `HdrHistogram` tools read), values in nanoseconds.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::Path;

use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use serde::{Deserialize, Serialize};

use crate::threshold::{Metric, Stat, Threshold};

/// The `summary.json` format version; bumped on any incompatible change.
pub const SUMMARY_SCHEMA_VERSION: u32 = 1;

/// Highest latency the histograms track: one hour, in nanoseconds.
pub const MAX_LATENCY_NS: u64 = 3_600_000_000_000;

/// A latency histogram in nanoseconds, 3 significant digits.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).expect("valid bounds")
}

/// Writes `h` to `path` in the V2 compressed encoding.
pub fn write_histogram(h: &Histogram<u64>, path: &Path) -> io::Result<()> {
    let mut out = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut out)
        .map_err(|e| io::Error::other(format!("encoding a histogram: {e:?}")))?;
    fs::write(path, out)
}

/// Reads a histogram written by [`write_histogram`] (or any V2 / V2
/// compressed HdrHistogram encoder).
pub fn read_histogram(path: &Path) -> io::Result<Histogram<u64>> {
    let bytes = fs::read(path)?;
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e:?}", path.display()),
            )
        })
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
    /// Messages published in the measured window (push), or sent (echo,
    /// throughput).
    pub published: u64,
    /// Messages received in the measured window, counted once per
    /// receiving connection.
    pub delivered: u64,
    /// Push: messages owed to the subscribers (each subscriber owes every
    /// message of the window published after it joined); delivered_ratio is
    /// delivered / owed.
    pub owed: u64,
    /// Messages a connection should have received and did not.
    pub lost: u64,
    /// Messages a connection received more than once.
    pub duplicated: u64,
    /// Messages that arrived after a later one.
    pub out_of_order: u64,
    /// Echoes whose payload differed from what was sent.
    pub payload_mismatches: u64,
    /// Bytes written to sockets (headers, framing, TLS included).
    pub bytes_sent: u64,
    /// Bytes read from sockets.
    pub bytes_received: u64,
    /// HTTP requests sent (polling, SSE).
    pub http_requests: u64,
    /// Errors by kind (`refused`, `reset`, `timeout`, `http-503`,
    /// `close-1011`, …).
    pub errors: BTreeMap<String, u64>,
}

/// One phase: one transport over the scenario's workload.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PhaseSummary {
    /// `websocket`, `long-poll`, `short-poll` or `sse`.
    pub transport: String,
    /// `push`, `echo`, `throughput` or `connect`.
    pub workload: String,
    /// Measured seconds (after warm-up; less when stopped early).
    pub measured_s: f64,
    /// The counters.
    pub counters: Counters,
    /// Messages delivered per second, over the measured time.
    pub msg_rate: f64,
    /// delivered / (published × subscribers) for push; delivered / sent for
    /// echo.
    pub delivered_ratio: f64,
    /// Bytes on the wire, both ways, per delivered message.
    pub bytes_per_msg: f64,
    /// HTTP requests per delivered message.
    pub requests_per_msg: f64,
    /// Server CPU time (user + system) per delivered message, microseconds
    /// (builtin targets only).
    pub server_cpu_us_per_msg: Option<f64>,
    /// Load generator CPU seconds in the phase.
    pub client_cpu_s: f64,
    /// Load generator resident memory per open connection, bytes
    /// (increase over the phase's start).
    pub client_rss_per_conn: Option<f64>,
    /// Latency histograms by metric name (`push_latency`, `echo_rtt`, …).
    pub latency: BTreeMap<String, LatencyStats>,
}

impl PhaseSummary {
    /// The total number of errors.
    pub fn errors(&self) -> u64 {
        self.counters.errors.values().sum()
    }

    /// The value a threshold metric has in this phase, if it has one.
    pub fn metric(&self, metric: &Metric) -> Option<f64> {
        match metric {
            Metric::Latency { histogram, stat } => {
                let s = self.latency.get(histogram).filter(|s| s.count > 0)?;
                Some(match stat {
                    Stat::Min => s.min as f64,
                    Stat::Mean => s.mean,
                    Stat::Max => s.max as f64,
                    Stat::Percentile(p) => {
                        // The summary keeps fixed percentiles; others come
                        // from the histogram file at evaluation time.
                        match *p {
                            50.0 => s.p50 as f64,
                            90.0 => s.p90 as f64,
                            99.0 => s.p99 as f64,
                            99.9 => s.p999 as f64,
                            99.99 => s.p9999 as f64,
                            100.0 => s.max as f64,
                            _ => return None,
                        }
                    }
                })
            }
            Metric::Scalar(name) => Some(match name.as_str() {
                "errors" => self.errors() as f64,
                "lost" => self.counters.lost as f64,
                "duplicated" => self.counters.duplicated as f64,
                "out_of_order" => self.counters.out_of_order as f64,
                "payload_mismatches" => self.counters.payload_mismatches as f64,
                "delivered_ratio" => self.delivered_ratio,
                "msg_rate" => self.msg_rate,
                "bytes_per_msg" => self.bytes_per_msg,
                "requests_per_msg" => self.requests_per_msg,
                "connections_failed" => self.counters.connections_failed as f64,
                "server_cpu_us_per_msg" => self.server_cpu_us_per_msg?,
                _ => return None,
            }),
        }
    }
}

/// A phase measured in parts (worker processes, shards): what each part
/// counted, and the sequence numbers it saw in the window.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PhasePart {
    /// The part's own summary; its latency files are in its folder.
    pub phase: PhaseSummary,
    /// Lowest and highest sequence number seen in the window (push).
    pub seq_range: Option<(u64, u64)>,
    /// Why the part ended early, if it did.
    pub stop_reason: Option<StopReason>,
    /// Details of the early end.
    pub stop_detail: Option<String>,
}

/// Merges the counters and rates of parts of one phase (latencies are
/// merged from the histogram files by the caller). Counts add up; rates
/// are recomputed from the sums; the measured time is the longest.
pub fn merge_parts(parts: &[PhasePart]) -> PhaseSummary {
    let mut out = PhaseSummary::default();
    let Some(first) = parts.first() else {
        return out;
    };
    out.transport.clone_from(&first.phase.transport);
    out.workload.clone_from(&first.phase.workload);
    let (mut rss_weighted, mut rss_conns) = (0.0, 0u64);
    for part in parts {
        let p = &part.phase;
        let c = &p.counters;
        let o = &mut out.counters;
        o.connections_attempted += c.connections_attempted;
        o.connections_opened += c.connections_opened;
        o.connections_failed += c.connections_failed;
        o.connections_peak += c.connections_peak;
        o.published += c.published;
        o.delivered += c.delivered;
        o.owed += c.owed;
        o.lost += c.lost;
        o.duplicated += c.duplicated;
        o.out_of_order += c.out_of_order;
        o.payload_mismatches += c.payload_mismatches;
        o.bytes_sent += c.bytes_sent;
        o.bytes_received += c.bytes_received;
        o.http_requests += c.http_requests;
        for (k, v) in &c.errors {
            *o.errors.entry(k.clone()).or_default() += v;
        }
        out.measured_s = out.measured_s.max(p.measured_s);
        out.client_cpu_s += p.client_cpu_s;
        if let Some(r) = p.client_rss_per_conn {
            rss_weighted += r * c.connections_opened as f64;
            rss_conns += c.connections_opened;
        }
    }
    let push = out.workload == "push";
    let range = parts
        .iter()
        .filter_map(|p| p.seq_range)
        .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)));
    if push {
        // Every part saw the same stream: published once, not per part.
        out.counters.published = range.map_or(0, |(lo, hi)| hi - lo + 1);
    }
    let c = &out.counters;
    let delivered = c.delivered as f64;
    out.msg_rate = if out.measured_s > 0.0 {
        delivered / out.measured_s
    } else {
        0.0
    };
    out.delivered_ratio = match (push, c.owed, c.published) {
        (true, 0, _) | (false, _, 0) => 0.0,
        (true, owed, _) => c.delivered.min(owed) as f64 / owed as f64,
        (false, _, sent) => delivered / sent as f64,
    };
    let per_msg = |v: f64| if c.delivered > 0 { v / delivered } else { 0.0 };
    out.bytes_per_msg = per_msg((c.bytes_sent + c.bytes_received) as f64);
    out.requests_per_msg = per_msg(c.http_requests as f64);
    out.client_rss_per_conn = (rss_conns > 0).then(|| rss_weighted / rss_conns as f64);
    out
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
    /// The phase checked.
    pub transport: String,
    /// The measured value (nanoseconds for latencies); `None` when the phase
    /// has no such metric.
    pub value: Option<f64>,
    /// Whether it held (a missing value fails).
    pub passed: bool,
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
}

impl Summary {
    /// Checks `thresholds` against every phase they apply to.
    pub fn evaluate(phases: &[PhaseSummary], thresholds: &[Threshold]) -> Vec<ThresholdResult> {
        let mut out = Vec::new();
        for t in thresholds {
            for p in phases {
                if t.transport.is_some_and(|tr| tr.name() != p.transport) {
                    continue;
                }
                let value = p.metric(&t.metric);
                out.push(ThresholdResult {
                    threshold: t.text.clone(),
                    transport: p.transport.clone(),
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
        let probe: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        })?;
        let version = probe
            .get("schema_version")
            .and_then(serde_json::Value::as_u64);
        if version != Some(u64::from(SUMMARY_SCHEMA_VERSION)) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}: summary schema_version {version:?}, this wsbench reads {SUMMARY_SCHEMA_VERSION}",
                    path.display()
                ),
            ));
        }
        serde_json::from_str(&text).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        })
    }

    /// Writes `summary.json` (pretty-printed) into `dir`.
    pub fn write(&self, dir: &Path) -> io::Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(io::Error::other)?;
        fs::write(dir.join("summary.json"), text + "\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_round_trip_through_files_and_merge_exactly() {
        let dir = std::env::temp_dir().join(format!("wsbench-model-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let mut a = latency_histogram();
        let mut b = latency_histogram();
        for v in 1..=1000u64 {
            a.record(v * 1000).unwrap();
            b.record(v * 7919).unwrap();
        }
        write_histogram(&a, &dir.join("a.hdr")).unwrap();
        write_histogram(&b, &dir.join("b.hdr")).unwrap();
        let mut merged = read_histogram(&dir.join("a.hdr")).unwrap();
        merged
            .add(read_histogram(&dir.join("b.hdr")).unwrap())
            .unwrap();
        let mut direct = a.clone();
        direct.add(&b).unwrap();
        assert_eq!(merged, direct);
        assert_eq!(merged.len(), 2000);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn thresholds_evaluate_per_phase() {
        let mut h = latency_histogram();
        for v in [1_000_000u64, 2_000_000, 9_000_000] {
            h.record(v).unwrap();
        }
        let mut p = PhaseSummary {
            transport: "websocket".into(),
            ..PhaseSummary::default()
        };
        p.latency
            .insert("push_latency".into(), LatencyStats::of(&h, "x.hdr"));
        p.counters.errors.insert("reset".into(), 2);
        let mut q = p.clone();
        q.transport = "sse".into();
        q.counters.errors.clear();
        let ts = [
            Threshold::parse("push_latency.p50 < 5ms").unwrap(),
            Threshold::parse("errors == 0").unwrap(),
            Threshold::parse("sse.echo_rtt.p99 < 1ms").unwrap(),
        ];
        let r = Summary::evaluate(&[p, q], &ts);
        let verdicts: Vec<(&str, &str, bool)> = r
            .iter()
            .map(|r| (r.threshold.as_str(), r.transport.as_str(), r.passed))
            .collect();
        assert_eq!(
            verdicts,
            [
                ("push_latency.p50 < 5ms", "websocket", true),
                ("push_latency.p50 < 5ms", "sse", true),
                ("errors == 0", "websocket", false),
                ("errors == 0", "sse", true),
                ("sse.echo_rtt.p99 < 1ms", "sse", false),
            ]
        );
        assert_eq!(r[4].value, None, "a missing metric fails");
    }
}
