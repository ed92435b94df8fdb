//! `[[target.steps]]` (and `[[target.publish.steps]]`): what a WebSocket
//! connection does when it opens, in order. A step sends a message
//! (`send`), waits for one (`expect`, at most `timeout`; with `capture`,
//! a value of the message it matched goes into a variable that later
//! templates use as `{name}`), or waits (`sleep`: a duration, or one
//! drawn from `{ uniform = [lo, hi] }`, `{ exponential = mean }` or
//! `{ normal = [mean, stddev] }`); a flow's step may also close the
//! connection (`close = { code, reason }`). Message patterns and templates
//! to send are read here for the rest of the dialect too.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;
use wsbench_protocol::steps::{Capture, Pattern, Send, Step, Think};

use super::ScenarioError;
use super::endpoints::{RESERVED_VARIABLES, Vars, expand_env_with};
use super::input::Checker;

/// A message pattern as written: `{ pointer, equals }`, `{ contains }` or
/// `{ regex }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPattern {
    #[serde(default)]
    pointer: Option<String>,
    #[serde(default)]
    equals: Option<toml::Value>,
    #[serde(default)]
    contains: Option<String>,
    #[serde(default)]
    regex: Option<String>,
}

/// `[[target.steps]]`: `send` (with `binary`), `expect` (with `timeout`
/// and `capture`) or `sleep`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStep {
    #[serde(default)]
    send: Option<Spanned<String>>,
    #[serde(default)]
    binary: bool,
    #[serde(default)]
    expect: Option<Spanned<RawPattern>>,
    #[serde(default)]
    timeout: Option<Spanned<String>>,
    #[serde(default)]
    capture: Option<Spanned<RawCapture>>,
    #[serde(default)]
    sleep: Option<Spanned<toml::Value>>,
    /// A flow's expect: the name it is timed under.
    #[serde(default)]
    time: Option<Spanned<String>>,
    /// A flow's close: `close = { code = 1000, reason = "bye" }`.
    #[serde(default)]
    close: Option<Spanned<RawClose>>,
}

/// `close = { code, reason }` (both optional: 1000, "flow").
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawClose {
    #[serde(default)]
    code: Option<u16>,
    #[serde(default)]
    reason: Option<String>,
}

/// `capture = { pointer = "/session", as = "session" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCapture {
    pointer: String,
    #[serde(rename = "as")]
    name: String,
}

/// How long an `expect` waits unless it says.
const EXPECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest a `sleep` may wait (or, drawn, wait on average).
const MAX_SLEEP: Duration = Duration::from_secs(3600);

/// A template to send: its variables must expand.
pub(super) fn send(
    c: &Checker<'_>,
    template: &Spanned<String>,
    binary: bool,
) -> Result<Send, ScenarioError> {
    send_with(c, template, binary, &[])
}

/// A template to send, which may use the variables `captured` before it.
fn send_with(
    c: &Checker<'_>,
    template: &Spanned<String>,
    binary: bool,
    captured: &[(String, String)],
) -> Result<Send, ScenarioError> {
    expand_env_with(template.get_ref(), &Vars::default(), captured)
        .map_err(|e| c.at(template.span(), format!("send: {e}"), Some(e.hint())))?;
    Ok(Send {
        template: template.get_ref().clone(),
        binary,
    })
}

pub(super) fn pattern(
    c: &Checker<'_>,
    raw: &Spanned<RawPattern>,
) -> Result<Pattern, ScenarioError> {
    let p = raw.get_ref();
    let forms = "one of { pointer = \"/type\", equals = \"subscribed\" }, { contains = \"…\" } or { regex = \"…\" }";
    match (&p.pointer, &p.equals, &p.contains, &p.regex) {
        (Some(pointer), Some(value), None, None) => {
            if !(pointer.is_empty() || pointer.starts_with('/')) {
                return Err(c.at(
                    raw.span(),
                    format!("{pointer:?} is not a JSON pointer"),
                    Some("a JSON pointer starts with /, e.g. \"/type\""),
                ));
            }
            let value = serde_json::to_value(value)
                .map_err(|e| c.at(raw.span(), format!("equals: {e}"), None))?;
            Ok(Pattern::Equals {
                pointer: pointer.clone(),
                value,
            })
        }
        (None, None, Some(text), None) if !text.is_empty() => Ok(Pattern::Contains(text.clone())),
        (None, None, None, Some(re)) => regex::Regex::new(re).map(Pattern::Regex).map_err(|e| {
            c.at(
                raw.span(),
                format!(
                    "regex {re:?}: {}",
                    e.to_string().lines().last().unwrap_or("invalid")
                ),
                Some("the syntax of the regex crate (docs.rs/regex)"),
            )
        }),
        _ => Err(c.at(
            raw.span(),
            "a message pattern needs exactly one form",
            Some(forms),
        )),
    }
}

