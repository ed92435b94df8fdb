//! A stage profile's connections: when each opens and when it leaves.
//!
//! Open connections follow the profile exactly at every opening and
//! leaving: on a rise from `a` to `b` over `d`, the connection taking the
//! count from `s` to `s + 1` opens at `d · (s + 1 − a) / (b − a)`; on a fall,
//! the last one opened leaves first, the one taking the count from `s + 1`
//! to `s` at `d · (b − s) / (b − a)`. A slot (the count a connection makes
//! up, 0 … peak − 1) may live several times when the profile falls and
//! rises again; each life is its own connection, numbered in opening
//! order. Processes share the slots: process `k` of `n` opens the lives of
//! slots `k, k + n, …`, so each holds its share of the count at all times.
//!
//! A stage's drop storm (`drop = "30%"`) takes down, at the stage's start,
//! the slots `s` where `⌊(s + 1)·p⌋ > ⌊s·p⌋`: of the `n` open then (slots
//! `0 … n − 1`), `⌊n·p⌋`, spread evenly over the slots and so over the
//! processes.

use wsbench_model::scenario::Stage;

use crate::plan::nanos;

/// One connection of a stage profile, times from the phase's start, ns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Life {
    /// The count it makes up (0: the first to open).
    pub(crate) slot: u64,
    pub(crate) opens: u64,
    /// `None`: open until the phase ends.
    pub(crate) leaves: Option<u64>,
}

/// Every life of a profile, in opening order (a connection's number is
/// its index here).
#[derive(Debug, Default)]
pub(crate) struct Lives {
    /// When the phase started, CLOCK_MONOTONIC ns.
    t0_ns: u64,
    lives: Vec<Life>,
    /// Drop storms: (when, from the phase's start, ns; the share).
    drops: Vec<(u64, f64)>,
}

impl Lives {
    /// The lives of `stages`.
    pub(crate) fn of(stages: &[Stage]) -> Lives {
        if stages.first().is_some_and(|s| s.arrivals.is_some()) {
            return Lives::arriving(stages);
        }
        let mut lives: Vec<Life> = Vec::new();
        let mut open: Vec<usize> = Vec::new();
        let mut drops = Vec::new();
        let (mut count, mut start) = (0u64, 0u64);
        for stage in stages {
            if let Some(share) = stage.drop {
                drops.push((start, share));
            }
            let d = u128::from(nanos(stage.duration));
            let (a, b) = (count, stage.target);
            let at = |k: u64, n: u64| start + (d * u128::from(k) / u128::from(n)) as u64;
            if b > a {
                for s in a..b {
                    open.push(lives.len());
                    lives.push(Life {
                        slot: s,
                        opens: at(s + 1 - a, b - a),
                        leaves: None,
                    });
                }
            } else {
                for s in (b..a).rev() {
                    if let Some(i) = open.pop() {
                        lives[i].leaves = Some(at(a - s, a - b));
                    }
                }
            }
            count = b;
            start += nanos(stage.duration);
        }
        Lives {
            t0_ns: 0,
            lives,
            drops,
        }
    }

    /// The lives of arrival stages: the `k`-th connection (from 1) opens
    /// when the arrival rate's integral reaches `k`. Within a stage ramping
    /// from `a` to `b` per second over `d`, `a·t + (b − a)·t²/(2d)`
    /// connections have arrived `t` after its start. Each is its own slot,
    /// so processes share them in turn, and none is told to leave.
    fn arriving(stages: &[Stage]) -> Lives {
        let mut lives = Vec::new();
        let mut drops = Vec::new();
        let (mut before, mut arrived, mut start) = (0.0f64, 0.0f64, 0u64);
        let mut k = 1u64;
        for stage in stages {
            if let Some(share) = stage.drop {
                drops.push((start, share));
            }
            let d = stage.duration.as_secs_f64();
            let (a, b) = (before, stage.arrivals.unwrap_or(0.0));
            let in_stage = (a + b) / 2.0 * d;
            while (k as f64) <= arrived + in_stage + 1e-6 {
                let n = (k as f64 - arrived).max(0.0);
                let t = if (b - a).abs() < 1e-12 {
                    n / a
                } else {
                    let slope = (b - a) / d;
                    (-a + (a * a + 2.0 * slope * n).max(0.0).sqrt()) / slope
                };
                lives.push(Life {
                    slot: k - 1,
                    opens: start + nanos(std::time::Duration::from_secs_f64(t.clamp(0.0, d))),
                    leaves: None,
                });
                k += 1;
            }
            arrived += in_stage;
            before = b;
            start += nanos(stage.duration);
        }
        Lives {
            t0_ns: 0,
            lives,
            drops,
        }
    }

