//! Running a target's connection steps on a WebSocket (a subscriber's on
//! open, the publisher connection's before it publishes) and sending the
//! script's messages, templates expanded for the connection.

use tokio::sync::watch;
use tokio::time::Instant;
use wsbench_model::scenario::{Vars, expand_env};
use wsbench_protocol::steps::{Send, Step};
use wsbench_transport::{Data, Event, TcpWebSocket};

use crate::failure::error_kind;

/// Why steps did not complete: an error kind, or `None` when the stop
/// came first.
pub(crate) type StepFailure = Option<String>;

/// Sends one scripted message, its template expanded with `vars`; the
/// error kind when it cannot.
pub(crate) async fn send(ws: &TcpWebSocket, s: &Send, vars: &Vars) -> Result<(), String> {
    let text = expand_env(&s.template, vars).map_err(|_| "template".to_owned())?;
    let sent = if s.binary {
        ws.send_binary(text.as_bytes()).await
    } else {
        ws.send_text(&text).await
    };
    sent.map_err(|e| error_kind(&e))
}

/// Runs `steps` in order. Every message that arrives while an `expect`
/// waits goes to `seen` with whether it is the one expected.
pub(crate) async fn run(
    ws: &mut TcpWebSocket,
    steps: &[Step],
    vars: &Vars,
    stop: &mut watch::Receiver<bool>,
    mut seen: impl FnMut(&str, bool),
) -> Result<(), StepFailure> {
    for step in steps {
        let (pattern, timeout) = match step {
            Step::Send(s) => {
                send(ws, s, vars).await.map_err(Some)?;
                continue;
            }
            Step::Expect { pattern, timeout } => (pattern, *timeout),
        };
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
                break;
            }
        }
    }
    Ok(())
}
