//! The statistics of the regression gate: the relative change of the
//! median between two sets of repetitions, with a percentile bootstrap
//! interval (deterministic, so a rerun of `compare` prints the same).

/// Resamples drawn for an interval.
pub const RESAMPLES: usize = 10_000;
/// The interval's confidence (two-sided).
pub const CONFIDENCE: f64 = 0.90;

/// The median of `v` (not empty).
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// `(current − baseline) / |baseline|`; from a zero baseline, 0 when both
/// are zero and ±infinity otherwise.
pub fn relative_change(baseline: f64, current: f64) -> f64 {
    if baseline == 0.0 {
        if current == 0.0 {
            0.0
        } else {
            f64::INFINITY.copysign(current)
        }
    } else {
        (current - baseline) / baseline.abs()
    }
}

/// SplitMix64: small, fast and reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn pick<'a>(&mut self, v: &'a [f64]) -> &'a f64 {
        &v[(self.next() % v.len() as u64) as usize]
    }
}

/// The [`CONFIDENCE`] percentile-bootstrap interval of the relative change
/// of the median from `baseline` to `current`: both sides resampled with
/// replacement [`RESAMPLES`] times.
pub fn change_interval(baseline: &[f64], current: &[f64]) -> (f64, f64) {
    let mut rng = Rng(0x5753_4245_4e43_4821);
    let mut changes = Vec::with_capacity(RESAMPLES);
    let (mut b, mut c) = (vec![0.0; baseline.len()], vec![0.0; current.len()]);
    for _ in 0..RESAMPLES {
        b.iter_mut().for_each(|x| *x = *rng.pick(baseline));
        c.iter_mut().for_each(|x| *x = *rng.pick(current));
        changes.push(relative_change(median(&b), median(&c)));
    }
    changes.sort_by(f64::total_cmp);
    let tail = (1.0 - CONFIDENCE) / 2.0;
    let at = |q: f64| changes[((q * (RESAMPLES - 1) as f64).round() as usize).min(RESAMPLES - 1)];
    (at(tail), at(1.0 - tail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_changes_and_intervals() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(relative_change(2.0, 3.0), 0.5);
        assert_eq!(relative_change(0.0, 0.0), 0.0);
        assert_eq!(relative_change(0.0, 1.0), f64::INFINITY);
        // Three runs a side, clearly apart: the interval excludes 0.
        let (lo, hi) = change_interval(&[10.0, 10.2, 9.9], &[12.0, 12.1, 11.8]);
        assert!(lo > 0.1 && hi < 0.25, "[{lo}, {hi}]");
        // Overlapping: it contains 0.
        let (lo, hi) = change_interval(&[10.0, 12.0, 9.0], &[11.0, 9.5, 10.5]);
        assert!(lo < 0.0 && hi > 0.0, "[{lo}, {hi}]");
        // Reproducible.
        assert_eq!(
            change_interval(&[1.0, 2.0, 3.0], &[2.0, 3.0, 4.0]),
            change_interval(&[1.0, 2.0, 3.0], &[2.0, 3.0, 4.0])
        );
    }

    /// Repetitions drawn from one distribution (±30% noise): the interval
    /// excludes 0 on a given side in about 5% of the comparisons at most,
    /// the rate the rule states.
    #[test]
    fn same_distribution_rarely_looks_changed() {
        let mut rng = Rng(42);
        let mut draw = || 1.0 + 0.6 * (rng.next() as f64 / u64::MAX as f64 - 0.5);
        let trials = 400;
        let mut worse = 0;
        let mut better = 0;
        for _ in 0..trials {
            let b: Vec<f64> = (0..3).map(|_| draw()).collect();
            let c: Vec<f64> = (0..3).map(|_| draw()).collect();
            let (lo, hi) = change_interval(&b, &c);
            worse += usize::from(lo > 0.0);
            better += usize::from(hi < 0.0);
        }
        let rate = |n: usize| n as f64 / trials as f64;
        assert!(
            rate(worse) <= 0.08 && rate(better) <= 0.08,
            "{worse} / {better} of {trials}"
        );
    }
}
