//! The run engine: for each transport, one phase composed of an arrival
//! model (connections opened at the ramp rate), a stop condition (warm-up,
//! measured window, drain; or an interruption, or a dead target), a driver
//! per connection (transport × workload, `drivers.rs`) and a recorder.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use wsbench_model::results::{
    Counters, Environment, Interval, PhaseSummary, SUMMARY_SCHEMA_VERSION, StopReason, Summary,
    TimelinePoint,
};
use wsbench_model::{PayloadKind, PushClock, Scenario, Target, Transport, WorkloadKind};
use wsbench_transport::clock::monotonic_ns;
use wsbench_transport::http_client::PollClient;
use wsbench_transport::net::ByteCounters;
use wsbench_transport::{ClientOptions, push, tls};

use crate::drivers::{self, ConnOutcome, Origin, PhaseCtx};
use crate::output::ResultsDir;
use crate::progress::Progress;
use crate::recorder::{Counts, Metric, Recorder, Timeline};
use crate::target::Builtin;
use crate::{RunError, sys};

/// How a run is carried out.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The `wsbench` executable, to start the builtin server.
    pub exe: PathBuf,
    /// Where result folders go (`results/`).
    pub results_root: PathBuf,
    /// The command line, recorded with the results.
    pub command: String,
    /// Live progress on stderr.
    pub progress: bool,
    /// Load generator processes; `None`: the scenario's `load.workers`,
    /// where 0 means one per 15,000 connections.
    pub workers: Option<u16>,
    /// Becomes true on Ctrl-C / SIGTERM: the run stops, writes what it
    /// measured, and reports itself partial.
    pub interrupt: watch::Receiver<bool>,
    /// Run one shard of a run spread over machines (`--shard I/N
    /// --start-at T`).
    pub shard: Option<ShardRun>,
}

/// One shard of a run spread over several machines: connections
/// `index, index + count, …` of every phase, on a schedule fixed by a
/// common wall-clock start, so shards started apart line up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardRun {
    /// This shard, from 0.
    pub index: u64,
    /// Shards in the run.
    pub count: u64,
    /// When phase 1's connection 0 is due, wall clock.
    pub start_at: std::time::SystemTime,
}

/// Room after a sharded phase's window for its drain and for closing
/// connections, before the next phase's slot begins.
const SHARD_SLOT_SLACK: Duration = Duration::from_secs(15);

impl ShardRun {
    /// How long each phase's slot lasts: ramp or warm-up, the window,
    /// the longest drain and some slack.
    pub fn slot(s: &Scenario) -> Duration {
        Self::lead(s) + s.duration + MAX_DRAIN + SHARD_SLOT_SLACK
    }

    /// From a phase's start to its window.
    fn lead(s: &Scenario) -> Duration {
        let ramp = Duration::from_secs_f64(s.connections.saturating_sub(1) as f64 / s.ramp_rate);
        s.warmup.max(ramp) + Duration::from_millis(200)
    }

    /// The plan of phase `k` (from 0).
    fn plan(&self, s: &Scenario, k: u32) -> Plan {
        let start = self.start_at + Self::slot(s) * k;
        let (now_wall, now, now_ns) =
            (std::time::SystemTime::now(), Instant::now(), monotonic_ns());
        // Wall clock to this host's monotonic clock, once per phase.
        let ahead = start.duration_since(now_wall).unwrap_or_default();
        let behind = now_wall.duration_since(start).unwrap_or_default();
        let t0 = (now + ahead).checked_sub(behind).unwrap_or(now);
        let t0_ns = (now_ns + ahead.as_nanos() as u64).saturating_sub(behind.as_nanos() as u64);
        let lead = Self::lead(s);
        Plan {
            index: self.index,
            count: self.count,
            t0,
            window_at: Some(t0 + lead),
            window_ns: Some(t0_ns + lead.as_nanos() as u64),
        }
    }
}

