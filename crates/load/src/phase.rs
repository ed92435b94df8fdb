//! One phase in one process: arrival (connections at the ramp rate, on the
//! [`Plan`]), a stop condition (warm-up, the measured window, a drain; or
//! an interruption, or a dead target), a driver per connection
//! (`drivers`), a recorder, and for push the publisher and the ledger.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use wsbench_model::delivery::{Ledger, PublishRecord};
use wsbench_model::metric::Metric;
use wsbench_model::metric::main_latency;
use wsbench_model::results::{Counters, Interval, PhaseSummary, Schedule, StopReason};
use wsbench_model::{Scenario, Transport, WorkloadKind};
use wsbench_transport::ClientOptions;
use wsbench_transport::net::ByteCounters;

use crate::drivers::{self, ConnOutcome, PhaseCtx, PushCtx};
use crate::plan::{Grid, Plan};
use crate::probe::LagProbe;
use crate::progress::Progress;
use crate::publisher::{PublishSpec, Publisher};
use crate::receipts::Tally;
use crate::recorder::{Counts, Recorder, Timeline};
use crate::target::{Builtin, Origin};
use crate::{RunError, sys};

/// Longest wait after the window for what was sent in it.
pub(crate) const MAX_DRAIN: Duration = Duration::from_secs(10);
/// The drain ends once nothing of the window arrived for this long.
const QUIET: Duration = Duration::from_millis(500);
/// ... or, with messages still missing, for this long.
const GIVE_UP: Duration = Duration::from_secs(2);

/// Why a phase ended early.
pub(crate) type Early = Option<(StopReason, String)>;

/// A push phase's publishing: which share of the schedule this process
/// publishes and which it can time.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PushRole {
    /// The run id and phase index the markers carry.
    pub(crate) run: u32,
    pub(crate) phase: u32,
    /// Publishers of the phase (shards publish a share each).
    pub(crate) publishers: u64,
    /// This process publishes share `k` (`None`: another process does).
    pub(crate) publishes: Option<u64>,
    /// Messages of share `k` were published on this host's clock.
    pub(crate) clock: u64,
}

/// One phase of a run, as one process runs it.
pub(crate) struct Phase {
    pub(crate) scenario: Arc<Scenario>,
    pub(crate) transport: Transport,
    pub(crate) origin: Origin,
    pub(crate) options: ClientOptions,
    pub(crate) progress: bool,
    /// A worker process writes its latest second here (JSON) for the
    /// coordinator's progress line.
    pub(crate) progress_file: Option<PathBuf>,
    /// Push phases only.
    pub(crate) push: Option<PushRole>,
}

/// What one process measured of a phase.
pub(crate) struct Measured {
    /// Counters and rates (latency statistics, accounting and the verdict
    /// are added when the files are written).
    pub(crate) summary: PhaseSummary,
    pub(crate) histograms: BTreeMap<Metric, Histogram<u64>>,
    pub(crate) intervals: Vec<Interval>,
    pub(crate) timeline_base: std::time::SystemTime,
    pub(crate) early: Early,
    /// Push: what this process's subscribers owed and got.
    pub(crate) ledger: Option<Ledger>,
    /// Push: this process's publish record.
    pub(crate) record: Option<PublishRecord>,
    /// The builtin server's CPU share of the cores in the window.
    pub(crate) server_cpu_share: Option<f64>,
}

/// Readings at a moment, to take differences over the window.
#[derive(Clone, Copy, Default)]
struct Readings {
    bytes_sent: u64,
    bytes_received: u64,
    http_requests: u64,
    client_cpu_ns: u64,
    server_cpu_ns: Option<u64>,
}

impl Readings {
    fn take(bytes: &ByteCounters, rec: &Recorder, builtin: Option<&Builtin>) -> Readings {
        Readings {
            bytes_sent: bytes.written(),
            bytes_received: bytes.read(),
            http_requests: Counts::get(&rec.counts.http_requests),
            client_cpu_ns: sys::cpu_ns(None).unwrap_or(0),
            server_cpu_ns: builtin.map(Builtin::cpu_ns),
        }
    }
}

/// The cores this process may use.
pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

impl Phase {
    /// The push schedule of a window opening at `window_ns`.
    pub(crate) fn grid(&self, window_ns: u64) -> Option<Grid> {
        let role = self.push?;
        let s = &self.scenario;
        Some(Grid::new(window_ns, s.duration, s.rate, role.publishers))
    }

