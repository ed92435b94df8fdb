//! The regression gate: a baseline against a current result, metric by
//! metric, with limits such as `p99=10%,msg_rate=5%`.
//!
//! A side is one results folder, or a folder of results folders: the
//! repetitions of one scenario. Metrics are named as thresholds name them
//! (`push_latency.p99`, `msg_rate`, `delivered_ratio`; a bare `p99` is the
//! phase's main latency). The rule: the change of a metric is the relative
//! change of its median over the repetitions; its 90% percentile-bootstrap
//! interval decides. An interval that contains no change is "no change"
//! (the difference is inside the noise); one entirely on the worse side
//! with the change beyond the metric's limit is a regression; entirely on
//! the better side and beyond the limit, "improved". A latency needs at
//! least three repetitions a side, else it is "inconclusive". A latency
//! that moved with the load generator's own lag is judged on the part of
//! its change the lag cannot explain (see `judge::confounded`).

mod judge;
mod limits;

use std::fmt::Write as _;
use std::path::Path;

use wsbench_model::metric::Metric;
use wsbench_model::results::{PhaseSummary, RunFolder};
use wsbench_model::threshold::{Measure, Stat};

pub use self::judge::{Row, Verdict};
use self::judge::{confounded, judge};
pub use self::limits::{DEFAULT_LIMITS, Limits};
use self::limits::{LATENCY_STATS, SCALARS};
use crate::ReportError;
use crate::data::{Run, main_metric};
use crate::stats::CONFIDENCE;

/// Repetitions a side a latency metric needs for a verdict.
pub const MIN_REPETITIONS: usize = 3;

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
        if RunFolder::is_results(path) {
            return Ok(Side {
                label,
                runs: vec![Run::load(path)?],
            });
        }
        let entries = std::fs::read_dir(path).map_err(|e| ReportError::io(path, e))?;
        let mut dirs: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| RunFolder::is_results(p))
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

/// The outcome of a comparison.
#[derive(Clone, Debug)]
pub struct Comparison {
    /// The lines.
    pub rows: Vec<Row>,
    /// How the verdicts were decided.
    pub rule: String,
    /// The scenario.
    pub scenario: String,
    /// Repetitions on each side.
    pub repetitions: (usize, usize),
}

impl Comparison {
    /// The gated lines that regressed.
    pub fn regressions(&self) -> impl Iterator<Item = &Row> {
        self.rows
            .iter()
            .filter(|r| r.verdict == Verdict::Regression)
    }

    /// The gated lines that could not be decided (too few repetitions, or
    /// the harness's own lag moved with them).
    pub fn inconclusive(&self) -> impl Iterator<Item = &Row> {
        self.rows.iter().filter(|r| {
            r.limit.is_some() && matches!(r.verdict, Verdict::Inconclusive | Verdict::HarnessMoved)
        })
    }

    /// The overall verdict: the worst of the gated lines.
    pub fn verdict(&self) -> String {
        let names = |rows: Vec<&Row>| {
            rows.iter()
                .map(|r| format!("{} {}", r.transport, r.metric))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let gated = |v: Verdict| {
            self.rows
                .iter()
                .filter(|r| r.limit.is_some() && r.verdict == v)
                .collect::<Vec<_>>()
        };
        let regressed = gated(Verdict::Regression);
        let unsure = gated(Verdict::Inconclusive);
        let confounded = gated(Verdict::HarnessMoved);
        let improved = gated(Verdict::Improved);
        if !regressed.is_empty() {
            format!("REGRESSION in {}", names(regressed))
        } else if !confounded.is_empty() {
            format!(
                "INCONCLUSIVE: {} may have regressed, and the load generator's own lag \
                 (harness_lag.p99) changed enough to explain or to hide it: the target's part \
                 cannot be told from the harness's; rerun both sides on a quiet machine, \
                 interleaved",
                names(confounded)
            )
        } else if !unsure.is_empty() {
            format!(
                "INCONCLUSIVE: {} need at least {MIN_REPETITIONS} repetitions a side (have {} and {})",
                names(unsure),
                self.repetitions.0,
                self.repetitions.1
            )
        } else if !improved.is_empty() {
            format!("improved: {} (nothing gated regressed)", names(improved))
        } else {
            "no change: no gated metric changed beyond the noise and its limit".to_owned()
        }
    }

    /// A plain-text table, the rule and the verdict.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<10} {:<22} {:>11} {:>11} {:>8} {:>18} {:>6}  verdict",
            "transport", "metric", "baseline", "current", "change", "90% interval", "limit"
        );
        for r in &self.rows {
            let [t, m, b, c, ch, iv, l] = r.cells();
            let _ = writeln!(
                out,
                "{t:<10} {m:<22} {b:>11} {c:>11} {ch:>8} {iv:>18} {l:>6}  {}",
                r.verdict_name()
            );
        }
        let _ = writeln!(out, "\nrule: {}\nverdict: {}", self.rule, self.verdict());
        out
    }

    /// A Markdown table with the rule and the verdict (for a CI job
    /// summary).
    pub fn markdown(&self) -> String {
        let mut md = format!(
            "### wsbench compare: {}\n\n**Verdict: {}**\n\n| transport | metric | baseline | current | change | 90% interval | limit | verdict |\n|---|---|---:|---:|---:|---:|---:|---|\n",
            self.scenario,
            self.verdict()
        );
        for r in &self.rows {
            let verdict = match r.verdict {
                Verdict::Regression | Verdict::Inconclusive | Verdict::HarnessMoved
                    if r.limit.is_some() =>
                {
                    format!("**{}**", r.verdict_name())
                }
                _ => r.verdict_name().to_owned(),
            };
            let _ = writeln!(md, "| {} | {verdict} |", r.cells().join(" | "));
        }
        let _ = writeln!(md, "\nRule: {}", self.rule);
        md
    }
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

