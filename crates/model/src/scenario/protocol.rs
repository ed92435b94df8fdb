//! The `[target]` table's rules for what the target speaks: profile,
//! endpoints, headers, and the dialect tables (checked in `dialect.rs`
//! and `correlate.rs`); which endpoints a run needs.

use std::collections::BTreeMap;

use toml::Spanned;
use wsbench_protocol::correlation::Correlation;
use wsbench_protocol::poll::PollDialect;

use super::correlate::correlation;
use super::dialect::{poll, publish, script};
use super::endpoints::{Profile, Publish, Role, TargetProtocol, Vars, expand_env};
use super::input::{Checker, RawTarget, is_loopback};
use super::{ScenarioError, Transport, WorkloadKind};

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
