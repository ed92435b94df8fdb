//! Mixed populations: `[[group]]` tables run side by side in one phase on
//! the same target, each with its own transport, connections and
//! workload, and each measured on its own.
//!
//! ```toml
//! [load]
//! connections = 1000        # shared by the groups with a weight
//! ramp_rate = 500
//! duration = "20s"
//!
//! [[group]]
//! name = "readers"
//! transport = "websocket"
//! weight = 99               # 990 of the 1000
//! workload = { kind = "push", rate = 10 }
//!
//! [[group]]
//! name = "writers"
//! transport = "websocket"
//! connections = 10          # a count, besides the weighted 1000
//! workload = { kind = "echo", rate = 2 }
//! ```
//!
//! A group takes `[load]`'s timing (warm-up, duration, ramp rate unless it
//! sets its own `ramp_rate`, reconnect policy) and the `[target]`. Its
//! results are a phase of their own, named after the group; thresholds
//! name it as a prefix (`writers.echo_rtt.p99 < 20ms`).

use toml::Spanned;

use super::input::{Checker, RawScenario};
use super::{Scenario, ScenarioError, WorkloadKind, build};
use crate::metric;
use crate::workload::Transport;

/// One group of a mixed population.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    /// Its name: the phase's name in the results and a threshold prefix.
    pub name: String,
    /// The group as a scenario of its own: its transport, connections
    /// and workload, the run's target and timing.
    pub scenario: Scenario,
}

/// The scenario of a file with `[[group]]` tables: the groups, and as the
/// run's own values their connections summed, their transports, the
/// largest payload; the first group's workload stands for the rest.
pub(super) fn grouped(
    c: &Checker<'_>,
    raw: &RawScenario,
    name: String,
) -> Result<Scenario, ScenarioError> {
    refuse_run_wide(c, raw)?;
    let counts = counts(c, raw)?;
    let mut groups: Vec<Group> = Vec::new();
    for (g, n) in raw.group.iter().zip(counts) {
        let group = g.get_ref();
        let group_name = group_name(c, &group.name, &groups)?;
        let mut load = raw.load.get_ref().clone();
        load.transports = Some(Spanned::new(
            group.transport.span(),
            vec![group.transport.clone()],
        ));
        if let Some(r) = &group.ramp_rate {
            load.ramp_rate = Some(r.clone());
        }
        match (&group.stages, n) {
            (Some(stages), _) => {
                // A ramp rate of the group's own is refused with its stages.
                load.ramp_rate.clone_from(&group.ramp_rate);
                load.stages = Some(stages.clone());
                (load.connections, load.duration) = (None, None);
            }
            (None, n) => {
                let at = group.connections.as_ref().map_or(g.span(), Spanned::span);
                load.connections = Some(Spanned::new(at, n));
            }
        }
        let load = Spanned::new(raw.load.span(), load);
        let scenario = build(c, raw, &load, group.workload.get_ref(), name.clone())?;
        if let Some(stages) = &group.stages {
            same_window(c, raw, stages, &scenario)?;
        }
        if scenario.workload == WorkloadKind::Push
            && groups
                .iter()
                .any(|o| o.scenario.workload == WorkloadKind::Push)
        {
            return Err(c.at(
                group.workload.span(),
                "a second push group: the target carries one push stream",
                Some("one push group per run: make this group echo, rpc or flow, or run it apart"),
            ));
        }
        groups.push(Group {
            name: group_name,
            scenario,
        });
    }
    let mut run = groups[0].scenario.clone();
    run.connections = groups.iter().map(|g| g.scenario.connections).sum();
    run.payload_size = groups
        .iter()
        .map(|g| g.scenario.payload_size)
        .max()
        .unwrap_or(run.payload_size);
    run.transports.clear();
    for g in &groups {
        for t in &g.scenario.transports {
            if !run.transports.contains(t) {
                run.transports.push(*t);
            }
        }
    }
    run.groups = groups;
    Ok(run)
}

/// What a grouped file cannot have: a run-wide workload, transports or
/// stage profile.
fn refuse_run_wide(c: &Checker<'_>, raw: &RawScenario) -> Result<(), ScenarioError> {
    if let Some(w) = &raw.workload {
        return Err(c.at(
            w.kind.span(),
            "a scenario with [[group]] tables has no [workload] of its own",
            Some("each group sets its workload: workload = { kind = \"echo\", rate = 1 }"),
        ));
    }
    let load = raw.load.get_ref();
    if let Some(t) = &load.transports {
        return Err(c.at(
            t.span(),
            "with [[group]] tables each group names its transport",
            Some("remove [load] transports; set transport = \"websocket\" in each group"),
        ));
    }
    if let Some(s) = &load.stages {
        return Err(c.at(
            s.span(),
            "with [[group]] tables each group has its own stages",
            Some("move stages = [...] into the groups that follow a profile"),
        ));
    }
    Ok(())
}

/// A group with stages runs in the run's window: its stages last
/// `[load]`'s warm-up and duration, and restart the server in none (a
/// restart is the whole run's).
fn same_window(
    c: &Checker<'_>,
    raw: &RawScenario,
    stages: &Spanned<Vec<Spanned<super::stages::RawStage>>>,
    group: &Scenario,
) -> Result<(), ScenarioError> {
    if group.stages.iter().any(|s| s.restart.is_some()) {
        return Err(c.at(
            stages.span(),
            "a group's stage cannot restart the server: every group shares it",
            Some("restart storms are for scenarios without [[group]] tables"),
        ));
    }
    let load = raw.load.get_ref();
    let Some(d) = &load.duration else {
        return Err(c.at(
            raw.load.span(),
            "a group with stages needs [load] duration, the run's window",
            Some("duration = \"20s\": each group's stages then last warmup + 20 s"),
        ));
    };
    let window = c.duration(d, "duration")?;
    if group.duration != window {
        let total = group.warmup + group.duration;
        return Err(c.at(
            stages.span(),
            format!(
                "this group's stages last {}, the run {} (warmup + duration)",
                humantime::format_duration(total),
                humantime::format_duration(group.warmup + window)
            ),
            Some(
                "every group runs in the same window: make the stages add up to warmup + duration",
            ),
        ));
    }
    Ok(())
}

