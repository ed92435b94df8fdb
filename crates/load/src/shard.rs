//! Worker processes: one phase split over several load generator
//! processes, so no process needs more than the 20,000 open files one may
//! hold. The coordinator picks the phase's start on the host's
//! CLOCK_MONOTONIC (one clock for every process; the [`Plan`] derives the
//! window from it), publishes the push messages itself, starts `wsbench
//! shard` once per worker, and merges what they write: counters add up,
//! HDR histograms merge exactly, and the workers' ledgers are accounted
//! against the coordinator's publish record.
//!
//! Worker *k* of *n* opens connections `k, k + n, k + 2n, …` on the same
//! schedule a single process would follow, so the arrival is the same.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::process::Child;
use tokio::sync::watch;
use wsbench_model::Scenario;
use wsbench_model::metric::Metric;
use wsbench_model::results::{
    LatencyStats, PhasePart, PhaseSummary, RunFolder, StopReason, TimelinePoint, files,
    merge_part_dirs, write_histogram,
};
use wsbench_protocol::clock::monotonic_ns;

use crate::RunError;
use crate::output::{Accounting, write_phase};
use crate::phase::{Phase, PushRole, cores};
use crate::plan::{Plan, nanos};
use crate::progress::Progress;
use crate::publisher::Publisher;
use crate::readings::server_cpu_per_msg;
pub use crate::shard_spec::ShardSpec;
use crate::stop::{Early, until};
use crate::storm::Restarts;
use crate::target::{Builtin, LogTail, Origin, client_options};

/// Runs one worker's share of a phase and writes `part.json` and its
/// histograms into `spec.out`, also when interrupted or when the target
/// fails (the part says so).
pub async fn run_shard(
    spec: &ShardSpec,
    mut interrupt: watch::Receiver<bool>,
) -> Result<PhasePart, RunError> {
    let mut scenario =
        Scenario::load(&spec.scenario).map_err(|e| RunError::Target(e.to_string()))?;
    if let Some(g) = &spec.group {
        scenario = scenario
            .group(g)
            .cloned()
            .ok_or_else(|| RunError::Unsupported(format!("the scenario has no group {g:?}")))?;
    }
    let push = scenario.workload == wsbench_model::WorkloadKind::Push;
    let phase = Phase {
        options: client_options(&scenario, spec.insecure_tls),
        scenario: Arc::new(scenario),
        transport: spec.transport,
        origin: Origin {
            authority: spec.authority.clone(),
            tls: spec.tls,
            shard: u32::try_from(spec.index).unwrap_or(u32::MAX),
        },
        progress: false,
        progress_file: Some(spec.out.join(files::PROGRESS)),
        // The coordinator publishes, on this host's clock.
        push: push.then_some(PushRole {
            run: spec.run,
            phase: spec.phase,
            publishers: 1,
            publishes: None,
            clock: 0,
        }),
        // The coordinator reads the server's CPU time.
        server_pid: None,
        group: spec.group.clone(),
        // The coordinator streams the workers' seconds.
        stream: None,
        metrics: None,
        place: (1, 1),
        // The coordinator's start already holds any delay.
        delay: Duration::ZERO,
    };
    std::fs::create_dir_all(&spec.out).map_err(RunError::Results)?;
    let plan = Plan::starting_at(&phase.scenario, spec.start_ns, spec.index, spec.count);
    let m = phase.measure(plan, &mut interrupt, None).await?;
    let (summary, early) =
        write_phase(&spec.out, phase.name(), m, Accounting::Later).map_err(RunError::Results)?;
    let part = PhasePart {
        phase: summary,
        stop_reason: early.as_ref().map(|(r, _)| r.clone()),
        stop_detail: early.map(|(_, d)| d),
    };
    let text = serde_json::to_string_pretty(&part).map_err(|e| RunError::Results(e.into()))?;
    std::fs::write(spec.out.join(files::PART), text).map_err(RunError::Results)?;
    Ok(part)
}

/// The workers' latest seconds added up: open connections, msg/s and
/// errors sum; the percentiles are the highest of any worker (a bound:
/// percentiles do not add).
fn workers_progress(dirs: &[&Path]) -> Option<TimelinePoint> {
    let mut sum: Option<TimelinePoint> = None;
    for dir in dirs {
        let Some(p) = std::fs::read_to_string(dir.join(files::PROGRESS))
            .ok()
            .and_then(|t| serde_json::from_str::<TimelinePoint>(&t).ok())
        else {
            continue;
        };
        let s = sum.get_or_insert_with(TimelinePoint::default);
        s.t_s = s.t_s.max(p.t_s);
        s.msg_rate += p.msg_rate;
        s.open += p.open;
        s.opened += p.opened;
        s.errors += p.errors;
        s.p50 = s.p50.max(p.p50);
        s.p99 = s.p99.max(p.p99);
    }
    sum
}

/// A started worker and the tail of its stderr.
struct Worker {
    child: Child,
    out: PathBuf,
    log: LogTail,
    done: Option<String>,
}

