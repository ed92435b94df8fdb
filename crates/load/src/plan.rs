//! The one schedule of a phase. A [`Plan`] says when each connection of
//! this process opens and when the measured window opens and closes; a
//! [`Grid`] says when each push message is intended. Single processes,
//! worker processes and shards all derive their timing from here.

use std::time::Duration;

use tokio::time::Instant;
use wsbench_model::Scenario;
use wsbench_protocol::clock::monotonic_ns;

use crate::rates::RateProfile;

/// Slack between the last connection's due time (or the warm-up's end) and
/// the window.
const WINDOW_SLACK: Duration = Duration::from_millis(200);

/// Which connections of a phase this process opens, and when; when the
/// window opens and closes (CLOCK_MONOTONIC, shared by every process on
/// the host).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Plan {
    /// Connections `index, index + count, index + 2·count, …`.
    pub(crate) index: u64,
    pub(crate) count: u64,
    /// Connection *i* opens at `t0 + i / ramp_rate` (with stages, when
    /// its life opens: `stages.rs`).
    pub(crate) t0_ns: u64,
    /// The window: `[window_ns, window_ns + duration)`.
    pub(crate) window_ns: u64,
    pub(crate) duration: Duration,
}

impl Plan {
    /// From a phase's start to its window: the warm-up or the ramp,
    /// whichever is longer, and some slack; with stages, the warm-up (the
    /// window is the rest of the stages).
    pub(crate) fn lead(s: &Scenario) -> Duration {
        if !s.stages.is_empty() {
            return s.warmup;
        }
        let ramp = Duration::from_secs_f64(s.connections.saturating_sub(1) as f64 / s.ramp_rate);
        s.warmup.max(ramp) + WINDOW_SLACK
    }

    /// The plan of a phase whose connection 0 is due at `t0_ns`, for the
    /// connections `index, index + count, …`.
    pub(crate) fn starting_at(s: &Scenario, t0_ns: u64, index: u64, count: u64) -> Plan {
        Plan {
            index,
            count: count.max(1),
            t0_ns,
            window_ns: t0_ns + nanos(Plan::lead(s)),
            duration: s.duration,
        }
    }

    /// The same plan `by` later.
    pub(crate) fn delayed(self, by: Duration) -> Plan {
        Plan {
            t0_ns: self.t0_ns + nanos(by),
            window_ns: self.window_ns + nanos(by),
            ..self
        }
    }

    /// The window's end, CLOCK_MONOTONIC ns.
    pub(crate) fn window_end_ns(&self) -> u64 {
        self.window_ns + nanos(self.duration)
    }

    /// How many of `connections` this process opens.
    pub(crate) fn share(&self, connections: u64) -> u64 {
        connections.saturating_sub(self.index).div_ceil(self.count)
    }

    /// When connection 0 is due, on tokio's clock.
    pub(crate) fn t0(&self) -> Instant {
        instant_at(self.t0_ns)
    }

    /// When the window opens, on tokio's clock.
    pub(crate) fn window_at(&self) -> Instant {
        instant_at(self.window_ns)
    }

    /// When the window closes, on tokio's clock.
    pub(crate) fn window_end_at(&self) -> Instant {
        instant_at(self.window_end_ns())
    }
}

/// `d` in nanoseconds, saturating.
pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX / 4)
}

/// The tokio instant of CLOCK_MONOTONIC `ns` (now, if it is past).
pub(crate) fn instant_at(ns: u64) -> Instant {
    let now_ns = monotonic_ns();
    let now = Instant::now();
    if ns >= now_ns {
        now + Duration::from_nanos(ns - now_ns)
    } else {
        now.checked_sub(Duration::from_nanos(now_ns - ns))
            .unwrap_or(now)
    }
}

/// A push phase's publish schedule: message `j` is intended at
/// `window_ns + round(j · 10⁹ / rate)` ns, or, with a rate profile
/// ([`RateProfile`]), when the profile's count reaches it; `j = 0 …
/// window − 1` fall in the measured window, negative `j` before it
/// (warm-up), larger after it. Publisher `k` of `publishers` sends the
/// `j` with `j mod publishers = k`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Grid {
    pub(crate) window_ns: u64,
    /// Messages per second (with a profile: the window's mean).
    pub(crate) rate: f64,
    /// Messages intended in the window.
    pub(crate) window: u64,
    pub(crate) publishers: u64,
    rates: Option<Rates>,
}

