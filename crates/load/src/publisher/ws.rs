//! Publishing over one WebSocket publisher connection: opened on first
//! use (and again after a failure), the publish steps run on it, then
//! each due message is sent as a text message. A message counts as
//! published when it was written to the socket (a WebSocket publish has
//! no answer); the connection keeps reading meanwhile, answering the
//! target's reply rules, so a server that pings its publishers keeps it.

use std::future::pending;

use tokio::sync::watch;
use wsbench_model::delivery::{Outcome, PublishEntry};
use wsbench_protocol::clock::monotonic_ns;
use wsbench_transport::{Data, Event, TcpWebSocket, connect};

use super::{Clock, Entries, PublishSpec, body, lock};
use crate::failure::error_kind;
use crate::steps;

/// Opens the publisher connection and runs the publish steps on it.
async fn open(
    spec: &PublishSpec,
    stop: &mut watch::Receiver<bool>,
) -> Result<TcpWebSocket, String> {
    let mut options = spec.options.clone();
    options.headers = spec
        .headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                v.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let connected = Box::pin(connect(&spec.url, &options))
        .await
        .map_err(|e| error_kind(&e))?;
    let mut ws = connected.socket;
    steps::run(&mut ws, &spec.steps, &spec.vars, stop, |_, _| {})
        .await
        .map_err(|f| f.unwrap_or_else(|| "stopped".to_owned()))?;
    Ok(ws)
}

/// The next event of the connection, or never when there is none.
async fn next_event(ws: &mut Option<TcpWebSocket>) -> Option<Event> {
    match ws {
        Some(ws) => ws.next_event().await,
        None => pending().await,
    }
}

/// Returns at the stop (the watch's guard is not held across awaits).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|&s| s).await;
}

/// Sends each due message of this share until the stop.
pub(super) async fn run(
    spec: PublishSpec,
    mut due: Clock,
    entries: Entries,
    mut stop: watch::Receiver<bool>,
) {
    let mut ws: Option<TcpWebSocket> = None;
    loop {
        let j = tokio::select! {
            j = due.next() => j,
            ev = next_event(&mut ws) => {
                match ev {
                    Some(Event::Message(Data::Text(t))) => {
                        let rule = spec.replies.iter().find(|r| r.when.matches(&t));
                        if let (Some(r), Some(w)) = (rule, &ws) {
                            let _ = steps::send(w, &r.send, &spec.vars).await;
                        }
                    }
                    Some(Event::Message(_) | Event::Pong(_)) => {}
                    // Closed or failed: opened again for the next message.
                    _ => ws = None,
                }
                continue;
            }
            () = stopped(&mut stop) => break,
        };
        let intended_ns = spec.grid.intended_ns(j);
        let mut result = Ok(());
        if ws.is_none() {
            match open(&spec, &mut stop).await {
                Ok(w) => ws = Some(w),
                Err(kind) => result = Err(kind),
            }
        }
        let sent_ns = monotonic_ns();
        if let (Ok(()), Some(w)) = (&result, &ws) {
            let text = body(&spec, j, sent_ns.saturating_sub(intended_ns));
            result = w.send_text(&text).await.map_err(|e| error_kind(&e));
        }
        if result.is_err() {
            ws = None;
        }
        let ok = result.is_ok();
        lock(&entries).insert(
            j,
            PublishEntry {
                j,
                seq: None,
                intended_ns,
                sent_ns: ok.then_some(sent_ns),
                done_ns: Some(monotonic_ns()),
                outcome: if ok { Outcome::Ok } else { Outcome::Failed },
                error: result.err(),
            },
        );
    }
    if let Some(w) = &ws {
        let wait = std::time::Duration::from_millis(100);
        let _ = tokio::time::timeout(wait, w.close(1000, "")).await;
    }
}
