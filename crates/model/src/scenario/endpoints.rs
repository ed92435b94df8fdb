//! What a scenario says about its target's protocol: the profile (the
//! dialect it speaks), the endpoint of each role as a full URL template,
//! and the headers and subprotocols every connection sends.
//!
//! ```toml
//! [target]
//! url = "http://127.0.0.1:8080"
//! profile = "nchan"
//!
//! [target.endpoints]
//! websocket = "ws://127.0.0.1:8080/sub/bench"
//! publish = "http://127.0.0.1:8080/pub/bench"
//!
//! [target.headers]
//! Authorization = "Bearer ${TOKEN}"
//! ```
//!
//! Templates may hold `{conn}` (the connection's index), `{shard}` (the
//! load generator process), `{rand}` (a random number per connection) and
//! `${NAME}` (an environment variable, read when the run starts; its value
//! never appears in results, which keep the template). A `{` not followed
//! by a name and `}` is text, so JSON bodies need no escaping.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use wsbench_protocol::correlation::Correlation;
use wsbench_protocol::poll::PollDialect;
use wsbench_protocol::steps::{Script, Step};

/// The dialect a target speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    /// `wsbench serve`'s: `/push`, `/poll?cursor=`, `/events`, `/echo`,
    /// `POST /publish`, messages shaped `{"seq","ts","payload"}`.
    #[default]
    Wsbench,
    /// The nginx Nchan module: subscribers and the publisher at the
    /// scenario's endpoints, messages relayed verbatim (found by their
    /// marker), long-polled with its `etag` cursor.
    Nchan,
    /// Any other server: every endpoint given, messages found by their
    /// marker, the rest described under `[target]`.
    Custom,
}

impl Profile {
    /// The name a scenario uses.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Wsbench => "wsbench",
            Profile::Nchan => "nchan",
            Profile::Custom => "custom",
        }
    }

    /// Whether pushed messages arrive in the wsbench push format
    /// (`{"seq","ts","payload"}`); otherwise a subscriber searches each
    /// message as it arrives for the publisher's marker.
    pub fn wraps_messages(self) -> bool {
        self == Profile::Wsbench
    }
}

/// What an endpoint is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// WebSocket push subscribers.
    Websocket,
    /// HTTP long-poll subscribers.
    LongPoll,
    /// HTTP short-poll subscribers.
    ShortPoll,
    /// Server-Sent Events subscribers.
    Sse,
    /// The WebSocket echo (echo, throughput and connect workloads).
    Echo,
    /// Where the load generator publishes.
    Publish,
}

impl Role {
    /// Every role, in the order a scenario lists them.
    pub const ALL: [Role; 6] = [
        Role::Websocket,
        Role::LongPoll,
        Role::ShortPoll,
        Role::Sse,
        Role::Echo,
        Role::Publish,
    ];

    /// The key under `[target.endpoints]`.
    pub fn key(self) -> &'static str {
        match self {
            Role::Websocket => "websocket",
            Role::LongPoll => "long-poll",
            Role::ShortPoll => "short-poll",
            Role::Sse => "sse",
            Role::Echo => "echo",
            Role::Publish => "publish",
        }
    }

    /// Whether its URL is a WebSocket one (`ws`/`wss`), else HTTP (the
    /// publish endpoint may be either).
    pub fn is_websocket(self) -> bool {
        matches!(self, Role::Websocket | Role::Echo)
    }

    /// The path the wsbench profile uses under the target's URL.
    pub fn wsbench_path(self) -> &'static str {
        match self {
            Role::Websocket => "/push",
            Role::LongPoll | Role::ShortPoll => "/poll",
            Role::Sse => "/events",
            Role::Echo => "/echo",
            Role::Publish => "/publish",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// The target's protocol, as the scenario describes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TargetProtocol {
    /// The dialect.
    pub profile: Profile,
    /// Endpoint URL templates the scenario gives; the others follow the
    /// profile under the target's URL.
    pub endpoints: BTreeMap<Role, String>,
    /// Request headers (name, value template), sent on every connection
    /// and every publish.
    pub headers: Vec<(String, String)>,
    /// WebSocket subprotocols offered, in order of preference.
    pub subprotocols: Vec<String>,
    /// Whether WebSocket connections offer permessage-deflate (RFC 7692).
    pub permessage_deflate: bool,
    /// How long-poll and short-poll subscribers poll a target of another
    /// profile than wsbench (`[target.poll]`).
    pub poll: PollDialect,
    /// What every WebSocket connection sends and waits for beyond the
    /// stream (`[[target.steps]]`, `[[target.periodic]]`,
    /// `[[target.replies]]`).
    pub script: Script,
    /// How the load generator publishes (`[target.publish]`).
    pub publish: Publish,
    /// How subscribers find published messages (`[target.correlation]`).
    pub correlation: Correlation,
}

