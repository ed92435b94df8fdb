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
    /// Changed beyond the noise, but the load generator's own lag moved
    /// the same way: the change cannot be told from the harness's.
    HarnessMoved,
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

    pub(super) fn cells(&self) -> [String; 7] {
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

/// Latency rows of one phase that changed beyond the noise the same way
/// as the harness lag (`harness`, that phase's `harness_lag.p99` row),
/// judged on what the harness cannot explain. The harness lag's shift is
/// at most what the harness added to (or took from) a latency, so the
/// target's own change lies between the latency's shift less the lag's
/// shift (the net) and the whole shift. A verdict stands when the net
/// alone earns it; it becomes [`Verdict::HarnessMoved`] when the net is
/// nothing (the harness may explain all of it), or when the whole shift
/// is beyond the limit but the net is not (it cannot be told whether the
/// target's part is).
pub(super) fn confounded(rows: &mut [Row], harness: &Row) {
    let direction = |r: &Row| match r.interval {
        Some((lo, _)) if lo > 0.0 => 1.0,
        Some((_, hi)) if hi < 0.0 => -1.0,
        _ => 0.0,
    };
    let moved = direction(harness);
    if moved == 0.0 {
        return;
    }
    let harness_shift = (harness.current - harness.baseline).abs();
    for r in rows.iter_mut() {
        let is_latency = metric::find(r.metric.split('.').next().unwrap_or_default())
            .is_some_and(|d| d.kind == metric::Kind::Latency);
        if !is_latency || r.metric == harness.metric || direction(r) != moved {
            continue;
        }
        let net = (r.current - r.baseline).abs() - harness_shift;
        let net_beyond_limit = r.limit.is_some_and(|l| net > l * r.baseline.abs());
        let unexplained = match r.verdict {
            Verdict::Regression | Verdict::Improved => net_beyond_limit,
            _ => net > 0.0,
        };
        if !unexplained {
            r.verdict = Verdict::HarnessMoved;
        }
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

    #[test]
    fn a_change_the_harness_lag_shares_is_not_blamed_on_the_target() {
        let base = [150.0, 152.0, 149.0];
        let slow = [330.0, 340.0, 336.0];
        let mut rows = vec![judge("echo_rtt.p50", true, &base, &slow, Some(0.1))];
        assert_eq!(rows[0].verdict, Verdict::Regression);
        // The harness lag went from 0.5 to 4.8: the latency's 187 moved
        // with it.
        let harness = judge(
            "harness_lag.p99",
            true,
            &[520.0, 500.0, 510.0],
            &[4840.0, 4700.0, 4900.0],
            None,
        );
        confounded(&mut rows, &harness);
        assert_eq!(rows[0].verdict, Verdict::HarnessMoved);
        // A lag that moved by far less than the latency (a real change of
        // 10 ms, the lag 0.2 ms) leaves the verdict alone.
        let mut rows = vec![judge(
            "echo_rtt.p50",
            true,
            &[5e6, 5.1e6, 5.05e6],
            &[15e6, 15.1e6, 15.2e6],
            Some(0.1),
        )];
        let harness = judge(
            "harness_lag.p99",
            true,
            &[3e5, 3.1e5, 3.05e5],
            &[5e5, 5.1e5, 5.2e5],
            None,
        );
        confounded(&mut rows, &harness);
        assert_eq!(rows[0].verdict, Verdict::Regression);
        // A 10 ms regression (+154%) while the lag moved 1.3 ms: 8.7 ms of
        // it is not the harness's, still beyond a 20% limit.
        let mut rows = vec![judge(
            "echo_rtt.p50",
            true,
            &[6.5e6, 6.4e6, 6.6e6],
            &[16.47e6, 16.4e6, 16.6e6],
            Some(0.2),
        )];
        let harness = judge(
            "harness_lag.p99",
            true,
            &[1.05e6, 1.0e6, 1.1e6],
            &[2.35e6, 2.3e6, 2.4e6],
            None,
        );
        confounded(&mut rows, &harness);
        assert_eq!(rows[0].verdict, Verdict::Regression);
        // Beyond the limit as a whole (+30%), within it once the lag's
        // shift is taken off (+10%): cannot be told.
        let mut rows = vec![judge(
            "echo_rtt.p50",
            true,
            &[10e6, 10.1e6, 9.9e6],
            &[13e6, 13.1e6, 12.9e6],
            Some(0.2),
        )];
        let harness = judge(
            "harness_lag.p99",
            true,
            &[1e6, 1.1e6, 0.9e6],
            &[3e6, 3.1e6, 2.9e6],
            None,
        );
        confounded(&mut rows, &harness);
        assert_eq!(rows[0].verdict, Verdict::HarnessMoved);
        // Better within its limit, the lag's shift smaller than the
        // latency's: the verdict stands.
        let mut rows = vec![judge(
            "echo_rtt.p99",
            true,
            &[10.9e6, 11.0e6, 10.8e6],
            &[8.1e6, 8.0e6, 8.2e6],
            Some(0.5),
        )];
        assert_eq!(rows[0].verdict, Verdict::Better);
        let harness = judge(
            "harness_lag.p99",
            true,
            &[3.3e6, 3.4e6, 3.2e6],
            &[1.25e6, 1.3e6, 1.2e6],
            None,
        );
        confounded(&mut rows, &harness);
        assert_eq!(rows[0].verdict, Verdict::Better);
        // A lag that moved the other way leaves it alone too.
        let mut rows = vec![judge("echo_rtt.p50", true, &base, &slow, Some(0.1))];
        let harness = judge(
            "harness_lag.p99",
            true,
            &[4840.0, 4700.0, 4900.0],
            &[520.0, 500.0, 510.0],
            None,
        );
        confounded(&mut rows, &harness);
        assert_eq!(rows[0].verdict, Verdict::Regression);
    }
}
