//! The scenario file as written (every field that can be wrong keeps its
//! place), the checker that turns a place into a file:line:column error,
//! and the `[target]` table's rules for where the target is (its
//! protocol is checked in `protocol.rs`).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::ops::Range;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::PayloadKind;
use super::correlate::RawCorrelation;
use super::dialect::{RawPeriodic, RawPoll, RawPublish, RawReply};
use super::endpoints::{Profile, Role};
use super::reconnect::RawReconnect;
use super::stages::RawStage;
use super::steps::RawStep;
use super::{ScenarioError, Target, Transport, WorkloadKind, line_col};

/// The file as written (every field that can be wrong keeps its place).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScenario {
    pub(super) schema_version: Spanned<u32>,
    pub(super) name: Spanned<String>,
    #[serde(default)]
    pub(super) description: String,
    #[serde(default)]
    pub(super) thresholds: Vec<Spanned<String>>,
    pub(super) target: Spanned<RawTarget>,
    pub(super) load: Spanned<RawLoad>,
    #[serde(default)]
    pub(super) workload: Option<RawWorkload>,
    #[serde(default)]
    pub(super) group: Vec<Spanned<RawGroup>>,
}

/// A `[[group]]` table: a share of a mixed population.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGroup {
    pub(super) name: Spanned<String>,
    pub(super) transport: Spanned<Transport>,
    #[serde(default)]
    pub(super) connections: Option<Spanned<u64>>,
    #[serde(default)]
    pub(super) weight: Option<Spanned<f64>>,
    #[serde(default)]
    pub(super) ramp_rate: Option<Spanned<f64>>,
    #[serde(default)]
    pub(super) stages: Option<Spanned<Vec<Spanned<RawStage>>>>,
    pub(super) workload: Spanned<RawWorkload>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::scenario) struct RawTarget {
    #[serde(default)]
    pub(super) builtin: Option<Spanned<bool>>,
    #[serde(default)]
    pub(super) url: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) workers: Option<Spanned<u16>>,
    #[serde(default)]
    pub(super) insecure_tls: bool,
    #[serde(default)]
    pub(super) allow_remote: bool,
    /// Gone: push messages are always timed on the publisher's clock.
    #[serde(default)]
    pub(super) push_clock: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) profile: Option<Spanned<Profile>>,
    #[serde(default)]
    pub(super) endpoints: Option<Spanned<RawEndpoints>>,
    #[serde(default)]
    pub(super) headers: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    pub(super) subprotocols: Vec<String>,
    #[serde(default)]
    pub(super) permessage_deflate: bool,
    #[serde(default)]
    pub(super) poll: Option<Spanned<RawPoll>>,
    #[serde(default)]
    pub(super) steps: Vec<Spanned<RawStep>>,
    #[serde(default)]
    pub(super) periodic: Vec<Spanned<RawPeriodic>>,
    #[serde(default)]
    pub(super) replies: Vec<Spanned<RawReply>>,
    #[serde(default)]
    pub(super) publish: Option<Spanned<RawPublish>>,
    #[serde(default)]
    pub(super) correlation: Option<Spanned<RawCorrelation>>,
}

/// `[target.endpoints]`: a full URL template per role.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawEndpoints {
    websocket: Option<Spanned<String>>,
    long_poll: Option<Spanned<String>>,
    short_poll: Option<Spanned<String>>,
    sse: Option<Spanned<String>>,
    echo: Option<Spanned<String>>,
    publish: Option<Spanned<String>>,
}

impl RawEndpoints {
    pub(super) fn get(&self, role: Role) -> Option<&Spanned<String>> {
        match role {
            Role::Websocket => self.websocket.as_ref(),
            Role::LongPoll => self.long_poll.as_ref(),
            Role::ShortPoll => self.short_poll.as_ref(),
            Role::Sse => self.sse.as_ref(),
            Role::Echo => self.echo.as_ref(),
            Role::Publish => self.publish.as_ref(),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLoad {
    #[serde(default)]
    pub(super) transports: Option<Spanned<Vec<Spanned<Transport>>>>,
    #[serde(default)]
    pub(super) connections: Option<Spanned<u64>>,
    #[serde(default)]
    pub(super) ramp_rate: Option<Spanned<f64>>,
    #[serde(default)]
    pub(super) duration: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) stages: Option<Spanned<Vec<Spanned<RawStage>>>>,
    #[serde(default)]
    pub(super) reconnect: Option<Spanned<RawReconnect>>,
    #[serde(default)]
    pub(super) warmup: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) source_addresses: Option<Spanned<u8>>,
    #[serde(default)]
    pub(super) short_poll_interval: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) workers: Option<Spanned<u16>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWorkload {
    pub(super) kind: Spanned<WorkloadKind>,
    #[serde(default)]
    pub(super) rate: Option<Spanned<f64>>,
    #[serde(default)]
    pub(super) payload_size: Option<Spanned<u64>>,
    #[serde(default)]
    pub(super) payload: Option<PayloadKind>,
    #[serde(default)]
    pub(super) in_flight: Option<Spanned<u32>>,
    #[serde(default)]
    pub(super) request: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) reply_id: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) timeout: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) steps: Vec<Spanned<RawStep>>,
    #[serde(default)]
    pub(super) repeat: Option<Spanned<u64>>,
    #[serde(default)]
    pub(super) pace: Option<Spanned<String>>,
}

