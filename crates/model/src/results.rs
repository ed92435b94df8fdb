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
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry, Tag,
};
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
        .map_err(|e| invalid(path, format!("{e:?}")))
}

/// One interval of an HdrHistogram interval log.
#[derive(Clone, Debug, PartialEq)]
pub struct Interval {
    /// Seconds from the log's base time to the interval's start.
    pub start_s: f64,
    /// The interval's length, seconds.
    pub duration_s: f64,
    /// What was recorded in it, nanoseconds.
    pub histogram: Histogram<u64>,
}

fn invalid(path: &Path, what: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: {what}", path.display()),
    )
}

/// Writes an HdrHistogram interval log (`.hlog`, the format of
/// HdrHistogram's `HistogramLogWriter`, read by its log processing tools):
/// `base` is the wall-clock time interval starts count from, `tag` names
/// every interval, values are nanoseconds (maxima shown in milliseconds).
pub fn write_interval_log(
    path: &Path,
    base: std::time::SystemTime,
    tag: &str,
    intervals: &[Interval],
) -> io::Result<()> {
    let mut out = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    let mut writer = IntervalLogWriterBuilder::new()
        .add_comment("wsbench interval log: values in nanoseconds")
        .with_start_time(base)
        .with_base_time(base)
        .with_max_value_divisor(1e6)
        .begin_log_with(&mut out, &mut serializer)?;
    writer.write_comment(
        "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"",
    )?;
    let tag = Tag::new(tag);
    for i in intervals {
        writer
            .write_histogram(
                &i.histogram,
                std::time::Duration::from_secs_f64(i.start_s.max(0.0)),
                std::time::Duration::from_secs_f64(i.duration_s.max(0.0)),
                tag,
            )
            .map_err(|e| io::Error::other(format!("{}: {e}", path.display())))?;
    }
    fs::write(path, out)
}

/// Reads the intervals of an interval log written by
/// [`write_interval_log`] (or by another HdrHistogram log writer).
pub fn read_interval_log(path: &Path) -> io::Result<Vec<Interval>> {
    let bytes = fs::read(path)?;
    let mut out = Vec::new();
    for entry in IntervalLogIterator::new(&bytes) {
        let entry = entry.map_err(|e| invalid(path, format!("{e:?}")))?;
        if let LogEntry::Interval(i) = entry {
            let raw = base64_decode(i.encoded_histogram())
                .ok_or_else(|| invalid(path, "an interval is not base64"))?;
            let histogram: Histogram<u64> = Deserializer::new()
                .deserialize(&mut raw.as_slice())
                .map_err(|e| invalid(path, format!("{e:?}")))?;
            out.push(Interval {
                start_s: i.start_timestamp().as_secs_f64(),
                duration_s: i.duration().as_secs_f64(),
                histogram,
            });
        }
    }
    Ok(out)
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(text).ok()
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
    /// Push: the lowest and highest sequence number seen in the window
    /// (what merging shards needs to count the messages published).
    #[serde(default)]
    pub seq_range: Option<(u64, u64)>,
    /// One point a second over the whole phase (warm-up included).
    #[serde(default)]
    pub timeline: Vec<TimelinePoint>,
    /// The HdrHistogram interval log of the main latency, one interval a
    /// second, relative to the results folder.
    #[serde(default)]
    pub timeline_log: Option<String>,
}

/// One second of a phase.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TimelinePoint {
    /// Seconds since the phase started (end of the interval).
    pub t_s: f64,
    /// Messages received per second in the interval.
    pub msg_rate: f64,
    /// Connections open at the end of the interval.
    pub open: u64,
    /// Errors in the interval.
    pub errors: u64,
    /// Median of the main latency in the interval, ns (0 when none).
    pub p50: u64,
    /// 99th percentile of the main latency in the interval, ns (0 when
    /// none).
    pub p99: u64,
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
        .filter_map(|p| p.phase.seq_range)
        .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)));
    out.seq_range = range;
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