/// A finished run.
#[derive(Debug)]
pub struct RunOutcome {
    /// The results folder.
    pub dir: PathBuf,
    /// What `summary.json` holds.
    pub summary: Summary,
}

/// Connections per builtin server process when the scenario does not say.
const CONNECTIONS_PER_SERVER: u64 = 15_000;
/// Connections per load generator process when the scenario does not say
/// (each process may hold 20,000 open files).
const CONNECTIONS_PER_PROCESS: u64 = 15_000;

/// The environment a run records.
pub fn environment() -> Environment {
    Environment {
        wsbench: env!("CARGO_PKG_VERSION").to_owned(),
        git_rev: option_env!("WSBENCH_GIT_REV")
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        rustc: option_env!("WSBENCH_RUSTC")
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        cpu: sys::cpu_model(),
        cpus: std::thread::available_parallelism().map_or(1, usize::from),
        kernel: sys::kernel(),
        simd_backend: wsbench_codec::mask::selected().backend().name().to_owned(),
        workers: 1,
    }
}

fn builtin_args(s: &Scenario, workers: u16) -> Vec<String> {
    // SO_REUSEPORT spreads connections by hash, not evenly: leave room,
    // within the per-process open-file limit.
    let share = s.connections.div_ceil(u64::from(workers));
    let per_process = (share + share / 2 + 64).min(19_000);
    let mut a = vec![
        "--workers".to_owned(),
        workers.to_string(),
        "--max-connections".to_owned(),
        per_process.to_string(),
        "--payload-size".to_owned(),
        s.payload_size.to_string(),
        "--max-message-size".to_owned(),
        (s.payload_size.max(1 << 20) * 2).to_string(),
    ];
    if s.workload == WorkloadKind::Push {
        a.push("--publish-rate".to_owned());
        a.push(s.rate.to_string());
        if s.payload == PayloadKind::Json {
            a.push("--payload-json".to_owned());
        }
    }
    a
}