    /// Writes `point` to the progress file, if any (replaced whole, so a
    /// reader never sees half of it).
    fn publish_progress(&self, point: &wsbench_model::results::TimelinePoint) {
        let Some(path) = &self.progress_file else {
            return;
        };
        let tmp = path.with_extension("tmp");
        if let Ok(text) = serde_json::to_string(point)
            && std::fs::write(&tmp, text).is_ok()
        {
            let _ = std::fs::rename(&tmp, path);
        }
    }

    /// Least drain after the window: messages of the window may still be
    /// on their way (a short poller asks once per interval).
    fn least_drain(&self) -> Duration {
        match (self.scenario.workload, self.transport) {
            (WorkloadKind::Push, Transport::ShortPoll) => {
                (self.scenario.short_poll_interval * 2).max(Duration::from_secs(1))
            }
            (WorkloadKind::Push, _) => Duration::from_secs(1),
            _ => Duration::ZERO,
        }
    }

    /// Starts this process's publisher, if it publishes: its share of
    /// `grid`, from the first message due at or after `start_ns`.
    pub(crate) fn publisher(&self, start_ns: u64, grid: Grid) -> Option<Publisher> {
        let role = self.push?;
        let mut options = self.options.clone();
        options.counters = None;
        Some(Publisher::start(PublishSpec {
            origin: self.origin.clone(),
            options,
            grid,
            index: role.publishes?,
            start_ns,
            run: role.run,
            phase: role.phase,
            payload: self.scenario.payload,
            payload_size: self.scenario.payload_size,
        }))
    }

    /// Runs the phase's connections of `plan`.
    pub(crate) async fn measure(
        &self,
        plan: Plan,
        interrupt: &mut watch::Receiver<bool>,
        mut builtin: Option<&mut Builtin>,
    ) -> Result<Measured, RunError> {
        let s = Arc::clone(&self.scenario);
        let bytes = Arc::new(ByteCounters::default());
        let mut options = self.options.clone();
        options.counters = Some(Arc::clone(&bytes));
        let (stop_tx, stop_rx) = watch::channel(false);
        let grid = self.grid(plan.window_ns);
        let rec = Arc::new(Recorder::new(main_latency(s.workload)));
        let ctx = Arc::new(PhaseCtx {
            scenario: Arc::clone(&s),
            transport: self.transport,
            rec: Arc::clone(&rec),
            origin: self.origin.clone(),
            options,
            stop: stop_rx,
            push: self.push.zip(grid).map(|(role, grid)| PushCtx {
                grid,
                run: role.run,
                phase: role.phase,
                clock: (role.clock, role.publishers),
            }),
        });
        let publisher = grid.and_then(|g| self.publisher(plan.t0_ns, g));
        let _probe = LagProbe::start(Arc::clone(&rec));
        let progress = Progress::new(
            self.progress,
            self.transport.name(),
            plan.share(s.connections),
        );
        let rss_before = sys::rss_bytes();
        let (ramp, mut ramp_done) = arrive(Arc::clone(&ctx), plan);

        let mut early: Early = None;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut timeline = Timeline::new(plan.t0().into_std());
        let mut rss_after_ramp = None;
        let share = plan.share(s.connections);
        let watch = |timeline: &mut Timeline, stage: &str, b: Option<&mut Builtin>| {
            let point = timeline.sample(&rec);
            progress.tick(&rec, stage, point);
            self.publish_progress(point);
            target_failure(&ctx, share, b)
        };

        // Warm-up: until the window opens.
        while early.is_none() && Instant::now() < plan.window_at() {
            if *ramp_done.borrow() && rss_after_ramp.is_none() {
                rss_after_ramp = sys::rss_bytes();
            }
            tokio::select! {
                _ = tick.tick() => {
                    if let Some(e) = watch(&mut timeline, "warm-up", builtin.as_deref_mut()) {
                        early = Some((StopReason::TargetFailed, e));
                    }
                }
                _ = ramp_done.changed() => {}
                () = tokio::time::sleep_until(plan.window_at()) => {}
                _ = interrupt.wait_for(|&i| i) => {
                    early = Some((StopReason::Interrupted, "interrupted during warm-up".into()));
                }
            }
        }
        rss_after_ramp = rss_after_ramp.or_else(sys::rss_bytes);

        // The measured window.
        let subscribers = Counts::get(&rec.counts.open_now);
        rec.set_measuring(true);
        let window_start = Instant::now();
        let before = Readings::take(&bytes, &rec, builtin.as_deref());
        while early.is_none() && Instant::now() < plan.window_end_at() {
            tokio::select! {
                () = tokio::time::sleep_until(plan.window_end_at()) => {}
                _ = tick.tick() => {
                    if let Some(e) = watch(&mut timeline, "measuring", builtin.as_deref_mut()) {
                        early = Some((StopReason::TargetFailed, e));
                    }
                }
                _ = interrupt.wait_for(|&i| i) => {
                    early = Some((StopReason::Interrupted, "interrupted while measuring".into()));
                }
            }
        }
        let after = Readings::take(&bytes, &rec, builtin.as_deref());
        rec.set_measuring(false);
        let measured = window_start.elapsed();
        if early.is_none() {
            let expected = grid.map_or(0, |g| g.window * subscribers);
            self.drain(&rec, expected, publisher.as_ref(), interrupt)
                .await;
        }
        timeline.sample(&rec);
        let _ = stop_tx.send(true);
        progress.finish();
        let record = match publisher {
            Some(p) => {
                let (record, lag) = p.finish().await;
                rec.add_histogram(Metric::PublishLag, &lag);
                Some(record)
            }
            None => None,
        };
        let outcomes = reap(ramp, s.workload).await?;
        let ledger = grid.map(|g| {
            let mut tally = Tally::new(g);
            for r in outcomes.iter().filter_map(|o| o.receipts.as_ref()) {
                tally.add(r);
            }
            tally.ledger()
        });
        let secs = measured.as_secs_f64().max(1e-9);
        let server_cpu_share = match (before.server_cpu_ns, after.server_cpu_ns) {
            (Some(b), Some(a)) => Some(a.saturating_sub(b) as f64 / 1e9 / secs / cores() as f64),
            _ => None,
        };
        let mut summary =
            self.summarise(&rec, measured, before, after, (rss_before, rss_after_ramp));
        summary.schedule = grid.map(|g| Schedule {
            rate: g.rate,
            window: g.window,
            publishers: g.publishers,
        });
        summary.timeline.clone_from(&timeline.points);
        Ok(Measured {
            summary,
            histograms: rec.histograms(),
            intervals: timeline.intervals(),
            timeline_base: timeline.base,
            early,
            ledger,
            record,
            server_cpu_share,
        })
    }