/// Merges parts of one phase, each written into its own folder, into
/// `out`: counters by [`merge_parts`], latency histograms exactly (HDR
/// add) as `<prefix>-<metric>.hdr`, and the timelines second by second
/// (rates, open connections and errors add up; percentiles come from the
/// merged interval histograms, written as `<prefix>-timeline.hlog`).
pub fn merge_part_dirs(
    parts: &[(std::path::PathBuf, PhasePart)],
    out: &Path,
    prefix: &str,
) -> io::Result<PhaseSummary> {
    let list: Vec<PhasePart> = parts.iter().map(|(_, p)| p.clone()).collect();
    let mut summary = merge_parts(&list);
    let mut merged: BTreeMap<String, Histogram<u64>> = BTreeMap::new();
    for (dir, part) in parts {
        for (metric, stats) in &part.phase.latency {
            let h = read_histogram(&dir.join(&stats.file))?;
            merged
                .entry(metric.clone())
                .or_insert_with(latency_histogram)
                .add(h)
                .map_err(|e| io::Error::other(format!("merging {metric}: {e:?}")))?;
        }
    }
    for (metric, h) in &merged {
        let file = format!("{prefix}-{metric}.hdr");
        write_histogram(h, &out.join(&file))?;
        summary
            .latency
            .insert(metric.clone(), LatencyStats::of(h, &file));
    }
    // Timelines: the parts share a start, so second k of one is second k
    // of the others.
    let key = |t: f64| (t.round().max(0.0)) as u64;
    let mut points: BTreeMap<u64, TimelinePoint> = BTreeMap::new();
    let mut intervals: BTreeMap<u64, Interval> = BTreeMap::new();
    let mut base = None;
    for (dir, part) in parts {
        for p in &part.phase.timeline {
            let e = points.entry(key(p.t_s)).or_insert_with(|| TimelinePoint {
                t_s: key(p.t_s) as f64,
                ..TimelinePoint::default()
            });
            e.msg_rate += p.msg_rate;
            e.open += p.open;
            e.errors += p.errors;
        }
        if let Some(file) = &part.phase.timeline_log {
            let path = dir.join(file);
            base = base.or_else(|| interval_log_base(&path));
            for i in read_interval_log(&path)? {
                let k = key(i.start_s + i.duration_s);
                let e = intervals.entry(k).or_insert_with(|| Interval {
                    start_s: i.start_s,
                    duration_s: i.duration_s,
                    histogram: latency_histogram(),
                });
                e.histogram
                    .add(&i.histogram)
                    .map_err(|e| io::Error::other(format!("merging intervals: {e:?}")))?;
            }
        }
    }
    for (k, i) in &intervals {
        if let Some(p) = points.get_mut(k)
            && !i.histogram.is_empty()
        {
            p.p50 = i.histogram.value_at_quantile(0.5);
            p.p99 = i.histogram.value_at_quantile(0.99);
        }
    }
    summary.timeline = points.into_values().collect();
    if !intervals.is_empty() {
        let file = format!("{prefix}-timeline.hlog");
        let list: Vec<Interval> = intervals.into_values().collect();
        write_interval_log(
            &out.join(&file),
            base.unwrap_or(std::time::UNIX_EPOCH),
            prefix,
            &list,
        )?;
        summary.timeline_log = Some(file);
    }
    Ok(summary)
}