/// Runs `scenario` and writes its results.
pub async fn run(scenario: Scenario, opts: RunOptions) -> Result<RunOutcome, RunError> {
    let scenario = Arc::new(scenario);
    let mut environment = environment();
    let workers = match opts.workers.unwrap_or(scenario.workers) {
        0 => u16::try_from(scenario.connections.div_ceil(CONNECTIONS_PER_PROCESS))
            .unwrap_or(64)
            .clamp(1, 64),
        n => n,
    };
    environment.workers = workers;
    let suffix = opts
        .shard
        .map(|sh| format!("-shard-{}-of-{}", sh.index, sh.count));
    if let Some(sh) = opts.shard {
        if matches!(scenario.target, Target::Builtin { .. }) {
            return Err(RunError::Unsupported(
                "a shard needs a URL target (every shard must reach the same server); \
                 set `target` to a ws://, wss:// or http:// URL"
                    .into(),
            ));
        }
        if sh.index >= sh.count {
            return Err(RunError::Unsupported(format!(
                "shard {} of {}: the index counts from 0",
                sh.index, sh.count
            )));
        }
        if workers > 1 {
            return Err(RunError::Unsupported(
                "a shard runs in one process (--workers 1); use more shards instead".into(),
            ));
        }
        let late = std::time::SystemTime::now()
            .duration_since(sh.start_at)
            .unwrap_or_default();
        if late > ShardRun::lead(&scenario) {
            return Err(RunError::Unsupported(format!(
                "--start-at is {:.1} s in the past, after the first window opened; pick a later time",
                late.as_secs_f64()
            )));
        }
    }
    let mut results = ResultsDir::create(
        &opts.results_root,
        &scenario,
        suffix.as_deref().unwrap_or(""),
        &opts.command,
        &environment,
    )
    .map_err(RunError::Results)?;
    // Workers read the scenario from the results folder.
    let scenario_file = results.path().join("scenario.toml");
    std::fs::write(&scenario_file, &scenario.source).map_err(RunError::Results)?;

    let mut builtin = None;
    let (origin, insecure) = match &scenario.target {
        Target::Builtin { workers } => {
            let workers = if *workers == 0 {
                u16::try_from(scenario.connections.div_ceil(CONNECTIONS_PER_SERVER))
                    .unwrap_or(64)
                    .clamp(1, 64)
            } else {
                *workers
            };
            let b = Builtin::start(&opts.exe, &builtin_args(&scenario, workers)).await?;
            let origin = Origin {
                authority: b.addr().to_string(),
                tls: false,
            };
            builtin = Some(b);
            (origin, false)
        }
        Target::Url {
            authority,
            tls,
            insecure_tls,
            ..
        } => (
            Origin {
                authority: authority.clone(),
                tls: *tls,
            },
            *insecure_tls,
        ),
    };
    let options = client_options(&scenario, insecure);
    let push_clock = match scenario.target {
        Target::Url { push_clock, .. } => push_clock,
        Target::Builtin { .. } => PushClock::Server,
    };
    let push = scenario.workload == WorkloadKind::Push;
    if push && push_clock == PushClock::Server && !is_loopback(&origin.authority) {
        eprintln!(
            "wsbench run: warning: push_clock = \"server\" compares the server's clock with \
             this host's; with a target on another host push_latency is not a latency \
             (see docs/distributed.md, \"Clocks and one-way latency\"); delivery counts stay exact"
        );
    }

    // A URL target publishes nothing by itself: the harness does, through
    // POST /publish, at the scenario's rate. With the server's clock, one
    // publisher (shard 0 of a sharded run); with the publisher's clock,
    // every shard publishes its share, marked with its index, and times
    // its own messages.
    let (shard_index, shards) = opts.shard.map_or((0, 1), |sh| (sh.index, sh.count));
    let own_origin = (push_clock == PushClock::Publisher).then_some(shard_index);
    let publisher = match (&scenario.target, own_origin) {
        (Target::Url { .. }, Some(k)) if push => Some(tokio::spawn(publish_loop(
            origin.clone(),
            options.clone(),
            Arc::clone(&scenario),
            Some(k),
            scenario.rate / shards as f64,
        ))),
        (Target::Url { .. }, None) if push && shard_index == 0 => Some(tokio::spawn(publish_loop(
            origin.clone(),
            options.clone(),
            Arc::clone(&scenario),
            None,
            scenario.rate,
        ))),
        _ => None,
    };

    let mut summary = Summary {
        schema_version: SUMMARY_SCHEMA_VERSION,
        scenario: scenario.name.clone(),
        command: opts.command.clone(),
        started_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        partial: false,
        stop_reason: None,
        stop_detail: None,
        environment,
        phases: Vec::new(),
        thresholds: Vec::new(),
        shard: opts.shard.map(|sh| wsbench_model::results::ShardInfo {
            index: sh.index,
            count: sh.count,
            start_at: humantime::format_rfc3339_millis(sh.start_at).to_string(),
        }),
    };
    let mut interrupt = opts.interrupt.clone();
    for (k, &transport) in (0u32..).zip(&scenario.transports) {
        let phase = Phase {
            scenario: Arc::clone(&scenario),
            transport,
            origin: origin.clone(),
            options: options.clone(),
            progress: opts.progress,
            progress_file: None,
            own_origin,
        };
        let (p, stop) = if workers > 1 {
            crate::shard::coordinate(
                &phase,
                u64::from(workers),
                &opts.exe,
                &scenario_file,
                &mut results,
                &mut interrupt,
                builtin.as_mut(),
            )
            .await?
        } else {
            let plan = opts
                .shard
                .map_or_else(Plan::whole, |sh| sh.plan(&scenario, k));
            phase
                .run(plan, &mut interrupt, builtin.as_mut(), &mut results)
                .await?
        };
        summary.phases.push(p);
        if let Some((reason, detail)) = stop {
            summary.partial = true;
            summary.stop_reason = Some(reason);
            summary.stop_detail = Some(detail);
            break;
        }
        results.write_summary(&summary).map_err(RunError::Results)?;
    }
    if let Some(p) = publisher {
        p.abort();
    }
    if let Some(b) = builtin {
        results
            .write_server_log(&b.log())
            .map_err(RunError::Results)?;
        b.stop().await;
    }
    summary.thresholds = Summary::evaluate(&summary.phases, &scenario.thresholds);
    results.write_summary(&summary).map_err(RunError::Results)?;
    let dir = results.path().to_owned();
    match summary.stop_reason {
        Some(StopReason::Interrupted) => Err(RunError::Interrupted {
            dir,
            summary: Box::new(summary),
        }),
        Some(StopReason::TargetFailed) => Err(RunError::TargetFailed {
            dir,
            detail: summary.stop_detail.clone().unwrap_or_default(),
            summary: Box::new(summary),
        }),
        None => Ok(RunOutcome { dir, summary }),
    }
}

