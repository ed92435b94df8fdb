//! A run's phases: one per transport, one after the other; or a mixed
//! population's groups, side by side in one phase. Each phase runs in
//! this process or over worker processes, and writes its files.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use wsbench_model::results::{PhaseSummary, RunFolder, Summary};
use wsbench_model::{Scenario, WorkloadKind};
use wsbench_protocol::clock::monotonic_ns;

use crate::RunError;
use crate::options::RunOptions;
use crate::output::{Accounting, write_phase};
use crate::phase::{Phase, PushRole};
use crate::plan::{Plan, nanos};
use crate::stop::Early;
use crate::target::{Builtin, Origin, client_options};

/// Connections per load generator process when the scenario does not say
/// (each process may hold 20,000 open files).
pub(crate) const CONNECTIONS_PER_PROCESS: u64 = 15_000;

/// Processes for `connections`: `requested`, or with 0 one per
/// `per_process`.
pub(crate) fn process_count(requested: u16, connections: u64, per_process: u64) -> u16 {
    match requested {
        0 => u16::try_from(connections.div_ceil(per_process))
            .unwrap_or(64)
            .clamp(1, 64),
        n => n,
    }
}

/// How much later each group starts so that every group's window opens
/// at the same instant: groups lead into their window differently (a
/// longer ramp, a longer warm-up), and a group over worker processes
/// starts a second later for them to start.
fn window_delays(scenario: &Scenario, processes: &[u16]) -> Vec<Duration> {
    let spawn = |p: u16| {
        if p > 1 {
            Duration::from_secs(1)
        } else {
            Duration::ZERO
        }
    };
    let lead = |i: usize| Plan::lead(&scenario.groups[i].scenario) + spawn(processes[i]);
    let longest = (0..processes.len()).map(lead).max().unwrap_or_default();
    (0..processes.len()).map(|i| longest - lead(i)).collect()
}

/// What every phase of a run shares.
pub(crate) struct Phases<'a> {
    pub(crate) origin: &'a Origin,
    /// Accept any certificate.
    pub(crate) insecure: bool,
    pub(crate) opts: &'a RunOptions,
    /// Load generator processes asked for (0: automatic).
    pub(crate) requested: u16,
    /// Load generator processes for a phase of the whole scenario.
    pub(crate) workers: u16,
    /// The scenario as the workers read it.
    pub(crate) scenario_file: &'a Path,
    pub(crate) results: &'a RunFolder,
    pub(crate) run_id: u32,
}