fn send_sigint(child: &Child) {
    if let Some(pid) = child
        .id()
        .and_then(|p| rustix::process::Pid::from_raw(p as i32))
    {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::INT);
    }
}

/// Runs `phase` over `workers` processes of `exe` and merges their parts
/// into the results folder.
pub(crate) async fn coordinate(
    phase: &Phase,
    workers: u64,
    exe: &Path,
    scenario_file: &Path,
    results: &RunFolder,
    interrupt: &mut watch::Receiver<bool>,
    builtin: Option<&mut Builtin>,
) -> Result<(PhaseSummary, Early), RunError> {
    // A second for the processes to start, then the single-process
    // schedule.
    let start_ns = monotonic_ns() + 1_000_000_000 + nanos(phase.delay);
    let plan = Plan::starting_at(&phase.scenario, start_ns, 0, workers);
    // This process publishes; the workers only subscribe.
    let publisher = phase
        .grid(&plan)
        .and_then(|grid| phase.publisher(start_ns, grid));
    let mut list = spawn_workers(phase, workers, exe, scenario_file, results, start_ns)?;
    let watched = supervise(phase, &plan, &mut list, interrupt, builtin).await;
    let (parts, early) = collect_parts(&list, workers, watched.early)?;
    let summary = merge_phase(
        phase,
        results.path(),
        &plan,
        &parts,
        publisher,
        watched.server_cpu,
    )
    .await?;
    Ok((summary, early))
}

/// Starts one `wsbench shard` per worker, each on the same schedule.
fn spawn_workers(
    phase: &Phase,
    workers: u64,
    exe: &Path,
    scenario_file: &Path,
    results: &RunFolder,
    start_ns: u64,
) -> Result<Vec<Worker>, RunError> {
    let role = phase.push;
    let mut list = Vec::new();
    for index in 0..workers {
        let spec = ShardSpec {
            scenario: scenario_file.to_owned(),
            transport: phase.transport,
            authority: phase.origin.authority.clone(),
            tls: phase.origin.tls,
            insecure_tls: phase.options.tls.is_some(),
            index,
            count: workers,
            start_ns,
            out: results.worker_dir(phase.name(), index),
            run: role.map_or(0, |r| r.run),
            phase: role.map_or(0, |r| r.phase),
            group: phase.group.clone(),
        };
        let mut child = tokio::process::Command::new(exe)
            .args(spec.to_args())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                RunError::Target(format!("cannot start a worker ({}): {e}", exe.display()))
            })?;
        let log = LogTail::spawn(child.stderr.take(), 20);
        list.push(Worker {
            child,
            out: spec.out,
            log,
            done: None,
        });
    }
    Ok(list)
}

/// What watching the workers found.
struct Watched {
    /// Why the phase ended early, if it did.
    early: Early,
    /// The builtin server's CPU time over the window, ns.
    server_cpu: Option<u64>,
}

/// Waits for the workers; reads the server's CPU time at the window's
/// edges; passes an interruption on; stops everything if the server dies.
async fn supervise(
    phase: &Phase,
    plan: &Plan,
    list: &mut [Worker],
    interrupt: &mut watch::Receiver<bool>,
    mut builtin: Option<&mut Builtin>,
) -> Watched {
    let (window_ns, end_ns) = (plan.window_ns, plan.window_end_ns());
    let workers = list.len() as u64;
    // A restarted server is another process: its CPU is not read.
    let server_pid = builtin
        .as_deref()
        .map(Builtin::pid)
        .or(phase.server_pid)
        .filter(|_| !Restarts::of(&phase.scenario, 0).any());
    let mut cpu_at_start = None;
    let mut cpu_at_end = None;
    let mut early: Early = None;
    let mut signalled = false;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut restarts = Restarts::of(&phase.scenario, plan.t0_ns);
    let progress = Progress::new(
        phase.progress,
        &phase.progress_label(),
        phase.scenario.connections,
        phase.stream.clone().map(|s| (s, phase.name().to_owned())),
    );
    while list.iter().any(|w| w.done.is_none()) {
        if progress.visible() || progress.streaming() || phase.metrics.is_some() {
            let now = monotonic_ns();
            let stage = if now < window_ns {
                "warm-up"
            } else if now < end_ns {
                "measuring"
            } else {
                "draining"
            };
            let dirs: Vec<&Path> = list.iter().map(|w| w.out.as_path()).collect();
            let latest = workers_progress(&dirs);
            if let (Some(m), Some(p)) = (&phase.metrics, &latest) {
                let (name, transport) = (phase.name(), phase.transport.name());
                let workload = phase.scenario.workload.name();
                m.workers(name, transport, phase.group.as_deref(), workload, p.clone());
            }
            progress.tick_workers(
                workers,
                stage,
                list.iter().filter(|w| w.done.is_none()).count(),
                latest.as_ref(),
            );
        }
        tokio::select! {
            _ = tick.tick() => {}
            () = until(restarts.next_ns()) => {
                if let Err(e) = restarts.act(builtin.as_deref_mut()).await {
                    early = early.or(Some((StopReason::TargetFailed, e)));
                }
            }
            _ = interrupt.wait_for(|&i| i), if !signalled => {
                early = Some((StopReason::Interrupted, "interrupted".into()));
            }
        }
        let now = monotonic_ns();
        if let Some(pid) = server_pid {
            if cpu_at_start.is_none() && now >= window_ns {
                cpu_at_start = Some(crate::sys::tree_cpu_ns(pid));
            }
            if cpu_at_end.is_none() && now >= end_ns {
                cpu_at_end = Some(crate::sys::tree_cpu_ns(pid));
            }
        }
        if let Some(b) = builtin.as_deref_mut()
            && early.is_none()
            && let Some(why) = b.failure()
        {
            early = Some((StopReason::TargetFailed, why));
        }
        if early.is_some() && !signalled {
            signalled = true;
            for w in list.iter() {
                send_sigint(&w.child);
            }
        }
        for w in list.iter_mut() {
            if w.done.is_none()
                && let Ok(Some(status)) = w.child.try_wait()
            {
                w.done = Some(status.to_string());
            }
        }
    }
    progress.finish();
    Watched {
        early,
        server_cpu: cpu_at_start
            .zip(cpu_at_end)
            .map(|(a, b)| b.saturating_sub(a)),
    }
}

