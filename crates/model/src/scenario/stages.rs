//! How many connections a phase holds over time: either `connections`
//! opened at `ramp_rate` and held for `duration`, or `stages`, a list of
//! `{ duration, target }` steps, each moving the number of open
//! connections linearly from the one before (0 at the start) to its
//! target over its duration; a step whose target equals the count before
//! it holds. The lives this gives each connection are worked out by the
//! load generator's schedule (`wsbench-load`'s `stages.rs`).

use std::ops::Range;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::input::{Checker, RawLoad};
use super::{MAX_CONNECTIONS, ScenarioError, WorkloadKind};

/// One step of a stage profile.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stage {
    /// How long the step lasts.
    pub duration: Duration,
    /// Open connections at its end (an arrival stage: 0, unused).
    pub target: u64,
    /// An arrival stage: connections opened per second at its end,
    /// ramped linearly from the stage before's (0 at the start); each
    /// connection that arrives runs its workload until it ends by itself
    /// (a flow's `repeat`) or the phase ends. `None`: a count stage.
    pub arrivals: Option<f64>,
    /// The rate at its end (`None`: the rate before it holds): push,
    /// messages published per second; echo and rpc, messages sent per
    /// second per connection.
    pub rate: Option<f64>,
    /// A restart storm: the builtin server is killed (every process of
    /// it) at the stage's start and started again on its address this
    /// long after.
    pub restart: Option<Duration>,
    /// A drop storm: this share (0 < share ≤ 1) of the connections open
    /// at the stage's start lose their connection there (the socket shut
    /// without a closing handshake) and reconnect under the policy.
    pub drop: Option<f64>,
}

/// A stage as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStage {
    duration: Spanned<String>,
    #[serde(default)]
    target: Option<Spanned<u64>>,
    #[serde(default)]
    arrivals: Option<Spanned<f64>>,
    #[serde(default)]
    rate: Option<Spanned<f64>>,
    #[serde(default)]
    restart: Option<Spanned<String>>,
    #[serde(default)]
    drop: Option<Spanned<String>>,
}

/// Most connection openings a stage profile may plan in all (a
/// connection that closes and opens again counts again).
const MAX_OPENINGS: u64 = 4 * MAX_CONNECTIONS;

/// How the connections of a phase come and go.
pub(super) struct Shape {
    pub(super) connections: u64,
    pub(super) ramp_rate: f64,
    pub(super) duration: Duration,
    pub(super) stages: Vec<Stage>,
}

/// Reads `[load]`'s shape: `connections`, `ramp_rate` and `duration`, or
/// `stages` (the window is then the stages after the warm-up).
/// `table` is where `[load]` is written.
pub(super) fn shape(
    c: &Checker<'_>,
    load: &RawLoad,
    table: Range<usize>,
    warmup: Duration,
    kind: WorkloadKind,
) -> Result<Shape, ScenarioError> {
    let Some(raw) = &load.stages else {
        return classic(c, load, table);
    };
    let either = "a phase has either stages or connections, ramp_rate and duration";
    for (key, span) in [
        ("connections", load.connections.as_ref().map(Spanned::span)),
        ("ramp_rate", load.ramp_rate.as_ref().map(Spanned::span)),
        ("duration", load.duration.as_ref().map(Spanned::span)),
    ] {
        if let Some(span) = span {
            return Err(c.at(
                span,
                format!("{key} cannot be set with stages: {either}"),
                Some("the stages give the connections (their highest target) and the duration (their sum); remove this key, or the stages"),
            ));
        }
    }
    let stages = stages(c, raw, kind, load)?;
    let total: Duration = stages.iter().map(|s| s.duration).sum();
    if warmup >= total {
        let span = load.warmup.as_ref().map_or(raw.span(), Spanned::span);
        return Err(c.at(
            span,
            format!(
                "the warm-up ({}) leaves nothing of the stages ({}) to measure",
                humantime::format_duration(warmup),
                humantime::format_duration(total)
            ),
            Some("the window is the stages after the warm-up: shorten warmup"),
        ));
    }
    let connections = if stages[0].arrivals.is_some() {
        arrivals_in(&stages)
    } else {
        stages.iter().map(|s| s.target).max().unwrap_or(0)
    };
    Ok(Shape {
        connections,
        ramp_rate: DEFAULT_RAMP_RATE,
        duration: total - warmup,
        stages,
    })
}

/// Connections opened per second when `ramp_rate` is not given.
const DEFAULT_RAMP_RATE: f64 = 1000.0;