/// Steps, in order: each sends, expects (and captures) or sleeps.
pub(super) fn steps(
    c: &Checker<'_>,
    raws: &[Spanned<RawStep>],
) -> Result<Vec<Step>, ScenarioError> {
    if let Some(t) = raws.iter().find_map(|r| r.get_ref().time.as_ref()) {
        return Err(c.at(
            t.span(),
            "time applies to an expect step of a flow",
            Some("[[workload.steps]] of kind = \"flow\" time their expects"),
        ));
    }
    if let Some(k) = raws.iter().find_map(|r| r.get_ref().close.as_ref()) {
        return Err(c.at(
            k.span(),
            "close ends a flow's connection",
            Some("[[workload.steps]] of kind = \"flow\" may close; a target's steps may not"),
        ));
    }
    Ok(timed_steps(c, raws)?.0)
}

/// A flow's steps, and per step the name a timed expect is measured
/// under: it times the latest send before it.
pub(super) fn timed_steps(
    c: &Checker<'_>,
    raws: &[Spanned<RawStep>],
) -> Result<(Vec<Step>, Vec<Option<String>>), ScenarioError> {
    let mut timers = Vec::new();
    for (i, raw) in raws.iter().enumerate() {
        let r = raw.get_ref();
        let Some(t) = &r.time else {
            timers.push(None);
            continue;
        };
        let name = t.get_ref();
        let word = !name.is_empty()
            && name
                .chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_');
        if r.expect.is_none() {
            return Err(c.at(t.span(), "time applies to an expect step", None));
        }
        if !word {
            return Err(c.at(
                t.span(),
                format!("{name:?} cannot name a timer"),
                Some("lowercase letters, digits and _, e.g. time = \"say\""),
            ));
        }
        let Some(send) = raws[..i].iter().rposition(|p| p.get_ref().send.is_some()) else {
            return Err(c.at(
                t.span(),
                "a timed expect needs a send before it",
                Some("it is timed from the latest send before it"),
            ));
        };
        if timers[send + 1..].iter().any(Option::is_some) {
            return Err(c.at(
                t.span(),
                "the send before this expect is timed already",
                Some("one timer per send: time the first answer, or send again before this one"),
            ));
        }
        timers.push(Some(name.clone()));
    }
    Ok((untimed(c, raws)?, timers))
}

