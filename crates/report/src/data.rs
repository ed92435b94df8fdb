//! A results folder, read back.

use std::path::{Path, PathBuf};

use hdrhistogram::Histogram;
pub use wsbench_model::metric::fmt_ns;
use wsbench_model::metric::{Metric, main_latency_of};
use wsbench_model::results::{
    PhaseSummary, RunFolder, Summary, ThresholdResult, files, read_histogram,
};

use crate::ReportError;

/// One run's results folder.
#[derive(Clone, Debug)]
pub struct Run {
    /// The folder.
    pub dir: PathBuf,
    /// A short name for legends: the folder's name.
    pub label: String,
    /// `summary.json`.
    pub summary: Summary,
    /// `scenario.toml`, when present.
    pub scenario_text: Option<String>,
}

impl Run {
    /// Reads the results folder `dir`.
    pub fn load(dir: &Path) -> Result<Run, ReportError> {
        let Some(folder) = RunFolder::open(dir) else {
            return Err(ReportError::Invalid(format!(
                "{}: not a results folder (no {})",
                dir.display(),
                files::SUMMARY
            )));
        };
        let summary = Summary::read(&folder.file(files::SUMMARY))
            .map_err(|e| ReportError::Invalid(e.to_string()))?;
        let label = dir
            .file_name()
            .map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into());
        Ok(Run {
            dir: dir.to_owned(),
            label,
            scenario_text: folder.read_scenario(),
            summary,
        })
    }

    /// The histogram of `metric` in `phase`, if it was recorded.
    pub fn histogram(
        &self,
        phase: &PhaseSummary,
        metric: &str,
    ) -> Result<Option<Histogram<u64>>, ReportError> {
        let Some(stats) = phase.latency.get(metric).filter(|s| s.count > 0) else {
            return Ok(None);
        };
        read_histogram(&self.dir.join(&stats.file))
            .map(Some)
            .map_err(|e| ReportError::Invalid(e.to_string()))
    }
}

/// The latency a phase is about (the vocabulary's main latency of its
/// workload).
pub fn main_metric(phase: &PhaseSummary) -> Metric {
    main_latency_of(&phase.workload)
}

/// What the main metric is called on an axis.
pub fn metric_title(metric: Metric) -> &'static str {
    match metric {
        Metric::PushLatency => "push latency (one way)",
        Metric::EchoRtt => "echo round trip (from intended send)",
        Metric::EchoRttUncorrected => "echo round trip (from actual send)",
        Metric::ThroughputRtt => "round trip under load",
        Metric::RpcRtt => "request–response round trip (from intended send)",
        Metric::FlowTime => "flow step (from its send on the flow's schedule)",
        Metric::HandshakeTime => "opening handshake",
        Metric::ConnectTime => "TCP connect",
        Metric::JsonParse => "JSON parse",
        _ => "latency",
    }
}

/// The legend label of `phase` of `run` among `runs`: the transport, and
/// the run's name when several runs are shown.
pub fn series_label(runs: &[Run], run: &Run, phase: &PhaseSummary) -> String {
    if runs.len() > 1 {
        format!("{} {}", run.label, phase.label())
    } else {
        phase.label()
    }
}

/// A threshold's measured value as shown, with its unit.
pub fn threshold_value(t: &ThresholdResult) -> String {
    t.shown_value()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_values_show_latencies_as_durations() {
        let t = |text: &str, value| ThresholdResult {
            threshold: text.to_owned(),
            transport: "websocket".to_owned(),
            value,
            passed: true,
        };
        assert_eq!(
            threshold_value(&t("echo_rtt.max < 5ms", Some(2.5e6))),
            "2.50 ms"
        );
        assert_eq!(
            threshold_value(&t("websocket.push_latency.p99 < 1s", Some(1.5e3))),
            "1.5 µs"
        );
        assert_eq!(
            threshold_value(&t("delivered_ratio >= 1.0", Some(1.0))),
            "1.0000"
        );
        assert_eq!(threshold_value(&t("errors == 0", Some(3.0))), "3");
        assert_eq!(threshold_value(&t("errors == 0", None)), "no value");
    }
}