    /// The same lives for a phase that started at `t0_ns`.
    pub(crate) fn starting_at(self, t0_ns: u64) -> Lives {
        Lives { t0_ns, ..self }
    }

    /// When life `l` opens, CLOCK_MONOTONIC ns.
    pub(crate) fn opens_ns(&self, l: &Life) -> u64 {
        self.t0_ns + l.opens
    }

    /// When connection `conn` leaves, CLOCK_MONOTONIC ns (`None`: it
    /// stays until the phase ends).
    pub(crate) fn leaves_ns(&self, conn: u64) -> Option<u64> {
        Some(self.t0_ns + self.get(conn)?.leaves?)
    }

    /// The first drop storm after `after_ns` that takes connection `conn`
    /// down, CLOCK_MONOTONIC ns.
    pub(crate) fn next_drop_ns(&self, conn: u64, after_ns: u64) -> Option<u64> {
        let life = self.get(conn)?;
        let s = life.slot as f64;
        self.drops
            .iter()
            .filter(|&&(at, _)| self.t0_ns + at > after_ns)
            .filter(|&&(at, _)| life.opens <= at && life.leaves.is_none_or(|l| l > at))
            .find(|&&(_, p)| ((s + 1.0) * p).floor() > (s * p).floor())
            .map(|&(at, _)| self.t0_ns + at)
    }

    /// Connection `conn`'s life.
    pub(crate) fn get(&self, conn: u64) -> Option<&Life> {
        self.lives.get(usize::try_from(conn).ok()?)
    }

    /// The lives process `index` of `count` opens, with their numbers.
    pub(crate) fn share(&self, index: u64, count: u64) -> impl Iterator<Item = (u64, &Life)> {
        self.lives
            .iter()
            .enumerate()
            .filter(move |(_, l)| l.slot % count.max(1) == index)
            .map(|(i, l)| (i as u64, l))
    }

    /// How many are open at `t` ns after the start (opened at or before
    /// it, not yet left).
    #[cfg(test)]
    fn open_at(&self, t: u64) -> u64 {
        self.lives
            .iter()
            .filter(|l| l.opens <= t && l.leaves.is_none_or(|e| e > t))
            .count() as u64
    }
}

