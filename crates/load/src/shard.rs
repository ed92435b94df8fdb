//! Worker processes: one phase split over several load generator
//! processes, so no process needs more than the 20,000 open files one may
//! hold. The coordinator picks a start time and a window on the host's
//! CLOCK_MONOTONIC (one clock for every process), starts `wsbench shard`
//! once per worker, and merges what they write: counters add up and HDR
//! histograms merge exactly.
//!
//! Worker *k* of *n* opens connections `k, k + n, k + 2n, …` on the same
//! schedule a single process would follow, so the arrival is the same.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::process::Child;
use tokio::sync::watch;
use tokio::time::Instant;
use wsbench_model::results::{PhasePart, PhaseSummary, StopReason, TimelinePoint, merge_part_dirs};
use wsbench_model::{Scenario, Transport};
use wsbench_transport::clock::monotonic_ns;

use crate::RunError;
use crate::engine::{Early, Phase, Plan, client_options};
use crate::output::{ResultsDir, write_phase_files};
use crate::progress::Progress;
use crate::target::{Builtin, LogTail};

/// One worker's assignment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardSpec {
    /// The scenario file.
    pub scenario: PathBuf,
    /// The phase.
    pub transport: Transport,
    /// The target's `host:port`.
    pub authority: String,
    /// The target speaks TLS.
    pub tls: bool,
    /// Accept any certificate.
    pub insecure_tls: bool,
    /// This worker's index, from 0.
    pub index: u64,
    /// How many workers.
    pub count: u64,
    /// CLOCK_MONOTONIC ns at which connection 0 is due.
    pub start_ns: u64,
    /// CLOCK_MONOTONIC ns at which the window opens.
    pub window_ns: u64,
    /// Folder for `part.json` and the histograms.
    pub out: PathBuf,
    /// Time only the messages of this publisher origin (see
    /// `push_clock = "publisher"`).
    pub own_origin: Option<u64>,
}

impl ShardSpec {
    /// The `wsbench shard` arguments that carry this spec.
    pub fn to_args(&self) -> Vec<String> {
        let mut a = vec![
            "shard".to_owned(),
            self.scenario.display().to_string(),
            "--transport".to_owned(),
            self.transport.name().to_owned(),
            "--authority".to_owned(),
            self.authority.clone(),
            "--shard".to_owned(),
            format!("{}/{}", self.index, self.count),
            "--start-ns".to_owned(),
            self.start_ns.to_string(),
            "--window-ns".to_owned(),
            self.window_ns.to_string(),
            "--out".to_owned(),
            self.out.display().to_string(),
        ];
        if self.tls {
            a.push("--tls".to_owned());
        }
        if self.insecure_tls {
            a.push("--insecure-tls".to_owned());
        }
        if let Some(k) = self.own_origin {
            a.push("--own-origin".to_owned());
            a.push(k.to_string());
        }
        a
    }
}

fn instant_at(ns: u64) -> Instant {
    Instant::now() + Duration::from_nanos(ns.saturating_sub(monotonic_ns()))
}

/// Runs one worker's share of a phase and writes `part.json` and its
/// histograms into `spec.out`, also when interrupted or when the target
/// fails (the part says so).
pub async fn run_shard(
    spec: &ShardSpec,
    mut interrupt: watch::Receiver<bool>,
) -> Result<PhasePart, RunError> {
    let scenario = Scenario::load(&spec.scenario).map_err(|e| RunError::Target(e.to_string()))?;
    let phase = Phase {
        options: client_options(&scenario, spec.insecure_tls),
        scenario: Arc::new(scenario),
        transport: spec.transport,
        origin: crate::drivers::Origin {
            authority: spec.authority.clone(),
            tls: spec.tls,
        },
        progress: false,
        progress_file: Some(spec.out.join(PROGRESS_FILE)),
        own_origin: spec.own_origin,
    };
    std::fs::create_dir_all(&spec.out).map_err(RunError::Results)?;
    let plan = Plan {
        index: spec.index,
        count: spec.count.max(1),
        t0: instant_at(spec.start_ns),
        window_at: Some(instant_at(spec.window_ns)),
        window_ns: Some(spec.window_ns),
    };
    let m = phase.measure(plan, &mut interrupt, None).await?;
    std::fs::create_dir_all(&spec.out).map_err(RunError::Results)?;
    let summary = write_phase_files(
        &spec.out,
        spec.transport.name(),
        &m.histograms,
        (m.timeline_base, &m.intervals),
        m.summary,
    )
    .map_err(RunError::Results)?;
    let part = PhasePart {
        phase: summary,
        stop_reason: m.early.as_ref().map(|(r, _)| r.clone()),
        stop_detail: m.early.map(|(_, d)| d),
    };
    let text = serde_json::to_string_pretty(&part).map_err(|e| RunError::Results(e.into()))?;
    std::fs::write(spec.out.join("part.json"), text).map_err(RunError::Results)?;
    Ok(part)
}

