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
//! least three repetitions a side, else it is "inconclusive".

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use wsbench_model::metric::{self, Kind};
use wsbench_model::results::PhaseSummary;
use wsbench_model::threshold::{Metric, Stat};

use crate::ReportError;
use crate::data::{Run, main_metric};
use crate::stats::{CONFIDENCE, change_interval, median, relative_change};

/// Repetitions a side a latency metric needs for a verdict.
pub const MIN_REPETITIONS: usize = 3;

/// The limits used when none are given.
pub const DEFAULT_LIMITS: &str = "p50=10%,p99=10%,msg_rate=5%,delivered_ratio=1%";

/// Statistics of the main latency the table shows, as a threshold names
/// them.
const LATENCY_STATS: [&str; 5] = ["p50", "p90", "p99", "p99.9", "max"];
/// Other metrics the table shows.
const SCALARS: [&str; 7] = [
    "msg_rate",
    "delivered_ratio",
    "errors",
    "lost",
    "bytes_per_msg",
    "requests_per_msg",
    "server_cpu_us_per_msg",
];

fn higher_is_better(name: &str) -> bool {
    matches!(name, "msg_rate" | "delivered_ratio")
}

/// Allowed worsening per metric, as a fraction (0.10 for 10%): by full
/// name (`push_latency.p99`, `msg_rate`) or by a statistic of the main
/// latency (`p99`).
#[derive(Clone, Debug, PartialEq)]
pub struct Limits(pub BTreeMap<String, f64>);

impl Limits {
    /// Parses `p99=10%,msg_rate=5%` (a bare number is a percentage too).
    pub fn parse(text: &str) -> Result<Limits, String> {
        let mut out = BTreeMap::new();
        for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (name, value) = item
                .split_once('=')
                .ok_or_else(|| format!("`{item}`: expected METRIC=PERCENT, e.g. p99=10%"))?;
            let name = name.trim();
            check_name(name)?;
            let v = value.trim().trim_end_matches('%');
            let pct: f64 = v
                .parse()
                .ok()
                .filter(|p: &f64| p.is_finite() && *p >= 0.0)
                .ok_or_else(|| format!("`{item}`: `{value}` is not a percentage ≥ 0"))?;
            out.insert(name.to_owned(), pct / 100.0);
        }
        if out.is_empty() {
            return Err("no limits given".into());
        }
        Ok(Limits(out))
    }

    fn of(&self, row: &str, main: &str) -> Option<f64> {
        let bare = row.strip_prefix(main).and_then(|s| s.strip_prefix('.'));
        self.0
            .get(row)
            .or_else(|| bare.and_then(|b| self.0.get(b)))
            .copied()
    }
}

/// Whether `name` is a metric the gate knows, with a hint if not.
fn check_name(name: &str) -> Result<(), String> {
    let renamed = match name {
        "throughput" => Some("msg_rate"),
        "p999" => Some("p99.9"),
        "server_cpu" => Some("server_cpu_us_per_msg"),
        _ => None,
    };
    if let Some(new) = renamed {
        return Err(format!("`{name}`: unknown metric; it is called `{new}`"));
    }
    if LATENCY_STATS.contains(&name) || SCALARS.contains(&name) {
        return Ok(());
    }
    let (m, stat) = name.split_once('.').unwrap_or((name, ""));
    match metric::find(m) {
        Some(d) if d.kind == Kind::Latency && LATENCY_STATS.contains(&stat) => Ok(()),
        Some(_) if stat.is_empty() && SCALARS.contains(&m) => Ok(()),
        _ => Err(format!(
            "`{name}`: unknown metric; known: {}, {}, and LATENCY.STAT (e.g. push_latency.p99)",
            LATENCY_STATS.join(", "),
            SCALARS.join(", ")
        )),
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
    /// The interval contains no change: any difference is inside the noise.
    NoChange,
    /// Worse beyond the noise, but within its limit (or not gated).
    Worse,
    /// Better beyond the noise, but not beyond its limit.
    Better,
    /// Better beyond the noise and beyond its limit.
    Improved,
    /// Worse beyond the noise and beyond its limit.
    Regression,
    /// Too few repetitions to tell noise from change.
    Inconclusive,
    /// One run a side, not a latency: compared directly with its limit.
    Within,
}

impl Verdict {
    /// As printed.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::NoChange => "no change",
            Verdict::Worse => "worse, within limit",
            Verdict::Better => "better, within limit",
            Verdict::Improved => "improved",
            Verdict::Regression => "REGRESSION",
            Verdict::Inconclusive => "inconclusive",
            Verdict::Within => "within limit",
        }
    }
}

