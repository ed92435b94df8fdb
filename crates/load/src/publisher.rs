//! The publisher: the load generator sends every push message of a phase
//! itself, on the phase's [`Grid`] (an open model: message `j` is due at
//! its intended time whatever happened to the ones before), through a
//! `POST` to the target's publish endpoint (`/publish` in the wsbench
//! profile), and keeps the record every subscriber is accounted
//! against. The sending task waits for each message's intended time on a
//! timer fd in the runtime itself (`clock.rs`; tokio's timers tick in
//! milliseconds, which would delay every message by up to two). Requests
//! run concurrently on a few kept-alive connections, so a slow answer
//! never holds back the next message; when every connection is busy the
//! next message waits, and its publish lag shows it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use hdrhistogram::Histogram;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use wsbench_model::PayloadKind;
use wsbench_model::delivery::{Outcome, PublishEntry, PublishRecord};
use wsbench_model::results::latency_histogram;
use wsbench_protocol::clock::monotonic_ns;
use wsbench_protocol::push;
use wsbench_transport::ClientOptions;
use wsbench_transport::http_client::PollClient;

use crate::failure::error_kind;
use wsbench_model::scenario::Vars;
use wsbench_protocol::correlation::Correlation;
use wsbench_protocol::steps::{ReplyRule, Step};

mod clock;
mod ws;
use crate::plan::Grid;
use clock::Clock;
use wsbench_protocol::marker::Marker;

/// Publish requests in flight at most.
const CONNECTIONS: usize = 8;
/// A publish not answered by then has failed.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(10);
/// How long [`Publisher::finish`] waits for requests still in flight.
const FINISH_WAIT: Duration = Duration::from_secs(2);

/// What a publisher sends and where.
#[derive(Clone, Debug)]
pub(crate) struct PublishSpec {
    /// The publish endpoint's URL.
    pub(crate) url: String,
    /// Request headers the scenario asks for.
    pub(crate) headers: Vec<(http::HeaderName, http::HeaderValue)>,
    /// The request method.
    pub(crate) method: http::Method,
    /// The body template (`{marker}`, `{payload}` filled per message);
    /// `None`: the payload itself.
    pub(crate) body: Option<String>,
    /// A WebSocket publish endpoint: the steps on its connection, and the
    /// target's reply rules it answers.
    pub(crate) steps: Vec<Step>,
    pub(crate) replies: Vec<ReplyRule>,
    /// The publisher's template variables.
    pub(crate) vars: Vars,
    /// How subscribers find the messages (what `{time}` is).
    pub(crate) correlation: Correlation,
    /// Client options (no byte counters: publishing is not delivery).
    pub(crate) options: ClientOptions,
    /// The schedule.
    pub(crate) grid: Grid,
    /// This publisher's share of the grid.
    pub(crate) index: u64,
    /// The first message is the first of its share due at or after this.
    pub(crate) start_ns: u64,
    /// The run and phase its markers name.
    pub(crate) run: u32,
    pub(crate) phase: u32,
    /// The payload around the marker.
    pub(crate) payload: PayloadKind,
    pub(crate) payload_size: usize,
}

/// The record so far, by message number.
type Entries = Arc<Mutex<BTreeMap<i64, PublishEntry>>>;

/// A running publisher.
#[derive(Debug)]
pub(crate) struct Publisher {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    entries: Entries,
    spec: PublishSpec,
}

impl Publisher {
    /// Starts publishing (the first message waits for its due time).
    pub(crate) fn start(spec: PublishSpec) -> Publisher {
        let (stop, stop_rx) = watch::channel(false);
        let entries: Entries = Arc::default();
        let first = spec.grid.first_of(spec.index, spec.start_ns);
        let due = Clock::new(spec.grid.clone(), first);
        let task = if spec.url.starts_with("ws://") || spec.url.starts_with("wss://") {
            tokio::spawn(ws::run(spec.clone(), due, Arc::clone(&entries), stop_rx))
        } else {
            tokio::spawn(run(spec.clone(), due, Arc::clone(&entries), stop_rx))
        };
        Publisher {
            stop,
            task,
            entries,
            spec,
        }
    }

