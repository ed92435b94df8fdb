//! The run: start the target, measure the harness floor, run the phases
//! (`runs.rs`: one per transport, or a mixed population's groups side by
//! side), check the thresholds and write the results folder.

use std::path::PathBuf;
use std::sync::Arc;

use wsbench_model::results::{
    Environment, RunFolder, SUMMARY_SCHEMA_VERSION, StopReason, Summary, files, write_histogram,
};
use wsbench_model::{Scenario, Target};
use wsbench_protocol::clock::monotonic_ns;
use wsbench_server::args::ServeArgs;

use crate::options::{RunOptions, ShardRun, fnv};
use crate::output::{append_health, create_folder};
use crate::plan::Plan;
use crate::runs::{CONNECTIONS_PER_PROCESS, Phases, process_count};
use crate::target::{Builtin, Origin};
use crate::{RunError, floor, sys};

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
    if opts.server_pid.is_some() && !scenario.groups.is_empty() {
        return Err(RunError::Unsupported(
            "--server-pid: a mixed population's groups share the server, whose CPU cannot be \
             split per group; run the groups apart to measure it"
                .into(),
        ));
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
    let mut summary = new_summary(&scenario, &opts, environment);
    if opts.calibrate && opts.shard.is_none() {
        summary.floor = Some(measure_floor(results.path()).await?);
    }
    let run_id = opts
        .shard
        .map_or_else(fresh_run_id, |sh| sh.run_id(&scenario));
    let phases = Phases {
        origin: &origin,
        insecure,
        opts: &opts,
        requested,
        workers,
        scenario_file: &scenario_file,
        results: &results,
        run_id,
    };
    if scenario.groups.is_empty() {
        phases
            .one_by_one(&scenario, &mut summary, builtin.as_mut())
            .await?;
    } else {
        phases.side_by_side(&scenario, &mut summary).await?;
    }
    if let Some(m) = &opts.metrics {
        m.linger().await;
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
