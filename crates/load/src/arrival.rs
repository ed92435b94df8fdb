//! Arrival and departure of a phase's connections: each opens in its own
//! task when the plan (a ramp, or a stage profile's lives) says, and the
//! tasks' outcomes are collected after the stop signal.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use wsbench_model::WorkloadKind;

use crate::RunError;
use crate::drivers::{self, ConnOutcome, PhaseCtx};
use crate::plan::{Plan, instant_at};

/// Arrival: connection *i* of the plan opens at `t0 + i / ramp_rate`, each
/// in its own task. Resolves to the tasks once every connection was tried.
pub(crate) fn arrive(
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
        for (i, due) in arrivals(&ctx, plan) {
            if ctx.stop.is_set() {
                break;
            }
            tokio::time::sleep_until(due).await;
            tasks.push(drivers::spawn(Arc::clone(&ctx), i));
        }
        let _ = done_tx.send(true);
        tasks
    });
    (ramp, done)
}

/// This process's connections and when each is due: `plan`'s share of
/// the ramp, or of the stage profile's lives.
fn arrivals(ctx: &PhaseCtx, plan: Plan) -> Box<dyn Iterator<Item = (u64, Instant)> + Send + '_> {
    if let Some(lives) = &ctx.lives {
        return Box::new(
            lives
                .share(plan.index, plan.count)
                .map(|(i, l)| (i, instant_at(lives.opens_ns(l)))),
        );
    }
    let gap = Duration::from_secs_f64(1.0 / ctx.scenario.ramp_rate);
    let t0 = plan.t0();
    let step = usize::try_from(plan.count).unwrap_or(1);
    Box::new(
        (plan.index..ctx.scenario.connections)
            .step_by(step)
            .map(move |i| (i, t0 + gap.mul_f64(i as f64))),
    )
}

/// Collects the connections' outcomes after the stop signal (at most 30 s;
/// held connections, which do not watch the signal, are ended here).
pub(crate) async fn reap(
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
