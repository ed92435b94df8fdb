//! A publish rate that follows a stage profile: from `[workload] rate` at
//! the phase's start, each stage with a `rate` moves it linearly to that
//! rate over the stage (a stage without one holds it); after the last
//! stage it holds. Message `k` of the phase (from 0) is intended when the
//! profile's count, the integral of the rate from the start, reaches `k`.

use std::sync::Arc;

use wsbench_model::scenario::Stage;

use crate::plan::nanos;

/// One stage of the rate: from `r0` to `r1` messages per second over
/// `dur` seconds, starting `start` seconds after the phase's start, when
/// `count0` messages were due.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Segment {
    start: f64,
    dur: f64,
    r0: f64,
    r1: f64,
    count0: f64,
}

impl Segment {
    /// Messages due from the segment's start to `tau` seconds into it.
    fn count(&self, tau: f64) -> f64 {
        let tau = tau.clamp(0.0, self.dur);
        self.r0 * tau + (self.r1 - self.r0) * tau * tau / (2.0 * self.dur)
    }

    /// When, in seconds into the segment, `c` messages of it were due
    /// (`c` ≤ all of the segment's).
    fn time_of(&self, c: f64) -> f64 {
        let a = (self.r1 - self.r0) / (2.0 * self.dur);
        if a.abs() < 1e-12 {
            return c / self.r0;
        }
        // a·τ² + r0·τ − c = 0, the root in [0, dur].
        let disc = (self.r0 * self.r0 + 4.0 * a * c).max(0.0);
        ((disc.sqrt() - self.r0) / (2.0 * a)).clamp(0.0, self.dur)
    }
}

/// A piecewise-linear publish rate over a phase.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct RateProfile {
    segments: Arc<[Segment]>,
    /// The rate after the last stage.
    last: f64,
    /// The rate at the start (messages before the start are extrapolated
    /// at it).
    first: f64,
}

impl RateProfile {
    /// The profile of `stages` from `start_rate`; `None` when no stage
    /// sets a rate (the rate stays `start_rate`).
    pub(crate) fn of(start_rate: f64, stages: &[Stage]) -> Option<RateProfile> {
        if stages.iter().all(|s| s.rate.is_none()) {
            return None;
        }
        let (mut start, mut rate, mut count) = (0.0, start_rate, 0.0);
        let mut segments = Vec::with_capacity(stages.len());
        for s in stages {
            let dur = nanos(s.duration) as f64 / 1e9;
            let seg = Segment {
                start,
                dur,
                r0: rate,
                r1: s.rate.unwrap_or(rate),
                count0: count,
            };
            count += seg.count(dur);
            (start, rate) = (start + dur, seg.r1);
            segments.push(seg);
        }
        Some(RateProfile {
            segments: segments.into(),
            last: rate,
            first: start_rate,
        })
    }

    /// Messages due from the start to `t` seconds after it (negative
    /// before the start).
    pub(crate) fn count_at(&self, t: f64) -> f64 {
        if t < 0.0 {
            return t * self.first;
        }
        match self.segments.iter().rev().find(|s| s.start <= t) {
            Some(s) if t <= s.start + s.dur => s.count0 + s.count(t - s.start),
            Some(s) => s.count0 + s.count(s.dur) + (t - s.start - s.dur) * self.last,
            None => 0.0,
        }
    }

    /// When, in seconds after the start, message `k` is due (`None`: the
    /// rate fell to 0 before it).
    pub(crate) fn time_of(&self, k: f64) -> Option<f64> {
        if k < 0.0 {
            return (self.first > 0.0).then(|| k / self.first);
        }
        for s in self.segments.iter() {
            let all = s.count(s.dur);
            if k <= s.count0 + all && all > 0.0 {
                return Some(s.start + s.time_of(k - s.count0));
            }
        }
        let last = self.segments.last()?;
        let done = last.count0 + last.count(last.dur);
        (self.last > 0.0).then(|| last.start + last.dur + (k - done) / self.last)
    }
}

/// One connection's send times (echo, rpc): every `1 / rate` from an
/// offset into the first period, or, with a profile (the rate per
/// connection), at the profile's counts `k + offset`.
#[derive(Clone, Debug)]
pub(crate) enum Sends {
    Constant {
        next_ns: u64,
        period_ns: u64,
    },
    Profile {
        profile: RateProfile,
        origin_ns: u64,
        k: f64,
    },
}

