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
        if !self.groups.is_empty() {
            return self.check_group_threshold(t);
        }
        if let Some(g) = &t.group {
            return Err((
                format!("{g:?} is neither a group (this scenario has none) nor a transport"),
                Some("name a transport, a stage (stage1) or a metric".to_owned()),
            ));
        }
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
        if let Some(key) = &t.timer {
            self.check_timer(t, key)?;
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

    /// In a mixed population: a threshold naming a group is checked on
    /// it; one without applies to every group producing the metric, and
    /// at least one must. The builtin server's CPU is the whole
    /// server's, never one group's.
    fn check_group_threshold(&self, t: &Threshold) -> Result<(), (String, Option<String>)> {
        let names = || {
            let all: Vec<&str> = self.groups.iter().map(|g| g.name.as_str()).collect();
            format!("groups: {}", all.join(", "))
        };
        let per_group = |s: &Scenario| {
            let shape = RunShape {
                workload: s.workload,
                payload: s.payload,
                builtin: false,
                reconnect: s.reconnect.is_some(),
            };
            if t.metric.def().produced_by(shape).is_err()
                && t.metric
                    .def()
                    .produced_by(RunShape {
                        builtin: true,
                        ..shape
                    })
                    .is_ok()
            {
                return Err((
                    format!("{} is the whole server's, not a group's", t.metric.name()),
                    Some("with [[group]] tables, the server's CPU is not split per group".into()),
                ));
            }
            let mut alone = t.clone();
            alone.group = None;
            s.check_threshold(&alone)
        };
        match &t.group {
            Some(name) => match self.group(name) {
                Some(s) => per_group(s),
                None => Err((format!("no group {name:?}"), Some(names()))),
            },
            None => {
                let mut first = None;
                for g in &self.groups {
                    match per_group(&g.scenario) {
                        Ok(()) => return Ok(()),
                        Err(e) => {
                            first.get_or_insert(e);
                        }
                    }
                }
                let (why, _) = first.unwrap_or_default();
                Err((
                    format!("no group produces it ({why})"),
                    Some(format!("{}; prefix one to check it alone", names())),
                ))
            }
        }
    }

    /// A flow timer's threshold needs a flow with that timer, over the
    /// window (stages keep `flow_time` only).
    fn check_timer(&self, t: &Threshold, key: &str) -> Result<(), (String, Option<String>)> {
        let names: Vec<&str> = self
            .flow
            .iter()
            .flat_map(|f| f.timers.iter().flatten())
            .map(String::as_str)
            .collect();
        let bare = crate::metric::flow_timer_of(key).map_or(key, |(n, _)| n);
        if !names.contains(&bare) {
            return Err((
                format!("{key}: no timed expect is named {bare:?}"),
                Some(if names.is_empty() {
                    "time = \"name\" on a flow's expect names a timer".to_owned()
                } else {
                    format!("timers: {}", names.join(", "))
                }),
            ));
        }
        if t.stage.is_some() {
            return Err((
                format!("per stage, flow_time is kept, not {key}"),
                Some("drop the stage, or check stageN.flow_time".to_owned()),
            ));
        }
        Ok(())
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
