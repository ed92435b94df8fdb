//! What one subscriber received of a push phase's window, and when it was
//! subscribed: the input of the phase's ledger. A connection owes every
//! window message intended while it was subscribed, from its subscribe
//! point (recorded by its driver when the target confirmed the
//! subscription) to the end of the phase or the moment it ended early.

use wsbench_model::delivery::Ledger;

use crate::plan::Grid;

/// What a delivery was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// First time, in order.
    New,
    /// First time, after a later message.
    Late,
    /// Seen before.
    Duplicate,
}

/// One connection's receipts: which window messages it got (the latest run
/// of consecutive ones, and a bitmap over the window for the rest, so its
/// size is bounded by the schedule, whatever arrives).
#[derive(Clone, Debug, Default)]
pub(crate) struct Receipts {
    /// When it was subscribed, CLOCK_MONOTONIC ns (`None`: never).
    sub_ns: Option<u64>,
    /// When it ended before the phase did.
    end_ns: Option<u64>,
    /// The latest run of consecutive window messages received, kept apart
    /// from `bits`: messages that arrive in order extend it and never touch
    /// the bitmap (a cache line per message, with thousands of subscribers
    /// taking turns).
    run: std::ops::Range<u64>,
    /// The messages received outside `run` (allocated with the first one
    /// that is not the run's next). (Boxed slices rather than vectors:
    /// every subscriber holds them.)
    bits: Box<[u64]>,
    /// The largest order delivered in order so far (0 before any: no
    /// order is below it).
    highest: u64,
    /// Times it was away and reconnecting: from its end to its new
    /// subscribe point, CLOCK_MONOTONIC ns.
    gaps: Box<[(u64, u64)]>,
    /// The target's id of the last message received.
    last_id: Option<u64>,
}

impl Receipts {
    /// The target confirmed the subscription at `ns`.
    pub(crate) fn subscribed(&mut self, ns: u64) {
        self.sub_ns.get_or_insert(ns);
    }

    /// The connection ended at `ns`, before the phase did.
    pub(crate) fn ended(&mut self, ns: u64) {
        if self.sub_ns.is_some() {
            self.end_ns.get_or_insert(ns);
        }
    }

    /// It was away from `from_ns` until it was subscribed again at
    /// `to_ns`: it still owes what was intended meanwhile (what a
    /// resuming transport fetches then arrives; the rest is lost, and
    /// counted as lost in a gap).
    pub(crate) fn gap(&mut self, from_ns: u64, to_ns: u64) {
        let mut gaps = std::mem::take(&mut self.gaps).into_vec();
        gaps.push((from_ns, to_ns));
        self.gaps = gaps.into_boxed_slice();
        // Order is judged within a connection: a new one (to a server
        // that may have started its numbering over) starts afresh.
        self.highest = 0;
    }

    /// Notes window message `j` (`j < window`); `order` places it in the
    /// order the target delivers in (its sequence number when it gives
    /// one, else `j`): a message after one with a larger `order` is late.
    /// The target's id of a message this connection received (any,
    /// in the window or not): the one to resume after.
    pub(crate) fn seen_id(&mut self, id: u64) {
        self.last_id = Some(id);
    }

    /// The target's id of the last message received, if it gave ids.
    pub(crate) fn last_id(&self) -> Option<u64> {
        self.last_id
    }

    pub(crate) fn on_message(&mut self, j: u64, window: u64, order: u64) -> Delivery {
        if j >= window || self.got(j) {
            return Delivery::Duplicate;
        }
        if j != self.run.end || self.run.is_empty() {
            self.flush_run(window);
            self.run = j..j;
        }
        self.run.end += 1;
        if order < self.highest {
            Delivery::Late
        } else {
            self.highest = order;
            Delivery::New
        }
    }

    /// Moves the run into the bitmap (a window of `window` messages).
    fn flush_run(&mut self, window: u64) {
        if self.run.is_empty() {
            return;
        }
        if self.bits.is_empty() {
            self.bits =
                vec![0; usize::try_from(window.div_ceil(64)).unwrap_or(0)].into_boxed_slice();
        }
        for j in self.run.clone() {
            if let Some(w) = usize::try_from(j / 64)
                .ok()
                .and_then(|i| self.bits.get_mut(i))
            {
                *w |= 1 << (j % 64);
            }
        }
        self.run = 0..0;
    }

    fn got(&self, j: u64) -> bool {
        if self.run.contains(&j) {
            return true;
        }
        usize::try_from(j / 64)
            .ok()
            .and_then(|i| self.bits.get(i))
            .is_some_and(|w| w & (1 << (j % 64)) != 0)
    }