/// A rate profile on the grid: message `j` of the window is message
/// `j + k0` of the profile, which starts at `origin_ns`.
#[derive(Clone, Debug, PartialEq)]
struct Rates {
    profile: RateProfile,
    origin_ns: u64,
    k0: i64,
}

impl Grid {
    /// The grid of a window starting at `window_ns` and lasting `duration`,
    /// at `rate` messages per second over `publishers` publishers.
    pub(crate) fn new(window_ns: u64, duration: Duration, rate: f64, publishers: u64) -> Grid {
        let mut g = Grid {
            window_ns,
            rate,
            window: 0,
            publishers: publishers.max(1),
            rates: None,
        };
        let end = window_ns + nanos(duration);
        g.window = u64::try_from(g.first_at_or_after(end)).unwrap_or(0);
        g
    }

    /// The same window with the rate following `profile` from
    /// `origin_ns` (the phase's start).
    pub(crate) fn with_profile(
        mut self,
        profile: RateProfile,
        origin_ns: u64,
        duration: Duration,
    ) -> Grid {
        self.rates = Some(Rates {
            profile,
            origin_ns,
            k0: 0,
        });
        // The first message at or after the window's start is j = 0.
        let k0 = self.first_at_or_after(self.window_ns);
        if let Some(r) = &mut self.rates {
            r.k0 = k0;
        }
        let end = self.window_ns + nanos(duration);
        self.window = u64::try_from(self.first_at_or_after(end)).unwrap_or(0);
        self.rate = self.window as f64 / duration.as_secs_f64().max(1e-9);
        self
    }

    fn offset_ns(&self, j: i64) -> i64 {
        (j as f64 * 1e9 / self.rate).round() as i64
    }

    /// When message `j` is intended, ns (`u64::MAX`: never, the rate
    /// fell to 0 before it).
    pub(crate) fn intended_ns(&self, j: i64) -> u64 {
        let Some(r) = &self.rates else {
            return self.window_ns.saturating_add_signed(self.offset_ns(j));
        };
        match r.profile.time_of((j + r.k0) as f64) {
            Some(t) => r.origin_ns.saturating_add_signed((t * 1e9).round() as i64),
            None => u64::MAX,
        }
    }

    /// The first message intended at or after `ns`.
    pub(crate) fn first_at_or_after(&self, ns: u64) -> i64 {
        let mut j = match &self.rates {
            None => {
                let rel = ns as f64 - self.window_ns as f64;
                (rel * self.rate / 1e9).ceil() as i64 - 1
            }
            Some(r) => {
                let t = (ns as f64 - r.origin_ns as f64) / 1e9;
                r.profile.count_at(t).ceil() as i64 - 1 - r.k0
            }
        };
        while self.intended_ns(j) < ns {
            j += 1;
        }
        // (Times saturate at 0: stop where they no longer decrease.)
        while j > i64::MIN
            && self.intended_ns(j - 1) >= ns
            && self.intended_ns(j - 1) < self.intended_ns(j)
        {
            j -= 1;
        }
        j
    }

    /// Whether message `j` is intended in the window.
    pub(crate) fn in_window(&self, j: i64) -> bool {
        u64::try_from(j).is_ok_and(|j| j < self.window)
    }

    /// The first message publisher `index` sends at or after `ns`.
    pub(crate) fn first_of(&self, index: u64, ns: u64) -> i64 {
        let mut j = self.first_at_or_after(ns);
        let n = self.publishers as i64;
        while j.rem_euclid(n) != index as i64 {
            j += 1;
        }
        j
    }
}

