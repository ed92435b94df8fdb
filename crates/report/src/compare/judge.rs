//! One metric's verdict from the two sides' repetitions: the change of
//! the median, its bootstrap interval, and the metric's limit.

use wsbench_model::metric;

use super::MIN_REPETITIONS;
use super::limits::higher_is_better;
use crate::stats::{change_interval, median, relative_change};

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
    /// Regressed, or may have (see [`confounded`]), but the load
    /// generator's own lag moved too: the target's part cannot be told
    /// from the harness's.
    HarnessMoved,
    /// Changed beyond the noise and within its limit, but the load
    /// generator's own lag moved enough to explain the change: its
    /// direction cannot be told, and no regression is possible.
    LagWithin,
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
            Verdict::HarnessMoved => "inconclusive: harness lag moved too",
            Verdict::LagWithin => "within limit, harness lag moved too",
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

    /// The row as the tables show it: transport, metric, baseline,
    /// current, change, interval, limit.
    pub fn cells(&self) -> [String; 7] {
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

/// Latency rows of one phase, once the harness lag (`harness`, that
/// phase's `harness_lag.p99` row) moved beyond the noise. The lag's shift
/// is at most what the harness added to (or took from) a latency, so the
/// target's own change lies between the latency's whole shift and that
/// shift less the lag's ([`own_change`]). A verdict stands when every
/// change in that range earns it. A regression (or a change that may
/// hide one: the range reaches past the limit) becomes
/// [`Verdict::HarnessMoved`], which the gate reports as inconclusive; a
/// change within the limit whose direction the lag may explain becomes
/// [`Verdict::LagWithin`], which the gate passes (whatever the harness's
/// part, no regression is possible).
pub(super) fn confounded(rows: &mut [Row], harness: &Row) {
    let moved = matches!(harness.interval, Some((lo, hi)) if lo > 0.0 || hi < 0.0);
    if !moved {
        return;
    }
    let lag_shift = harness.current - harness.baseline;
    for r in rows.iter_mut() {
        let is_latency = metric::find(r.metric.split('.').next().unwrap_or_default())
            .is_some_and(|d| d.kind == metric::Kind::Latency);
        if !is_latency || r.metric == harness.metric || r.interval.is_none() || r.baseline <= 0.0 {
            continue;
        }
        let (lo, hi) = own_change(r.change, lag_shift / r.baseline);
        r.verdict = within_lag(r.verdict, lo, hi, r.limit);
    }
}

/// The range of a latency's own relative change (positive: worse) when
/// its whole change is `change` and the harness lag moved by `lag`
/// (relative to the latency's baseline, positive: the lag grew): the
/// harness's part lies between none and all of the lag's shift.
fn own_change(change: f64, lag: f64) -> (f64, f64) {
    (change - lag.max(0.0), change - lag.min(0.0))
}

/// A latency's verdict when its own change is only known to lie in
/// `[lo, hi]` (relative, positive: worse).
fn within_lag(verdict: Verdict, lo: f64, hi: f64, limit: Option<f64>) -> Verdict {
    let beyond = |x: f64| limit.is_some_and(|l| x > l);
    match verdict {
        Verdict::Regression if beyond(lo) => Verdict::Regression,
        Verdict::Regression => Verdict::HarnessMoved,
        _ if beyond(hi) => Verdict::HarnessMoved,
        Verdict::Improved if beyond(-hi) => Verdict::Improved,
        Verdict::Improved | Verdict::Better if hi < 0.0 => Verdict::Better,
        Verdict::Worse if lo > 0.0 => Verdict::Worse,
        Verdict::Improved | Verdict::Better | Verdict::Worse => Verdict::LagWithin,
        other => other,
    }
}

/// Judges one metric from the two sides' repetitions.
pub(super) fn judge(name: &str, latency: bool, b: &[f64], c: &[f64], limit: Option<f64>) -> Row {
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

#[cfg(test)]
mod tests {
    use super::*;

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

    /// A latency's verdict, alone and once the harness lag's rows are
    /// taken into account: (base, current, limit) of the latency, (base,
    /// current) of the lag, each side three repetitions around the value.
    fn with_lag(latency: (f64, f64, f64), lag: (f64, f64)) -> (Verdict, Verdict) {
        let three = |v: f64| [v, v * 1.01, v * 0.99];
        let (b, c, limit) = latency;
        let mut rows = vec![judge(
            "echo_rtt.p50",
            true,
            &three(b),
            &three(c),
            Some(limit),
        )];
        let alone = rows[0].verdict;
        let harness = judge("harness_lag.p99", true, &three(lag.0), &three(lag.1), None);
        confounded(&mut rows, &harness);
        (alone, rows[0].verdict)
    }

    #[test]
    fn a_change_the_harness_lag_shares_is_not_blamed_on_the_target() {
        use Verdict::{Better, HarnessMoved, Improved, LagWithin, Regression, Worse};
        for (why, latency, lag, want) in [
            (
                "the lag went from 0.5 to 4.8: the latency's 0.19 moved with it",
                (150.0, 335.0, 0.1),
                (510.0, 4840.0),
                (Regression, HarnessMoved),
            ),
            (
                "a real change of 10 ms while the lag moved 0.2 ms",
                (5e6, 15e6, 0.1),
                (3e5, 5e5),
                (Regression, Regression),
            ),
            (
                "+154% (10 ms) while the lag moved 1.3 ms: 8.7 ms is not the harness's",
                (6.5e6, 16.5e6, 0.2),
                (1.05e6, 2.35e6),
                (Regression, Regression),
            ),
            (
                "+30% as a whole, +10% once the lag's shift is taken off",
                (10e6, 13e6, 0.2),
                (1e6, 3e6),
                (Regression, HarnessMoved),
            ),
            (
                "better within its limit, the lag's shift smaller",
                (10.9e6, 8.1e6, 0.5),
                (3.3e6, 1.25e6),
                (Better, Better),
            ),
            (
                "the lag moved the other way",
                (150.0, 335.0, 0.1),
                (4840.0, 510.0),
                (Regression, Regression),
            ),
            (
                "better within its limit, the lag's fall larger (2.08 -> 1.94 ms, lag 1.50 -> 1.06 ms)",
                (2.08e6, 1.94e6, 1.0),
                (1.50e6, 1.06e6),
                (Better, LagWithin),
            ),
            (
                "worse within its limit, all of it the lag's rise",
                (10e6, 10.5e6, 0.5),
                (1e6, 2e6),
                (Worse, LagWithin),
            ),
            (
                "+5 % while the lag fell by half the latency: +55 % may be the target's",
                (1e6, 1.05e6, 0.1),
                (1e6, 0.5e6),
                (Worse, HarnessMoved),
            ),
            (
                "-60 %, and still -55 % with the lag's fall counted against it",
                (10e6, 4e6, 0.5),
                (1e6, 0.5e6),
                (Improved, Improved),
            ),
            (
                "-60 %, but only -40 % with the lag's fall counted against it",
                (10e6, 4e6, 0.5),
                (3e6, 1e6),
                (Improved, Better),
            ),
        ] {
            assert_eq!(with_lag(latency, lag), want, "{why}");
        }
    }
}
