//! The regression gate: a baseline against a current result, metric by
//! metric, with limits such as `p99=10%,throughput=5%`.
//!
//! A side is one results folder, or a folder of results folders: the
//! repetitions of one scenario. With repetitions the gate compares the
//! best of each side (the minimum of the medians, of the p99s, …; the
//! maximum of the throughputs), and a change beyond its limit that stays
//! inside the spread of the baseline's own repetitions counts as noise.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use wsbench_model::results::PhaseSummary;

use crate::ReportError;
use crate::data::{Run, fmt_ns, main_metric};

/// A metric the gate knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Metric {
    /// Its name in `--max-regression`.
    pub name: &'static str,
    /// Whether larger values are better.
    pub higher_is_better: bool,
    /// Whether the value is a latency in nanoseconds.
    pub latency: bool,
}

/// Every metric, in table order.
pub const METRICS: [Metric; 11] = [
    Metric {
        name: "p50",
        higher_is_better: false,
        latency: true,
    },
    Metric {
        name: "p90",
        higher_is_better: false,
        latency: true,
    },
    Metric {
        name: "p99",
        higher_is_better: false,
        latency: true,
    },
    Metric {
        name: "p999",
        higher_is_better: false,
        latency: true,
    },
    Metric {
        name: "max",
        higher_is_better: false,
        latency: true,
    },
    Metric {
        name: "throughput",
        higher_is_better: true,
        latency: false,
    },
    Metric {
        name: "delivered_ratio",
        higher_is_better: true,
        latency: false,
    },
    Metric {
        name: "errors",
        higher_is_better: false,
        latency: false,
    },
    Metric {
        name: "bytes_per_msg",
        higher_is_better: false,
        latency: false,
    },
    Metric {
        name: "requests_per_msg",
        higher_is_better: false,
        latency: false,
    },
    Metric {
        name: "server_cpu",
        higher_is_better: false,
        latency: false,
    },
];

/// The limits used when none are given.
pub const DEFAULT_LIMITS: &str = "p50=10%,p99=10%,throughput=5%,delivered_ratio=1%";

/// Allowed worsening per metric, as a fraction (0.10 for 10%).
#[derive(Clone, Debug, PartialEq)]
pub struct Limits(pub BTreeMap<&'static str, f64>);

impl Limits {
    /// Parses `p99=10%,throughput=5%` (a bare number is a percentage too).
    pub fn parse(text: &str) -> Result<Limits, String> {
        let mut out = BTreeMap::new();
        for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (name, value) = item
                .split_once('=')
                .ok_or_else(|| format!("`{item}`: expected METRIC=PERCENT, e.g. p99=10%"))?;
            let name = name.trim();
            let metric = METRICS.iter().find(|m| m.name == name).ok_or_else(|| {
                let names: Vec<&str> = METRICS.iter().map(|m| m.name).collect();
                format!("`{name}`: unknown metric; known: {}", names.join(", "))
            })?;
            let v = value.trim().trim_end_matches('%');
            let pct: f64 = v
                .parse()
                .ok()
                .filter(|p: &f64| p.is_finite() && *p >= 0.0)
                .ok_or_else(|| format!("`{item}`: `{value}` is not a percentage ≥ 0"))?;
            out.insert(metric.name, pct / 100.0);
        }
        if out.is_empty() {
            return Err("no limits given".into());
        }
        Ok(Limits(out))
    }
}

/// One side of a comparison: a run, or several repetitions of one.
#[derive(Clone, Debug)]
pub struct Side {
    /// What was given on the command line.
    pub label: String,
    /// The runs.
    pub runs: Vec<Run>,
}

impl Side {
    /// Reads `path`: a results folder, or a folder whose subfolders are
    /// results folders (repetitions).
    pub fn load(path: &Path) -> Result<Side, ReportError> {
        let label = path.display().to_string();
        if path.join("summary.json").is_file() {
            return Ok(Side {
                label,
                runs: vec![Run::load(path)?],
            });
        }
        let entries = std::fs::read_dir(path).map_err(|e| ReportError::io(path, e))?;
        let mut dirs: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.join("summary.json").is_file())
            .collect();
        dirs.sort();
        if dirs.is_empty() {
            return Err(ReportError::Invalid(format!(
                "{}: neither a results folder (summary.json) nor a folder of results folders",
                path.display()
            )));
        }
        let runs = dirs
            .iter()
            .map(|d| Run::load(d))
            .collect::<Result<Vec<_>, _>>()?;
        let first = &runs[0].summary.scenario;
        if let Some(other) = runs.iter().find(|r| &r.summary.scenario != first) {
            return Err(ReportError::Incompatible(format!(
                "{}: repetitions of different scenarios ({first} and {})",
                path.display(),
                other.summary.scenario
            )));
        }
        Ok(Side { label, runs })
    }
}