/// When each of `stages` starts in a phase that started at `t0_ns`,
/// CLOCK_MONOTONIC ns.
pub(crate) fn starts_ns(stages: &[Stage], t0_ns: u64) -> Vec<u64> {
    let mut at = t0_ns;
    stages
        .iter()
        .map(|s| {
            let start = at;
            at += nanos(s.duration);
            start
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn stage(ms: u64, target: u64) -> Stage {
        Stage {
            duration: Duration::from_millis(ms),
            target,
            arrivals: None,
            rate: None,
            restart: None,
            drop: None,
        }
    }

    fn arrivals(ms: u64, rate: f64) -> Stage {
        Stage {
            arrivals: Some(rate),
            ..stage(ms, 0)
        }
    }

    const MS: u64 = 1_000_000;

    /// Arrivals opened in `[from, to)` ms.
    fn opened(lives: &Lives, from: u64, to: u64) -> usize {
        let (from, to) = (from * MS, to * MS);
        lives
            .lives
            .iter()
            .filter(|l| l.opens >= from && l.opens < to)
            .count()
    }

    #[test]
    fn arrivals_follow_the_rate_and_its_ramps() {
        // Ramp to 100/s over 1 s (50), hold 1 s (100), down to 0 in 1 s (50).
        let lives = Lives::of(&[
            arrivals(1000, 100.0),
            arrivals(1000, 100.0),
            arrivals(1000, 0.0),
        ]);
        assert_eq!(lives.lives.len(), 200);
        assert_eq!(
            wsbench_model::scenario::arrivals_in(&[
                arrivals(1000, 100.0),
                arrivals(1000, 100.0),
                arrivals(1000, 0.0),
            ]),
            200
        );
        // Each its own slot, in opening order, none told to leave.
        assert!(
            lives
                .lives
                .iter()
                .enumerate()
                .all(|(i, l)| l.slot == i as u64)
        );
        assert!(lives.lives.windows(2).all(|w| w[0].opens <= w[1].opens));
        assert!(lives.lives.iter().all(|l| l.leaves.is_none()));
        // The ramp's first half opens a quarter of its 50 (rate ∝ t).
        assert_eq!(opened(&lives, 0, 500), 12);
        // The 50th at its very end.
        assert_eq!(opened(&lives, 0, 1000), 49);
        assert_eq!(lives.lives[49].opens, 1000 * MS);
        // The hold: one every 10 ms.
        assert_eq!(opened(&lives, 1001, 1501), 50);
        assert_eq!(lives.lives[99].opens, 1500 * MS);
        // The fall: three quarters of its 50 in its first half (37.5).
        assert_eq!(opened(&lives, 2001, 2500), 37);
        assert_eq!(opened(&lives, 2001, 3001), 50);
        // Two processes share them in turn.
        assert_eq!(lives.share(1, 2).count(), 100);
    }

    #[test]
    fn the_count_follows_the_profile_and_the_last_in_leaves_first() {
        // Up to 10 in 1 s, hold 1 s, down to 4 in 600 ms, up to 6 in 200 ms.
        let lives = Lives::of(&[
            stage(1000, 10),
            stage(1000, 10),
            stage(600, 4),
            stage(200, 6),
        ]);
        assert_eq!(
            lives.lives.len(),
            12,
            "10 first lives, 2 more after the fall"
        );
        assert_eq!(lives.lives[0].opens, 100 * MS);
        assert_eq!(lives.lives[9].opens, 1000 * MS);
        // The fall: slot 9 leaves first (100 ms in), slot 4 last (600 ms in).
        assert_eq!(lives.lives[9].leaves, Some(2100 * MS));
        assert_eq!(lives.lives[4].leaves, Some(2600 * MS));
        assert_eq!(lives.lives[3].leaves, None);
        // Slots 4 and 5 live again.
        assert_eq!(
            (lives.lives[10].slot, lives.lives[10].opens),
            (4, 2700 * MS)
        );
        assert_eq!(
            (lives.lives[11].slot, lives.lives[11].opens),
            (5, 2800 * MS)
        );
        for (t, open) in [
            (0, 0),
            (99, 0),
            (100, 1),
            (550, 5),
            (1500, 10),
            (2100, 9),
            (2300, 7),
            (2600, 4),
            (2700, 5),
            (3000, 6),
        ] {
            assert_eq!(lives.open_at(t * MS), open, "at {t} ms");
        }
    }

    #[test]
    fn a_drop_storm_takes_its_share_of_the_connections_open_then() {
        let mut stages = [stage(1000, 10), stage(1000, 10), stage(1000, 10)];
        stages[1].drop = Some(0.3);
        stages[2].drop = Some(1.0);
        let lives = Lives::of(&stages).starting_at(5 * MS);
        let at = |conn: u64, after: u64| lives.next_drop_ns(conn, after * MS);
        let first: Vec<u64> = (0..10)
            .filter(|&c| at(c, 0).is_some_and(|t| t == 1005 * MS))
            .collect();
        assert_eq!(first, [3, 6, 9], "30% of 10, spread");
        // After the first storm, the second takes everyone.
        assert!((0..10).all(|c| at(c, 1005) == Some(2005 * MS)));
        assert_eq!(at(0, 2005), None);
        // A connection not open at the storm's start is not dropped.
        let lives = Lives::of(&[stage(1000, 2), stage(500, 4), {
            let mut s = stage(500, 4);
            s.drop = Some(1.0);
            s
        }]);
        assert_eq!(lives.next_drop_ns(3, 0), Some(1500 * MS));
        let lives = Lives::of(&[stage(1000, 2), {
            let mut s = stage(1000, 4);
            s.drop = Some(1.0);
            s
        }]);
        assert_eq!(
            lives.next_drop_ns(3, 0),
            None,
            "slot 3 opens during the storm's stage"
        );
        assert_eq!(lives.next_drop_ns(1, 0), Some(1000 * MS));
    }

    #[test]
    fn processes_share_every_stage() {
        let lives = Lives::of(&[stage(1000, 9), stage(1000, 3), stage(1000, 9)]);
        let shares: Vec<Vec<u64>> = (0..3)
            .map(|k| lives.share(k, 3).map(|(i, _)| i).collect())
            .collect();
        let all: usize = shares.iter().map(Vec::len).sum();
        assert_eq!(all, lives.lives.len(), "every life once");
        for (k, share) in shares.iter().enumerate() {
            // 3 of the first 9, 2 of the 6 that come back.
            assert_eq!(share.len(), 5, "process {k}");
        }
        assert_eq!(lives.get(0).map(|l| l.slot), Some(0));
        assert!(lives.get(99).is_none());
    }
}