/// How the load generator publishes: the method, and the body template
/// (`None`: the payload itself). A body holds `{marker}` (the marker
/// alone) or `{payload}` (the marker padded to `payload_size`). Over a
/// WebSocket publish endpoint, the body is the message and the steps run
/// on the publisher connection before it publishes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Publish {
    /// POST, PUT or PATCH (HTTP).
    pub method: http::Method,
    /// The body template.
    pub body: Option<String>,
    /// Steps on the publisher connection (WebSocket).
    pub steps: Vec<Step>,
}

impl Default for Publish {
    fn default() -> Publish {
        Publish {
            method: http::Method::POST,
            body: None,
            steps: Vec::new(),
        }
    }
}

impl TargetProtocol {
    /// The endpoint template the scenario gives for `role`, if any.
    pub fn endpoint(&self, role: Role) -> Option<&str> {
        self.endpoints.get(&role).map(String::as_str)
    }
}

/// The values a template's variables take for one connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Vars {
    /// `{conn}`: the connection's index in its phase.
    pub conn: u64,
    /// `{shard}`: the load generator process.
    pub shard: u32,
    /// `{rand}`: a random number, one per connection.
    pub rand: u64,
    /// `{last_seen}`: the target's id of the last message the
    /// connection received before it reopens (`None`, expanded as
    /// nothing: a first open, or none received).
    pub last_seen: Option<u64>,
}

/// A template that cannot be expanded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `{name}` is not a variable.
    #[error("{{{0}}} is not a template variable")]
    UnknownVariable(String),
    /// `${NAME}` is not set in the environment.
    #[error("environment variable {0} is not set")]
    Unset(String),
    /// A `{` or `${` without its `}`.
    #[error("unclosed {{ in the template")]
    Unclosed,
}

impl TemplateError {
    /// How to fix it.
    pub fn hint(&self) -> &'static str {
        match self {
            TemplateError::UnknownVariable(_) => {
                "the variables are {conn}, {shard}, {rand}, {last_seen}, ${ENV_VAR} and those captured by earlier steps"
            }
            TemplateError::Unset(_) => "export it before the run, or write the value itself",
            TemplateError::Unclosed => "close it with }",
        }
    }
}

/// The names of a connection's own variables (`{conn}`, …): no step
/// may capture into them.
pub const RESERVED_VARIABLES: [&str; 4] = ["conn", "shard", "rand", "last_seen"];

/// Expands `template` with `vars` and environment variables read through
/// `env`.
pub fn expand(
    template: &str,
    vars: &Vars,
    env: impl Fn(&str) -> Option<String>,
) -> Result<String, TemplateError> {
    expand_with(template, vars, &[], env)
}