/// CLOCK_MONOTONIC instant `ns` on the wall clock, RFC 3339 with
/// milliseconds.
pub(crate) fn wall_clock(ns: u64) -> String {
    let (now_wall, now_ns) = (
        std::time::SystemTime::now(),
        wsbench_protocol::clock::monotonic_ns(),
    );
    let wall = if ns <= now_ns {
        now_wall - Duration::from_nanos(now_ns - ns)
    } else {
        now_wall + Duration::from_nanos(ns - now_ns)
    };
    humantime::format_rfc3339_millis(wall).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grid_counts_the_window_exactly_and_finds_messages_by_time() {
        let g = Grid::new(1_000_000_000, Duration::from_secs(3), 100.0, 1);
        assert_eq!(g.window, 300);
        assert_eq!(g.intended_ns(0), 1_000_000_000);
        assert_eq!(g.intended_ns(299), 3_990_000_000);
        assert_eq!(g.intended_ns(-5), 950_000_000);
        assert!(g.in_window(0) && g.in_window(299) && !g.in_window(300) && !g.in_window(-1));
        assert_eq!(g.first_at_or_after(1_000_000_000), 0);
        assert_eq!(g.first_at_or_after(1_000_000_001), 1);
        assert_eq!(g.first_at_or_after(949_999_999), -5);
        // A rate that does not divide a second: every message is counted
        // once, on either side of the window's end.
        let g = Grid::new(0, Duration::from_secs(1), 3.0, 1);
        assert_eq!(g.window, 3, "0, 333 333 333 and 666 666 667 ns");
        let g = Grid::new(5, Duration::from_millis(1500), 7.0, 2);
        assert_eq!(g.window, 11);
        assert_eq!(g.first_of(1, 5), 1);
        assert_eq!(g.first_of(0, 6), 2);
        assert_eq!(g.first_of(1, 3), 1);
    }

    #[test]
    fn a_rate_profile_places_every_message_once_from_the_window_on() {
        use wsbench_model::scenario::Stage;
        let stage = |secs, rate| Stage {
            duration: Duration::from_secs(secs),
            target: 1,
            arrivals: None,
            rate,
            restart: None,
            drop: None,
        };
        // From 10/s: 2 s held, then up to 30/s over 2 s; the window opens
        // 1 s after the start and lasts 3 s (messages 10 … 59 of the
        // profile: 10 in the first second, 40 in the next two).
        let profile = RateProfile::of(10.0, &[stage(2, None), stage(2, Some(30.0))]).unwrap();
        let g = Grid::new(2_000_000_000, Duration::from_secs(3), 10.0, 2).with_profile(
            profile,
            1_000_000_000,
            Duration::from_secs(3),
        );
        assert_eq!(g.window, 50);
        assert_eq!(g.intended_ns(0), 2_000_000_000);
        assert_eq!(g.intended_ns(-10), 1_000_000_000, "the profile's first");
        assert_eq!(g.intended_ns(10), 3_000_000_000);
        // 15 in the ramp's first second: message 25 at 4 s.
        assert_eq!(g.intended_ns(25), 4_000_000_000);
        let mut last = 0;
        for j in -10..60 {
            let t = g.intended_ns(j);
            assert!(t > last, "message {j} after {}", j - 1);
            assert_eq!(g.first_at_or_after(t), j);
            assert_eq!(g.first_at_or_after(t - 1), j);
            last = t;
        }
        assert_eq!(g.first_of(1, 2_000_000_000), 1);
        assert!((g.rate - 50.0 / 3.0).abs() < 1e-9, "the window's mean");
    }

    #[test]
    fn plans_share_one_window() {
        let text = "schema_version = 1\nname = \"x\"\n[target]\nbuiltin = true\n[load]\n\
                    transports = [\"websocket\"]\nconnections = 11\nramp_rate = 10\n\
                    duration = \"2s\"\nwarmup = \"300ms\"\n[workload]\nkind = \"push\"\nrate = 5\n";
        let s = Scenario::parse("x", text).unwrap();
        assert_eq!(Plan::lead(&s), Duration::from_millis(1200));
        let a = Plan::starting_at(&s, 10, 0, 2);
        let b = Plan::starting_at(&s, 10, 1, 2);
        assert_eq!(
            (a.window_ns, a.window_end_ns()),
            (b.window_ns, b.window_end_ns())
        );
        assert_eq!((a.share(11), b.share(11)), (6, 5));
    }
}