/// Whether `host:port` names this host.
fn is_loopback(authority: &str) -> bool {
    let host = authority
        .rsplit_once(':')
        .map_or(authority, |(h, _)| h)
        .trim_matches(|c| c == '[' || c == ']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Client options every connection of a run starts from.
pub(crate) fn client_options(s: &Scenario, insecure_tls: bool) -> ClientOptions {
    let mut options = ClientOptions::default();
    if insecure_tls {
        options.tls = Some(tls::client_config_insecure());
    }
    options.config.max_message_size = (s.payload_size as u64).max(1 << 20) * 2;
    options
}

/// Publishes to a URL target at `rate`: when `own` is set, bodies marked
/// with that origin and stamped with this host's clock at sending
/// (`X-Wsbench-Sent-Ns`).
async fn publish_loop(
    origin: Origin,
    options: ClientOptions,
    s: Arc<Scenario>,
    own: Option<u64>,
    rate: f64,
) {
    let scheme = if origin.tls { "https" } else { "http" };
    let url = format!("{scheme}://{}/publish", origin.authority);
    let Ok(mut client) = PollClient::connect(&url, &options).await else {
        return;
    };
    let body = Bytes::from(match (own, s.payload) {
        (Some(k), kind) => crate::payload::push_from(kind, s.payload_size, k),
        (None, PayloadKind::Json) => crate::payload::push_json(s.payload_size),
        (None, _) => "x".repeat(s.payload_size),
    });
    let header = http::HeaderName::from_static(push::SENT_NS_HEADER);
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    loop {
        tick.tick().await;
        let _ = match own {
            Some(_) => {
                let now = http::HeaderValue::from(monotonic_ns());
                client
                    .post_with("/publish", body.clone(), &[(header.clone(), now)])
                    .await
            }
            None => client.post("/publish", body.clone()).await,
        };
    }
}

/// Which connections of a phase this process opens, and when.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Plan {
    /// Connections `index, index + count, index + 2·count, …`.
    pub(crate) index: u64,
    pub(crate) count: u64,
    /// Connection *i* opens at `t0 + i / ramp_rate`.
    pub(crate) t0: Instant,
    /// When the window opens; `None`: once the warm-up has passed and
    /// every connection was tried.
    pub(crate) window_at: Option<Instant>,
    /// The window's start in CLOCK_MONOTONIC ns, when fixed: every worker
    /// of a phase counts the messages published in the very same window.
    pub(crate) window_ns: Option<u64>,
}

impl Plan {
    fn whole() -> Plan {
        Plan {
            index: 0,
            count: 1,
            t0: Instant::now(),
            window_at: None,
            window_ns: None,
        }
    }

    fn share(&self, connections: u64) -> u64 {
        connections.saturating_sub(self.index).div_ceil(self.count)
    }
}

pub(crate) struct Phase {
    pub(crate) scenario: Arc<Scenario>,
    pub(crate) transport: Transport,
    pub(crate) origin: Origin,
    pub(crate) options: ClientOptions,
    pub(crate) progress: bool,
    /// A worker process writes its latest second here (JSON) for the
    /// coordinator's progress line.
    pub(crate) progress_file: Option<PathBuf>,
    /// See [`PhaseCtx::own_origin`].
    pub(crate) own_origin: Option<u64>,
}

/// Readings at a moment, to take differences over the window.
#[derive(Clone, Copy, Default)]
struct Readings {
    bytes_sent: u64,
    bytes_received: u64,
    client_cpu_ns: u64,
    server_cpu_ns: Option<u64>,
}

impl Readings {
    fn take(bytes: &ByteCounters, builtin: Option<&Builtin>) -> Readings {
        Readings {
            bytes_sent: bytes.written(),
            bytes_received: bytes.read(),
            client_cpu_ns: sys::cpu_ns(None).unwrap_or(0),
            server_cpu_ns: builtin.map(Builtin::cpu_ns),
        }
    }
}

/// Why a phase ended early.
pub(crate) type Early = Option<(StopReason, String)>;

/// What one process measured of a phase.
pub(crate) struct Measured {
    pub(crate) summary: PhaseSummary,
    pub(crate) histograms: std::collections::BTreeMap<Metric, hdrhistogram::Histogram<u64>>,
    pub(crate) intervals: Vec<Interval>,
    pub(crate) timeline_base: std::time::SystemTime,
    pub(crate) early: Early,
}

impl Phase {
    /// Writes `point` to the progress file, if any (replaced whole, so a
    /// reader never sees half of it).
    fn publish_progress(&self, point: &TimelinePoint) {
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

    fn main_metric(&self) -> Metric {
        match self.scenario.workload {
            WorkloadKind::Push => Metric::PushLatency,
            WorkloadKind::Echo => Metric::EchoRtt,
            WorkloadKind::Throughput => Metric::ThroughputRtt,
            WorkloadKind::Connect => Metric::HandshakeTime,
        }
    }

    /// Least drain after the window: messages published in it may still be
    /// on their way (a short poller asks once per interval). The drain goes
    /// on until every subscriber has every message of the window, or
    /// [`MAX_DRAIN`] has passed; what is missing then is lost.
    fn drain(&self) -> Duration {
        match (self.scenario.workload, self.transport) {
            (WorkloadKind::Push, Transport::ShortPoll) => {
                (self.scenario.short_poll_interval * 2).max(Duration::from_secs(1))
            }
            (WorkloadKind::Push, _) => Duration::from_secs(1),
            _ => Duration::ZERO,
        }
    }

    /// Runs the phase's connections of `plan`; the summary (histograms not
    /// yet written), the histograms, the sequence range seen, and why it
    /// ended early.
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
        let ctx = Arc::new(PhaseCtx {
            scenario: Arc::clone(&s),
            transport: self.transport,
            rec: Recorder::new(self.main_metric()),
            origin: self.origin.clone(),
            options,
            // A fixed window is known from the start, so no message near
            // its edges is judged before this process gets there.
            window_start: AtomicU64::new(plan.window_ns.unwrap_or(u64::MAX)),
            window_end: AtomicU64::new(plan.window_ns.map_or(u64::MAX, |start| {
                start + u64::try_from(s.duration.as_nanos()).unwrap_or(u64::MAX / 4)
            })),
            seq_lo: AtomicU64::new(u64::MAX),
            seq_hi: AtomicU64::new(0),
            stop: stop_rx,
            own_origin: self.own_origin,
        });
        let progress = Progress::new(
            self.progress,
            self.transport.name(),
            plan.share(s.connections),
        );
        let rss_before = sys::rss_bytes();
        let t0 = plan.t0;

        // Arrival: connections at the ramp rate.
        let (done_tx, mut ramp_done) = watch::channel(false);
        let ramp_ctx = Arc::clone(&ctx);
        let ramp = tokio::spawn(async move {
            // Plain handles (8 bytes a connection) rather than a JoinSet
            // (an allocation a connection): memory per connection counts.
            let mut tasks: Vec<JoinHandle<ConnOutcome>> = Vec::new();
            let gap = Duration::from_secs_f64(1.0 / ramp_ctx.scenario.ramp_rate);
            let all = ramp_ctx.scenario.connections;
            for i in (plan.index..all).step_by(usize::try_from(plan.count).unwrap_or(1)) {
                if *ramp_ctx.stop.borrow() {
                    break;
                }
                tokio::time::sleep_until(t0 + gap.mul_f64(i as f64)).await;
                let ctx = Arc::clone(&ramp_ctx);
                tasks.push(if ctx.scenario.workload == WorkloadKind::Connect {
                    tokio::spawn(drivers::hold(ctx, i))
                } else {
                    tokio::spawn(drivers::connection(ctx, i))
                });
            }
            let _ = done_tx.send(true);
            tasks
        });

        // Warm-up: until the warm-up time has passed and every connection
        // was attempted.
        let warm_until = plan.window_at.unwrap_or(t0 + s.warmup);
        let mut early: Early = None;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut timeline = Timeline::new(t0.into_std());
        let mut rss_after_ramp = None;
        loop {
            let ramped = *ramp_done.borrow();
            if ramped && rss_after_ramp.is_none() {
                rss_after_ramp = sys::rss_bytes();
            }
            let fixed_window_open = plan.window_at.is_some_and(|at| Instant::now() >= at);
            if (ramped && Instant::now() >= warm_until) || fixed_window_open {
                break;
            }
            tokio::select! {
                _ = tick.tick() => {
                    let point = timeline.sample(&ctx.rec);
                    progress.tick(&ctx.rec, "warm-up", point);
                    self.publish_progress(point);
                    if let Some(e) = target_failure(&ctx, builtin.as_deref_mut()) {
                        early = Some((StopReason::TargetFailed, e));
                        break;
                    }
                }
                _ = ramp_done.changed() => {}
                () = tokio::time::sleep_until(warm_until), if ramped || plan.window_at.is_some() => {}
                _ = interrupt.wait_for(|&i| i) => {
                    early = Some((StopReason::Interrupted, "interrupted during warm-up".into()));
                    break;
                }
            }
        }

        // The measured window.
        let window_start = Instant::now();
        let subscribers = Counts::get(&ctx.rec.counts.open_now);
        let window_start_ns = plan.window_ns.unwrap_or_else(monotonic_ns);
        ctx.window_start.store(window_start_ns, Ordering::Release);
        ctx.rec.set_measuring(true);
        let before = Readings::take(&bytes, builtin.as_deref());
        // A fixed window ends relative to its planned start.
        let window_end = plan.window_at.unwrap_or(window_start) + s.duration;
        if early.is_none() {
            loop {
                tokio::select! {
                    () = tokio::time::sleep_until(window_end) => break,
                    _ = tick.tick() => {
                        let point = timeline.sample(&ctx.rec);
                        progress.tick(&ctx.rec, "measuring", point);
                        self.publish_progress(point);
                        if let Some(e) = target_failure(&ctx, builtin.as_deref_mut()) {
                            early = Some((StopReason::TargetFailed, e));
                            break;
                        }
                    }
                    _ = interrupt.wait_for(|&i| i) => {
                        early = Some((StopReason::Interrupted, "interrupted while measuring".into()));
                        break;
                    }
                }
            }
        }
        let window_end_ns = match (plan.window_ns, &early) {
            (Some(start), None) => {
                start + u64::try_from(s.duration.as_nanos()).unwrap_or(u64::MAX / 4)
            }
            _ => monotonic_ns(),
        };
        ctx.window_end.store(window_end_ns, Ordering::Release);
        ctx.rec.set_measuring(false);
        let measured = window_start.elapsed();
        let after = Readings::take(&bytes, builtin.as_deref());
        let requests_in_window = Counts::get(&ctx.rec.counts.http_requests);
        if early.is_none() && s.workload == WorkloadKind::Push {
            let (least, until) = (Instant::now() + self.drain(), Instant::now() + MAX_DRAIN);
            let mut delivered = Counts::get(&ctx.rec.counts.delivered);
            let mut last_change = Instant::now();
            loop {
                let now = Instant::now();
                let d = Counts::get(&ctx.rec.counts.delivered);
                if d != delivered {
                    (delivered, last_change) = (d, now);
                }
                // Done when those open at the window's start have it all and
                // nothing came for a while (connections that joined later
                // owe less, and may still be receiving).
                let quiet = now - last_change >= QUIET;
                if now >= until || (now >= least && quiet && all_delivered(&ctx, subscribers)) {
                    break;
                }
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(50)) => {}
                    _ = interrupt.wait_for(|&i| i) => break,
                }
            }
        }
        timeline.sample(&ctx.rec);
        let _ = stop_tx.send(true);
        progress.finish();
        let mut tasks = ramp
            .await
            .map_err(|e| RunError::Target(format!("ramp task: {e}")))?;
        if s.workload == WorkloadKind::Connect {
            // Held connections do not watch the stop signal (see
            // drivers::ws_hold): end them here.
            tasks.iter().for_each(JoinHandle::abort);
        }
        let mut outcomes = Vec::with_capacity(tasks.len());
        let reap = async {
            for t in &mut tasks {
                if let Ok(o) = t.await {
                    outcomes.push(o);
                }
            }
        };
        if tokio::time::timeout(Duration::from_secs(30), reap)
            .await
            .is_err()
        {
            tasks.iter().for_each(JoinHandle::abort);
        }

        let mut summary = self.summarise(
            &ctx,
            &outcomes,
            measured,
            before,
            after,
            requests_in_window,
            rss_before,
            rss_after_ramp,
        );
        let (lo, hi) = (
            ctx.seq_lo.load(Ordering::Relaxed),
            ctx.seq_hi.load(Ordering::Relaxed),
        );
        summary.seq_range = (lo <= hi).then_some((lo, hi));
        summary.timeline.clone_from(&timeline.points);
        Ok(Measured {
            summary,
            histograms: ctx.rec.histograms(),
            intervals: timeline.intervals(),
            timeline_base: timeline.base,
            early,
        })
    }

    /// Runs the whole phase in this process and writes its histograms.
    async fn run(
        self,
        plan: Plan,
        interrupt: &mut watch::Receiver<bool>,
        builtin: Option<&mut Builtin>,
        results: &mut ResultsDir,
    ) -> Result<(PhaseSummary, Early), RunError> {
        let m = self.measure(plan, interrupt, builtin).await?;
        let summary = results
            .write_histograms(
                self.transport.name(),
                &m.histograms,
                (m.timeline_base, &m.intervals),
                m.summary,
            )
            .map_err(RunError::Results)?;
        Ok((summary, m.early))
    }

    #[allow(clippy::too_many_arguments)]
    fn summarise(
        &self,
        ctx: &PhaseCtx,
        outcomes: &[ConnOutcome],
        measured: Duration,
        before: Readings,
        after: Readings,
        http_requests: u64,
        rss_before: Option<u64>,
        rss_after_ramp: Option<u64>,
    ) -> PhaseSummary {
        let c = &ctx.rec.counts;
        let window_start = ctx.window_start.load(Ordering::Acquire);
        let (lo, hi) = (
            ctx.seq_lo.load(Ordering::Relaxed),
            ctx.seq_hi.load(Ordering::Relaxed),
        );
        let mut expected_total = 0u64;
        let mut lost = 0u64;
        let push = self.scenario.workload == WorkloadKind::Push;
        if push && lo <= hi {
            for o in outcomes {
                let Some(t) = &o.tracker else { continue };
                if o.opened_ns == 0 {
                    continue;
                }
                // A connection open before the window owes every message
                // in it; a later one, those from its first.
                let from = if o.opened_ns <= window_start {
                    lo
                } else {
                    t.first().map_or(hi + 1, |f| f.max(lo))
                };
                if from > hi {
                    continue;
                }
                let expected = hi - from + 1;
                expected_total += expected;
                lost += expected - t.received_in(from, hi).min(expected);
            }
        }
        let delivered = Counts::get(&c.delivered);
        let published = if push && lo <= hi {
            hi - lo + 1
        } else {
            Counts::get(&c.sent)
        };
        let bytes_sent = after.bytes_sent - before.bytes_sent;
        let bytes_received = after.bytes_received - before.bytes_received;
        let secs = measured.as_secs_f64().max(1e-9);
        let per_msg = |v: f64| {
            if delivered > 0 {
                v / delivered as f64
            } else {
                0.0
            }
        };
        let opened = Counts::get(&c.opened);
        let client_rss_per_conn = match (rss_before, rss_after_ramp) {
            (Some(b), Some(a)) if opened > 0 => Some(a.saturating_sub(b) as f64 / opened as f64),
            _ => None,
        };
        PhaseSummary {
            transport: self.transport.name().to_owned(),
            workload: self.scenario.workload.name().to_owned(),
            measured_s: measured.as_secs_f64(),
            counters: Counters {
                connections_attempted: Counts::get(&c.attempted),
                connections_opened: opened,
                connections_failed: Counts::get(&c.failed),
                connections_peak: Counts::get(&c.peak),
                published,
                delivered,
                owed: expected_total,
                lost,
                duplicated: Counts::get(&c.duplicated),
                out_of_order: Counts::get(&c.out_of_order),
                payload_mismatches: Counts::get(&c.mismatches),
                bytes_sent,
                bytes_received,
                http_requests,
                errors: ctx.rec.errors(),
            },
            msg_rate: delivered as f64 / secs,
            delivered_ratio: if push {
                if expected_total > 0 {
                    delivered.min(expected_total) as f64 / expected_total as f64
                } else {
                    0.0
                }
            } else if published > 0 {
                delivered as f64 / published as f64
            } else {
                0.0
            },
            bytes_per_msg: per_msg((bytes_sent + bytes_received) as f64),
            requests_per_msg: per_msg(http_requests as f64),
            server_cpu_us_per_msg: match (before.server_cpu_ns, after.server_cpu_ns) {
                (Some(b), Some(a)) if delivered > 0 => {
                    Some(a.saturating_sub(b) as f64 / 1e3 / delivered as f64)
                }
                _ => None,
            },
            client_cpu_s: after.client_cpu_ns.saturating_sub(before.client_cpu_ns) as f64 / 1e9,
            client_rss_per_conn,
            ..PhaseSummary::default()
        }
    }
}

