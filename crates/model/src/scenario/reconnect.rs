//! `[load] reconnect`: what a connection does when it ends while the
//! phase still runs (the target closed it, reset it, or went away):
//! without it, it stays closed; with it, it opens again after a backoff
//! that doubles from `backoff` up to `max_backoff`, each wait shortened by
//! a random share of up to `jitter`, until it is back or `attempts`
//! attempts in a row failed.
//!
//! ```toml
//! [load]
//! reconnect = { attempts = 10, backoff = "100ms", max_backoff = "5s", jitter = 0.5 }
//! ```

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::ScenarioError;
use super::input::Checker;

/// A reconnect policy.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reconnect {
    /// Failed attempts in a row before the connection gives up.
    pub attempts: u32,
    /// The first wait.
    pub backoff: Duration,
    /// The longest wait.
    pub max_backoff: Duration,
    /// Each wait is shortened by a random share of up to this (0 … 1).
    pub jitter: f64,
}

impl Reconnect {
    /// The wait before attempt `attempt` (from 0), with `u` (0 … 1) the
    /// random draw.
    pub fn delay(&self, attempt: u32, u: f64) -> Duration {
        let doubled = self
            .backoff
            .saturating_mul(1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX));
        doubled
            .min(self.max_backoff)
            .mul_f64(1.0 - self.jitter * u.clamp(0.0, 1.0))
    }
}

/// The table as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawReconnect {
    #[serde(default)]
    attempts: Option<Spanned<u32>>,
    #[serde(default)]
    backoff: Option<Spanned<String>>,
    #[serde(default)]
    max_backoff: Option<Spanned<String>>,
    #[serde(default)]
    jitter: Option<Spanned<f64>>,
}

/// The policy, each value checked where it is written.
pub(super) fn reconnect(
    c: &Checker<'_>,
    raw: Option<&Spanned<RawReconnect>>,
) -> Result<Option<Reconnect>, ScenarioError> {
    let Some(raw) = raw else { return Ok(None) };
    let r = raw.get_ref();
    let attempts = r.attempts.as_ref().map_or(10, |a| *a.get_ref());
    if attempts == 0 {
        let span = r.attempts.as_ref().map_or(raw.span(), Spanned::span);
        return Err(c.at(
            span,
            "attempts must be at least 1",
            Some("remove [load] reconnect for connections that stay closed"),
        ));
    }
    let duration = |v: &Option<Spanned<String>>, what: &str, default: Duration| match v {
        Some(v) => c.duration(v, what),
        None => Ok(default),
    };
    let backoff = duration(&r.backoff, "backoff", Duration::from_millis(100))?;
    let max_backoff = duration(&r.max_backoff, "max_backoff", Duration::from_secs(5))?;
    if backoff.is_zero() || max_backoff < backoff {
        let span = r
            .backoff
            .as_ref()
            .or(r.max_backoff.as_ref())
            .map_or(raw.span(), Spanned::span);
        return Err(c.at(
            span,
            "backoff must be more than 0 and at most max_backoff",
            Some("e.g. backoff = \"100ms\", max_backoff = \"5s\""),
        ));
    }
    let jitter = r.jitter.as_ref().map_or(0.5, |j| *j.get_ref());
    if !(0.0..=1.0).contains(&jitter) {
        let span = r.jitter.as_ref().map_or(raw.span(), Spanned::span);
        return Err(c.at(
            span,
            format!("jitter = {jitter} is out of range"),
            Some("the share of a wait that may be cut at random, 0 to 1"),
        ));
    }
    Ok(Some(Reconnect {
        attempts,
        backoff,
        max_backoff,
        jitter,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Scenario;

    fn parse(reconnect: &str) -> Result<Scenario, ScenarioError> {
        let text = format!(
            "schema_version = 1\nname = \"x\"\n[target]\nbuiltin = true\n[load]\n\
             transports = [\"websocket\"]\nconnections = 2\nduration = \"1s\"\n{reconnect}\n\
             [workload]\nkind = \"push\"\nrate = 5\n"
        );
        Scenario::parse("s.toml", &text)
    }

    #[test]
    fn the_policy_doubles_its_wait_up_to_the_cap_less_the_jitter() {
        let s = parse("reconnect = { attempts = 4, backoff = \"100ms\", max_backoff = \"1s\" }")
            .unwrap();
        let r = s.reconnect.unwrap();
        assert_eq!((r.attempts, r.jitter), (4, 0.5));
        assert_eq!(r.delay(0, 0.0), Duration::from_millis(100));
        assert_eq!(r.delay(2, 0.0), Duration::from_millis(400));
        assert_eq!(r.delay(9, 0.0), Duration::from_secs(1), "capped");
        assert_eq!(r.delay(1, 1.0), Duration::from_millis(100), "half cut");
        assert_eq!(r.delay(40, 0.5), Duration::from_millis(750));
        assert!(parse("").unwrap().reconnect.is_none());
        let d = parse("reconnect = {}").unwrap().reconnect.unwrap();
        assert_eq!(d.attempts, 10);
    }

    #[test]
    fn a_bad_policy_is_refused_where_it_is_written() {
        for (reconnect, col, says) in [
            ("reconnect = { attempts = 0 }", 26, "at least 1"),
            (
                "reconnect = { backoff = \"2s\", max_backoff = \"1s\" }",
                25,
                "at most max_backoff",
            ),
            ("reconnect = { jitter = 1.5 }", 24, "out of range"),
            ("reconnect = { tries = 3 }", 15, "unknown field"),
        ] {
            let e = parse(reconnect).unwrap_err();
            assert!(e.message.contains(says), "{reconnect}: {e}");
            assert_eq!((e.line, e.column), (9, col), "{reconnect}: {e}");
        }
    }
}
