//! One phase in one process: arrival (`arrival.rs`: connections at the
//! ramp rate or on the stage profile, on the [`Plan`]), a stop condition
//! (warm-up, the measured window, a drain; or an interruption, or a dead
//! target), a driver per connection (`drivers`), a recorder, and for push
//! the publisher and the ledger.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::sync::watch;
use tokio::time::Instant;
use wsbench_model::delivery::{Ledger, PublishRecord};
use wsbench_model::metric::Metric;
use wsbench_model::metric::main_latency;
use wsbench_model::results::{Counters, Interval, PhaseSummary, Schedule, StageSpan};
use wsbench_model::scenario::{PUBLISH_VARIABLES, Role, Vars, expand_env_keeping};
use wsbench_model::{Scenario, Transport, WorkloadKind};
use wsbench_transport::ClientOptions;
use wsbench_transport::net::ByteCounters;

use crate::arrival::{arrive, reap};
use crate::drivers::{ConnOutcome, PhaseCtx, PushCtx};
use crate::plan::{Grid, Plan};
use crate::probe::LagProbe;
use crate::progress::Progress;
use crate::publisher::{PublishSpec, Publisher};
use crate::rates::RateProfile;
use crate::readings::{Readings, server_cpu_per_msg, window_edge};
use crate::receipts::Tally;
use crate::recorder::{Counts, Recorder};
use crate::signal::Stop;
use crate::stages::{self, Lives};
use crate::stop::{Early, Watch, drain};
use crate::storm::Restarts;
use crate::target::{Builtin, Origin, headers};
use crate::timeline::Timeline;
use crate::{RunError, sys};

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
    /// In a mixed population, the group this phase runs (its files and
    /// results are named after it).
    pub(crate) group: Option<String>,
    /// Its place in the run, from 1: phase k of n (a group: k of the n
    /// groups), for the progress line.
    pub(crate) place: (usize, usize),
    /// `--stream`: where each second goes.
    pub(crate) stream: Option<Arc<crate::stream::Stream>>,
    /// `--metrics-listen`: the live endpoint this phase's figures feed.
    pub(crate) metrics: Option<Arc<crate::metrics::Metrics>>,
    /// How much later than it would alone the phase starts: groups of a
    /// mixed population start apart so their windows open together.
    pub(crate) delay: Duration,
    /// A target server process on this host (not the builtin one) whose
    /// CPU time, with its children's, is read at the window's edges.
    pub(crate) server_pid: Option<u32>,
}

/// After an early stop, how long subscribers keep receiving once
/// publishing has stopped.
const EARLY_STOP_GRACE: Duration = Duration::from_millis(200);

/// What one process measured of a phase.
pub(crate) struct Measured {
    /// Counters and rates (latency statistics, accounting and the verdict
    /// are added when the files are written).
    pub(crate) summary: PhaseSummary,
    pub(crate) histograms: BTreeMap<Metric, Histogram<u64>>,
    /// With stages: the main latency of each stage.
    pub(crate) stage_histograms: Vec<Histogram<u64>>,
    /// A flow's timers, by the name they are reported under.
    pub(crate) timer_histograms: BTreeMap<String, Histogram<u64>>,
    pub(crate) intervals: Vec<Interval>,
    pub(crate) timeline_base: std::time::SystemTime,
    pub(crate) early: Early,
    /// Push: what this process's subscribers owed and got.
    pub(crate) ledger: Option<Ledger>,
    /// Push with reconnects: what subscribers owed while reconnecting.
    pub(crate) gap_ledger: Option<Ledger>,
    /// Push: this process's publish record.
    pub(crate) record: Option<PublishRecord>,
    /// The builtin server's CPU share of the cores in the window.
    pub(crate) server_cpu_share: Option<f64>,
    /// CPU steal's share of the watched cores' time in the window.
    pub(crate) steal_share: Option<f64>,
}

/// The measured window's edges.
#[derive(Clone, Copy)]
struct Window {
    measured: Duration,
    before: Readings,
    after: Readings,
    /// Resident memory before the first connection and after the last.
    rss: (Option<u64>, Option<u64>),
    /// Whether the server may run on this process's cores: if not, its CPU
    /// share of them is not a contention figure and is left out.
    server_shares_cores: bool,
}

impl Window {
    /// The builtin server's CPU share of the cores over the window.
    fn server_cpu_share(&self) -> Option<f64> {
        if !self.server_shares_cores {
            return None;
        }
        let secs = self.measured.as_secs_f64().max(1e-9);
        match (self.before.server_cpu_ns, self.after.server_cpu_ns) {
            (Some(b), Some(a)) => Some(a.saturating_sub(b) as f64 / 1e9 / secs / cores() as f64),
            _ => None,
        }
    }

    /// CPU steal's share of the watched cores' time over the window.
    fn steal_share(&self) -> Option<f64> {
        crate::readings::steal_share(&self.before, &self.after, self.measured.as_secs_f64())
    }
}

/// The cores this process may use.
pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

