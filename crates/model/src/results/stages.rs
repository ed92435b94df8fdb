//! A stage profile in the results: each stage's span on the timeline's
//! clock (seconds since the phase started, warm-up included), the count
//! the profile asked for, and how far the open connections the timeline
//! saw strayed from it.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::{LatencyStats, TimelinePoint};
use crate::scenario::Stage;

/// One stage of a phase, as planned and as the timeline saw it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StageSpan {
    /// `stage1`, `stage2`, …
    pub name: String,
    /// From and to, seconds since the phase started.
    pub start_s: f64,
    pub end_s: f64,
    /// Open connections the profile gives at the start and at the end;
    /// for arrival stages, the connections opened since the phase started
    /// (compared with the timeline's `opened`).
    pub from: u64,
    pub target: u64,
    /// Arrival stages: connections opened per second at the start and at
    /// the end (ramped linearly in between).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrivals_from: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrivals: Option<f64>,
    /// Push: the publish rate the stage ends at, messages per second,
    /// when it sets one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// Timeline samples inside the stage.
    pub samples: u64,
    /// The largest difference between the open connections of a sample
    /// and the profile at that second (arrival stages: between the
    /// connections opened so far and those the profile opened by then;
    /// `None`: no sample in the stage).
    pub worst_gap: Option<u64>,
    /// The phase's main latency (push_latency, echo_rtt, …) of the values
    /// whose start instant (the intended publish or send time) fell in
    /// the stage and in the measured window (`None`: none did).
    #[serde(default)]
    pub main_latency: Option<LatencyStats>,
}

impl StageSpan {
    /// The spans of `stages`, nothing observed yet.
    pub fn plan(stages: &[Stage]) -> Vec<StageSpan> {
        let (mut from, mut start, mut rate_before) = (0, 0.0, 0.0);
        let mut out = Vec::with_capacity(stages.len());
        for (i, s) in stages.iter().enumerate() {
            let end = start + s.duration.as_secs_f64();
            let target = match s.arrivals {
                Some(_) => crate::scenario::arrivals_in(&stages[..=i]),
                None => s.target,
            };
            out.push(StageSpan {
                name: format!("stage{}", i + 1),
                start_s: start,
                end_s: end,
                from,
                target,
                arrivals_from: s.arrivals.map(|_| rate_before),
                arrivals: s.arrivals,
                rate: s.rate,
                samples: 0,
                worst_gap: None,
                main_latency: None,
            });
            (from, start) = (target, end);
            rate_before = s.arrivals.unwrap_or(0.0);
        }
        out
    }

    /// The count the profile gives at `t_s` (within the stage): open
    /// connections, or for an arrival stage connections opened so far
    /// (`a·τ + (b − a)·τ²/2d` after the stage's start).
    pub fn profile_at(&self, t_s: f64) -> f64 {
        let span = (self.end_s - self.start_s).max(1e-9);
        let tau = (t_s - self.start_s).clamp(0.0, span);
        if let (Some(a), Some(b)) = (self.arrivals_from, self.arrivals) {
            return self.from as f64 + a * tau + (b - a) * tau * tau / (2.0 * span);
        }
        self.from as f64 + (self.target as f64 - self.from as f64) * tau / span
    }

    /// Compares `timeline`'s open connections (arrival stages: opened so
    /// far) with the profile, sample by sample, for every span.
    pub fn observe(spans: &mut [StageSpan], timeline: &[TimelinePoint]) {
        for s in spans {
            let inside = timeline
                .iter()
                .filter(|p| p.t_s > s.start_s && p.t_s <= s.end_s);
            let seen = |p: &TimelinePoint| match s.arrivals {
                Some(_) => p.opened,
                None => p.open,
            };
            let gaps: Vec<u64> = inside
                .map(|p| (seen(p) as f64 - s.profile_at(p.t_s)).abs().round() as u64)
                .collect();
            s.samples = gaps.len() as u64;
            s.worst_gap = gaps.into_iter().max();
        }
    }
}

/// The error kind of a connection that gave up reconnecting.
pub const RECONNECT_GAVE_UP: &str = "reconnect-gave-up";

/// The error kind of a connection a drop storm took down.
pub const DROPPED: &str = "dropped";

/// The error kind of a connection still reconnecting when the phase
/// ended.
pub const STILL_RECONNECTING: &str = "still-reconnecting";