/// Expands `template` with `vars`, the variables earlier steps captured
/// (`(name, value)`, the latest last) and environment variables read
/// through `env`.
pub fn expand_with(
    template: &str,
    vars: &Vars,
    captured: &[(String, String)],
    env: impl Fn(&str) -> Option<String>,
) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(i) = rest.find(['{', '$']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(name) = tail.strip_prefix("${") {
            let end = name.find('}').ok_or(TemplateError::Unclosed)?;
            let value =
                env(&name[..end]).ok_or_else(|| TemplateError::Unset(name[..end].into()))?;
            out.push_str(&value);
            rest = &name[end + 1..];
        } else if let Some(name) = tail.strip_prefix('{')
            && name.starts_with(|ch: char| ch.is_ascii_alphabetic() || ch == '_')
        {
            let is_name = |ch: char| ch.is_ascii_alphanumeric() || ch == '_';
            let end = name.find(|ch: char| !is_name(ch)).unwrap_or(name.len());
            if !name[end..].starts_with('}') {
                // `{conn` without its `}`: a variable left open.
                if end == name.len() {
                    return Err(TemplateError::Unclosed);
                }
                out.push('{');
                rest = name;
                continue;
            }
            match &name[..end] {
                "conn" => out.push_str(&vars.conn.to_string()),
                "shard" => out.push_str(&vars.shard.to_string()),
                "rand" => out.push_str(&vars.rand.to_string()),
                "last_seen" => {
                    if let Some(id) = vars.last_seen {
                        out.push_str(&id.to_string());
                    }
                }
                other => match captured.iter().rev().find(|(n, _)| n == other) {
                    Some((_, value)) => out.push_str(value),
                    None => return Err(TemplateError::UnknownVariable(other.to_owned())),
                },
            }
            rest = &name[end + 1..];
        } else {
            // A `$` not followed by `{`, a `{` not followed by a name (JSON's
            // braces) are themselves.
            out.push_str(&tail[..1]);
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Expands with the process's environment.
pub fn expand_env(template: &str, vars: &Vars) -> Result<String, TemplateError> {
    expand_env_with(template, vars, &[])
}

/// Expands with captured variables and the process's environment.
pub fn expand_env_with(
    template: &str,
    vars: &Vars,
    captured: &[(String, String)],
) -> Result<String, TemplateError> {
    expand_with(template, vars, captured, |name| std::env::var(name).ok())
}

/// Expands with the process's environment, leaving the variables in
/// `keep` (e.g. `{marker}`, `{id}`: filled per message) as they are.
pub fn expand_env_keeping(
    template: &str,
    vars: &Vars,
    keep: &[&str],
) -> Result<String, TemplateError> {
    // Each kept variable stands in as a control character pair no
    // template holds, so expansion passes it by.
    let hide = |i: usize| format!("\u{1}{i}\u{1}");
    let hidden = keep
        .iter()
        .enumerate()
        .fold(template.to_owned(), |t, (i, v)| t.replace(v, &hide(i)));
    let expanded = expand_env(&hidden, vars)?;
    Ok(keep
        .iter()
        .enumerate()
        .fold(expanded, |t, (i, v)| t.replace(&hide(i), v)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "TOKEN").then(|| "s3cret".to_owned())
    }

    #[test]
    fn templates_expand_variables_and_the_environment() {
        let vars = Vars {
            conn: 42,
            shard: 3,
            rand: 7,
            last_seen: None,
        };
        let got = expand(
            "ws://h/sub/{conn}?s={shard}&r={rand}&t=${TOKEN}$x",
            &vars,
            env,
        );
        assert_eq!(got.unwrap(), "ws://h/sub/42?s=3&r=7&t=s3cret$x");
        assert_eq!(expand("plain", &vars, env).unwrap(), "plain");
        // The last message seen: nothing on a first open.
        assert_eq!(expand("a{last_seen}b", &vars, env).unwrap(), "ab");
        let back = Vars {
            last_seen: Some(99),
            ..vars
        };
        assert_eq!(
            expand("?after={last_seen}", &back, env).unwrap(),
            "?after=99"
        );
        let captured = [("session".to_owned(), "s-1".to_owned())];
        assert_eq!(
            expand_with("{session}/{conn}", &vars, &captured, env).unwrap(),
            "s-1/42"
        );
        assert_eq!(
            expand("{nope}", &vars, env),
            Err(TemplateError::UnknownVariable("nope".into()))
        );
        assert_eq!(
            expand("Bearer ${MISSING}", &vars, env),
            Err(TemplateError::Unset("MISSING".into()))
        );
        assert_eq!(expand("a{conn", &vars, env), Err(TemplateError::Unclosed));
        // JSON's braces are text; only {name} is a variable.
        assert_eq!(
            expand(r#"{"op":"sub","c":{conn},"x":{ "y":1}}"#, &vars, env).unwrap(),
            r#"{"op":"sub","c":42,"x":{ "y":1}}"#
        );
        assert_eq!(expand("{a b}", &vars, env).unwrap(), "{a b}");
        let kept = expand_env_keeping(
            "{\"id\":{id},\"c\":{conn},\"m\":\"{marker}\"}",
            &vars,
            &["{id}", "{marker}"],
        );
        assert_eq!(kept.unwrap(), "{\"id\":{id},\"c\":42,\"m\":\"{marker}\"}");
        assert!(expand_env_keeping("{id}{nope}", &vars, &["{id}"]).is_err());
        assert_eq!(expand("a${X", &vars, env), Err(TemplateError::Unclosed));
    }
}