    /// The window messages this connection owed, as `from..to` (empty when
    /// none): those intended from its subscribe point to its end.
    fn owed(&self, grid: &Grid) -> std::ops::Range<usize> {
        let Some(sub) = self.sub_ns else {
            return 0..0;
        };
        let window = usize::try_from(grid.window).unwrap_or(0);
        let from = usize::try_from(grid.first_at_or_after(sub).max(0)).unwrap_or(0);
        let to = match self.end_ns {
            // Messages intended at or before the end.
            Some(end) => {
                usize::try_from(grid.first_at_or_after(end.saturating_add(1)).max(0)).unwrap_or(0)
            }
            None => window,
        };
        from.min(window)..to.min(window).max(from.min(window))
    }

    /// The owed messages intended in its gaps, as `from..to` ranges.
    fn owed_in_gaps<'a>(
        &'a self,
        grid: &'a Grid,
    ) -> impl Iterator<Item = std::ops::Range<usize>> + 'a {
        let owed = self.owed(grid);
        let at = move |ns: u64| usize::try_from(grid.first_at_or_after(ns).max(0)).unwrap_or(0);
        self.gaps.iter().map(move |&(from, to)| {
            let (a, b) = (at(from).max(owed.start), at(to).min(owed.end));
            a..b.max(a)
        })
    }
}

/// Per window message, how many connections owed it and got it.
#[derive(Debug)]
struct Counts {
    /// Difference array of the owed counts (one slot past the window).
    owed_diff: Vec<i64>,
    got: Vec<u64>,
}

impl Counts {
    fn new(n: usize) -> Counts {
        Counts {
            owed_diff: vec![0; n + 1],
            got: vec![0; n],
        }
    }

    fn add(&mut self, owed: std::ops::Range<usize>, r: &Receipts) {
        if owed.is_empty() {
            return;
        }
        self.owed_diff[owed.start] += 1;
        self.owed_diff[owed.end] -= 1;
        for j in owed {
            if r.got(j as u64) {
                self.got[j] += 1;
            }
        }
    }

    fn ledger(&self) -> Ledger {
        let mut running = 0i64;
        let owed: Vec<u64> = self.owed_diff[..self.got.len()]
            .iter()
            .map(|d| {
                running += d;
                running.max(0) as u64
            })
            .collect();
        Ledger::new(&owed, &self.got)
    }
}

/// The receipts of a process's connections added up per window message;
/// and, apart, the part of it owed while subscribers were reconnecting.
#[derive(Debug)]
pub(crate) struct Tally {
    grid: Grid,
    all: Counts,
    gaps: Counts,
    any_gap: bool,
}

impl Tally {
    pub(crate) fn new(grid: Grid) -> Tally {
        let n = usize::try_from(grid.window).unwrap_or(0);
        Tally {
            grid,
            all: Counts::new(n),
            gaps: Counts::new(n),
            any_gap: false,
        }
    }

    /// Adds one connection.
    pub(crate) fn add(&mut self, r: &Receipts) {
        self.all.add(r.owed(&self.grid), r);
        for gap in r.owed_in_gaps(&self.grid) {
            self.any_gap = true;
            self.gaps.add(gap, r);
        }
    }

    /// The ledger: per window message, connections that owed it and got it.
    pub(crate) fn ledger(&self) -> Ledger {
        self.all.ledger()
    }

