//! `[workload] kind = "flow"`: what each connection does, over and over,
//! once it is open (and the target's steps on open are done). Its
//! `[[workload.steps]]` send, expect (and capture), and sleep, as the
//! target's steps do; an expect with `time = "name"` is measured from the
//! latest send before it (`flow_time`, and per name). `repeat` runs the
//! steps that many times and closes the connection (1000 "flow");
//! without it they run until the phase ends. `pace` puts the start of
//! iteration `k` on a schedule, `k · pace` after the first: the sends
//! are then timed from their instant on that schedule too, so a slow
//! answer that delays the iterations after it shows in their times
//! (coordinated omission corrected); without `pace` an iteration starts
//! when the one before ends, and both times are from the actual send.

use std::time::Duration;

use toml::Spanned;
use wsbench_protocol::steps::Step;

use super::input::{Checker, RawWorkload};
use super::steps::timed_steps;
use super::{ScenarioError, WorkloadKind};

/// A flow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flow {
    /// The steps of one iteration.
    pub steps: Vec<Step>,
    /// Per step, the name a timed expect is measured under.
    pub timers: Vec<Option<String>>,
    /// Iterations per connection (`None`: until the phase ends).
    pub repeat: Option<u64>,
    /// Iteration `k` starts `k · pace` after the first, or as soon as
    /// the one before ends if later (`None`: when the one before ends).
    pub pace: Option<Duration>,
}

impl Flow {
    /// Per step, whether it is a send a timed expect measures (the
    /// latest send before one).
    pub fn timed_sends(&self) -> Vec<bool> {
        let mut timed = vec![false; self.steps.len()];
        let mut last_send = None;
        for (i, step) in self.steps.iter().enumerate() {
            if matches!(step, Step::Send(_)) {
                last_send = Some(i);
            }
            if let (Some(_), Some(s)) = (&self.timers[i], last_send) {
                timed[s] = true;
            }
        }
        timed
    }

    /// The timers' names, each once, in the order of their steps.
    pub fn timer_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for name in self.timers.iter().flatten() {
            if !names.contains(&name.as_str()) {
                names.push(name);
            }
        }
        names
    }
}

/// Longest `pace`.
const MAX_PACE: Duration = Duration::from_secs(3600);

/// The flow of `[workload]`, for kind = "flow" (`None` otherwise; its
/// keys refused in other workloads).
pub(super) fn flow(
    c: &Checker<'_>,
    w: &RawWorkload,
    kind: WorkloadKind,
) -> Result<Option<Flow>, ScenarioError> {
    if kind != WorkloadKind::Flow {
        let stray = w.steps.first().map(Spanned::span).or_else(|| {
            (w.repeat.as_ref().map(Spanned::span)).or(w.pace.as_ref().map(Spanned::span))
        });
        return match stray {
            Some(span) => Err(c.at(
                span,
                format!("the {} workload has no flow", kind.name()),
                Some("steps, repeat and pace belong to kind = \"flow\"; a target's own steps go in [[target.steps]]"),
            )),
            None => Ok(None),
        };
    }
    if w.steps.is_empty() {
        return Err(c.at(
            w.kind.span(),
            "a flow needs its steps",
            Some("[[workload.steps]] send = '…', then expect = { … } with time = \"name\""),
        ));
    }
    let (steps, timers) = timed_steps(c, &w.steps)?;
    if timers.iter().all(Option::is_none) {
        return Err(c.at(
            w.kind.span(),
            "a flow measures its timed expects: it has none",
            Some("give an expect after a send time = \"name\""),
        ));
    }
    let repeat = match &w.repeat {
        Some(r) if *r.get_ref() == 0 => {
            return Err(c.at(
                r.span(),
                "repeat must be at least 1",
                Some("leave repeat out to run until the phase ends"),
            ));
        }
        r => r.as_ref().map(|r| *r.get_ref()),
    };
    let pace = match &w.pace {
        Some(p) => {
            let d = c.duration(p, "pace")?;
            if d.is_zero() || d > MAX_PACE {
                return Err(c.at(
                    p.span(),
                    "pace must be more than 0 and at most an hour",
                    Some("pace = \"5s\": an iteration starts every 5 s"),
                ));
            }
            Some(d)
        }
        None => None,
    };
    Ok(Some(Flow {
        steps,
        timers,
        repeat,
        pace,
    }))
}
