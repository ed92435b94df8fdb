//! When a phase stops: the warm-up until the window opens, the measured
//! window, and the drain after it; earlier when interrupted or when the
//! target fails ([`target_failure`], the one check; the coordinator of
//! worker processes asks the builtin server the same question through
//! `Builtin::failure`).

use std::path::Path;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use wsbench_model::WorkloadKind;
use wsbench_model::results::{OpenTrace, StopReason, TimelinePoint};

use crate::drivers::{GAVE_UP, PhaseCtx};
use crate::plan::{Plan, instant_at};
use crate::progress::Progress;
use crate::recorder::{Counts, Recorder};
use crate::storm::Restarts;
use crate::sys;
use crate::target::Builtin;
use crate::timeline::Timeline;

/// Longest wait after the window for what was sent in it.
pub(crate) const MAX_DRAIN: Duration = Duration::from_secs(10);
/// The drain ends once nothing of the window arrived for this long.
const QUIET: Duration = Duration::from_millis(500);
/// ... or, with messages still missing, for this long.
const GIVE_UP: Duration = Duration::from_secs(2);

/// Why a phase ended early.
pub(crate) type Early = Option<(StopReason, String)>;

/// The phase's clock face while it runs: a timeline sample, the progress
/// line and the target check once a second, the open connections ten
/// times a second.
pub(crate) struct Watch<'a> {
    ctx: &'a PhaseCtx,
    plan: &'a Plan,
    timeline: Timeline,
    progress: Progress,
    /// A worker process writes its latest second here for the
    /// coordinator's progress line.
    progress_file: Option<&'a Path>,
    tick: tokio::time::Interval,
    /// The open-connection trace's sampling.
    fine: tokio::time::Interval,
    /// The phase's restart storms.
    restarts: Restarts,
}

impl<'a> Watch<'a> {
    pub(crate) fn new(
        ctx: &'a PhaseCtx,
        plan: &'a Plan,
        progress: Progress,
        progress_file: Option<&'a Path>,
    ) -> Watch<'a> {
        // Seconds on the phase's own clock: a late sample does not move the
        // ones after it, so every second-long stage holds one.
        let mut tick = tokio::time::interval_at(plan.t0(), Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut fine = tokio::time::interval(Duration::from_millis(OpenTrace::EVERY_MS));
        fine.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Watch {
            ctx,
            plan,
            timeline: Timeline::new(plan.t0().into_std()),
            progress,
            progress_file,
            tick,
            fine,
            restarts: Restarts::of(&ctx.scenario, plan.t0_ns),
        }
    }

    /// One second's look: sample, show, check the target.
    fn look(&mut self, stage: &str, builtin: Option<&mut Builtin>) -> Early {
        let rec = &self.ctx.rec;
        let point = self.timeline.sample(rec);
        self.progress.tick(rec, stage, point);
        if let Some(path) = self.progress_file {
            write_progress(path, point);
        }
        let share = self.plan.share(self.ctx.scenario.connections);
        target_failure(self.ctx, share, builtin).map(|e| (StopReason::TargetFailed, e))
    }

    /// Whether every connection tried so far has opened or failed.
    fn settled(&self) -> bool {
        let c = &self.ctx.rec.counts;
        Counts::get(&c.attempted) <= Counts::get(&c.opened) + Counts::get(&c.failed)
    }

    /// A restart storm's event is due: carry it out.
    async fn storm(&mut self, builtin: Option<&mut Builtin>) -> Early {
        let restarted = self.restarts.act(builtin).await;
        restarted.err().map(|e| (StopReason::TargetFailed, e))
    }

    /// Until the window opens; also the resident memory once every
    /// connection was tried and has opened or failed (or at the window's
    /// start): the memory of held connections, none of them halfway
    /// through its handshake.
    pub(crate) async fn warm_up(
        &mut self,
        ramp_done: &mut watch::Receiver<bool>,
        interrupt: &mut watch::Receiver<bool>,
        mut builtin: Option<&mut Builtin>,
    ) -> (Early, Option<u64>) {
        let mut early: Early = None;
        let mut rss_after_ramp = None;
        let opens = self.plan.window_at();
        while early.is_none() && Instant::now() < opens {
            if *ramp_done.borrow() && rss_after_ramp.is_none() && self.settled() {
                rss_after_ramp = sys::rss_bytes();
            }
            let storm = until(self.restarts.next_ns());
            tokio::select! {
                () = storm => {
                    early = self.storm(builtin.as_deref_mut()).await;
                }
                _ = self.tick.tick() => {
                    early = self.look("warm-up", builtin.as_deref_mut());
                }
                _ = self.fine.tick() => self.timeline.trace(&self.ctx.rec),
                _ = ramp_done.changed() => {}
                () = tokio::time::sleep_until(opens) => {}
                _ = interrupt.wait_for(|&i| i) => {
                    early = Some((StopReason::Interrupted, "interrupted during warm-up".into()));
                }
            }
        }
        (early, rss_after_ramp.or_else(sys::rss_bytes))
    }