/// Longest wait after the window for messages published in it.
const MAX_DRAIN: Duration = Duration::from_secs(10);
/// How long no delivery must arrive before the drain may end.
const QUIET: Duration = Duration::from_millis(500);

/// Whether each of the `subscribers` open when the window began has
/// received every message published in it.
fn all_delivered(ctx: &PhaseCtx, subscribers: u64) -> bool {
    let (lo, hi) = (
        ctx.seq_lo.load(Ordering::Relaxed),
        ctx.seq_hi.load(Ordering::Relaxed),
    );
    lo <= hi && Counts::get(&ctx.rec.counts.delivered) >= (hi - lo + 1) * subscribers
}

/// Whether the target has failed: the builtin server exited, or no
/// connection is open any more although some were opened.
fn target_failure(ctx: &PhaseCtx, builtin: Option<&mut Builtin>) -> Option<String> {
    if let Some(b) = builtin
        && let Some(status) = b.exited()
    {
        let log = b.log();
        let tail = log
            .iter()
            .rev()
            .take(5)
            .rev()
            .cloned()
            .collect::<Vec<_>>()
            .join("\n");
        return Some(format!(
            "the builtin server exited ({status}){}",
            if tail.is_empty() {
                String::new()
            } else {
                format!(":\n{tail}")
            }
        ));
    }
    let c = &ctx.rec.counts;
    let attempted = Counts::get(&c.attempted);
    if attempted > 0
        && attempted == ctx.scenario.connections
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
