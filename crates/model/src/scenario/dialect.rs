//! The parts of `[target]` that describe another server's dialect:
//! `[target.poll]` (how pollers poll it), `[[target.steps]]`,
//! `[[target.periodic]]` and `[[target.replies]]` (what a WebSocket
//! connection sends and waits for), `[target.publish]` (how the load
//! generator publishes). Every value is checked where it is written.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;
use wsbench_protocol::correlation::Correlation;
use wsbench_protocol::poll::{Batch, Cursor, PollDialect};
use wsbench_protocol::steps::{Periodic, ReplyRule, Script};

use super::ScenarioError;
use super::endpoints::{Publish, Vars, expand_env_keeping};
use super::input::{Checker, RawTarget, RawWorkload};
use super::steps::{RawPattern, RawStep, pattern, send, steps};
use super::{Rpc, WorkloadKind};

/// `[target.poll]`: the polling dialect of a target other than wsbench.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPoll {
    #[serde(default)]
    cursor: Option<Cursor>,
    #[serde(default)]
    param: Option<Spanned<String>>,
    #[serde(default)]
    cursor_at: Option<Spanned<String>>,
    #[serde(default)]
    messages: Option<Spanned<String>>,
    #[serde(default)]
    nothing_new: Option<Spanned<Vec<u16>>>,
}

/// `[target.poll]`, each value checked.
pub(super) fn poll(c: &Checker<'_>, raw: &RawPoll) -> Result<PollDialect, ScenarioError> {
    let mut d = PollDialect::default();
    if let Some(cursor) = &raw.cursor {
        d.cursor = cursor.clone();
    }
    let pointer = |v: &Spanned<String>, what: &str| {
        let p = v.get_ref();
        if p.is_empty() || p.starts_with('/') {
            Ok(p.clone())
        } else {
            Err(c.at(
                v.span(),
                format!("{what}: {p:?} is not a JSON pointer"),
                Some("a JSON pointer starts with / (\"/cursor\", \"/data/items\"), or is \"\" for the whole answer"),
            ))
        }
    };
    for (v, what) in [(&raw.param, "param"), (&raw.cursor_at, "cursor_at")] {
        if let Some(v) = v
            && d.cursor != Cursor::Query
        {
            return Err(c.at(
                v.span(),
                format!("{what} applies to cursor = \"query\" only"),
                None,
            ));
        }
    }
    if let Some(p) = &raw.param {
        if p.get_ref().is_empty()
            || !p
                .get_ref()
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b))
        {
            return Err(c.at(
                p.span(),
                format!("param {:?} is not a query parameter name", p.get_ref()),
                Some("letters, digits, '-', '_', '.', '~'"),
            ));
        }
        d.param.clone_from(p.get_ref());
    }
    if let Some(p) = &raw.cursor_at {
        d.cursor_at = pointer(p, "cursor_at")?;
    }
    if let Some(m) = &raw.messages {
        d.batch = match m.get_ref().as_str() {
            "body" => Batch::Body,
            "lines" => Batch::Lines,
            _ => Batch::Array(pointer(m, "messages").map_err(|mut e| {
                e.hint = Some("\"body\" (one message per answer), \"lines\" (one per line), or the JSON pointer to an array (\"/messages\")".into());
                e
            })?),
        };
    }
    if let Some(n) = &raw.nothing_new {
        if let Some(bad) = n
            .get_ref()
            .iter()
            .find(|s| !(100..=599).contains(*s) || **s == 200)
        {
            return Err(c.at(
                n.span(),
                format!("nothing_new: {bad} cannot mean \"nothing new\""),
                Some("statuses from 100 to 599 other than 200, e.g. [304, 408]"),
            ));
        }
        d.nothing_new.clone_from(n.get_ref());
    }
    Ok(d)
}

/// `[[target.periodic]]`: `every` and `send`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPeriodic {
    every: Spanned<String>,
    send: Spanned<String>,
    #[serde(default)]
    binary: bool,
}

/// `[[target.replies]]`: `when` a message matches, `send`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawReply {
    when: Spanned<RawPattern>,
    send: Spanned<String>,
    #[serde(default)]
    binary: bool,
}

/// `[target.publish]`: the method and body template of a publish.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPublish {
    #[serde(default)]
    method: Option<Spanned<String>>,
    #[serde(default)]
    body: Option<Spanned<String>>,
    #[serde(default)]
    steps: Vec<Spanned<RawStep>>,
}

/// The WebSocket script: steps on open, periodic sends, replies.
pub(super) fn script(c: &Checker<'_>, t: &RawTarget) -> Result<Script, ScenarioError> {
    let mut script = Script {
        on_open: steps(c, &t.steps)?,
        ..Script::default()
    };
    for raw in &t.periodic {
        let r = raw.get_ref();
        let every = c.duration(&r.every, "every")?;
        if every < Duration::from_millis(10) {
            return Err(c.at(r.every.span(), "every must be at least 10ms", None));
        }
        script.periodic.push(Periodic {
            every,
            send: send(c, &r.send, r.binary)?,
        });
    }
    for raw in &t.replies {
        let r = raw.get_ref();
        script.replies.push(ReplyRule {
            when: pattern(c, &r.when)?,
            send: send(c, &r.send, r.binary)?,
        });
    }
    Ok(script)
}

