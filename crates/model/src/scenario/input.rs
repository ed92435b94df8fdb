//! The scenario file as written (every field that can be wrong keeps its
//! place), the checker that turns a place into a file:line:column error,
//! and the `[target]` table's rules.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::ops::Range;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use wsbench_protocol::correlation::Correlation;
use wsbench_protocol::poll::PollDialect;

use super::PayloadKind;
use super::correlate::{RawCorrelation, correlation};
use super::dialect::{RawPeriodic, RawPoll, RawPublish, RawReply, RawStep, poll, publish, script};
use super::endpoints::{Profile, Publish, Role, TargetProtocol, Vars, expand_env};
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
    pub(super) load: RawLoad,
    pub(super) workload: RawWorkload,
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
    fn get(&self, role: Role) -> Option<&Spanned<String>> {
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLoad {
    pub(super) transports: Spanned<Vec<Spanned<Transport>>>,
    pub(super) connections: Spanned<u64>,
    #[serde(default)]
    pub(super) ramp_rate: Option<Spanned<f64>>,
    pub(super) duration: Spanned<String>,
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

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(|ch| ch == '[' || ch == ']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The target's protocol: its profile, endpoints (each checked: its
/// variables, its scheme, a loopback host), headers and subprotocols.
/// Which endpoints the run needs is checked once the transports are known
/// ([`required_endpoints`]).
pub(super) fn protocol(
    c: &Checker<'_>,
    raw: &Spanned<RawTarget>,
) -> Result<TargetProtocol, ScenarioError> {
    let t = raw.get_ref();
    let profile = t
        .profile
        .as_ref()
        .map_or(Profile::Wsbench, |p| *p.get_ref());
    let builtin = t.builtin.as_ref().is_some_and(|b| *b.get_ref());
    if builtin
        && let Some(p) = &t
            .profile
            .as_ref()
            .filter(|p| *p.get_ref() != Profile::Wsbench)
    {
        return Err(c.at(
            p.span(),
            format!(
                "the builtin server speaks the wsbench profile, not {}",
                p.get_ref().name()
            ),
            Some("remove profile, or point url at the server that speaks it"),
        ));
    }
    let endpoints = endpoints(c, t, builtin)?;
    let headers = headers(c, t)?;
    let poll = match &t.poll {
        Some(p) if profile == Profile::Wsbench => {
            return Err(c.at(
                p.span(),
                "the wsbench profile polls in its own dialect (GET ?cursor=N)",
                Some("remove [target.poll], or set the profile of the server it describes"),
            ));
        }
        Some(p) => poll(c, p.get_ref())?,
        None => PollDialect::default(),
    };
    let script = script(c, t)?;
    if builtin && let Some(first) = t.steps.first() {
        return Err(c.at(
            first.span(),
            "the builtin server needs no steps",
            Some("steps describe the protocol of a server given by url"),
        ));
    }
    let ws_publish = endpoints
        .get(&Role::Publish)
        .is_some_and(|u: &String| u.starts_with("ws://") || u.starts_with("wss://"));
    let correlation = match &t.correlation {
        Some(r) if profile == Profile::Wsbench => {
            return Err(c.at(
                r.span(),
                "the wsbench profile's messages carry their own numbers and times",
                Some("remove [target.correlation], or set the profile of the server it describes"),
            ));
        }
        Some(r) => correlation(c, r)?,
        None => Correlation::Marker,
    };
    let publish = match &t.publish {
        Some(p) => publish(c, p, ws_publish, &correlation)?,
        None => Publish::default(),
    };
    if let (Correlation::Json(_), None, Some(r)) = (&correlation, &publish.body, &t.correlation) {
        return Err(c.at(
            r.span(),
            "by = \"json\" needs a publish body carrying {seq} and {time}",
            Some("[target.publish] body = '{\"id\":{seq},\"sent_at\":{time}}'"),
        ));
    }
    Ok(TargetProtocol {
        profile,
        endpoints,
        headers,
        subprotocols: t.subprotocols.clone(),
        permessage_deflate: t.permessage_deflate,
        poll,
        script,
        publish,
        correlation,
    })
}

/// `[target.endpoints]`, each checked.
fn endpoints(
    c: &Checker<'_>,
    t: &RawTarget,
    builtin: bool,
) -> Result<BTreeMap<Role, String>, ScenarioError> {
    let mut endpoints = BTreeMap::new();
    if let Some(raw_endpoints) = &t.endpoints {
        if builtin {
            return Err(c.at(
                raw_endpoints.span(),
                "endpoints describe a running server; the builtin one has its own",
                Some("remove [target.endpoints], or set url instead of builtin"),
            ));
        }
        for role in Role::ALL {
            if let Some(url) = raw_endpoints.get_ref().get(role) {
                endpoint(c, url, role, t.allow_remote)?;
                endpoints.insert(role, url.get_ref().clone());
            }
        }
    }
    Ok(endpoints)
}

/// `[target.headers]`: names and values checked (a value from the
/// environment is read to be checked, and never shown).
fn headers(c: &Checker<'_>, t: &RawTarget) -> Result<Vec<(String, String)>, ScenarioError> {
    let mut headers = Vec::new();
    for (name, value) in &t.headers {
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(c.at(value.span(), format!("{name:?} is not a header name"), None));
        }
        let expanded = expand_env(value.get_ref(), &Vars::default())
            .map_err(|e| c.at(value.span(), format!("header {name}: {e}"), Some(e.hint())))?;
        if http::HeaderValue::from_str(&expanded).is_err() {
            // The value itself is not shown: it may come from the environment.
            return Err(c.at(
                value.span(),
                format!("header {name}: not a header value"),
                None,
            ));
        }
        headers.push((name.clone(), value.get_ref().clone()));
    }
    Ok(headers)
}

/// One endpoint template: its variables expand, its scheme fits its role,
/// its host is loopback unless remote targets are allowed.
fn endpoint(
    c: &Checker<'_>,
    url: &Spanned<String>,
    role: Role,
    allow_remote: bool,
) -> Result<(), ScenarioError> {
    let expanded = expand_env(url.get_ref(), &Vars::default())
        .map_err(|e| c.at(url.span(), format!("endpoint {role}: {e}"), Some(e.hint())))?;
    let parsed: http::Uri = expanded
        .parse()
        .map_err(|_| c.at(url.span(), format!("endpoint {role}: not a URL"), None))?;
    let (want, schemes): (_, &[&str]) = match role {
        Role::Publish => ("http, https, ws or wss", &["http", "https", "ws", "wss"]),
        _ if role.is_websocket() => ("ws or wss", &["ws", "wss"]),
        _ => ("http or https", &["http", "https"]),
    };
    if !parsed.scheme_str().is_some_and(|s| schemes.contains(&s)) {
        return Err(c.at(
            url.span(),
            format!("endpoint {role}: the scheme must be {want}"),
            None,
        ));
    }
    let Some(host) = parsed.host() else {
        return Err(c.at(
            url.span(),
            format!("endpoint {role}: the URL has no host"),
            None,
        ));
    };
    if !is_loopback(host) && !allow_remote {
        return Err(c.at(
            url.span(),
            format!("endpoint {role}: {host} is not a loopback address"),
            Some("load tests stay on 127.0.0.0/8 unless the target sets allow_remote = true"),
        ));
    }
    Ok(())
}

/// The endpoint roles a run of `kind` over `transports` uses.
pub(super) fn roles(kind: WorkloadKind, transports: &[Transport]) -> Vec<Role> {
    if kind != WorkloadKind::Push {
        return vec![Role::Echo];
    }
    let mut roles: Vec<Role> = transports
        .iter()
        .map(|t| match t {
            Transport::Websocket => Role::Websocket,
            Transport::LongPoll => Role::LongPoll,
            Transport::ShortPoll => Role::ShortPoll,
            Transport::Sse => Role::Sse,
        })
        .collect();
    roles.push(Role::Publish);
    roles
}

/// A profile other than wsbench has no default paths: every role the run
/// uses needs its endpoint.
pub(super) fn required_endpoints(
    c: &Checker<'_>,
    raw: &Spanned<RawTarget>,
    protocol: &TargetProtocol,
    roles: &[Role],
) -> Result<(), ScenarioError> {
    if protocol.profile == Profile::Wsbench {
        return Ok(());
    }
    match roles.iter().find(|r| protocol.endpoint(**r).is_none()) {
        None => Ok(()),
        Some(role) => Err(c.at(
            raw.span(),
            format!(
                "profile {} has no default {role} endpoint",
                protocol.profile.name()
            ),
            Some(&format!(
                "add {} = \"{}://…\" under [target.endpoints]",
                role.key(),
                if role.is_websocket() { "ws" } else { "http" }
            )),
        )),
    }
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

pub(super) fn check_url_scheme(
    c: &Checker<'_>,
    url: &Spanned<String>,
    transports: &[Transport],
) -> Result<(), ScenarioError> {
    // Any of the four schemes names the origin; the path must be empty.
    let path = url
        .get_ref()
        .split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
        .unwrap_or("");
    if !(path.is_empty() || path == "/") {
        return Err(c.at(
            url.span(),
            format!("the url names the server only; {path:?} is a path"),
            Some(&format!(
                "the wsbench profile uses /echo, /push, /poll and /events under it \
                 (transports: {}); give other paths as full URLs under [target.endpoints]",
                transports
                    .iter()
                    .map(|t| t.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        ));
    }
    Ok(())
}
