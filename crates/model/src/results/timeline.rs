//! A phase second by second: the timeline's points (in `summary.json`)
//! and the lines `wsbench run --stream` writes while a run goes on.

use serde::{Deserialize, Serialize};

/// One second of a phase.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TimelinePoint {
    /// Seconds since the phase started (end of the interval).
    pub t_s: f64,
    /// Messages received per second in the interval.
    pub msg_rate: f64,
    /// Connections open at the end of the interval.
    pub open: u64,
    /// Connections opened since the phase started (reopenings count).
    #[serde(default)]
    pub opened: u64,
    /// Errors in the interval.
    pub errors: u64,
    /// Median of the main latency in the interval, ns (0 when none).
    pub p50: u64,
    /// 99th percentile of the main latency in the interval, ns (0 when
    /// none).
    pub p99: u64,
}

/// One line of `wsbench run --stream` (NDJSON): a phase's latest second
/// as the timeline has it, while the run goes on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamLine {
    /// When the line was written, wall clock, RFC 3339 with milliseconds.
    pub time: String,
    /// The phase: its transport, or in a mixed population its group.
    pub phase: String,
    /// `warm-up`, `measuring`, `draining`, or a stage's name.
    pub stage: String,
    /// Load generator processes the figures add up (1: this one).
    pub processes: u64,
    /// Whether `p50` and `p99` are bounds (the highest of the
    /// processes': percentiles do not add) rather than the second's own.
    pub percentiles_bound: bool,
    /// The second's figures (`t_s`, `msg_rate`, `open`, `opened`,
    /// `errors`, `p50`, `p99` in ns).
    #[serde(flatten)]
    pub point: TimelinePoint,
}