impl Sends {
    /// The schedule of a connection starting at `now_ns`, its sends
    /// `offset` (0 … 1) of a period after the period's start.
    pub(crate) fn new(
        rate: f64,
        profile: Option<&(RateProfile, u64)>,
        offset: f64,
        now_ns: u64,
    ) -> Sends {
        match profile {
            None => {
                let period_ns = (1e9 / rate).round() as u64;
                Sends::Constant {
                    next_ns: now_ns + (period_ns as f64 * offset) as u64,
                    period_ns,
                }
            }
            Some((p, origin_ns)) => {
                let t = (now_ns as f64 - *origin_ns as f64) / 1e9;
                Sends::Profile {
                    profile: p.clone(),
                    origin_ns: *origin_ns,
                    k: (p.count_at(t) - offset).ceil() + offset,
                }
            }
        }
    }

    /// When the next send is due, CLOCK_MONOTONIC ns (`u64::MAX`: never).
    pub(crate) fn due_ns(&self) -> u64 {
        match self {
            Sends::Constant { next_ns, .. } => *next_ns,
            Sends::Profile {
                profile,
                origin_ns,
                k,
            } => match profile.time_of(*k) {
                Some(t) => origin_ns.saturating_add_signed((t * 1e9).round() as i64),
                None => u64::MAX,
            },
        }
    }

    /// On to the next send.
    pub(crate) fn advance(&mut self) {
        match self {
            Sends::Constant { next_ns, period_ns } => *next_ns += *period_ns,
            Sends::Profile { k, .. } => *k += 1.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn stage(secs: u64, rate: Option<f64>) -> Stage {
        Stage {
            duration: Duration::from_secs(secs),
            target: 1,
            arrivals: None,
            rate,
            restart: None,
            drop: None,
        }
    }

    #[test]
    fn the_count_is_the_rates_integral_and_times_invert_it() {
        assert!(RateProfile::of(10.0, &[stage(1, None)]).is_none());
        // 10/s held 2 s, ramp to 30/s over 2 s, hold, down to 0 in 1 s.
        let p = RateProfile::of(
            10.0,
            &[
                stage(2, None),
                stage(2, Some(30.0)),
                stage(1, None),
                stage(1, Some(0.0)),
            ],
        )
        .unwrap();
        for (t, count) in [
            (-1.0, -10.0),
            (1.0, 10.0),
            (2.0, 20.0),
            (3.0, 20.0 + 15.0),
            (4.0, 60.0),
            (5.0, 90.0),
            (6.0, 105.0),
            (9.0, 105.0),
        ] {
            let c = p.count_at(t);
            assert!((c - count).abs() < 1e-9, "at {t} s: {c}, not {count}");
        }
        for k in [0.0, 1.0, 19.0, 20.0, 35.0, 59.5, 60.0, 90.0, 104.0] {
            let t = p.time_of(k).unwrap();
            assert!((p.count_at(t) - k).abs() < 1e-6, "message {k} at {t} s");
        }
        assert_eq!(p.time_of(-5.0), Some(-0.5));
        assert_eq!(p.time_of(106.0), None, "the rate ended at 0");
    }

    #[test]
    fn a_connections_sends_follow_the_profile_from_when_it_opens() {
        // 10/s for 1 s, then up to 30/s over 1 s; opened 0.55 s in.
        let p = RateProfile::of(10.0, &[stage(1, None), stage(1, Some(30.0))]).unwrap();
        let origin = 1_000_000_000;
        let mut s = Sends::new(10.0, Some(&(p, origin)), 0.25, origin + 550_000_000);
        let mut due = Vec::new();
        for _ in 0..6 {
            due.push(s.due_ns() - origin);
            s.advance();
        }
        // Counts 5.25 … 9.25 in the first second; 10.25 at 1.025 s.
        assert_eq!(
            &due[..4],
            [625_000_000, 725_000_000, 825_000_000, 925_000_000]
        );
        // 10 τ + 10 τ² = 0.25 into the ramp: τ = 24.404 ms.
        assert!(due[4].abs_diff(1_024_404_424) <= 2, "{}", due[4]);
        let mut c = Sends::new(4.0, None, 0.5, 7);
        assert_eq!(c.due_ns(), 125_000_007);
        c.advance();
        assert_eq!(c.due_ns(), 375_000_007);
    }
}