pub(super) struct Checker<'a> {
    pub(super) file: &'a str,
    pub(super) text: &'a str,
}

impl Checker<'_> {
    pub(super) fn at(
        &self,
        span: Range<usize>,
        message: impl Into<String>,
        hint: Option<&str>,
    ) -> ScenarioError {
        let (line, column) = line_col(self.text, span.start);
        ScenarioError {
            file: self.file.to_owned(),
            line,
            column,
            message: message.into(),
            hint: hint.map(str::to_owned),
        }
    }

    pub(super) fn duration(
        &self,
        value: &Spanned<String>,
        what: &str,
    ) -> Result<Duration, ScenarioError> {
        humantime::parse_duration(value.get_ref()).map_err(|e| {
            self.at(
                value.span(),
                format!("{what}: {:?} is not a duration ({e})", value.get_ref()),
                Some("write a number and a unit, e.g. \"10s\", \"250ms\", \"2m\""),
            )
        })
    }
}

pub(super) fn target(c: &Checker<'_>, raw: &Spanned<RawTarget>) -> Result<Target, ScenarioError> {
    let t = raw.get_ref();
    let builtin = t.builtin.as_ref().is_some_and(|b| *b.get_ref());
    match (builtin, &t.url) {
        (true, Some(url)) => Err(c.at(
            url.span(),
            "a target is either builtin or a url, not both",
            Some("remove `url`, or set builtin = false"),
        )),
        (false, None) => Err(c.at(
            raw.span(),
            "no target",
            Some("set builtin = true (wsbench starts its own server) or url = \"ws://127.0.0.1:9001\""),
        )),
        (true, None) => {
            push_clock(c, t)?;
            let workers = t.workers.as_ref().map_or(0, |w| *w.get_ref());
            if workers > 64 {
                let span = t.workers.as_ref().map(Spanned::span).unwrap_or_default();
                return Err(c.at(span, "workers must be between 1 and 64", None));
            }
            Ok(Target::Builtin { workers })
        }
        (false, Some(url)) => {
            if let Some(w) = &t.workers {
                return Err(c.at(w.span(), "workers applies to the builtin server only", None));
            }
            let parsed: http::Uri = url.get_ref().parse().map_err(|_| {
                c.at(url.span(), format!("{:?} is not a URL", url.get_ref()), None)
            })?;
            let tls = match parsed.scheme_str() {
                Some("ws" | "http") => false,
                Some("wss" | "https") => true,
                _ => {
                    return Err(c.at(
                        url.span(),
                        format!("{:?}: the scheme must be ws, wss, http or https", url.get_ref()),
                        None,
                    ));
                }
            };
            let Some(host) = parsed.host() else {
                return Err(c.at(url.span(), "the URL has no host", None));
            };
            if !is_loopback(host) && !t.allow_remote {
                return Err(c.at(
                    url.span(),
                    format!("{host} is not a loopback address"),
                    Some("load tests stay on 127.0.0.0/8 unless the target sets allow_remote = true"),
                ));
            }
            push_clock(c, t)?;
            let port = parsed.port_u16().unwrap_or(if tls { 443 } else { 80 });
            Ok(Target::Url {
                authority: format!("{host}:{port}"),
                tls,
                insecure_tls: t.insecure_tls,
            })
        }
    }
}

pub(super) fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(|ch| ch == '[' || ch == ']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `push_clock` is accepted as `"publisher"` (what every run now does)
/// and refused otherwise, with the reason.
fn push_clock(c: &Checker<'_>, t: &RawTarget) -> Result<(), ScenarioError> {
    match &t.push_clock {
        Some(pc) if pc.get_ref() != "publisher" => Err(c.at(
            pc.span(),
            format!("push_clock = {:?} is not supported", pc.get_ref()),
            Some(
                "wsbench publishes every push message itself and times it on its own clock; \
                 remove push_clock (see docs/load.md)",
            ),
        )),
        _ => Ok(()),
    }
}
