//! Exports: the summary as CSV and as Markdown (for a CI job summary), and
//! every histogram as an HdrHistogram interval log.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use wsbench_model::metric::{Kind, Metric};
use wsbench_model::results::{Interval, PhaseSummary, write_interval_log};
use wsbench_model::threshold::Measure;

use crate::ReportError;
use crate::data::{Run, main_metric, threshold_value};

/// The leading columns of `summary.csv`: the run, the phase and its main
/// latency; [`CSV_METRICS`] follow, then `partial`.
const CSV_LEAD: [&str; 12] = [
    "run",
    "scenario",
    "transport",
    "workload",
    "metric",
    "count",
    "p50_ns",
    "p90_ns",
    "p99_ns",
    "p999_ns",
    "max_ns",
    "mean_ns",
];

/// The metrics of `summary.csv`, each a column named as the vocabulary
/// names it.
const CSV_METRICS: [Metric; 9] = [
    Metric::Published,
    Metric::Delivered,
    Metric::DeliveredRatio,
    Metric::Lost,
    Metric::MsgRate,
    Metric::BytesPerMsg,
    Metric::RequestsPerMsg,
    Metric::Errors,
    Metric::ServerCpuUsPerMsg,
];

/// The columns of `summary.csv`, in order.
pub fn csv_columns() -> Vec<&'static str> {
    let mut c = CSV_LEAD.to_vec();
    c.extend(CSV_METRICS.map(Metric::name));
    c.push("partial");
    c
}

/// A metric's cell: counts whole, ratios to 6 places, the rest to 3;
/// empty when the phase has no value.
fn csv_value(m: Metric, v: Option<f64>) -> String {
    match (m.kind(), v) {
        (_, None) => String::new(),
        (Kind::Count, Some(v)) => format!("{v:.0}"),
        (Kind::Ratio, Some(v)) => format!("{v:.6}"),
        (_, Some(v)) => format!("{v:.3}"),
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// One row per run and phase (RFC 4180).
pub fn csv(runs: &[Run]) -> String {
    let mut out = csv_columns().join(",");
    out.push_str("\r\n");
    for run in runs {
        for p in &run.summary.phases {
            let metric = main_metric(p);
            let l = p.latency.get(metric.name()).cloned().unwrap_or_default();
            let row = [
                run.label.clone(),
                run.summary.scenario.clone(),
                p.label(),
                p.workload.clone(),
                metric.name().to_owned(),
                l.count.to_string(),
                l.p50.to_string(),
                l.p90.to_string(),
                l.p99.to_string(),
                l.p999.to_string(),
                l.max.to_string(),
                format!("{:.1}", l.mean),
            ];
            let mut row = row.to_vec();
            row.extend(CSV_METRICS.map(|m| csv_value(m, p.metric(&Measure::Scalar(m), None))));
            row.push(run.summary.partial.to_string());
            let fields: Vec<String> = row.iter().map(|f| csv_field(f)).collect();
            out.push_str(&fields.join(","));
            out.push_str("\r\n");
        }
    }
    out
}

fn ms(ns: u64) -> String {
    format!("{:.2}", ns as f64 / 1e6)
}

/// A Markdown summary: per run, the per-phase table and the thresholds.
pub fn markdown(runs: &[Run]) -> String {
    let mut md = String::new();
    for run in runs {
        let s = &run.summary;
        let _ = writeln!(md, "### wsbench: {} (`{}`)\n", s.scenario, run.label);
        if s.partial {
            let _ = writeln!(
                md,
                "**Partial run** ({}): {}\n",
                s.stop_reason.as_ref().map_or("stopped", |r| match r {
                    wsbench_model::results::StopReason::Interrupted => "interrupted",
                    wsbench_model::results::StopReason::TargetFailed => "target failed",
                }),
                s.stop_detail.clone().unwrap_or_default()
            );
        }
        md.push_str(&phase_table(&s.phases));
        if !s.thresholds.is_empty() {
            md.push_str("\n| threshold | transport | value | verdict |\n|---|---|---:|---|\n");
            for t in &s.thresholds {
                let value = threshold_value(t);
                let _ = writeln!(
                    md,
                    "| `{}` | {} | {value} | {} |",
                    t.threshold,
                    t.transport,
                    if t.passed { "pass" } else { "**FAIL**" }
                );
            }
        }
        md.push('\n');
    }
    md
}

/// The per-phase Markdown table.
pub fn phase_table(phases: &[PhaseSummary]) -> String {
    let mut md = String::from(
        "| transport | metric | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | delivered | ratio | msg/s | bytes/msg | req/msg | errors |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for p in phases {
        let metric = main_metric(p);
        let l = p.latency.get(metric.name()).cloned().unwrap_or_default();
        let _ = writeln!(
            md,
            "| {} | {metric} | {} | {} | {} | {} | {} | {} | {:.4} | {:.0} | {:.0} | {:.3} | {} |",
            p.label(),
            ms(l.p50),
            ms(l.p90),
            ms(l.p99),
            ms(l.p999),
            ms(l.max),
            p.counters.delivered,
            p.delivered_ratio,
            p.msg_rate,
            p.bytes_per_msg,
            p.requests_per_msg,
            p.errors()
        );
    }
    md
}

/// Writes each phase's histograms as single-interval logs
/// (`<run>-<transport>-<metric>.hlog`, spanning the measured window) and
/// copies the per-second timeline logs, so HdrHistogram's log tools
/// (`HistogramLogProcessor`, HdrHistogramVisualizer) read them.
pub fn hlogs(runs: &[Run], out: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let mut written = Vec::new();
    for run in runs {
        let start =
            humantime::parse_rfc3339(&run.summary.started_at).unwrap_or(SystemTime::UNIX_EPOCH);
        let prefix = if runs.len() > 1 {
            format!("{}-", run.label)
        } else {
            String::new()
        };
        for p in &run.summary.phases {
            for metric in p.latency.keys() {
                let Some(h) = run.histogram(p, metric)? else {
                    continue;
                };
                let path = out.join(format!("{prefix}{}-{metric}.hlog", p.name()));
                let interval = Interval {
                    start_s: 0.0,
                    duration_s: Duration::from_secs_f64(p.measured_s.max(0.0)).as_secs_f64(),
                    histogram: h,
                };
                write_interval_log(&path, start, &format!("{}-{metric}", p.name()), &[interval])
                    .map_err(|e| ReportError::io(&path, e))?;
                written.push(path);
            }
            if let Some(file) = &p.timeline_log {
                let from = run.dir.join(file);
                let to = out.join(format!("{prefix}{file}"));
                if from != to && from.is_file() {
                    std::fs::copy(&from, &to).map_err(|e| ReportError::io(&to, e))?;
                    written.push(to);
                }
            }
        }
    }
    Ok(written)
}
