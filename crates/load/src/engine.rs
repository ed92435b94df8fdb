//! The run: start the target, measure the harness floor, run one phase per
//! transport (in this process, or spread over worker processes), check the
//! thresholds and write the results folder.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use wsbench_model::results::{
    Environment, PhaseSummary, RunFolder, SUMMARY_SCHEMA_VERSION, StopReason, Summary, files,
    write_histogram,
};
use wsbench_model::{Scenario, Target, WorkloadKind};
use wsbench_protocol::clock::monotonic_ns;
use wsbench_server::args::ServeArgs;

use crate::output::{Accounting, append_health, create_folder, write_phase};
use crate::phase::{Phase, PushRole};
use crate::plan::{Plan, nanos};
use crate::stop::{Early, MAX_DRAIN};
use crate::target::{Builtin, Origin, client_options};
use crate::{RunError, floor, sys};

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
    /// Measure the harness floor before the first phase.
    pub calibrate: bool,
    /// A URL target's server process on this host: its CPU time (with its
    /// children's) over each window gives `server_cpu_us_per_msg` and the
    /// server's CPU share, as for the builtin server.
    pub server_pid: Option<u32>,
}

/// One shard of a run spread over several machines: connections
/// `index, index + count, …` of every phase, on a schedule fixed by a
/// common wall-clock start, so shards started apart line up. Shard *i*
/// publishes the push messages `j` with `j mod count = i` and times those.
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
        Plan::lead(s) + s.duration + MAX_DRAIN + SHARD_SLOT_SLACK
    }

    /// The plan of phase `k` (from 0): its start on this host's monotonic
    /// clock, from the common wall-clock start.
    fn plan(&self, s: &Scenario, k: u32) -> Plan {
        let start = self.start_at + Self::slot(s) * k;
        let (now_wall, now_ns) = (std::time::SystemTime::now(), monotonic_ns());
        let t0_ns = match start.duration_since(now_wall) {
            Ok(ahead) => now_ns + nanos(ahead),
            Err(e) => now_ns.saturating_sub(nanos(e.duration())),
        };
        Plan::starting_at(s, t0_ns, self.index, self.count)
    }

    /// The run id every shard of one run shares: from the scenario and
    /// the common start.
    fn run_id(&self, s: &Scenario) -> u32 {
        let secs = self
            .start_at
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        fnv(format!("{}@{secs}", s.name).as_bytes())
    }
}