/// One line of the comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The phase.
    pub transport: String,
    /// The metric, as thresholds name it.
    pub metric: String,
    /// The baseline's median over its repetitions.
    pub baseline: f64,
    /// The current median.
    pub current: f64,
    /// The relative change of the median (positive: larger).
    pub change: f64,
    /// The interval of the change, when there were enough repetitions.
    pub interval: Option<(f64, f64)>,
    /// The allowed worsening, when gated.
    pub limit: Option<f64>,
    /// The verdict.
    pub verdict: Verdict,
}

impl Row {
    /// The verdict as printed (an ungated change is only "worse" or
    /// "better").
    pub fn verdict_name(&self) -> &'static str {
        match (self.verdict, self.limit) {
            (Verdict::Worse, None) => "worse",
            (Verdict::Better, None) => "better",
            (v, _) => v.name(),
        }
    }

    fn cells(&self) -> [String; 7] {
        let def = metric::find(self.metric.split('.').next().unwrap_or_default());
        let value = |v: f64| def.map_or_else(|| format!("{v:.4}"), |d| d.format(v));
        [
            self.transport.clone(),
            self.metric.clone(),
            value(self.baseline),
            value(self.current),
            pct(self.change),
            self.interval.map_or_else(
                || "-".to_owned(),
                |(a, b)| format!("[{}, {}]", pct(a), pct(b)),
            ),
            self.limit
                .map_or_else(|| "-".to_owned(), |l| format!("{:.0}%", l * 100.0)),
        ]
    }
}