/// Each group's connections: its count, or its weight's share of
/// `[load] connections` (largest remainders, so the shares add up).
fn counts(c: &Checker<'_>, raw: &RawScenario) -> Result<Vec<u64>, ScenarioError> {
    let load = raw.load.get_ref();
    let mut weights = Vec::new();
    for g in &raw.group {
        let group = g.get_ref();
        if group.stages.is_some() {
            if let Some(span) = group
                .connections
                .as_ref()
                .map(Spanned::span)
                .or(group.weight.as_ref().map(Spanned::span))
            {
                return Err(c.at(
                    span,
                    "a group with stages takes its connections from them",
                    Some("remove connections or weight, or the group's stages"),
                ));
            }
            weights.push(None);
            continue;
        }
        match (&group.connections, &group.weight) {
            (Some(_), Some(w)) => {
                return Err(c.at(
                    w.span(),
                    "a group has either connections or a weight, not both",
                    None,
                ));
            }
            (None, None) => {
                return Err(c.at(
                    g.span(),
                    "a group needs connections = N, weight = W or stages",
                    Some("weight shares [load] connections among the weighted groups; or stages = [...]"),
                ));
            }
            (Some(n), None) if *n.get_ref() == 0 => {
                return Err(c.at(n.span(), "a group needs at least 1 connection", None));
            }
            (Some(_), None) => weights.push(None),
            (None, Some(w)) if !(*w.get_ref() > 0.0 && w.get_ref().is_finite()) => {
                return Err(c.at(w.span(), "a weight must be a positive number", None));
            }
            (None, Some(w)) => weights.push(Some(*w.get_ref())),
        }
    }
    let weighted: Vec<f64> = weights.iter().flatten().copied().collect();
    let shares = match (&load.connections, weighted.is_empty()) {
        (_, true) => Vec::new(),
        (None, false) => {
            return Err(c.at(
                raw.load.span(),
                "groups with a weight share [load] connections, which is not set",
                Some("connections = 1000 in [load]"),
            ));
        }
        (Some(n), false) => split(*n.get_ref(), &weighted),
    };
    let mut shares = shares.into_iter();
    let mut out = Vec::new();
    for (g, w) in raw.group.iter().zip(&weights) {
        let n = match (w, &g.get_ref().connections) {
            (Some(_), _) => shares.next().unwrap_or(0),
            (None, Some(n)) => *n.get_ref(),
            (None, None) => 0,
        };
        if n == 0 && g.get_ref().stages.is_none() {
            return Err(c.at(
                g.span(),
                "this group's weight gives it no connection",
                Some("raise its weight or [load] connections"),
            ));
        }
        out.push(n);
    }
    Ok(out)
}

/// `total` split in proportion to `weights`, the remainders to the
/// largest fractions, so the parts add up to `total`.
fn split(total: u64, weights: &[f64]) -> Vec<u64> {
    let sum: f64 = weights.iter().sum();
    let exact: Vec<f64> = weights.iter().map(|w| total as f64 * w / sum).collect();
    let mut parts: Vec<u64> = exact.iter().map(|e| e.floor() as u64).collect();
    let mut left = total.saturating_sub(parts.iter().sum());
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| {
        let fa = exact[a] - exact[a].floor();
        let fb = exact[b] - exact[b].floor();
        fb.total_cmp(&fa).then(a.cmp(&b))
    });
    for i in order {
        if left == 0 {
            break;
        }
        parts[i] += 1;
        left -= 1;
    }
    parts
}

/// A group's name: unique, usable in file names and as a threshold
/// prefix (so neither a transport, a stage nor a metric).
fn group_name(
    c: &Checker<'_>,
    name: &Spanned<String>,
    before: &[Group],
) -> Result<String, ScenarioError> {
    let n = name.get_ref();
    let word = !n.is_empty()
        && n.starts_with(|ch: char| ch.is_ascii_lowercase())
        && n.chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || matches!(ch, '_' | '-'));
    if !word {
        return Err(c.at(
            name.span(),
            format!("group name {n:?}: lowercase letters, digits, '_' and '-', from a letter"),
            None,
        ));
    }
    let taken = Transport::ALL.iter().any(|t| t.name() == n)
        || metric::find(n).is_some()
        || n == "flow"
        || n.strip_prefix("stage")
            .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()));
    if taken {
        return Err(c.at(
            name.span(),
            format!("group name {n:?} is a transport, stage or metric name"),
            Some("thresholds use the group's name as a prefix: pick another"),
        ));
    }
    if before.iter().any(|g| g.name == *n) {
        return Err(c.at(name.span(), format!("group {n:?} is named twice"), None));
    }
    Ok(n.clone())
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn weights_split_the_total_exactly() {
        assert_eq!(split(1000, &[99.0, 1.0]), vec![990, 10]);
        assert_eq!(split(10, &[1.0, 1.0, 1.0]), vec![4, 3, 3]);
        assert_eq!(split(7, &[2.0]), vec![7]);
        let parts = split(20_201, &[3.0, 5.0, 11.0]);
        assert_eq!(parts.iter().sum::<u64>(), 20_201);
    }
}