impl Phases<'_> {
    /// A push phase's publishing role: this process publishes its shard's
    /// share, markers carry the run id and phase index `k`.
    fn push_role(&self, s: &Scenario, k: u32) -> Option<PushRole> {
        let (index, count) = self.opts.shard.map_or((0, 1), |sh| (sh.index, sh.count));
        (s.workload == WorkloadKind::Push).then_some(PushRole {
            run: self.run_id,
            phase: k,
            publishers: count,
            publishes: Some(index),
            clock: index,
        })
    }

    /// One phase per transport, in order; the summary written after each,
    /// and the run stopped at the first that ends early.
    pub(crate) async fn one_by_one(
        &self,
        scenario: &Arc<Scenario>,
        summary: &mut Summary,
        mut builtin: Option<&mut Builtin>,
    ) -> Result<(), RunError> {
        let options = client_options(scenario, self.insecure);
        let mut interrupt = self.opts.interrupt.clone();
        for (k, &transport) in (0u32..).zip(&scenario.transports) {
            let phase = Phase {
                scenario: Arc::clone(scenario),
                transport,
                origin: self.origin.clone(),
                options: options.clone(),
                progress: self.opts.progress,
                progress_file: None,
                server_pid: self.opts.server_pid,
                push: self.push_role(scenario, k),
                group: None,
                place: (k as usize + 1, scenario.transports.len()),
                stream: self.opts.stream.clone(),
                metrics: self.opts.metrics.clone(),
                delay: Duration::ZERO,
            };
            let builtin = builtin.as_deref_mut();
            let (p, stop) = self
                .one(&phase, self.workers, k, &mut interrupt, builtin)
                .await?;
            summary.phases.push(p);
            if let Some((reason, detail)) = stop {
                summary.partial = true;
                summary.stop_reason = Some(reason);
                summary.stop_detail = Some(detail);
                break;
            }
            self.results
                .write_summary(summary)
                .map_err(RunError::Results)?;
        }
        Ok(())
    }

    /// A mixed population: every group at once on the same target, each
    /// over its own share of processes; their summaries in group order.
    /// The builtin server's CPU is not read: it is the whole server's,
    /// not one group's.
    pub(crate) async fn side_by_side(
        &self,
        scenario: &Scenario,
        summary: &mut Summary,
    ) -> Result<(), RunError> {
        let processes: Vec<u16> = scenario
            .groups
            .iter()
            .map(|g| {
                let n = g.scenario.connections;
                process_count(self.requested, n, CONNECTIONS_PER_PROCESS)
                    .min(u16::try_from(n).unwrap_or(u16::MAX))
            })
            .collect();
        let delays = window_delays(scenario, &processes);
        let runs = scenario.groups.iter().enumerate().map(|(i, g)| {
            let s = Arc::new(g.scenario.clone());
            let phase = Phase {
                options: client_options(&s, self.insecure),
                transport: s.transports[0],
                origin: self.origin.clone(),
                progress: self.opts.progress && i == 0,
                progress_file: None,
                server_pid: None,
                push: self.push_role(&s, 0),
                group: Some(g.name.clone()),
                place: (i + 1, scenario.groups.len()),
                stream: self.opts.stream.clone(),
                metrics: self.opts.metrics.clone(),
                delay: delays[i],
                scenario: s,
            };
            let mut interrupt = self.opts.interrupt.clone();
            let n = processes[i];
            async move { self.one(&phase, n, 0, &mut interrupt, None).await }
        });
        for done in futures_util::future::join_all(runs).await {
            let (p, stop) = done?;
            summary.phases.push(p);
            if let Some((reason, detail)) = stop
                && summary.stop_reason.is_none()
            {
                summary.partial = true;
                summary.stop_reason = Some(reason);
                summary.stop_detail = Some(detail);
            }
        }
        Ok(())
    }

    /// Phase `k` over `processes` load generator processes (1: here).
    async fn one(
        &self,
        phase: &Phase,
        processes: u16,
        k: u32,
        interrupt: &mut watch::Receiver<bool>,
        builtin: Option<&mut Builtin>,
    ) -> Result<(PhaseSummary, Early), RunError> {
        let done = if processes > 1 {
            crate::shard::coordinate(
                phase,
                u64::from(processes),
                &self.opts.exe,
                self.scenario_file,
                self.results,
                interrupt,
                builtin,
            )
            .await?
        } else {
            self.here(phase, k, interrupt, builtin).await?
        };
        if let Some(m) = &self.opts.metrics {
            m.done(&done.0);
        }
        Ok(done)
    }

    /// Phase `k` in this process.
    async fn here(
        &self,
        phase: &Phase,
        k: u32,
        interrupt: &mut watch::Receiver<bool>,
        builtin: Option<&mut Builtin>,
    ) -> Result<(PhaseSummary, Early), RunError> {
        let s = &phase.scenario;
        let (plan, accounting) = match self.opts.shard {
            Some(sh) => (sh.plan(s, k).delayed(phase.delay), Accounting::OwnShare),
            None => {
                let start = monotonic_ns() + nanos(phase.delay);
                (Plan::starting_at(s, start, 0, 1), Accounting::All)
            }
        };
        let m = phase.measure(plan, interrupt, builtin).await?;
        write_phase(self.results.path(), phase.name(), m, accounting).map_err(RunError::Results)
    }
}