/// A metric's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Within its limit.
    Pass,
    /// Better than the baseline.
    Improved,
    /// Beyond its limit, but inside the baseline repetitions' own spread.
    Noise,
    /// Worse than the baseline by more than its limit.
    Regression,
    /// Shown, not gated.
    Info,
}

impl Verdict {
    /// As printed.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "ok",
            Verdict::Improved => "improved",
            Verdict::Noise => "ok (noise)",
            Verdict::Regression => "REGRESSION",
            Verdict::Info => "-",
        }
    }
}

/// One line of the comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The phase.
    pub transport: String,
    /// The metric.
    pub metric: Metric,
    /// The baseline's value (best over its repetitions).
    pub baseline: f64,
    /// The current value (best over its repetitions).
    pub current: f64,
    /// (current − baseline) / baseline; infinite from a zero baseline.
    pub change: f64,
    /// The allowed worsening, when gated.
    pub limit: Option<f64>,
    /// The verdict.
    pub verdict: Verdict,
}

impl Row {
    /// Transport, metric, baseline, current, change and limit, as shown.
    fn cells(&self) -> [String; 6] {
        [
            self.transport.clone(),
            self.metric.name.to_owned(),
            value(self.metric, self.baseline),
            value(self.metric, self.current),
            change(self.change),
            self.limit
                .map_or_else(|| "-".to_owned(), |l| format!("{:.0}%", l * 100.0)),
        ]
    }
}

/// The outcome of a comparison.
#[derive(Clone, Debug)]
pub struct Comparison {
    /// The lines.
    pub rows: Vec<Row>,
    /// How the verdicts were decided.
    pub rule: String,
    /// The scenario.
    pub scenario: String,
}

impl Comparison {
    /// The lines that regressed.
    pub fn regressions(&self) -> impl Iterator<Item = &Row> {
        self.rows
            .iter()
            .filter(|r| r.verdict == Verdict::Regression)
    }

    /// A plain-text table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<11} {:<17} {:>12} {:>12} {:>9} {:>7}  verdict",
            "transport", "metric", "baseline", "current", "change", "limit"
        );
        for r in &self.rows {
            let [t, m, b, c, ch, l] = r.cells();
            let _ = writeln!(
                out,
                "{t:<11} {m:<17} {b:>12} {c:>12} {ch:>9} {l:>7}  {}",
                r.verdict.name()
            );
        }
        let _ = writeln!(out, "\nrule: {}", self.rule);
        out
    }

    /// A Markdown table (for a CI job summary).
    pub fn markdown(&self) -> String {
        let mut md = format!(
            "### wsbench compare: {}\n\n| transport | metric | baseline | current | change | limit | verdict |\n|---|---|---:|---:|---:|---:|---|\n",
            self.scenario
        );
        for r in &self.rows {
            let verdict = if r.verdict == Verdict::Regression {
                format!("**{}**", r.verdict.name())
            } else {
                r.verdict.name().to_owned()
            };
            let _ = writeln!(md, "| {} | {verdict} |", r.cells().join(" | "));
        }
        let _ = writeln!(md, "\nRule: {}", self.rule);
        md
    }
}

fn value(m: Metric, v: f64) -> String {
    if m.latency {
        fmt_ns(v)
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.4}")
    }
}

fn change(c: f64) -> String {
    if c.is_infinite() {
        "new".to_owned()
    } else {
        format!("{:+.1}%", c * 100.0)
    }
}

fn metric_value(p: &PhaseSummary, m: Metric) -> Option<f64> {
    let l = p.latency.get(main_metric(p)).filter(|l| l.count > 0);
    Some(match m.name {
        "p50" => l?.p50 as f64,
        "p90" => l?.p90 as f64,
        "p99" => l?.p99 as f64,
        "p999" => l?.p999 as f64,
        "max" => l?.max as f64,
        "throughput" => p.msg_rate,
        "delivered_ratio" => p.delivered_ratio,
        "errors" => p.errors() as f64,
        "bytes_per_msg" => p.bytes_per_msg,
        "requests_per_msg" => p.requests_per_msg,
        "server_cpu" => p.server_cpu_us_per_msg?,
        _ => return None,
    })
}