    /// Whether every window message of this share has been sent and
    /// answered (or has failed).
    pub(crate) fn window_settled(&self) -> bool {
        let grid = &self.spec.grid;
        let first = grid.first_of(self.spec.index, grid.window_ns);
        let entries = lock(&self.entries);
        (first..grid.window as i64)
            .step_by(grid.publishers as usize)
            .all(|j| entries.get(&j).is_some_and(|e| e.done_ns.is_some()))
    }

    /// Stops publishing, waits a little for requests in flight, and returns
    /// the record and the publish lag of the window messages sent. A
    /// window message of this share that was due and not sent, or not
    /// answered by then, has failed. When publishing stops before the
    /// window's end (the phase ended early), the window ends with the last
    /// message sent: the ones after it were never published (the phase
    /// stopped first), and are not part of the record.
    pub(crate) async fn finish(self) -> (PublishRecord, Histogram<u64>) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        let stopped = monotonic_ns();
        let mut entries = std::mem::take(&mut *lock(&self.entries));
        let grid = &self.spec.grid;
        let due = grid.first_at_or_after(stopped.saturating_add(1)) - 1;
        let due_until = (due < grid.window as i64 - 1).then(|| {
            // The last one sent, at or before the stop.
            entries
                .range(..=due)
                .next_back()
                .map_or(i64::MIN, |(&j, _)| j)
        });
        entries.retain(|&j, _| due_until.is_none_or(|d| j <= d));
        // Window messages of this share due and never sent: unsent.
        let first = grid.first_of(self.spec.index, grid.window_ns);
        let last = due_until.unwrap_or(i64::MAX).min(grid.window as i64 - 1);
        for j in (first..=last).step_by(grid.publishers as usize) {
            entries.entry(j).or_insert_with(|| PublishEntry {
                j,
                seq: None,
                intended_ns: grid.intended_ns(j),
                sent_ns: None,
                done_ns: None,
                outcome: Outcome::Unsent,
                error: None,
            });
        }
        let all: Vec<PublishEntry> = entries.into_values().collect();
        let mut lag = latency_histogram();
        for e in &all {
            if let (true, Some(sent)) = (grid.in_window(e.j), e.sent_ns) {
                lag.saturating_record(sent.saturating_sub(e.intended_ns).max(1));
            }
        }
        let record = PublishRecord {
            index: self.spec.index,
            publishers: grid.publishers,
            window: grid.window,
            due_until,
            entries: all,
        };
        (record, lag)
    }
}