fn stages(
    c: &Checker<'_>,
    raw: &Spanned<Vec<Spanned<RawStage>>>,
    kind: WorkloadKind,
    load: &RawLoad,
) -> Result<Vec<Stage>, ScenarioError> {
    if raw.get_ref().is_empty() {
        return Err(c.at(
            raw.span(),
            "no stages",
            Some("e.g. stages = [{ duration = \"10s\", target = 1000 }, { duration = \"20s\", target = 1000 }]"),
        ));
    }
    let mut out = Vec::with_capacity(raw.get_ref().len());
    let (mut count, mut openings) = (0u64, 0u64);
    for s in raw.get_ref() {
        let s = s.get_ref();
        let duration = c.duration(&s.duration, "stage duration")?;
        if duration.is_zero() {
            return Err(c.at(
                s.duration.span(),
                "a stage lasts more than 0",
                Some("to jump, ramp over a short time, e.g. \"100ms\""),
            ));
        }
        let (target, arrivals) = match (&s.target, &s.arrivals) {
            (Some(t), None) => (*t.get_ref(), None),
            (None, Some(a)) => (0, Some(*a.get_ref())),
            (Some(_), Some(a)) => {
                return Err(c.at(
                    a.span(),
                    "a stage sets target (open connections) or arrivals (connections opened per second), not both",
                    None,
                ));
            }
            (None, None) => {
                return Err(c.at(
                    s.duration.span(),
                    "a stage needs target = N (open connections) or arrivals = R (connections opened per second)",
                    None,
                ));
            }
        };
        let at = match (&s.target, &s.arrivals) {
            (Some(t), _) => t.span(),
            (None, Some(a)) => a.span(),
            (None, None) => s.duration.span(),
        };
        let first_kind = out.first().map(|f: &Stage| f.arrivals.is_some());
        if first_kind.is_some_and(|k| k != arrivals.is_some()) {
            return Err(c.at(
                at.clone(),
                "a profile's stages are all counts (target) or all arrival rates (arrivals)",
                Some("open connections or connections opened per second: pick one for the phase"),
            ));
        }
        if let Some(a) = arrivals
            && !(0.0..=MAX_CONNECTIONS as f64).contains(&a)
        {
            return Err(c.at(
                at,
                format!("arrivals = {a} is out of range"),
                Some(&format!(
                    "connections opened per second, 0 to {MAX_CONNECTIONS}"
                )),
            ));
        }
        if target > MAX_CONNECTIONS {
            return Err(c.at(
                at.clone(),
                format!("target = {target} is out of range"),
                Some(&format!("between 0 and {MAX_CONNECTIONS}")),
            ));
        }
        openings += target.saturating_sub(count);
        if openings > MAX_OPENINGS {
            return Err(c.at(
                at,
                format!("the stages open more than {MAX_OPENINGS} connections in all"),
                Some("fewer or smaller cycles"),
            ));
        }
        count = target;
        let rate = stage_rate(c, s.rate.as_ref(), kind)?;
        let restart = match &s.restart {
            Some(r) => Some(restart(c, r, duration, load)?),
            None => None,
        };
        let drop = match &s.drop {
            Some(d) => Some(drop_share(c, d, kind, load)?),
            None => None,
        };
        out.push(Stage {
            duration,
            target,
            arrivals,
            rate,
            restart,
            drop,
        });
    }
    if out[0].arrivals.is_some() {
        openings = arrivals_in(&out);
        if openings > MAX_OPENINGS {
            return Err(c.at(
                raw.span(),
                format!("the stages open {openings} connections, more than {MAX_OPENINGS}"),
                Some("lower the arrival rates or shorten the stages"),
            ));
        }
    }
    if openings == 0 {
        return Err(c.at(
            raw.span(),
            "no stage opens a connection (every target or arrival rate is 0)",
            Some("give a stage a target or arrivals above 0"),
        ));
    }
    Ok(out)
}

/// The connections arrival stages open in all: each stage's rate ramps
/// linearly from the one before's (0 at the start), so it opens the
/// mean of the two rates times its duration.
pub fn arrivals_in(stages: &[Stage]) -> u64 {
    let mut before = 0.0;
    let mut total = 0.0;
    for s in stages {
        let r = s.arrivals.unwrap_or(0.0);
        total += (before + r) / 2.0 * s.duration.as_secs_f64();
        before = r;
    }
    // A whisker under an integer is that integer (float sums).
    (total + 1e-6).floor() as u64
}