/// Each worker's `part.json`; the first early stop any part reports when
/// the coordinator saw none.
fn collect_parts(
    list: &[Worker],
    workers: u64,
    mut early: Early,
) -> Result<(Vec<(PathBuf, PhasePart)>, Early), RunError> {
    let mut parts = Vec::new();
    for (i, w) in list.iter().enumerate() {
        let part = std::fs::read_to_string(w.out.join(files::PART))
            .ok()
            .and_then(|t| serde_json::from_str::<PhasePart>(&t).ok());
        let Some(part) = part else {
            let log = w.log.lines().join("\n");
            return Err(RunError::Target(format!(
                "worker {i} of {workers} ended ({}) without results:\n{log}",
                w.done.clone().unwrap_or_default()
            )));
        };
        if early.is_none()
            && let Some(reason) = &part.stop_reason
        {
            early = Some((reason.clone(), part.stop_detail.clone().unwrap_or_default()));
        }
        parts.push((w.out.clone(), part));
    }
    Ok((parts, early))
}

/// The phase's summary from the workers' parts, accounted against this
/// process's publish record, with its publish lag and the server's CPU.
async fn merge_phase(
    phase: &Phase,
    dir: &Path,
    plan: &Plan,
    parts: &[(PathBuf, PhasePart)],
    publisher: Option<Publisher>,
    server_cpu: Option<u64>,
) -> Result<PhaseSummary, RunError> {
    let prefix = phase.name();
    let mut records = Vec::new();
    let mut lag = None;
    if let Some(p) = publisher {
        let (record, h) = p.finish().await;
        let path = dir.join(files::publish_record(prefix, record.index));
        record.write(&path).map_err(RunError::Results)?;
        records.push(path);
        lag = Some(h);
    }
    let window_s = (plan.window_end_ns() - plan.window_ns) as f64 / 1e9;
    let shares = phase.server_pid.is_none_or(crate::sys::shares_cores);
    let server_share = server_cpu
        .filter(|_| shares)
        .map(|ns| ns as f64 / 1e9 / window_s / cores() as f64);
    let mut summary =
        merge_part_dirs(parts, dir, prefix, &records, server_share).map_err(RunError::Results)?;
    if let Some(h) = lag {
        let file = files::histogram(prefix, Metric::PublishLag.name());
        write_histogram(&h, &dir.join(&file)).map_err(RunError::Results)?;
        summary.latency.insert(
            Metric::PublishLag.name().to_owned(),
            LatencyStats::of(&h, &file),
        );
    }
    summary.server_cpu_us_per_msg = server_cpu_per_msg(server_cpu, summary.counters.received);
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_progress_adds_counts_and_bounds_percentiles() {
        let root = std::env::temp_dir().join(format!("wsbench-progress-{}", std::process::id()));
        let dirs: Vec<PathBuf> = (0..3).map(|i| root.join(i.to_string())).collect();
        for (i, d) in dirs.iter().enumerate().take(2) {
            std::fs::create_dir_all(d).unwrap();
            let p = TimelinePoint {
                t_s: 3.0 + i as f64,
                msg_rate: 100.0,
                open: 10,
                opened: 12,
                errors: i as u64,
                p50: 1_000 * (i as u64 + 1),
                p99: 5_000 * (i as u64 + 1),
            };
            std::fs::write(d.join(files::PROGRESS), serde_json::to_string(&p).unwrap()).unwrap();
        }
        let refs: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
        let sum = workers_progress(&refs).expect("two workers reported");
        assert_eq!((sum.open, sum.errors), (20, 1));
        assert!((sum.msg_rate - 200.0).abs() < 1e-9);
        assert_eq!(
            (sum.p50, sum.p99),
            (2_000, 10_000),
            "the worst worker bounds"
        );
        assert!(workers_progress(&refs[2..]).is_none(), "none reported yet");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