fn pct(c: f64) -> String {
    if c.is_infinite() {
        if c > 0.0 { "+inf" } else { "-inf" }.to_owned()
    } else {
        format!("{:+.1}%", c * 100.0)
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

    /// The gated lines that could not be decided.
    pub fn inconclusive(&self) -> impl Iterator<Item = &Row> {
        self.rows
            .iter()
            .filter(|r| r.limit.is_some() && r.verdict == Verdict::Inconclusive)
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
        let improved = gated(Verdict::Improved);
        if !regressed.is_empty() {
            format!("REGRESSION in {}", names(regressed))
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
                Verdict::Regression | Verdict::Inconclusive if r.limit.is_some() => {
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
fn row_metrics(main: &str) -> Vec<(String, Metric)> {
    let stat = |s: &str| match s {
        "max" => Stat::Max,
        s => Stat::Percentile(s[1..].parse().unwrap_or(50.0)),
    };
    let mut out: Vec<(String, Metric)> = LATENCY_STATS
        .iter()
        .map(|s| {
            let m = Metric::Latency {
                histogram: main.to_owned(),
                stat: stat(s),
            };
            (format!("{main}.{s}"), m)
        })
        .collect();
    out.push((
        "harness_lag.p99".to_owned(),
        Metric::Latency {
            histogram: "harness_lag".to_owned(),
            stat: Stat::Percentile(99.0),
        },
    ));
    out.extend(
        SCALARS
            .iter()
            .map(|s| ((*s).to_owned(), Metric::Scalar((*s).to_owned()))),
    );
    out
}

/// The runs of `side` with their phase on `transport`.
fn phases_of<'a>(side: &'a Side, transport: &str) -> Vec<(&'a Run, &'a PhaseSummary)> {
    side.runs
        .iter()
        .filter_map(|r| {
            let p = r.summary.phases.iter().find(|p| p.transport == transport)?;
            Some((r, p))
        })
        .collect()
}

/// Judges one metric from the two sides' repetitions.
fn judge(name: &str, latency: bool, b: &[f64], c: &[f64], limit: Option<f64>) -> Row {
    let (mb, mc) = (median(b), median(c));
    let change = relative_change(mb, mc);
    let sign = if higher_is_better(name) { -1.0 } else { 1.0 };
    let worse = change * sign;
    let enough = b.len() >= MIN_REPETITIONS && c.len() >= MIN_REPETITIONS;
    let interval = enough.then(|| change_interval(b, c));
    let verdict = match interval {
        None if latency => Verdict::Inconclusive,
        None => match limit {
            Some(l) if worse > l => Verdict::Regression,
            _ => Verdict::Within,
        },
        Some((lo, hi)) => {
            let (worse_lo, worse_hi) = if sign > 0.0 { (lo, hi) } else { (-hi, -lo) };
            // Gated metrics only: beyond the noise *and* the limit.
            let beyond = |x: f64| limit.is_some_and(|l| x > l);
            if worse_lo > 0.0 {
                if beyond(worse) {
                    Verdict::Regression
                } else {
                    Verdict::Worse
                }
            } else if worse_hi < 0.0 {
                if beyond(-worse) {
                    Verdict::Improved
                } else {
                    Verdict::Better
                }
            } else {
                Verdict::NoChange
            }
        }
    };
    Row {
        transport: String::new(),
        metric: name.to_owned(),
        baseline: mb,
        current: mc,
        change,
        interval,
        limit,
        verdict,
    }
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
            phases_of(baseline, &bp.transport),
            phases_of(current, &bp.transport),
        );
        if cur.len() != current.runs.len() {
            return Err(ReportError::Incompatible(format!(
                "the current result has no {} phase (the baseline has)",
                bp.transport
            )));
        }
        if cur[0].1.workload != bp.workload {
            return Err(ReportError::Incompatible(format!(
                "{}: the baseline measured {}, the current result {}",
                bp.transport, bp.workload, cur[0].1.workload
            )));
        }
        let main = main_metric(bp);
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
            let latency = matches!(m, Metric::Latency { .. });
            let mut row = judge(&name, latency, &bv, &cv, limits.of(&name, main));
            row.transport.clone_from(&bp.transport);
            rows.push(row);
        }
    }
    let (nb, nc) = (baseline.runs.len(), current.runs.len());
    let rule = format!(
        "each metric's median over the repetitions ({nb} baseline, {nc} current); the change of \
         the median with its {:.0}% percentile-bootstrap interval ({} resamples): an interval \
         containing no change is \"no change\"; entirely worse with the change beyond the \
         metric's limit, a regression; entirely better and beyond the limit, \"improved\". \
         Latencies need at least {MIN_REPETITIONS} repetitions a side (else \"inconclusive\"); \
         other metrics with fewer are compared with their limit directly",
        CONFIDENCE * 100.0,
        crate::stats::RESAMPLES
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

    #[test]
    fn limits_parse_with_threshold_names_and_clear_errors() {
        let l = Limits::parse("p99=10%, msg_rate=5, push_latency.p99.9=20%").unwrap();
        assert_eq!(l.0["p99"], 0.10);
        assert_eq!(l.0["msg_rate"], 0.05);
        assert_eq!(l.of("push_latency.p99", "push_latency"), Some(0.10));
        assert_eq!(l.of("push_latency.p99.9", "push_latency"), Some(0.20));
        assert_eq!(l.of("echo_rtt.p50", "echo_rtt"), None);
        assert!(
            Limits::parse("throughput=5%")
                .unwrap_err()
                .contains("msg_rate")
        );
        assert!(Limits::parse("p999=5%").unwrap_err().contains("p99.9"));
        assert!(
            Limits::parse("p98=1%")
                .unwrap_err()
                .contains("unknown metric")
        );
        assert!(Limits::parse("p99").unwrap_err().contains("METRIC=PERCENT"));
        assert!(Limits::parse("p99=-3%").unwrap_err().contains("percentage"));
        assert!(Limits::parse(DEFAULT_LIMITS).is_ok());
    }

    #[test]
    fn verdicts_follow_the_interval_and_the_limit() {
        let same = [1.00, 1.02, 0.99];
        // Inside the noise: no change, never "improved".
        let r = judge(
            "push_latency.p99",
            true,
            &same,
            &[0.999, 1.01, 1.0],
            Some(0.1),
        );
        assert_eq!(r.verdict, Verdict::NoChange);
        // Clearly and far worse: a regression; clearly worse but within
        // the limit: worse, within limit.
        let r = judge(
            "push_latency.p99",
            true,
            &same,
            &[1.5, 1.52, 1.49],
            Some(0.1),
        );
        assert_eq!(r.verdict, Verdict::Regression);
        let r = judge(
            "push_latency.p99",
            true,
            &same,
            &[1.05, 1.06, 1.055],
            Some(0.1),
        );
        assert_eq!(r.verdict, Verdict::Worse);
        // A rate that falls is worse.
        let r = judge(
            "msg_rate",
            false,
            &[100.0, 101.0, 99.0],
            &[80.0, 81.0, 79.0],
            Some(0.05),
        );
        assert_eq!(r.verdict, Verdict::Regression);
        let r = judge(
            "push_latency.p99",
            true,
            &same,
            &[0.5, 0.51, 0.49],
            Some(0.1),
        );
        assert_eq!(r.verdict, Verdict::Improved);
        // One run a side: a latency cannot be judged, a count can.
        let r = judge("push_latency.p50", true, &[1.0], &[9.0], Some(0.1));
        assert_eq!(r.verdict, Verdict::Inconclusive);
        let r = judge("errors", false, &[0.0], &[3.0], Some(0.0));
        assert_eq!(r.verdict, Verdict::Regression);
        let r = judge("errors", false, &[0.0], &[0.0], Some(0.0));
        assert_eq!(r.verdict, Verdict::Within);
    }
}