fn check_runs(side: &Side, what: &str) -> Result<(), ReportError> {
    for r in &side.runs {
        if r.summary.partial {
            return Err(ReportError::Incompatible(format!(
                "the {what} {} is a partial run ({}); rerun it to compare",
                r.dir.display(),
                r.summary.stop_detail.as_deref().unwrap_or("stopped early")
            )));
        }
    }
    Ok(())
}

/// Compares `current` with `baseline` under `limits`.
pub fn compare(
    baseline: &Side,
    current: &Side,
    limits: &Limits,
) -> Result<Comparison, ReportError> {
    check_runs(baseline, "baseline")?;
    check_runs(current, "current result")?;
    let (b0, c0) = (&baseline.runs[0], &current.runs[0]);
    if b0.summary.scenario != c0.summary.scenario {
        return Err(ReportError::Incompatible(format!(
            "different scenarios: the baseline ran `{}`, the current result `{}`",
            b0.summary.scenario, c0.summary.scenario
        )));
    }
    let (nb, nc) = (baseline.runs.len(), current.runs.len());
    let mut rows = Vec::new();
    for bp in &b0.summary.phases {
        let find = |run: &Run| {
            run.summary
                .phases
                .iter()
                .find(|p| p.transport == bp.transport)
                .cloned()
        };
        let cur: Vec<PhaseSummary> = current.runs.iter().filter_map(find).collect();
        if cur.len() != nc {
            return Err(ReportError::Incompatible(format!(
                "the current result has no {} phase (the baseline has)",
                bp.transport
            )));
        }
        if cur[0].workload != bp.workload {
            return Err(ReportError::Incompatible(format!(
                "{}: the baseline measured {}, the current result {}",
                bp.transport, bp.workload, cur[0].workload
            )));
        }
        let base: Vec<PhaseSummary> = baseline.runs.iter().filter_map(find).collect();
        for m in METRICS {
            let bv: Vec<f64> = base.iter().filter_map(|p| metric_value(p, m)).collect();
            let cv: Vec<f64> = cur.iter().filter_map(|p| metric_value(p, m)).collect();
            if bv.is_empty() || cv.is_empty() {
                continue;
            }
            let best = |v: &[f64]| {
                if m.higher_is_better {
                    v.iter().copied().fold(f64::MIN, f64::max)
                } else {
                    v.iter().copied().fold(f64::MAX, f64::min)
                }
            };
            let worst = |v: &[f64]| {
                if m.higher_is_better {
                    v.iter().copied().fold(f64::MAX, f64::min)
                } else {
                    v.iter().copied().fold(f64::MIN, f64::max)
                }
            };
            let (b, c) = (best(&bv), best(&cv));
            let change = if b == 0.0 {
                if c == 0.0 {
                    0.0
                } else {
                    f64::INFINITY.copysign(c)
                }
            } else {
                (c - b) / b.abs()
            };
            // Positive: worse.
            let worse = if m.higher_is_better { -change } else { change };
            let limit = limits.0.get(m.name).copied();
            let verdict = match limit {
                None => Verdict::Info,
                Some(l) if worse > l => {
                    let w = worst(&bv);
                    let inside = if m.higher_is_better { c >= w } else { c <= w };
                    if bv.len() > 1 && inside {
                        Verdict::Noise
                    } else {
                        Verdict::Regression
                    }
                }
                Some(_) if worse < 0.0 => Verdict::Improved,
                Some(_) => Verdict::Pass,
            };
            rows.push(Row {
                transport: bp.transport.clone(),
                metric: m,
                baseline: b,
                current: c,
                change,
                limit,
                verdict,
            });
        }
    }
    let rule = if nb == 1 && nc == 1 {
        "one run on each side: a gated metric regresses when it is worse than the baseline by more than its limit".to_owned()
    } else {
        format!(
            "best of {nb} baseline and best of {nc} current repetitions (minimum of each latency percentile, maximum of throughput); \
             a gated metric regresses when that best is worse than the baseline's best by more than its limit \
             and also outside the range of the baseline's own repetitions (else: noise)"
        )
    };
    Ok(Comparison {
        rows,
        rule,
        scenario: b0.summary.scenario.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse_with_clear_errors() {
        let l = Limits::parse("p99=10%, throughput=5").unwrap();
        assert_eq!(l.0["p99"], 0.10);
        assert_eq!(l.0["throughput"], 0.05);
        assert!(
            Limits::parse("p98=1%")
                .unwrap_err()
                .contains("unknown metric")
        );
        assert!(Limits::parse("p99").unwrap_err().contains("METRIC=PERCENT"));
        assert!(Limits::parse("p99=-3%").unwrap_err().contains("percentage"));
        assert!(Limits::parse(DEFAULT_LIMITS).is_ok());
    }
}