/// The rows of one phase's metric names: the main latency's statistics,
/// the harness lag and the scalars.
fn row_metrics(main: Metric) -> Vec<(String, Measure)> {
    let stat = |s: &str| match s {
        "max" => Stat::Max,
        s => Stat::Percentile(s[1..].parse().unwrap_or(50.0)),
    };
    let mut out: Vec<(String, Measure)> = LATENCY_STATS
        .iter()
        .map(|s| {
            let m = Measure::Latency {
                metric: main,
                stat: stat(s),
            };
            (format!("{main}.{s}"), m)
        })
        .collect();
    out.push((harness_row(), HARNESS_MEASURE));
    out.extend(SCALARS.map(|m| (m.name().to_owned(), Measure::Scalar(m))));
    out
}

/// The harness lag row every phase gets.
const HARNESS_MEASURE: Measure = Measure::Latency {
    metric: Metric::HarnessLag,
    stat: Stat::Percentile(99.0),
};

fn harness_row() -> String {
    format!("{}.p99", Metric::HarnessLag)
}

/// The runs of `side` with their phase `name` (a transport, or a group).
fn phases_of<'a>(side: &'a Side, name: &str) -> Vec<(&'a Run, &'a PhaseSummary)> {
    side.runs
        .iter()
        .filter_map(|r| {
            let p = r.summary.phases.iter().find(|p| p.name() == name)?;
            Some((r, p))
        })
        .collect()
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
    let mut rows = Vec::new();
    for bp in &b0.summary.phases {
        let (base, cur) = (
            phases_of(baseline, bp.name()),
            phases_of(current, bp.name()),
        );
        if cur.len() != current.runs.len() {
            return Err(ReportError::Incompatible(format!(
                "the current result has no {} phase (the baseline has)",
                bp.label()
            )));
        }
        if cur[0].1.workload != bp.workload {
            return Err(ReportError::Incompatible(format!(
                "{}: the baseline measured {}, the current result {}",
                bp.label(),
                bp.workload,
                cur[0].1.workload
            )));
        }
        let main = main_metric(bp);
        let first = rows.len();
        for (name, m) in row_metrics(main) {
            let values = |side: &[(&Run, &PhaseSummary)]| -> Vec<f64> {
                side.iter()
                    .filter_map(|(r, p)| p.metric(&m, Some(&r.dir)))
                    .collect()
            };
            let (bv, cv) = (values(&base), values(&cur));
            if bv.is_empty() || cv.is_empty() {
                continue;
            }
            let latency = matches!(m, Measure::Latency { .. });
            let mut row = judge(&name, latency, &bv, &cv, limits.of(&name, main.name()));
            row.transport = bp.name().to_owned();
            rows.push(row);
        }
        let phase = &mut rows[first..];
        if let Some(harness) = phase.iter().find(|r| r.metric == harness_row()).cloned() {
            confounded(phase, &harness);
        }
    }
    let (nb, nc) = (baseline.runs.len(), current.runs.len());
    let rule = format!(
        "each metric's median over the repetitions ({nb} baseline, {nc} current); the change of \
         the median with its {:.0}% percentile-bootstrap interval ({} resamples): an interval \
         containing no change is \"no change\"; entirely worse with the change beyond the \
         metric's limit, a regression; entirely better and beyond the limit, \"improved\". \
         Latencies need at least {MIN_REPETITIONS} repetitions a side (else \"inconclusive\"); \
         other metrics with fewer are compared with their limit directly. When the phase's \
         harness_lag.p99 changed beyond the noise, a latency's own change is taken to lie between \
         its whole change and that change less the lag's: \"inconclusive: harness lag moved \
         too\" when a regression is somewhere in that range but not all of it, \"within limit, \
         harness lag moved too\" when all of it is within the limit but its direction is not \
         sure (no regression is possible)",
        CONFIDENCE * 100.0,
        crate::stats::RESAMPLES,
    );
    Ok(Comparison {
        rows,
        rule,
        scenario: b0.summary.scenario.clone(),
        repetitions: (nb, nc),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A gated latency whose direction the harness lag may explain passes
    /// the gate; one that may hide a regression does not.
    #[test]
    fn the_gate_passes_a_change_within_its_limit_and_not_a_hidden_regression() {
        let gate = |verdict: Verdict| Comparison {
            rows: vec![Row {
                transport: "long-poll".to_owned(),
                metric: "push_latency.p50".to_owned(),
                baseline: 2.08e6,
                current: 1.94e6,
                change: -0.064,
                interval: Some((-0.246, -0.001)),
                limit: Some(1.0),
                verdict,
            }],
            rule: String::new(),
            scenario: "ci-gate".to_owned(),
            repetitions: (3, 3),
        };
        let within = gate(Verdict::LagWithin);
        assert_eq!(within.inconclusive().count(), 0);
        assert!(
            within.verdict().starts_with("no change"),
            "{}",
            within.verdict()
        );
        let hidden = gate(Verdict::HarnessMoved);
        assert_eq!(hidden.inconclusive().count(), 1);
        assert!(
            hidden.verdict().starts_with("INCONCLUSIVE"),
            "{}",
            hidden.verdict()
        );
    }
}