impl Phase {
    /// The phase's name: its group's, else its transport's (see
    /// `PhaseSummary::name`); its files are named after it.
    pub(crate) fn name(&self) -> &str {
        self.group.as_deref().unwrap_or(self.transport.name())
    }

    /// How the progress line names the phase: `websocket (phase 1/2)`,
    /// `readers (group 1/3)`.
    pub(crate) fn progress_label(&self) -> String {
        let (k, n) = self.place;
        let what = if self.group.is_some() {
            "group"
        } else {
            "phase"
        };
        format!("{} ({what} {k}/{n})", self.name())
    }

    /// The push schedule of `plan`'s window (with a rate profile, from
    /// the phase's start).
    pub(crate) fn grid(&self, plan: &Plan) -> Option<Grid> {
        let role = self.push?;
        let s = &self.scenario;
        let grid = Grid::new(plan.window_ns, s.duration, s.rate, role.publishers);
        Some(match RateProfile::of(s.rate, &s.stages) {
            Some(profile) => grid.with_profile(profile, plan.t0_ns, s.duration),
            None => grid,
        })
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
        let protocol = &self.scenario.protocol;
        let vars = Vars {
            shard: self.origin.shard,
            ..Vars::default()
        };
        let reach = || -> Result<_, String> {
            let url = self
                .origin
                .url(protocol, Role::Publish, &vars)
                .map_err(|e| e.to_string())?;
            let mut all = Vec::new();
            for (n, v) in headers(protocol, &vars).map_err(|e| e.to_string())? {
                let name = http::HeaderName::from_bytes(n.as_bytes());
                // The value is not shown: it may come from the environment.
                let value = http::HeaderValue::try_from(v);
                match (name, value) {
                    (Ok(name), Ok(value)) => all.push((name, value)),
                    _ => return Err(format!("header {n} is not a valid header")),
                }
            }
            let body = match &protocol.publish.body {
                Some(b) => Some(
                    expand_env_keeping(b, &vars, &PUBLISH_VARIABLES).map_err(|e| e.to_string())?,
                ),
                None => None,
            };
            Ok((url, all, body))
        };
        let (url, headers, body) = match reach() {
            Ok(r) => r,
            Err(e) => {
                eprintln!("wsbench: cannot publish: {e}");
                return None;
            }
        };
        Some(Publisher::start(PublishSpec {
            url,
            headers,
            method: protocol.publish.method.clone(),
            body,
            steps: protocol.publish.steps.clone(),
            replies: protocol.script.replies.clone(),
            vars,
            correlation: protocol.correlation.clone(),
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
        let grid = self.grid(&plan);
        let rec = Arc::new(Recorder::with_stages(
            main_latency(s.workload),
            stages::starts_ns(&s.stages, plan.t0_ns),
        ));
        let ctx = self.context(&rec, &bytes, grid.clone(), plan.t0_ns);
        let publisher = grid.clone().and_then(|g| self.publisher(plan.t0_ns, g));
        if let Some(m) = &self.metrics {
            let workload = s.workload.name();
            let (name, transport) = (self.name(), self.transport.name());
            m.live(
                name,
                transport,
                self.group.as_deref(),
                workload,
                Arc::clone(&rec),
            );
        }
        let _probe = LagProbe::start(Arc::clone(&rec));
        let rss_before = sys::rss_bytes();
        let (ramp, mut ramp_done) = arrive(Arc::clone(&ctx), plan);
        let mut watch = Watch::new(
            &ctx,
            &plan,
            Progress::new(
                self.progress,
                &self.progress_label(),
                plan.share(s.connections),
                self.stream.clone().map(|s| (s, self.name().to_owned())),
            ),
            self.progress_file.as_deref(),
        );
        let (mut early, rss_after_ramp) = watch
            .warm_up(&mut ramp_done, interrupt, builtin.as_deref_mut())
            .await;

        // The measured window.
        let subscribers = Counts::get(&rec.counts.open_now);
        // A restarted server is another process: its CPU is not read.
        let server_pid = builtin
            .as_deref()
            .map(Builtin::pid)
            .or(self.server_pid)
            .filter(|_| !Restarts::of(&s, 0).any());
        // Bytes and counts cover the same interval (`window_edge`).
        let before = window_edge(&rec, &bytes, server_pid, true);
        let window_start = Instant::now();
        if early.is_none() {
            early = watch.window(interrupt, builtin).await;
        }
        let after = window_edge(&rec, &bytes, server_pid, false);
        let measured = window_start.elapsed();
        if early.is_none() {
            // With stages, subscribers come and go in the window: the
            // drain waits for quiet instead.
            let expected = if s.stages.is_empty() {
                grid.as_ref().map_or(0, |g| g.window * subscribers)
            } else {
                0
            };
            let settled = || publisher.as_ref().is_none_or(Publisher::window_settled);
            drain(
                &rec,
                s.workload,
                self.least_drain(),
                expected,
                settled,
                interrupt,
            )
            .await;
        }
        let timeline = watch.finish();
        // Publishing stops before the subscribers do: a message the target
        // acknowledged is owed, so after an early stop (an interruption)
        // they get a moment to receive what is on its way.
        let record = match publisher {
            Some(p) => {
                let (record, lag) = p.finish().await;
                rec.add_histogram(Metric::PublishLag, &lag);
                if early.is_some() {
                    tokio::time::sleep(EARLY_STOP_GRACE).await;
                }
                Some(record)
            }
            None => None,
        };
        ctx.stop.set();
        let outcomes = reap(ramp, s.workload).await?;
        let (ledger, gap_ledger) = grid
            .clone()
            .map(|g| ledgers(g, &outcomes))
            .map_or((None, None), |(l, g)| (Some(l), g));
        let window = Window {
            measured,
            before,
            after,
            rss: (rss_before, rss_after_ramp),
            server_shares_cores: server_pid.is_none_or(sys::shares_cores),
        };
        let mut summary = self.summarise(&rec, &window, grid.as_ref(), &timeline);
        summary.window_start = Some(crate::plan::wall_clock(plan.window_ns));
        summary.window_at_s = Some(plan.window_ns.saturating_sub(plan.t0_ns) as f64 / 1e9);
        Ok(Measured {
            summary,
            histograms: rec.histograms(),
            stage_histograms: rec.stage_histograms(),
            timer_histograms: rec.timer_histograms(),
            intervals: timeline.intervals(),
            timeline_base: timeline.base,
            early,
            ledger,
            gap_ledger,
            record,
            server_cpu_share: window.server_cpu_share(),
            steal_share: window.steal_share(),
        })
    }

    /// What every connection of the phase shares.
    fn context(
        &self,
        rec: &Arc<Recorder>,
        bytes: &Arc<ByteCounters>,
        grid: Option<Grid>,
        t0_ns: u64,
    ) -> Arc<PhaseCtx> {
        let mut options = self.options.clone();
        options.counters = Some(Arc::clone(bytes));
        Arc::new(PhaseCtx {
            scenario: Arc::clone(&self.scenario),
            transport: self.transport,
            rec: Arc::clone(rec),
            origin: self.origin.clone(),
            options,
            stop: Stop::new(),
            push: self.push.zip(grid).map(|(role, grid)| PushCtx {
                grid,
                run: role.run,
                phase: role.phase,
                clock: (role.clock, role.publishers),
            }),
            lives: (!self.scenario.stages.is_empty())
                .then(|| Arc::new(Lives::of(&self.scenario.stages).starting_at(t0_ns))),
            send_rate: RateProfile::of(self.scenario.rate, &self.scenario.stages)
                .map(|p| (p, t0_ns)),
        })
    }

    /// The phase's counters and rates over the window.
    fn summarise(
        &self,
        rec: &Recorder,
        window: &Window,
        grid: Option<&Grid>,
        timeline: &Timeline,
    ) -> PhaseSummary {
        let Window {
            measured,
            before,
            after,
            rss: (rss_before, rss_after_ramp),
            ..
        } = *window;
        let c = &rec.counts;
        let opened = Counts::get(&c.opened);
        let mut summary = PhaseSummary {
            transport: self.transport.name().to_owned(),
            group: self.group.clone(),
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
                other: Counts::get(&c.other),
                received: Counts::get(&c.received),
                payload_mismatches: Counts::get(&c.mismatches),
                bytes_sent: after.bytes_sent - before.bytes_sent,
                bytes_received: after.bytes_received - before.bytes_received,
                // Counted only while the window is open, as `received` is.
                http_requests: Counts::get(&c.http_requests),
                errors: rec.errors(),
                reconnects: Counts::get(&c.reconnects),
                ..Counters::default()
            },
            server_cpu_us_per_msg: server_cpu_per_msg(
                after
                    .server_cpu_ns
                    .zip(before.server_cpu_ns)
                    .map(|(a, b)| a.saturating_sub(b)),
                Counts::get(&c.received),
            ),
            client_cpu_s: after.client_cpu_ns.saturating_sub(before.client_cpu_ns) as f64 / 1e9,
            client_rss_per_conn: match (rss_before, rss_after_ramp) {
                (Some(b), Some(a)) if opened > 0 => {
                    Some(a.saturating_sub(b) as f64 / opened as f64)
                }
                _ => None,
            },
            schedule: grid.map(|g| Schedule {
                rate: g.rate,
                window: g.window,
                publishers: g.publishers,
            }),
            timeline: timeline.points.clone(),
            open_trace: timeline.opens.clone().finish(),
            stages: StageSpan::plan(&self.scenario.stages),
            ..PhaseSummary::default()
        };
        StageSpan::observe(&mut summary.stages, &summary.timeline);
        summary.derive_rates();
        summary
    }
}

/// What the phase's subscribers owed and got, per message of `grid`;
/// and apart, what they owed while reconnecting.
fn ledgers(grid: Grid, outcomes: &[ConnOutcome]) -> (Ledger, Option<Ledger>) {
    let mut tally = Tally::new(grid);
    for r in outcomes.iter().filter_map(|o| o.receipts.as_ref()) {
        tally.add(r);
    }
    (tally.ledger(), tally.gap_ledger())
}