    /// The same for what was owed in reconnecting subscribers' gaps
    /// (`None`: no subscriber reconnected).
    pub(crate) fn gap_ledger(&self) -> Option<Ledger> {
        self.any_gap.then(|| self.gaps.ledger())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn grid() -> Grid {
        // 10 messages at 100/s from t = 1 s: message j is due at 1 s + j·10 ms.
        Grid::new(1_000_000_000, Duration::from_millis(100), 100.0, 1)
    }

    #[test]
    fn deliveries_are_new_late_or_repeated_and_stay_in_the_window() {
        let mut r = Receipts::default();
        assert_eq!(r.on_message(3, 10, 3), Delivery::New);
        assert_eq!(r.on_message(5, 10, 5), Delivery::New);
        assert_eq!(r.on_message(4, 10, 4), Delivery::Late);
        assert_eq!(r.on_message(5, 10, 5), Delivery::Duplicate);
        // Below the first one received: late, and counted as received.
        assert_eq!(r.on_message(1, 10, 1), Delivery::Late);
        assert!(r.got(1) && r.got(3) && !r.got(2));
        assert_eq!(r.bits.len(), 1, "the bitmap is the window's size");
        // Out of the window: not taken.
        assert_eq!(r.on_message(10, 10, 10), Delivery::Duplicate);
        assert!(!r.got(10));
        // Publishes that overlapped reached the target as 7 then 6: in the
        // target's order (its numbers 20, 21) that is not late.
        let mut r = Receipts::default();
        assert_eq!(r.on_message(7, 10, 20), Delivery::New);
        assert_eq!(r.on_message(6, 10, 21), Delivery::New);
        assert_eq!(r.on_message(8, 10, 19), Delivery::Late);
    }

    /// Messages in order never touch the bitmap; any order gives the
    /// verdicts and the receipts a plain set of the messages gives.
    #[test]
    fn the_run_and_the_bitmap_hold_what_a_set_holds() {
        let mut r = Receipts::default();
        for j in 0..500 {
            assert_eq!(r.on_message(j, 1000, j), Delivery::New);
        }
        assert!(r.bits.is_empty(), "in order: no bitmap");
        assert_eq!(r.on_message(499, 1000, 499), Delivery::Duplicate);
        assert_eq!(r.on_message(0, 1000, 0), Delivery::Duplicate);
        // Runs, jumps both ways, repeats of run and bitmap members.
        let window = 300;
        let mut x = 12345u64;
        let mut next = || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            x >> 33
        };
        let (mut r, mut seen, mut highest) = (Receipts::default(), Vec::new(), 0);
        let mut j = 0;
        for _ in 0..2000 {
            j = match next() % 8 {
                0 => next() % (window + 20),
                1 => j.saturating_sub(next() % 5),
                _ => j + 1,
            };
            let want = if j >= window || seen.contains(&j) {
                Delivery::Duplicate
            } else {
                seen.push(j);
                if j < highest {
                    Delivery::Late
                } else {
                    highest = j;
                    Delivery::New
                }
            };
            assert_eq!(r.on_message(j, window, j), want, "message {j}");
        }
        for j in 0..window + 20 {
            assert_eq!(r.got(j), seen.contains(&j), "message {j}");
        }
    }

    #[test]
    fn a_subscriber_owes_what_was_intended_while_it_was_subscribed() {
        let g = grid();
        let mut early = Receipts::default();
        early.subscribed(500_000_000);
        for j in 0..10 {
            early.on_message(j, 10, j);
        }
        // Joined late (message 4 is due at 1.04 s) and received nothing:
        // it owes messages 4 to 9, and lost them all.
        let mut late = Receipts::default();
        late.subscribed(1_035_000_000);
        // Ended early at message 2's due time: owes 0, 1 and 2; got 0 and 2.
        let mut gone = Receipts::default();
        gone.subscribed(0);
        gone.on_message(0, 10, 0);
        gone.on_message(2, 10, 2);
        gone.ended(1_020_000_000);
        // Never subscribed: owes nothing, whatever it got.
        let mut never = Receipts::default();
        never.on_message(1, 10, 1);
        let mut t = Tally::new(g);
        for r in [&early, &late, &gone, &never] {
            t.add(r);
        }
        let per: Vec<(u64, u64)> = t.ledger().per_message().collect();
        assert_eq!(
            per,
            [
                (2, 2),
                (2, 1),
                (2, 2),
                (1, 1),
                (2, 1),
                (2, 1),
                (2, 1),
                (2, 1),
                (2, 1),
                (2, 1)
            ]
        );
        let (owed, got) = per.iter().fold((0, 0), |a, p| (a.0 + p.0, a.1 + p.1));
        assert_eq!((owed, owed - got), (19, 7), "late lost 6, gone lost 1");
        assert!(t.gap_ledger().is_none());
    }

    #[test]
    fn what_was_owed_while_reconnecting_is_counted_apart() {
        // Away from message 3's due time to just after message 6's: owes
        // 3 … 6 in the gap; resumed and got 4 of them back.
        let mut r = Receipts::default();
        r.subscribed(0);
        r.gap(1_030_000_000, 1_060_000_001);
        for j in [0, 1, 2, 4, 7, 8, 9] {
            r.on_message(j, 10, j);
        }
        let mut t = Tally::new(grid());
        t.add(&r);
        let all: Vec<(u64, u64)> = t.ledger().per_message().collect();
        assert_eq!(all.iter().map(|p| p.0).sum::<u64>(), 10, "owed throughout");
        assert_eq!(all.iter().map(|p| p.1).sum::<u64>(), 7);
        let gap: Vec<(u64, u64)> = t.gap_ledger().unwrap().per_message().collect();
        let owed: Vec<u64> = gap.iter().map(|p| p.0).collect();
        assert_eq!(owed, [0, 0, 0, 1, 1, 1, 1, 0, 0, 0]);
        assert_eq!(gap.iter().map(|p| p.1).sum::<u64>(), 1, "message 4");
    }
}