fn untimed(c: &Checker<'_>, raws: &[Spanned<RawStep>]) -> Result<Vec<Step>, ScenarioError> {
    let mut out = Vec::new();
    // The variables captured so far (with a stand-in value), for the
    // templates after them.
    let mut captured: Vec<(String, String)> = Vec::new();
    for raw in raws {
        let r = raw.get_ref();
        let misplaced = |span: std::ops::Range<usize>, what: &str| {
            Err(c.at(span, format!("{what} applies to an expect step"), None))
        };
        if let Some(k) = &r.close {
            let alone = r.send.is_none() && r.expect.is_none() && r.sleep.is_none();
            if !alone {
                return Err(c.at(raw.span(), "a close step only closes", None));
            }
            out.push(close(c, k)?);
            continue;
        }
        let step = match (&r.send, &r.expect, &r.sleep) {
            (Some(s), None, None) => {
                if let Some(t) = &r.timeout {
                    return misplaced(t.span(), "timeout");
                }
                if let Some(k) = &r.capture {
                    return misplaced(k.span(), "capture");
                }
                Step::Send(send_with(c, s, r.binary, &captured)?)
            }
            (None, Some(e), None) => {
                let timeout = match &r.timeout {
                    Some(t) => c.duration(t, "timeout")?,
                    None => EXPECT_TIMEOUT,
                };
                if timeout.is_zero() {
                    let span = r.timeout.as_ref().map(Spanned::span).unwrap_or_default();
                    return Err(c.at(span, "timeout must be more than 0", None));
                }
                let capture = match &r.capture {
                    Some(k) => Some(capture(c, k, &mut captured)?),
                    None => None,
                };
                Step::Expect {
                    pattern: pattern(c, e)?,
                    timeout,
                    capture,
                }
            }
            (None, None, Some(t)) => {
                if let Some(k) = &r.capture {
                    return misplaced(k.span(), "capture");
                }
                if let Some(k) = &r.timeout {
                    return misplaced(k.span(), "timeout");
                }
                Step::Sleep(think(c, t)?)
            }
            _ => {
                return Err(c.at(
                    raw.span(),
                    "a step either sends, expects, sleeps or (in a flow) closes",
                    Some(r#"send = '{"op":"subscribe"}', expect = { pointer = "/type", equals = "subscribed" } or sleep = "1s""#),
                ));
            }
        };
        out.push(step);
    }
    Ok(out)
}

/// A close step: a code a client may send and a reason that fits a
/// close frame.
fn close(c: &Checker<'_>, raw: &Spanned<RawClose>) -> Result<Step, ScenarioError> {
    let k = raw.get_ref();
    let code = k.code.unwrap_or(1000);
    if !(code == 1000 || (3000..=4999).contains(&code)) {
        return Err(c.at(
            raw.span(),
            format!("close code {code} is not one a client sends"),
            Some("1000 (normal), or an application's 3000–4999"),
        ));
    }
    let reason = k.reason.clone().unwrap_or_else(|| "flow".to_owned());
    if reason.len() > 123 {
        return Err(c.at(raw.span(), "a close reason fits in 123 bytes", None));
    }
    Ok(Step::Close { code, reason })
}

/// A capture: a JSON pointer and a new variable's name.
fn capture(
    c: &Checker<'_>,
    raw: &Spanned<RawCapture>,
    captured: &mut Vec<(String, String)>,
) -> Result<Capture, ScenarioError> {
    let k = raw.get_ref();
    if !(k.pointer.is_empty() || k.pointer.starts_with('/')) {
        return Err(c.at(
            raw.span(),
            format!("{:?} is not a JSON pointer", k.pointer),
            Some("a JSON pointer starts with /, e.g. \"/session\""),
        ));
    }
    let word = k
        .name
        .starts_with(|ch: char| ch.is_ascii_alphabetic() || ch == '_')
        && k.name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
    if !word || RESERVED_VARIABLES.contains(&k.name.as_str()) {
        return Err(c.at(
            raw.span(),
            format!("{:?} cannot name a captured variable", k.name),
            Some(&format!(
                "a name of letters, digits and _, not one of {}",
                RESERVED_VARIABLES.join(", ")
            )),
        ));
    }
    captured.push((k.name.clone(), String::new()));
    Ok(Capture {
        pointer: k.pointer.clone(),
        name: k.name.clone(),
    })
}

/// A `sleep`: `"500ms"`, or `{ uniform = ["1s", "3s"] }`,
/// `{ exponential = "2s" }` (the mean), `{ normal = ["2s", "500ms"] }`
/// (mean and standard deviation; a draw below 0 waits 0).
fn think(c: &Checker<'_>, raw: &Spanned<toml::Value>) -> Result<Think, ScenarioError> {
    let forms = r#"sleep = "500ms", { uniform = ["1s", "3s"] }, { exponential = "2s" } or { normal = ["2s", "500ms"] }"#;
    let bad = |what: String| Err(c.at(raw.span(), what, Some(forms)));
    let duration = |v: &toml::Value| -> Result<Duration, ScenarioError> {
        let text = v.as_str().unwrap_or_default();
        match humantime::parse_duration(text) {
            Ok(d) if d <= MAX_SLEEP => Ok(d),
            Ok(_) => Err(c.at(
                raw.span(),
                format!("sleep: {text:?} is over an hour"),
                Some(forms),
            )),
            Err(e) => Err(c.at(
                raw.span(),
                format!("sleep: {v} is not a duration ({e})"),
                Some(forms),
            )),
        }
    };
    let pair = |v: &toml::Value| -> Result<(Duration, Duration), ScenarioError> {
        match v.as_array().map(Vec::as_slice) {
            Some([a, b]) => Ok((duration(a)?, duration(b)?)),
            _ => Err(c.at(
                raw.span(),
                format!("sleep: {v} is not a pair of durations"),
                Some(forms),
            )),
        }
    };
    let table = match raw.get_ref() {
        toml::Value::String(_) => return Ok(Think::Fixed(duration(raw.get_ref())?)),
        toml::Value::Table(t) if t.len() == 1 => t,
        other => {
            return bad(format!(
                "sleep: {other} is neither a duration nor one distribution"
            ));
        }
    };
    let (kind, value) = table.iter().next().expect("one entry");
    match kind.as_str() {
        "uniform" => {
            let (lo, hi) = pair(value)?;
            if lo > hi {
                return bad(format!("sleep: uniform from {lo:?} to {hi:?} is empty"));
            }
            Ok(Think::Uniform(lo, hi))
        }
        "exponential" => Ok(Think::Exponential(duration(value)?)),
        "normal" => {
            let (mean, stddev) = pair(value)?;
            Ok(Think::Normal { mean, stddev })
        }
        other => bad(format!("sleep: {other:?} is not a distribution")),
    }
}