fn fnv(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |h: u32, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// A run id for an unsharded run: differs from run to run.
fn fresh_run_id() -> u32 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    fnv(format!("{t}/{}/{}", std::process::id(), monotonic_ns()).as_bytes())
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

fn builtin_args(s: &Scenario, workers: u16) -> ServeArgs {
    // SO_REUSEPORT spreads connections by hash, not evenly: leave room,
    // within the per-process open-file limit.
    let share = s.connections.div_ceil(u64::from(workers));
    let per_process = (share + share / 2 + 64).min(19_000);
    ServeArgs {
        workers,
        max_connections: per_process as usize,
        max_message_size: s.payload_size.max(1 << 20) as u64 * 2,
        ..ServeArgs::default()
    }
}

fn process_count(requested: u16, connections: u64, per_process: u64) -> u16 {
    match requested {
        0 => u16::try_from(connections.div_ceil(per_process))
            .unwrap_or(64)
            .clamp(1, 64),
        n => n,
    }
}

fn check_shard(scenario: &Scenario, sh: ShardRun, workers: u16) -> Result<(), RunError> {
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
    if late > Plan::lead(scenario) {
        return Err(RunError::Unsupported(format!(
            "--start-at is {:.1} s in the past, after the first window opened; pick a later time",
            late.as_secs_f64()
        )));
    }
    Ok(())
}

/// Runs `scenario` and writes its results.
pub async fn run(scenario: Scenario, opts: RunOptions) -> Result<RunOutcome, RunError> {
    let scenario = Arc::new(scenario);
    let mut environment = environment();
    let requested = opts.workers.unwrap_or(scenario.workers);
    let workers = process_count(requested, scenario.connections, CONNECTIONS_PER_PROCESS);
    environment.workers = workers;
    if let Some(sh) = opts.shard {
        check_shard(&scenario, sh, workers)?;
    }
    if opts.server_pid.is_some() && matches!(scenario.target, Target::Builtin { .. }) {
        return Err(RunError::Unsupported(
            "--server-pid is for URL targets: the builtin server's CPU is always read".into(),
        ));
    }
    let suffix = opts
        .shard
        .map(|sh| format!("-shard-{}-of-{}", sh.index, sh.count));
    let results = create_folder(
        &opts.results_root,
        &scenario,
        suffix.as_deref().unwrap_or(""),
        &opts.command,
        &environment,
    )
    .map_err(RunError::Results)?;
    // Workers read the scenario from the results folder.
    results
        .write_scenario(&scenario.source)
        .map_err(RunError::Results)?;
    let scenario_file = results.file(files::SCENARIO);

    let (origin, insecure, mut builtin) = reach_target(&scenario, &opts.exe).await?;
    let options = client_options(&scenario, insecure);
    let mut summary = new_summary(&scenario, &opts, environment);
    if opts.calibrate && opts.shard.is_none() {
        summary.floor = Some(measure_floor(results.path()).await?);
    }
    let run_id = opts
        .shard
        .map_or_else(fresh_run_id, |sh| sh.run_id(&scenario));
    let mut interrupt = opts.interrupt.clone();
    for (k, &transport) in (0u32..).zip(&scenario.transports) {
        let (shard_index, shards) = opts.shard.map_or((0, 1), |sh| (sh.index, sh.count));
        let phase = Phase {
            scenario: Arc::clone(&scenario),
            transport,
            origin: origin.clone(),
            options: options.clone(),
            progress: opts.progress,
            progress_file: None,
            server_pid: opts.server_pid,
            push: (scenario.workload == WorkloadKind::Push).then_some(PushRole {
                run: run_id,
                phase: k,
                publishers: shards,
                publishes: Some(shard_index),
                clock: shard_index,
            }),
        };
        let (p, stop) = if workers > 1 {
            crate::shard::coordinate(
                &phase,
                u64::from(workers),
                &opts.exe,
                &scenario_file,
                &results,
                &mut interrupt,
                builtin.as_mut(),
            )
            .await?
        } else {
            run_here(&phase, &opts, k, &mut interrupt, builtin.as_mut(), &results).await?
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
    if let Some(b) = builtin {
        results
            .write_server_log(&b.log())
            .map_err(RunError::Results)?;
        b.stop().await;
    }
    finish(summary, &scenario, &results)
}

/// The harness floor, its histogram written into `dir`.
async fn measure_floor(dir: &std::path::Path) -> Result<wsbench_model::results::Floor, RunError> {
    let (floor, h) = floor::measure(floor::FLOOR_TIME)
        .await
        .map_err(RunError::Target)?;
    write_histogram(&h, &dir.join(files::FLOOR_HISTOGRAM)).map_err(RunError::Results)?;
    Ok(floor)
}

/// Where the run's connections go: the builtin server (started here) or
/// the scenario's URL; and whether any certificate is accepted.
async fn reach_target(
    scenario: &Scenario,
    exe: &std::path::Path,
) -> Result<(Origin, bool, Option<Builtin>), RunError> {
    Ok(match &scenario.target {
        Target::Builtin { workers } => {
            let n = process_count(*workers, scenario.connections, CONNECTIONS_PER_SERVER);
            let b = Builtin::start(exe, &builtin_args(scenario, n)).await?;
            let origin = Origin {
                authority: b.addr().to_string(),
                tls: false,
                shard: 0,
            };
            (origin, false, Some(b))
        }
        Target::Url {
            authority,
            tls,
            insecure_tls,
        } => (
            Origin {
                authority: authority.clone(),
                tls: *tls,
                shard: 0,
            },
            *insecure_tls,
            None,
        ),
    })
}

/// The run's summary before any phase.
fn new_summary(scenario: &Scenario, opts: &RunOptions, environment: Environment) -> Summary {
    Summary {
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
        floor: None,
    }
}

/// Checks the thresholds, writes the final summary and the health notes,
/// and says how the run ended.
fn finish(
    mut summary: Summary,
    scenario: &Scenario,
    results: &RunFolder,
) -> Result<RunOutcome, RunError> {
    summary.thresholds =
        Summary::evaluate(&summary.phases, &scenario.thresholds, Some(results.path()));
    results.write_summary(&summary).map_err(RunError::Results)?;
    append_health(results, &summary).map_err(RunError::Results)?;
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

/// Runs phase `k` in this process and writes its files.
async fn run_here(
    phase: &Phase,
    opts: &RunOptions,
    k: u32,
    interrupt: &mut watch::Receiver<bool>,
    builtin: Option<&mut Builtin>,
    results: &RunFolder,
) -> Result<(PhaseSummary, Early), RunError> {
    let s = &phase.scenario;
    let (plan, accounting) = match opts.shard {
        Some(sh) => (sh.plan(s, k), Accounting::OwnShare),
        None => (Plan::starting_at(s, monotonic_ns(), 0, 1), Accounting::All),
    };
    let m = phase.measure(plan, interrupt, builtin).await?;
    write_phase(results.path(), phase.transport.name(), m, accounting).map_err(RunError::Results)
}
