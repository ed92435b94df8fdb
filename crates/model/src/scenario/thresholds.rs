//! Which thresholds a scenario can check: a threshold on a transport the
//! run does not have, or on a metric its workload does not produce, could
//! never see a value, and is refused before anything runs.

use super::{RunShape, Scenario, Target};
use crate::threshold::Threshold;

impl Scenario {
    /// Whether `t` can be checked on this scenario's results: its
    /// transport runs and its metric is produced. A threshold that could
    /// never see a value is refused before anything runs, so a gate
    /// cannot pass by accident.
    pub(super) fn check_threshold(&self, t: &Threshold) -> Result<(), (String, Option<String>)> {
        if let Some(tr) = t.transport
            && !self.transports.contains(&tr)
        {
            let run: Vec<&str> = self.transports.iter().map(|t| t.name()).collect();
            return Err((
                format!("the {tr} transport is not in this run"),
                Some(format!(
                    "transports = [{}]; name one of them, or drop the prefix to check every phase",
                    run.iter()
                        .map(|n| format!("\"{n}\""))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            ));
        }
        if let Some(n) = t.stage {
            self.check_stage(t, n)?;
        }
        let shape = RunShape {
            workload: self.workload,
            payload: self.payload,
            builtin: matches!(self.target, Target::Builtin { .. }),
            reconnect: self.reconnect.is_some(),
        };
        t.metric.def().produced_by(shape).map_err(|why| {
            (
                why,
                Some(format!(
                    "a {} phase produces: {}",
                    self.workload.name(),
                    crate::metric::ALL
                        .iter()
                        .filter(|d| d.produced_by(shape).is_ok())
                        .map(|d| d.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            )
        })
    }

    /// A threshold on stage `n` needs that stage, and the workload's main
    /// latency (the one metric kept per stage).
    fn check_stage(&self, t: &Threshold, n: usize) -> Result<(), (String, Option<String>)> {
        if n > self.stages.len() {
            return Err(match self.stages.len() {
                0 => (
                    format!("stage{n}: this scenario has no stages"),
                    Some("[load] stages = [...] defines them".to_owned()),
                ),
                k => (
                    format!("stage{n}: this scenario has {k} stages"),
                    Some(format!("stage1 … stage{k}")),
                ),
            });
        }
        let main = crate::metric::main_latency(self.workload);
        if t.metric.metric() != main {
            return Err((
                format!(
                    "per stage, {} is kept, not {}",
                    main.name(),
                    t.metric.name()
                ),
                Some(format!(
                    "stage{n}.{}.p99 < …, or drop the stage to check {} over the window",
                    main.name(),
                    t.metric.name()
                )),
            ));
        }
        Ok(())
    }
}