/// A stage's restart storm: how long the server stays down, within the
/// stage, with connections that reconnect.
fn restart(
    c: &Checker<'_>,
    raw: &Spanned<String>,
    stage: Duration,
    load: &RawLoad,
) -> Result<Duration, ScenarioError> {
    let down = c.duration(raw, "restart")?;
    if down.is_zero() || down >= stage {
        return Err(c.at(
            raw.span(),
            "the server must be down for more than 0 and less than the stage",
            Some("restart = \"2s\" kills the builtin server at the stage's start and starts it 2 s later"),
        ));
    }
    if load.reconnect.is_none() {
        return Err(c.at(
            raw.span(),
            "a restart storm needs connections that reconnect",
            Some("add [load] reconnect = { attempts = 10, backoff = \"100ms\", max_backoff = \"2s\" }"),
        ));
    }
    Ok(down)
}

/// A stage's drop storm: a share written `"30%"`, of push subscribers
/// that reconnect.
fn drop_share(
    c: &Checker<'_>,
    raw: &Spanned<String>,
    kind: WorkloadKind,
    load: &RawLoad,
) -> Result<f64, ScenarioError> {
    let hint = "drop = \"30%\" drops 30% of the open connections at the stage's start";
    let share = raw
        .get_ref()
        .trim()
        .strip_suffix('%')
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| *v > 0.0 && *v <= 100.0)
        .ok_or_else(|| {
            c.at(
                raw.span(),
                format!(
                    "drop = {:?} is not a share above 0% and up to 100%",
                    raw.get_ref()
                ),
                Some(hint),
            )
        })?;
    if kind != WorkloadKind::Push {
        return Err(c.at(
            raw.span(),
            format!(
                "the {} workload's connections do not reconnect",
                kind.name()
            ),
            Some("a drop storm drops push subscribers, which come back under [load] reconnect"),
        ));
    }
    if load.reconnect.is_none() {
        return Err(c.at(
            raw.span(),
            "a drop storm needs connections that reconnect",
            Some("add [load] reconnect = { attempts = 10, backoff = \"100ms\", max_backoff = \"2s\" }"),
        ));
    }
    Ok(share / 100.0)
}

/// Most messages per second a stage may publish.
const MAX_RATE: f64 = 10_000_000.0;

/// A stage's rate: push, echo or rpc, 0 or more.
fn stage_rate(
    c: &Checker<'_>,
    rate: Option<&Spanned<f64>>,
    kind: WorkloadKind,
) -> Result<Option<f64>, ScenarioError> {
    let Some(r) = rate else { return Ok(None) };
    if !matches!(
        kind,
        WorkloadKind::Push | WorkloadKind::Echo | WorkloadKind::Rpc
    ) {
        return Err(c.at(
            r.span(),
            format!("the {} workload has no rate to follow the stages", kind.name()),
            Some("a stage's rate is the publish rate (push) or the sends per second per connection (echo, rpc)"),
        ));
    }
    let v = *r.get_ref();
    if !(0.0..=MAX_RATE).contains(&v) {
        return Err(c.at(
            r.span(),
            format!("rate = {v} is out of range"),
            Some(&format!("messages published per second, 0 to {MAX_RATE}")),
        ));
    }
    Ok(Some(v))
}

/// `connections`, `ramp_rate` and `duration`.
fn classic(c: &Checker<'_>, load: &RawLoad, table: Range<usize>) -> Result<Shape, ScenarioError> {
    let missing = |key: &str| {
        c.at(
            table.clone(),
            format!("[load] has no {key}"),
            Some("set connections = N and duration = \"10s\", or stages = [{ duration = \"10s\", target = N }, …]"),
        )
    };
    let conns = load
        .connections
        .as_ref()
        .ok_or_else(|| missing("connections"))?;
    let connections = *conns.get_ref();
    if connections == 0 || connections > MAX_CONNECTIONS {
        return Err(c.at(
            conns.span(),
            format!("connections = {connections} is out of range"),
            Some(&format!("between 1 and {MAX_CONNECTIONS}")),
        ));
    }
    let ramp_rate = match &load.ramp_rate {
        Some(r) if !(*r.get_ref() > 0.0 && r.get_ref().is_finite()) => {
            return Err(c.at(
                r.span(),
                "ramp_rate must be a positive number of connections per second",
                None,
            ));
        }
        Some(r) => *r.get_ref(),
        None => DEFAULT_RAMP_RATE,
    };
    let raw = load.duration.as_ref().ok_or_else(|| missing("duration"))?;
    let duration = c.duration(raw, "duration")?;
    if duration.is_zero() {
        return Err(c.at(raw.span(), "duration must be more than 0", None));
    }
    Ok(Shape {
        connections,
        ramp_rate,
        duration,
        stages: Vec::new(),
    })
}

#[cfg(test)]
mod tests;