/// The variables a publish body holds besides the connection's: filled
/// per message.
pub const PUBLISH_VARIABLES: [&str; 4] = ["{marker}", "{payload}", "{seq}", "{time}"];

/// The variables an rpc request holds besides the connection's.
pub const RPC_VARIABLES: [&str; 2] = ["{id}", "{payload}"];

/// `[target.publish]`; `websocket`: the publish endpoint is a WebSocket.
pub(super) fn publish(
    c: &Checker<'_>,
    raw: &Spanned<RawPublish>,
    websocket: bool,
    correlation: &Correlation,
) -> Result<Publish, ScenarioError> {
    let r = raw.get_ref();
    let mut p = Publish::default();
    if let (Some(m), true) = (&r.method, websocket) {
        return Err(c.at(
            m.span(),
            "a WebSocket publish endpoint takes messages, not a method",
            Some("remove method, or give an http publish endpoint"),
        ));
    }
    if let (Some(first), false) = (r.steps.first(), websocket) {
        return Err(c.at(
            first.span(),
            "publish steps apply to a WebSocket publish endpoint",
            Some("publish = \"ws://…\" under [target.endpoints] publishes over a WebSocket"),
        ));
    }
    p.steps = steps(c, &r.steps)?;
    if let Some(m) = &r.method {
        p.method = match m.get_ref().to_ascii_uppercase().as_str() {
            "POST" => http::Method::POST,
            "PUT" => http::Method::PUT,
            "PATCH" => http::Method::PATCH,
            other => {
                return Err(c.at(
                    m.span(),
                    format!("method {other:?} cannot publish"),
                    Some("POST, PUT or PATCH"),
                ));
            }
        };
    }
    if let Some(body) = &r.body {
        let text = body.get_ref();
        let json = matches!(correlation, Correlation::Json(_));
        if json && !(text.contains("{seq}") && text.contains("{time}")) {
            return Err(c.at(
                body.span(),
                "the publish body carries no {seq} or no {time}",
                Some("with by = \"json\" subscribers read both at their JSON pointers: put {seq} and {time} in the body"),
            ));
        }
        if !json && !["{marker}", "{payload}"].iter().any(|v| text.contains(v)) {
            return Err(c.at(
                body.span(),
                "the publish body carries no {marker} or {payload}",
                Some("subscribers find each message by its marker: put {marker} (or {payload}, the marker padded to payload_size) in the body"),
            ));
        }
        expand_env_keeping(text, &Vars::default(), &PUBLISH_VARIABLES).map_err(|e| {
            c.at(
                body.span(),
                format!("publish body: {e}"),
                Some("the variables are {marker}, {payload}, {seq}, {time}, {shard}, {rand} and ${ENV_VAR}"),
            )
        })?;
        p.body = Some(text.clone());
    }
    Ok(p)
}

/// How long an echo or rpc request waits for its reply unless the
/// scenario says.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// The request–response workload's request and reply (`None` for other
/// workloads), and how long a reply may take.
pub(super) fn rpc(
    c: &Checker<'_>,
    w: &RawWorkload,
    kind: WorkloadKind,
) -> Result<(Option<Rpc>, Duration), ScenarioError> {
    let timeout = match &w.timeout {
        Some(t) if !matches!(kind, WorkloadKind::Echo | WorkloadKind::Rpc) => {
            return Err(c.at(
                t.span(),
                "timeout applies to the echo and rpc workloads",
                None,
            ));
        }
        Some(t) => {
            let d = c.duration(t, "timeout")?;
            if d.is_zero() {
                return Err(c.at(t.span(), "timeout must be more than 0", None));
            }
            d
        }
        None => REPLY_TIMEOUT,
    };
    if kind != WorkloadKind::Rpc {
        if let Some(v) = w.request.as_ref().or(w.reply_id.as_ref()) {
            return Err(c.at(
                v.span(),
                "request and reply_id apply to kind = \"rpc\"",
                None,
            ));
        }
        return Ok((None, timeout));
    }
    let Some(request) = &w.request else {
        return Err(c.at(
            w.kind.span(),
            "the rpc workload needs a request template",
            Some(r#"request = '{"id":{id},"method":"echo","params":["{payload}"]}' ({id} is the request's number)"#),
        ));
    };
    if !request.get_ref().contains("{id}") {
        return Err(c.at(
            request.span(),
            "the request carries no {id}",
            Some("replies are matched by the request's id: put {id} in the request"),
        ));
    }
    expand_env_keeping(request.get_ref(), &Vars::default(), &RPC_VARIABLES).map_err(|e| {
        c.at(
            request.span(),
            format!("request: {e}"),
            Some("the variables are {id}, {payload}, {conn}, {shard}, {rand} and ${ENV_VAR}"),
        )
    })?;
    let reply_id = match &w.reply_id {
        Some(p) if !(p.get_ref().is_empty() || p.get_ref().starts_with('/')) => {
            return Err(c.at(
                p.span(),
                format!("reply_id: {:?} is not a JSON pointer", p.get_ref()),
                Some("the JSON pointer to the id in a reply, e.g. \"/id\""),
            ));
        }
        Some(p) => p.get_ref().clone(),
        None => "/id".to_owned(),
    };
    Ok((
        Some(Rpc {
            request: request.get_ref().clone(),
            reply_id,
        }),
        timeout,
    ))
}
