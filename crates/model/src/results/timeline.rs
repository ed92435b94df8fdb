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

/// The open connections at a moment of a phase (`open_trace`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OpenSample {
    /// Seconds since the phase started.
    pub t_s: f64,
    /// Connections open then.
    pub open: u64,
}

/// The open connections finer than the timeline's seconds (a 0.1 s ramp is
/// a 0.1 s slope): a sample every [`OpenTrace::EVERY_MS`] kept only where
/// the count changed, with the last sample of the old count before each
/// change, so a line through the samples follows the count to within one
/// sampling step.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OpenTrace {
    /// The samples kept.
    pub samples: Vec<OpenSample>,
    /// The latest sample, kept or not.
    last: Option<OpenSample>,
}

impl OpenTrace {
    /// How often a phase samples its open connections, ms.
    pub const EVERY_MS: u64 = 100;

    /// Takes the sample `open` at `t_s`.
    pub fn record(&mut self, t_s: f64, open: u64) {
        let now = OpenSample { t_s, open };
        match self.last {
            None => self.samples.push(now),
            Some(prev) if prev.open != now.open => {
                if self.samples.last() != Some(&prev) {
                    self.samples.push(prev);
                }
                self.samples.push(now);
            }
            Some(_) => {}
        }
        self.last = Some(now);
    }

    /// The samples kept, and the latest one (the count at the trace's end).
    pub fn finish(mut self) -> Vec<OpenSample> {
        if let Some(last) = self.last
            && self.samples.last() != Some(&last)
        {
            self.samples.push(last);
        }
        self.samples
    }

    /// The sum of traces of processes that started together: at every
    /// sample time of any of them, each one's count at its latest sample
    /// up to then (0 before its first).
    pub fn sum(traces: &[&[OpenSample]]) -> Vec<OpenSample> {
        let mut times: Vec<f64> = traces
            .iter()
            .flat_map(|t| t.iter().map(|s| s.t_s))
            .collect();
        times.sort_by(f64::total_cmp);
        times.dedup();
        let mut at = vec![0usize; traces.len()];
        let mut out = OpenTrace::default();
        for t in times {
            let mut open = 0;
            for (trace, i) in traces.iter().zip(at.iter_mut()) {
                while *i < trace.len() && trace[*i].t_s <= t {
                    *i += 1;
                }
                open += i.checked_sub(1).map_or(0, |k| trace[k].open);
            }
            out.record(t, open);
        }
        out.finish()
    }
}
