//! Running a target's connection steps on a WebSocket (a subscriber's on
//! open, the publisher connection's before it publishes) and sending the
//! script's messages, templates expanded for the connection and with the
//! values earlier steps captured; a `sleep` draws its wait from the
//! connection's `{rand}` and the step's place.

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use wsbench_model::scenario::{Vars, expand_env_with};
use wsbench_protocol::steps::{Capture, Pattern, Send, Step};
use wsbench_transport::{Data, Event, TcpWebSocket};

use crate::failure::error_kind;

/// Why steps did not complete: an error kind, or `None` when the stop
/// came first.
pub(crate) type StepFailure = Option<String>;

/// Sends one scripted message, its template expanded with `vars`; the
/// error kind when it cannot.
pub(crate) async fn send(ws: &TcpWebSocket, s: &Send, vars: &Vars) -> Result<(), String> {
    send_with(ws, s, vars, &[]).await
}

/// The same, with the variables earlier steps captured.
pub(crate) async fn send_with(
    ws: &TcpWebSocket,
    s: &Send,
    vars: &Vars,
    captured: &[(String, String)],
) -> Result<(), String> {
    let text = expand_env_with(&s.template, vars, captured).map_err(|_| "template".to_owned())?;
    let sent = if s.binary {
        ws.send_binary(text.as_bytes()).await
    } else {
        ws.send_text(&text).await
    };
    sent.map_err(|e| error_kind(&e))
}

/// The error kind of an `expect` whose message held nothing to capture.
const CAPTURE_MISSING: &str = "capture-missing";

/// Runs `steps` in order. Every message that arrives while an `expect`
/// waits goes to `seen` with whether it is the one expected.
pub(crate) async fn run(
    ws: &mut TcpWebSocket,
    steps: &[Step],
    vars: &Vars,
    stop: &mut watch::Receiver<bool>,
    mut seen: impl FnMut(&str, bool),
) -> Result<(), StepFailure> {
    let mut captured: Vec<(String, String)> = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let (pattern, timeout, capture) = match step {
            Step::Send(s) => {
                send_with(ws, s, vars, &captured).await.map_err(Some)?;
                continue;
            }
            Step::Sleep(think) => {
                let (u1, u2) = draws(vars.rand, i as u64);
                tokio::select! {
                    () = tokio::time::sleep(think.sample(u1, u2)) => {}
                    _ = stop.wait_for(|&s| s) => return Err(None),
                }
                continue;
            }
            Step::Expect {
                pattern,
                timeout,
                capture,
            } => (pattern, *timeout, capture),
            // Only a flow closes (refused in a target's steps): the steps
            // end here.
            Step::Close { .. } => return Ok(()),
        };
        let text = expect(ws, pattern, timeout, stop, &mut seen).await?;
        if let Some(k) = capture {
            keep(&mut captured, k, &text)?;
        }
    }
    Ok(())
}

/// Keeps the value `k` takes from `message` (replacing the variable's
/// value before); `capture-missing` when the message holds none.
pub(crate) fn keep(
    captured: &mut Vec<(String, String)>,
    k: &Capture,
    message: &str,
) -> Result<(), StepFailure> {
    let value = k
        .take(message)
        .ok_or_else(|| Some(CAPTURE_MISSING.to_owned()))?;
    captured.retain(|(n, _)| *n != k.name);
    captured.push((k.name.clone(), value));
    Ok(())
}

/// Waits for a message matching `pattern` and gives it.
pub(crate) async fn expect(
    ws: &mut TcpWebSocket,
    pattern: &Pattern,
    timeout: Duration,
    stop: &mut watch::Receiver<bool>,
    seen: &mut impl FnMut(&str, bool),
) -> Result<String, StepFailure> {
    let deadline = Instant::now() + timeout;
    loop {
        let ev = tokio::select! {
            ev = ws.next_event() => ev,
            () = tokio::time::sleep_until(deadline) => return Err(Some("step-timeout".into())),
            _ = stop.wait_for(|&s| s) => return Err(None),
        };
        let text = match ev {
            Some(Event::Message(Data::Text(t))) => t,
            Some(Event::Message(Data::Binary(b))) => String::from_utf8_lossy(&b).into_owned(),
            Some(Event::Pong(_)) => continue,
            Some(Event::Close(c)) => return Err(Some(format!("close-{}", c.code))),
            Some(Event::Error(e)) => return Err(Some(error_kind(&e))),
            _ => return Err(Some("closed".into())),
        };
        let matched = pattern.matches(&text);
        seen(&text, matched);
        if matched {
            return Ok(text);
        }
    }
}

/// Two draws in [0, 1) for step `step` of the connection whose `{rand}`
/// is `seed`: fixed for a run, spread over connections and steps.
pub(crate) fn draws(seed: u64, step: u64) -> (f64, f64) {
    let mix = |x: u64| {
        let x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        let x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^ (x >> 31)
    };
    let a = mix(seed ^ step.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let b = mix(a);
    let unit = |x: u64| (x >> 11) as f64 / (1u64 << 53) as f64;
    (unit(a), unit(b))
}