/// What message `j`, sent `lag_ns` after its intended time, carries: its
/// marker in the payload or in the scenario's body template.
fn body(spec: &PublishSpec, j: i64, lag_ns: u64) -> String {
    let marker = Marker {
        run: spec.run,
        phase: spec.phase,
        j,
        lag_ns,
    };
    let Some(template) = &spec.body else {
        return marker.body(spec.payload, spec.payload_size);
    };
    // `{time}`: the send time on the correlation's clock and unit
    // (CLOCK_MONOTONIC ns without JSON stamps).
    let sent_ns = spec.grid.intended_ns(j).saturating_add(lag_ns);
    let time = match &spec.correlation {
        Correlation::Json(stamps) => stamps.from_monotonic(sent_ns),
        Correlation::Marker => sent_ns,
    };
    template
        .replace("{marker}", &marker.body(PayloadKind::Text, 0))
        .replace("{payload}", &marker.body(spec.payload, spec.payload_size))
        .replace("{seq}", &j.to_string())
        .replace("{time}", &time.to_string())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A kept-alive connection to the publish endpoint (opened on first use,
/// again after a failure).
type Slot = Option<PollClient>;

async fn run(spec: PublishSpec, mut due: Clock, entries: Entries, mut stop: watch::Receiver<bool>) {
    let url = Arc::new(spec.url.clone());
    let headers = Arc::new(spec.headers.clone());
    let (idle_tx, mut idle) = mpsc::channel::<Slot>(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        let _ = idle_tx.try_send(None);
    }
    let mut in_flight = JoinSet::new();
    loop {
        let j = tokio::select! {
            j = due.next() => j,
            _ = stop.wait_for(|&s| s) => break,
        };
        let intended_ns = spec.grid.intended_ns(j);
        let slot = tokio::select! {
            s = idle.recv() => s.flatten(),
            _ = stop.wait_for(|&s| s) => break,
        };
        while in_flight.try_join_next().is_some() {}
        let sent_ns = monotonic_ns();
        let body = Bytes::from(body(&spec, j, sent_ns.saturating_sub(intended_ns)));
        // Sent; failed until answered (an answer that never comes leaves
        // it so).
        lock(&entries).insert(
            j,
            PublishEntry {
                j,
                seq: None,
                intended_ns,
                sent_ns: Some(sent_ns),
                done_ns: None,
                outcome: Outcome::Failed,
                error: Some("unanswered".to_owned()),
            },
        );
        let (method, url, headers, options, entries, idle_tx) = (
            spec.method.clone(),
            Arc::clone(&url),
            Arc::clone(&headers),
            spec.options.clone(),
            Arc::clone(&entries),
            idle_tx.clone(),
        );
        in_flight.spawn(async move {
            let request = (method, url.as_str(), headers.as_slice());
            let (slot, result) = publish_one(slot, request, &options, body, sent_ns).await;
            let (seq, outcome, error) = match result {
                Ok(seq) => (seq, Outcome::Ok, None),
                Err(kind) => (None, Outcome::Failed, Some(kind)),
            };
            if let Some(e) = lock(&entries).get_mut(&j) {
                (e.seq, e.outcome, e.error) = (seq, outcome, error);
                e.done_ns = Some(monotonic_ns());
            }
            let _ = idle_tx.send(slot).await;
        });
    }
    // Requests in flight get a little longer; what is still unanswered
    // then has failed.
    let _ = tokio::time::timeout(FINISH_WAIT, async {
        while in_flight.join_next().await.is_some() {}
    })
    .await;
    in_flight.abort_all();
}

/// One `POST /publish`, stamped with its send time (`X-Wsbench-Sent-Ns`);
/// the connection to keep and the sequence number the target gave, or the
/// error kind.
async fn publish_one(
    slot: Slot,
    (method, url, headers): (http::Method, &str, &[(http::HeaderName, http::HeaderValue)]),
    options: &ClientOptions,
    body: Bytes,
    sent_ns: u64,
) -> (Slot, Result<Option<u64>, String>) {
    let attempt = async {
        let mut client = match slot {
            Some(c) => c,
            None => PollClient::connect(url, options).await?,
        };
        let header = http::HeaderName::from_static(push::SENT_NS_HEADER);
        let stamp = http::HeaderValue::from(sent_ns);
        let mut all = headers.to_vec();
        all.push((header, stamp));
        let path = url
            .parse::<http::Uri>()
            .ok()
            .and_then(|u| u.path_and_query().map(|p| p.as_str().to_owned()))
            .unwrap_or_else(|| "/".to_owned());
        let reply = client.send_with(method, &path, body, &all).await;
        Ok::<_, wsbench_transport::Error>((client, reply))
    };
    match tokio::time::timeout(PUBLISH_TIMEOUT, attempt).await {
        Err(_) => (None, Err("timeout".to_owned())),
        Ok(Err(e)) => (None, Err(error_kind(&e))),
        Ok(Ok((client, Err(e)))) => (Some(client), Err(error_kind(&e))),
        Ok(Ok((client, Ok(reply)))) => (Some(client), Ok(seq_of(&reply))),
    }
}

/// The `seq` of a `{"seq":N,…}` answer, when it has one.
fn seq_of(reply: &[u8]) -> Option<u64> {
    serde_json::from_slice::<serde_json::Value>(reply)
        .ok()?
        .get("seq")?
        .as_u64()
}