    /// Until the window ends.
    pub(crate) async fn window(
        &mut self,
        interrupt: &mut watch::Receiver<bool>,
        mut builtin: Option<&mut Builtin>,
    ) -> Early {
        let mut early: Early = None;
        let ends = self.plan.window_end_at();
        while early.is_none() && Instant::now() < ends {
            let storm = until(self.restarts.next_ns());
            tokio::select! {
                () = tokio::time::sleep_until(ends) => {}
                () = storm => {
                    early = self.storm(builtin.as_deref_mut()).await;
                }
                _ = self.tick.tick() => {
                    early = self.look("measuring", builtin.as_deref_mut());
                }
                _ = self.fine.tick() => self.timeline.trace(&self.ctx.rec),
                _ = interrupt.wait_for(|&i| i) => {
                    early = Some((StopReason::Interrupted, "interrupted while measuring".into()));
                }
            }
        }
        early
    }

    /// The last sample; the progress line goes.
    pub(crate) fn finish(mut self) -> Timeline {
        self.timeline.sample(&self.ctx.rec);
        self.progress.finish();
        self.timeline
    }
}

/// Writes `point` to `path` (replaced whole, so a reader never sees half
/// of it).
fn write_progress(path: &Path, point: &TimelinePoint) {
    let tmp = path.with_extension("tmp");
    if let Ok(text) = serde_json::to_string(point)
        && std::fs::write(&tmp, text).is_ok()
    {
        let _ = std::fs::rename(&tmp, path);
    }
}

/// Until CLOCK_MONOTONIC `ns`; never, without one.
pub(crate) async fn until(ns: Option<u64>) {
    match ns {
        Some(ns) => tokio::time::sleep_until(instant_at(ns)).await,
        None => std::future::pending().await,
    }
}

/// After the window: push waits until every subscriber open at its start
/// has every window message (`expected` in all) or nothing more arrives,
/// echo and throughput until every message sent in it is back; at least
/// `least` (messages of the window may still be on their way), never
/// longer than [`MAX_DRAIN`], and not before `sent_all` (the publisher
/// has settled every window message). What is missing then is lost.
pub(crate) async fn drain(
    rec: &Recorder,
    workload: WorkloadKind,
    least: Duration,
    expected: u64,
    sent_all: impl Fn() -> bool,
    interrupt: &mut watch::Receiver<bool>,
) {
    let c = &rec.counts;
    let start = Instant::now();
    let (least, until) = (start + least, start + MAX_DRAIN);
    let settled = || match workload {
        WorkloadKind::Push => Counts::get(&c.delivered) >= expected,
        WorkloadKind::Echo | WorkloadKind::Throughput | WorkloadKind::Rpc | WorkloadKind::Flow => {
            Counts::get(&c.delivered) + Counts::get(&c.mismatches) + Counts::get(&c.timed_out)
                >= Counts::get(&c.sent)
        }
        WorkloadKind::Connect => true,
    };
    let mut seen = Counts::get(&c.delivered);
    let mut last_change = start;
    loop {
        let now = Instant::now();
        let d = Counts::get(&c.delivered);
        if d != seen {
            (seen, last_change) = (d, now);
        }
        let quiet = now - last_change;
        if now >= until
            || (now >= least && sent_all() && (settled() && quiet >= QUIET || quiet >= GIVE_UP))
        {
            break;
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
            _ = interrupt.wait_for(|&i| i) => break,
        }
    }
}

/// Whether the target has failed: the builtin server exited, or none of
/// this process's `share` of connections is open any more although some
/// were opened.
pub(crate) fn target_failure(
    ctx: &PhaseCtx,
    share: u64,
    builtin: Option<&mut Builtin>,
) -> Option<String> {
    if let Some(b) = builtin
        && let Some(why) = b.failure()
    {
        return Some(why);
    }
    // (A stage profile may close every connection on purpose.)
    if ctx.lives.is_some() {
        return None;
    }
    let c = &ctx.rec.counts;
    let attempted = Counts::get(&c.attempted);
    // With a reconnect policy, connections away are coming back until
    // they give up.
    let gave_up = || {
        ctx.scenario.reconnect.is_none()
            || ctx.rec.errors().get(GAVE_UP).copied().unwrap_or(0) >= Counts::get(&c.opened)
    };
    if attempted > 0
        && attempted == share
        && Counts::get(&c.open_now) == 0
        && Counts::get(&c.opened) + Counts::get(&c.failed) >= attempted
        && ctx.rec.error_count() > 0
        && gave_up()
    {
        let errors = ctx.rec.errors();
        return Some(format!(
            "no connection is open any more (errors: {errors:?})"
        ));
    }
    None
}