/// The BaseTime of an interval log, if it has one.
fn interval_log_base(path: &Path) -> Option<std::time::SystemTime> {
    let bytes = fs::read(path).ok()?;
    IntervalLogIterator::new(&bytes).find_map(|e| match e {
        Ok(LogEntry::BaseTime(t)) => Some(std::time::UNIX_EPOCH + t),
        _ => None,
    })
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
    /// Set when this run is one shard of a larger run (`--shard I/N`).
    #[serde(default)]
    pub shard: Option<ShardInfo>,
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
        let probe: serde_json::Value = serde_json::from_str(&text).map_err(|e| invalid(path, e))?;
        let version = probe
            .get("schema_version")
            .and_then(serde_json::Value::as_u64);
        if version != Some(u64::from(SUMMARY_SCHEMA_VERSION)) {
            return Err(invalid(
                path,
                format!(
                    "summary schema_version {version:?}, this wsbench reads {SUMMARY_SCHEMA_VERSION}"
                ),
            ));
        }
        serde_json::from_str(&text).map_err(|e| invalid(path, e))
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

    fn part(dir: &Path, transport: &str, seq: (u64, u64), values: &[u64]) -> PhasePart {
        fs::create_dir_all(dir).unwrap();
        let mut h = latency_histogram();
        values.iter().for_each(|&v| h.record(v).unwrap());
        write_histogram(&h, &dir.join("push_latency.hdr")).unwrap();
        let base = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
        let intervals = [
            Interval {
                start_s: 0.0,
                duration_s: 1.0,
                histogram: latency_histogram(),
            },
            Interval {
                start_s: 1.0,
                duration_s: 1.01,
                histogram: h.clone(),
            },
        ];
        write_interval_log(&dir.join("t.hlog"), base, transport, &intervals).unwrap();
        let mut phase = PhaseSummary {
            transport: transport.into(),
            workload: "push".into(),
            measured_s: 1.0,
            seq_range: Some(seq),
            timeline: vec![
                TimelinePoint {
                    t_s: 1.0,
                    open: 5,
                    ..TimelinePoint::default()
                },
                TimelinePoint {
                    t_s: 2.01,
                    msg_rate: 100.0,
                    open: 5,
                    errors: 1,
                    ..TimelinePoint::default()
                },
            ],
            timeline_log: Some("t.hlog".into()),
            ..PhaseSummary::default()
        };
        phase.counters.delivered = values.len() as u64;
        phase.counters.owed = values.len() as u64;
        phase.latency.insert(
            "push_latency".into(),
            LatencyStats::of(&h, "push_latency.hdr"),
        );
        PhasePart {
            phase,
            ..PhasePart::default()
        }
    }

    #[test]
    fn interval_logs_round_trip_and_parts_merge_second_by_second() {
        let root = std::env::temp_dir().join(format!("wsbench-merge-{}", std::process::id()));
        let (a, b) = (root.join("a"), root.join("b"));
        let parts = [
            (a.clone(), part(&a, "websocket", (10, 19), &[1_000, 2_000])),
            (
                b.clone(),
                part(&b, "websocket", (12, 25), &[3_000, 4_000, 50_000]),
            ),
        ];
        let back = read_interval_log(&a.join("t.hlog")).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[1].histogram.len(), 2);
        assert!((back[1].start_s - 1.0).abs() < 1e-3 && (back[1].duration_s - 1.01).abs() < 1e-3);

        let m = merge_part_dirs(&parts, &root, "websocket").unwrap();
        assert_eq!(m.counters.published, 16, "the union of 10..=19 and 12..=25");
        assert_eq!(m.seq_range, Some((10, 25)));
        assert_eq!(m.counters.delivered, 5);
        assert_eq!(m.latency["push_latency"].count, 5);
        assert_eq!(
            m.latency["push_latency"].max,
            latency_histogram().highest_equivalent(50_000)
        );
        assert!(root.join("websocket-push_latency.hdr").exists());
        assert_eq!(m.timeline.len(), 2);
        assert_eq!((m.timeline[1].open, m.timeline[1].errors), (10, 2));
        assert!((m.timeline[1].msg_rate - 200.0).abs() < 1e-9);
        let merged_log = read_interval_log(&root.join("websocket-timeline.hlog")).unwrap();
        assert_eq!(merged_log[1].histogram.len(), 5);
        assert_eq!(
            m.timeline[1].p50,
            merged_log[1].histogram.value_at_quantile(0.5)
        );
        assert_eq!(m.timeline[0].p99, 0, "an empty second has no percentile");
        fs::remove_dir_all(&root).unwrap();
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