    /// After the window: push waits until every subscriber open at its
    /// start has every window message (or nothing more arrives), echo and
    /// throughput until every message sent in it is back; never longer
    /// than [`MAX_DRAIN`]. What is missing then is lost.
    async fn drain(
        &self,
        rec: &Recorder,
        expected: u64,
        publisher: Option<&Publisher>,
        interrupt: &mut watch::Receiver<bool>,
    ) {
        let c = &rec.counts;
        let start = Instant::now();
        let (least, until) = (start + self.least_drain(), start + MAX_DRAIN);
        let settled = || match self.scenario.workload {
            WorkloadKind::Push => Counts::get(&c.delivered) >= expected,
            WorkloadKind::Echo | WorkloadKind::Throughput => {
                Counts::get(&c.delivered) + Counts::get(&c.mismatches) >= Counts::get(&c.sent)
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
            let sent_all = publisher.is_none_or(Publisher::window_settled);
            let quiet = now - last_change;
            if now >= until
                || (now >= least && sent_all && (settled() && quiet >= QUIET || quiet >= GIVE_UP))
            {
                break;
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(50)) => {}
                _ = interrupt.wait_for(|&i| i) => break,
            }
        }
    }

    /// The phase's counters and rates over the window.
    fn summarise(
        &self,
        rec: &Recorder,
        measured: Duration,
        before: Readings,
        after: Readings,
        (rss_before, rss_after_ramp): (Option<u64>, Option<u64>),
    ) -> PhaseSummary {
        let c = &rec.counts;
        let opened = Counts::get(&c.opened);
        let mut summary = PhaseSummary {
            transport: self.transport.name().to_owned(),
            workload: self.scenario.workload.name().to_owned(),
            measured_s: measured.as_secs_f64(),
            counters: Counters {
                connections_attempted: Counts::get(&c.attempted),
                connections_opened: opened,
                connections_failed: Counts::get(&c.failed),
                connections_peak: Counts::get(&c.peak),
                published: Counts::get(&c.sent),
                delivered: Counts::get(&c.delivered),
                duplicated: Counts::get(&c.duplicated),
                out_of_order: Counts::get(&c.out_of_order),
                unknown: Counts::get(&c.unknown),
                received: Counts::get(&c.received),
                payload_mismatches: Counts::get(&c.mismatches),
                bytes_sent: after.bytes_sent - before.bytes_sent,
                bytes_received: after.bytes_received - before.bytes_received,
                http_requests: after.http_requests - before.http_requests,
                errors: rec.errors(),
                ..Counters::default()
            },
            server_cpu_us_per_msg: match (before.server_cpu_ns, after.server_cpu_ns) {
                (Some(b), Some(a)) if Counts::get(&c.received) > 0 => {
                    Some(a.saturating_sub(b) as f64 / 1e3 / Counts::get(&c.received) as f64)
                }
                _ => None,
            },
            client_cpu_s: after.client_cpu_ns.saturating_sub(before.client_cpu_ns) as f64 / 1e9,
            client_rss_per_conn: match (rss_before, rss_after_ramp) {
                (Some(b), Some(a)) if opened > 0 => {
                    Some(a.saturating_sub(b) as f64 / opened as f64)
                }
                _ => None,
            },
            ..PhaseSummary::default()
        };
        summary.derive_rates();
        summary
    }
}