/// How connections that went down came back, in the figures of a deploy
/// review: of those that ended while the phase ran (and reconnect), how
/// long until 95% and until all of them were back, each counted from its
/// own end (`reconnect_time`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Recovery {
    /// Connections that came back (a connection that went down twice
    /// counts twice).
    pub reconnected: u64,
    /// Connections that gave up (`reconnect-gave-up`).
    pub gave_up: u64,
    /// Connections still reconnecting when the phase ended
    /// (`still-reconnecting`).
    #[serde(default)]
    pub still_away: u64,
    /// Seconds until 95% of them were back (`None`: more than 5% never
    /// were).
    pub back_95_s: Option<f64>,
    /// Seconds until every one was back (`None`: some never were).
    pub back_100_s: Option<f64>,
}

impl Recovery {
    /// From the `reconnect_time` histogram (`None`: none came back) and
    /// the errors (those that gave up, those still away at the end);
    /// `None` when no connection went down.
    pub fn of_phase(
        back: Option<&Histogram<u64>>,
        errors: &BTreeMap<String, u64>,
    ) -> Option<Recovery> {
        let count = |k: &str| errors.get(k).copied().unwrap_or(0);
        let not_back = (count(RECONNECT_GAVE_UP), count(STILL_RECONNECTING));
        match back {
            Some(h) if !h.is_empty() => Some(Recovery::of(h, not_back)),
            _ if not_back.0 + not_back.1 > 0 => Some(Recovery {
                gave_up: not_back.0,
                still_away: not_back.1,
                ..Recovery::default()
            }),
            _ => None,
        }
    }

    /// From the `reconnect_time` histogram (every connection that came
    /// back) and the counts that gave up and that were still away.
    pub fn of(back: &Histogram<u64>, (gave_up, still_away): (u64, u64)) -> Recovery {
        let reconnected = back.len();
        let went_down = reconnected + gave_up + still_away;
        let needed = (went_down * 95).div_ceil(100);
        let at = |n: u64| {
            (n > 0 && n <= reconnected)
                .then(|| back.value_at_quantile(n as f64 / reconnected as f64) as f64 / 1e9)
        };
        Recovery {
            reconnected,
            gave_up,
            still_away,
            back_95_s: at(needed),
            back_100_s: if gave_up + still_away == 0 {
                at(reconnected)
            } else {
                None
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn spans_follow_the_stages_and_measure_the_gap() {
        let stage = |s, target| Stage {
            duration: Duration::from_secs(s),
            target,
            arrivals: None,
            rate: None,
            restart: None,
            drop: None,
        };
        let mut spans = StageSpan::plan(&[stage(2, 100), stage(2, 100), stage(1, 0)]);
        assert_eq!(spans.len(), 3);
        assert_eq!((spans[2].name.as_str(), spans[2].start_s), ("stage3", 4.0));
        assert_eq!((spans[2].from, spans[2].target), (100, 0));
        assert_eq!(spans[0].profile_at(1.0), 50.0);
        let point = |t_s, open| TimelinePoint {
            t_s,
            open,
            ..TimelinePoint::default()
        };
        let timeline = [
            point(1.0, 48),
            point(2.0, 100),
            point(3.0, 100),
            point(4.5, 57),
        ];
        StageSpan::observe(&mut spans, &timeline);
        assert_eq!((spans[0].samples, spans[0].worst_gap), (2, Some(2)));
        assert_eq!((spans[1].samples, spans[1].worst_gap), (1, Some(0)));
        assert_eq!((spans[2].samples, spans[2].worst_gap), (1, Some(7)));
    }

    #[test]
    fn recovery_counts_those_that_never_came_back() {
        let mut h = crate::results::latency_histogram();
        for ms in 1..=19u64 {
            h.record(ms * 100_000_000).unwrap();
        }
        // 19 back after 0.1 … 1.9 s, 1 gave up: 95% of 20 is 19.
        let r = Recovery::of(&h, (1, 0));
        assert_eq!((r.reconnected, r.gave_up), (19, 1));
        assert!((r.back_95_s.unwrap() - 1.9).abs() < 0.01, "{r:?}");
        assert_eq!(r.back_100_s, None);
        let r = Recovery::of(&h, (0, 0));
        assert!((r.back_95_s.unwrap() - 1.9).abs() < 0.01, "19 of 19: {r:?}");
        assert!((r.back_100_s.unwrap() - 1.9).abs() < 0.01);
        let r = Recovery::of(&h, (1, 1));
        assert_eq!((r.back_95_s, r.back_100_s), (None, None), "19 of 21");
        let errors = [(STILL_RECONNECTING.to_owned(), 5)].into();
        let r = Recovery::of_phase(None, &errors).unwrap();
        assert_eq!((r.still_away, r.back_95_s), (5, None), "none came back");
    }
}