/// The file a worker writes its latest second to.
const PROGRESS_FILE: &str = "progress.json";

/// The workers' latest seconds added up: open connections, msg/s and
/// errors sum; the percentiles are the highest of any worker (a bound:
/// percentiles do not add).
fn workers_progress(dirs: &[&Path]) -> Option<TimelinePoint> {
    let mut sum: Option<TimelinePoint> = None;
    for dir in dirs {
        let Some(p) = std::fs::read_to_string(dir.join(PROGRESS_FILE))
            .ok()
            .and_then(|t| serde_json::from_str::<TimelinePoint>(&t).ok())
        else {
            continue;
        };
        let s = sum.get_or_insert_with(TimelinePoint::default);
        s.t_s = s.t_s.max(p.t_s);
        s.msg_rate += p.msg_rate;
        s.open += p.open;
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
    results: &mut ResultsDir,
    interrupt: &mut watch::Receiver<bool>,
    mut builtin: Option<&mut Builtin>,
) -> Result<(PhaseSummary, Early), RunError> {
    let s = &phase.scenario;
    // A second for the processes to start, then the single-process
    // schedule: the window opens after the warm-up and the ramp.
    let start_ns = monotonic_ns() + 1_000_000_000;
    let ramp = Duration::from_secs_f64(s.connections.saturating_sub(1) as f64 / s.ramp_rate);
    let window_ns = start_ns
        + u64::try_from(s.warmup.max(ramp).as_nanos()).unwrap_or(u64::MAX / 4)
        + 200_000_000;
    let end_ns = window_ns + u64::try_from(s.duration.as_nanos()).unwrap_or(u64::MAX / 4);
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
            window_ns,
            out: results
                .path()
                .join("shards")
                .join(format!("{}-{index}", phase.transport.name())),
            own_origin: phase.own_origin,
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

    // Wait for the workers; read the server's CPU time at the window's
    // edges; pass an interruption on; stop everything if the server dies.
    let mut cpu_at_start = None;
    let mut cpu_at_end = None;
    let mut early: Early = None;
    let mut signalled = false;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let progress = Progress::new(phase.progress, phase.transport.name(), s.connections);
    while list.iter().any(|w| w.done.is_none()) {
        let now = monotonic_ns();
        let stage = if now < window_ns {
            "warm-up"
        } else if now < end_ns {
            "measuring"
        } else {
            "draining"
        };
        if progress.visible() {
            let dirs: Vec<&Path> = list.iter().map(|w| w.out.as_path()).collect();
            progress.tick_workers(
                workers,
                stage,
                list.iter().filter(|w| w.done.is_none()).count(),
                workers_progress(&dirs).as_ref(),
            );
        }
        tokio::select! {
            _ = tick.tick() => {}
            _ = interrupt.wait_for(|&i| i), if !signalled => {
                early = Some((StopReason::Interrupted, "interrupted".into()));
            }
        }
        let now = monotonic_ns();
        if let Some(b) = builtin.as_deref_mut() {
            if cpu_at_start.is_none() && now >= window_ns {
                cpu_at_start = Some(b.cpu_ns());
            }
            if cpu_at_end.is_none() && now >= end_ns {
                cpu_at_end = Some(b.cpu_ns());
            }
            if early.is_none()
                && let Some(status) = b.exited()
            {
                early = Some((
                    StopReason::TargetFailed,
                    format!("the builtin server exited ({status})"),
                ));
            }
        }
        if early.is_some() && !signalled {
            signalled = true;
            for w in &list {
                send_sigint(&w.child);
            }
        }
        for w in &mut list {
            if w.done.is_none()
                && let Ok(Some(status)) = w.child.try_wait()
            {
                w.done = Some(status.to_string());
            }
        }
    }

    progress.finish();
    let mut parts = Vec::new();
    for (i, w) in list.iter().enumerate() {
        let part = std::fs::read_to_string(w.out.join("part.json"))
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
    let mut summary = merge_part_dirs(&parts, results.path(), phase.transport.name())
        .map_err(RunError::Results)?;
    if let (Some(a), Some(b)) = (cpu_at_start, cpu_at_end)
        && summary.counters.delivered > 0
    {
        summary.server_cpu_us_per_msg =
            Some(b.saturating_sub(a) as f64 / 1e3 / summary.counters.delivered as f64);
    }
    Ok((summary, early))
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
                errors: i as u64,
                p50: 1_000 * (i as u64 + 1),
                p99: 5_000 * (i as u64 + 1),
            };
            std::fs::write(d.join(PROGRESS_FILE), serde_json::to_string(&p).unwrap()).unwrap();
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