/// Arrival: connection *i* of the plan opens at `t0 + i / ramp_rate`, each
/// in its own task. Resolves to the tasks once every connection was tried.
fn arrive(
    ctx: Arc<PhaseCtx>,
    plan: Plan,
) -> (
    JoinHandle<Vec<JoinHandle<ConnOutcome>>>,
    watch::Receiver<bool>,
) {
    let (done_tx, done) = watch::channel(false);
    let ramp = tokio::spawn(async move {
        // Plain handles (8 bytes a connection) rather than a JoinSet (an
        // allocation a connection): memory per connection counts.
        let mut tasks: Vec<JoinHandle<ConnOutcome>> = Vec::new();
        let gap = Duration::from_secs_f64(1.0 / ctx.scenario.ramp_rate);
        let t0 = plan.t0();
        let step = usize::try_from(plan.count).unwrap_or(1);
        for i in (plan.index..ctx.scenario.connections).step_by(step) {
            if *ctx.stop.borrow() {
                break;
            }
            tokio::time::sleep_until(t0 + gap.mul_f64(i as f64)).await;
            let ctx = Arc::clone(&ctx);
            tasks.push(if ctx.scenario.workload == WorkloadKind::Connect {
                tokio::spawn(drivers::hold(ctx, i))
            } else {
                tokio::spawn(drivers::connection(ctx, i))
            });
        }
        let _ = done_tx.send(true);
        tasks
    });
    (ramp, done)
}

/// Collects the connections' outcomes after the stop signal (at most 30 s;
/// held connections, which do not watch the signal, are ended here).
async fn reap(
    ramp: JoinHandle<Vec<JoinHandle<ConnOutcome>>>,
    workload: WorkloadKind,
) -> Result<Vec<ConnOutcome>, RunError> {
    let mut tasks = ramp
        .await
        .map_err(|e| RunError::Target(format!("ramp task: {e}")))?;
    if workload == WorkloadKind::Connect {
        tasks.iter().for_each(JoinHandle::abort);
    }
    let mut outcomes = Vec::with_capacity(tasks.len());
    let collect = async {
        for t in &mut tasks {
            if let Ok(o) = t.await {
                outcomes.push(o);
            }
        }
    };
    if tokio::time::timeout(Duration::from_secs(30), collect)
        .await
        .is_err()
    {
        tasks.iter().for_each(JoinHandle::abort);
    }
    Ok(outcomes)
}

/// Whether the target has failed: the builtin server exited, or none of
/// this process's `share` of connections is open any more although some
/// were opened.
fn target_failure(ctx: &PhaseCtx, share: u64, builtin: Option<&mut Builtin>) -> Option<String> {
    if let Some(b) = builtin
        && let Some(why) = b.failure()
    {
        return Some(why);
    }
    let c = &ctx.rec.counts;
    let attempted = Counts::get(&c.attempted);
    if attempted > 0
        && attempted == share
        && Counts::get(&c.open_now) == 0
        && Counts::get(&c.opened) + Counts::get(&c.failed) == attempted
        && ctx.rec.error_count() > 0
    {
        let errors = ctx.rec.errors();
        return Some(format!(
            "no connection is open any more (errors: {errors:?})"
        ));
    }
    None
}
