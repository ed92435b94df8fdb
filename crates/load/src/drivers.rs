//! What one connection does, per transport and workload. Every driver
//! runs until the phase's stop signal and returns what it tracked.

use std::io::ErrorKind;

use futures_util::FutureExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use wsbench_codec::handshake::HandshakeError;
use wsbench_model::{PayloadKind, Scenario, Transport, WorkloadKind};
use wsbench_transport::clock::monotonic_ns;
use wsbench_transport::http_client::{PollClient, SseClient};
use wsbench_transport::push::{PollBatch, PushMessage};
use wsbench_transport::{ClientOptions, Data, Error, Event, TcpWebSocket, connect};

use crate::payload;
use crate::recorder::{Counts, Metric, Recorder};
use crate::tracker::{Delivery, SeqTracker};

/// Where the target is: `host:port` and whether it speaks TLS.
#[derive(Clone, Debug)]
pub(crate) struct Origin {
    pub(crate) authority: String,
    pub(crate) tls: bool,
}

impl Origin {
    fn ws(&self, path: &str) -> String {
        format!(
            "{}://{}{path}",
            if self.tls { "wss" } else { "ws" },
            self.authority
        )
    }

    fn http(&self, path: &str) -> String {
        format!(
            "{}://{}{path}",
            if self.tls { "https" } else { "http" },
            self.authority
        )
    }
}

/// Everything the connections of one phase share.
#[derive(Debug)]
pub(crate) struct PhaseCtx {
    pub(crate) scenario: Arc<Scenario>,
    pub(crate) transport: Transport,
    pub(crate) rec: Recorder,
    pub(crate) origin: Origin,
    pub(crate) options: ClientOptions,
    /// CLOCK_MONOTONIC ns bounds of the measured window (`u64::MAX`: not
    /// yet set).
    pub(crate) window_start: AtomicU64,
    pub(crate) window_end: AtomicU64,
    /// Lowest and highest sequence number published in the window, as seen
    /// by any connection.
    pub(crate) seq_lo: AtomicU64,
    pub(crate) seq_hi: AtomicU64,
    pub(crate) stop: watch::Receiver<bool>,
    /// With `push_clock = "publisher"`: the origin whose messages carry
    /// this host's clock; only those are timed, the others are counted by
    /// their arrival time.
    pub(crate) own_origin: Option<u64>,
}

/// What a connection hands back at the end.
#[derive(Debug, Default)]
pub(crate) struct ConnOutcome {
    /// Push: the sequence numbers it received in the window.
    pub(crate) tracker: Option<SeqTracker>,
    /// When it opened (CLOCK_MONOTONIC ns); 0 if it never did.
    pub(crate) opened_ns: u64,
}

/// The kind an error is counted under.
pub(crate) fn error_kind(e: &Error) -> String {
    match e {
        Error::Io(io) => match io.kind() {
            ErrorKind::ConnectionRefused => "refused".into(),
            ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::ConnectionAborted => {
                "reset".into()
            }
            ErrorKind::TimedOut => "timeout".into(),
            ErrorKind::AddrNotAvailable | ErrorKind::AddrInUse => "no-source-port".into(),
            _ if io.raw_os_error() == Some(24) => "out-of-files".into(),
            _ => "io".into(),
        },
        Error::Timeout(_) => "timeout".into(),
        Error::HttpStatus(s) => format!("http-{s}"),
        Error::Handshake(HandshakeError::Status { code, .. }) => format!("http-{code}"),
        Error::Handshake(_) | Error::HandshakeEof => "handshake".into(),
        Error::Tls(_) => "tls".into(),
        Error::Http(_) => "http".into(),
        Error::BadPush(_) => "bad-message".into(),
        other => format!("close-{}", other.close_code().as_u16()),
    }
}

impl PhaseCtx {
    fn stopped(&self) -> bool {
        *self.stop.borrow()
    }

    async fn wait_stop(&self) {
        let mut stop = self.stop.clone();
        let _ = stop.wait_for(|&s| s).await;
    }

    fn options_for(&self, conn: u64) -> ClientOptions {
        let mut o = self.options.clone();
        let sources = &self.scenario.source_addresses;
        if sources.len() > 1 {
            o.local_addr = Some(sources[(conn as usize) % sources.len()]);
        }
        o
    }

    fn in_window(&self, ts_ns: u64) -> bool {
        ts_ns >= self.window_start.load(Ordering::Acquire)
            && ts_ns <= self.window_end.load(Ordering::Acquire)
    }

    /// One push message (JSON text) arrived at `now` on connection `conn`.
    fn on_push(&self, conn: u64, tracker: &mut SeqTracker, json: &[u8], now: u64) {
        match PushMessage::parse(json) {
            Ok(m) => self.on_message(conn, tracker, &m, now),
            Err(_) => {
                Counts::add(&self.rec.counts.received_total, 1);
                self.rec.error("bad-message");
            }
        }
    }

    /// One parsed push message arrived at `now` on connection `conn`.
    fn on_message(&self, conn: u64, tracker: &mut SeqTracker, m: &PushMessage<'_>, now: u64) {
        let counts = &self.rec.counts;
        Counts::add(&counts.received_total, 1);
        // A message stamped by another host's clock says nothing on this
        // one: judge it by its arrival and do not time it.
        let timed = self
            .own_origin
            .is_none_or(|k| payload::origin_of(&m.payload) == Some(k));
        if !self.in_window(if timed { m.ts_ns } else { now }) {
            return;
        }
        self.seq_lo.fetch_min(m.seq, Ordering::Relaxed);
        self.seq_hi.fetch_max(m.seq, Ordering::Relaxed);
        match tracker.on_message(m.seq) {
            Delivery::Duplicate => return Counts::add(&counts.duplicated, 1),
            Delivery::Late => Counts::add(&counts.out_of_order, 1),
            Delivery::New => {}
        }
        Counts::add(&counts.delivered, 1);
        if timed {
            self.rec
                .record(conn, Metric::PushLatency, now.saturating_sub(m.ts_ns), true);
        }
        if self.scenario.payload == PayloadKind::Json {
            let mut doc = m.payload.as_bytes().to_vec();
            let t = Instant::now();
            let parsed = simd_json::to_borrowed_value(&mut doc).is_ok();
            let took = t.elapsed().as_nanos() as u64;
            if parsed {
                self.rec.record(conn, Metric::JsonParse, took, true);
            } else {
                self.rec.error("bad-json");
            }
        }
    }
}

/// Opens connection `conn` of a connect phase and holds it; spawned as its
/// own task so the task holds the held connection's state inline, with no
/// separate allocation.
pub(crate) async fn hold(ctx: Arc<PhaseCtx>, conn: u64) -> ConnOutcome {
    Counts::add(&ctx.rec.counts.attempted, 1);
    ws_hold(&ctx, conn).await
}

/// Runs connection `conn` of the phase until the stop signal.
pub(crate) async fn connection(ctx: Arc<PhaseCtx>, conn: u64) -> ConnOutcome {
    Counts::add(&ctx.rec.counts.attempted, 1);
    let workload = ctx.scenario.workload;
    // Each driver is boxed so a task holds the state of its own driver
    // only, not of the largest one.
    match (ctx.transport, workload) {
        (Transport::Websocket, WorkloadKind::Push) => Box::pin(ws_push(&ctx, conn)).await,
        (Transport::Websocket, WorkloadKind::Echo) => Box::pin(ws_echo(&ctx, conn)).await,
        (Transport::Websocket, WorkloadKind::Throughput) => {
            Box::pin(ws_throughput(&ctx, conn)).await
        }
        (Transport::Websocket, WorkloadKind::Connect) => Box::pin(ws_hold(&ctx, conn)).await,
        (Transport::LongPoll, _) => Box::pin(poll_push(&ctx, conn, true)).await,
        (Transport::ShortPoll, _) => Box::pin(poll_push(&ctx, conn, false)).await,
        (Transport::Sse, _) => Box::pin(sse_push(&ctx, conn)).await,
    }
}

async fn open_ws(ctx: &PhaseCtx, conn: u64, path: &str) -> Option<(TcpWebSocket, u64)> {
    // Boxed: the handshake's state is large and lives only while it runs;
    // held inline it would stay part of every connection's task.
    match Box::pin(connect(&ctx.origin.ws(path), &ctx.options_for(conn))).await {
        Ok(c) => {
            ctx.rec.record(
                conn,
                Metric::ConnectTime,
                c.connect_time.as_nanos() as u64,
                true,
            );
            ctx.rec.record(
                conn,
                Metric::HandshakeTime,
                c.handshake_time.as_nanos() as u64,
                true,
            );
            ctx.rec.counts.connection_opened();
            Some((c.socket, monotonic_ns()))
        }
        Err(e) => {
            Counts::add(&ctx.rec.counts.failed, 1);
            ctx.rec.error(error_kind(&e));
            None
        }
    }
}

/// An HTTP client connected (or failed to) after `started`: count it, and
/// record its connect time.
fn http_opened<C>(
    ctx: &PhaseCtx,
    conn: u64,
    started: Instant,
    result: Result<C, Error>,
) -> Option<C> {
    match result {
        Ok(c) => {
            let took = started.elapsed().as_nanos() as u64;
            ctx.rec.record(conn, Metric::ConnectTime, took, true);
            ctx.rec.counts.connection_opened();
            Some(c)
        }
        Err(e) => {
            Counts::add(&ctx.rec.counts.failed, 1);
            ctx.rec.error(error_kind(&e));
            None
        }
    }
}

/// A WebSocket ended while the phase still ran: count why.
fn ended_early(ctx: &PhaseCtx, event: Option<Event>) {
    if ctx.stopped() {
        return;
    }
    match event {
        Some(Event::Error(e)) => ctx.rec.error(error_kind(&e)),
        Some(Event::Close(c)) => ctx.rec.error(format!("close-{}", c.code)),
        _ => ctx.rec.error("closed"),
    }
}

async fn ws_push(ctx: &PhaseCtx, conn: u64) -> ConnOutcome {
    let Some((mut ws, opened_ns)) = open_ws(ctx, conn, "/push").await else {
        return ConnOutcome::default();
    };
    let mut tracker = SeqTracker::default();
    loop {
        tokio::select! {
            ev = ws.next_event() => match ev {
                Some(Event::Message(Data::Text(t))) => {
                    ctx.on_push(conn, &mut tracker, t.as_bytes(), monotonic_ns());
                }
                Some(Event::Message(Data::Binary(_))) => ctx.rec.error("bad-message"),
                Some(Event::Pong(_)) => {}
                other => {
                    ended_early(ctx, other);
                    break;
                }
            },
            () = ctx.wait_stop() => break,
        }
    }
    ctx.rec.counts.connection_closed();
    ConnOutcome {
        tracker: Some(tracker),
        opened_ns,
    }
}

/// Sends `payload` as the workload's kind of frame.
async fn send(ws: &TcpWebSocket, kind: PayloadKind, payload: &[u8]) -> Result<(), Error> {
    match kind {
        PayloadKind::Binary => ws.send_binary(payload).await,
        // Text and JSON payloads are ASCII by construction.
        _ => {
            ws.send_text(std::str::from_utf8(payload).unwrap_or_default())
                .await
        }
    }
}

/// Whether the echo of message `seq` is right; JSON replies are parsed
/// (and the parse timed).
fn check_echo(ctx: &PhaseCtx, conn: u64, data: &Data, seq: u64) -> bool {
    let s = &ctx.scenario;
    let expected = payload::make(s.payload, s.payload_size, seq);
    let same = data.as_bytes() == expected.as_slice()
        && matches!(
            (data, s.payload),
            (Data::Binary(_), PayloadKind::Binary)
                | (Data::Text(_), PayloadKind::Text | PayloadKind::Json)
        );
    if same && s.payload == PayloadKind::Json {
        let mut doc = data.as_bytes().to_vec();
        let t = Instant::now();
        let ok = simd_json::to_borrowed_value(&mut doc).is_ok();
        ctx.rec.record(
            conn,
            Metric::JsonParse,
            t.elapsed().as_nanos() as u64,
            false,
        );
        return ok;
    }
    same
}

/// Waits for the next message, answering nothing else; `None` when the
/// connection ended (counted) or the phase stopped.
async fn next_message(ctx: &PhaseCtx, ws: &mut TcpWebSocket) -> Option<Data> {
    loop {
        tokio::select! {
            ev = ws.next_event() => match ev {
                Some(Event::Message(d)) => return Some(d),
                Some(Event::Pong(_)) => {}
                other => {
                    ended_early(ctx, other);
                    return None;
                }
            },
            () = ctx.wait_stop() => return None,
        }
    }
}

/// Echo, open model with one message in flight (as wrk2 does): message k
/// is due at start + k / rate; it goes out when due, or as soon as the
/// previous echo is back when that is later. The round trip is recorded
/// from the intended time (corrected for coordinated omission) and from
/// the actual send.
///
/// The intended time is the due time when the previous echo came back
/// after it: then the target held the sender up, and the wait counts. When
/// the sender was free and only the timer woke late (tokio's timers tick
/// in milliseconds) or the harness was busy, the wait is the harness's own
/// and the intended time is when it woke.
async fn ws_echo(ctx: &PhaseCtx, conn: u64) -> ConnOutcome {
    let Some((mut ws, opened_ns)) = open_ws(ctx, conn, "/echo").await else {
        return ConnOutcome::default();
    };
    let s = &ctx.scenario;
    let period = Duration::from_secs_f64(1.0 / s.rate);
    // Spread connections over the period so they do not send in step.
    let spread = period.mul_f64((conn % 64) as f64 / 64.0);
    let mut due = tokio::time::Instant::now() + spread;
    let mut last_back = tokio::time::Instant::now();
    let mut seq = 0u64;
    'run: loop {
        tokio::select! {
            () = tokio::time::sleep_until(due) => {}
            () = ctx.wait_stop() => break 'run,
        }
        let intended = if last_back > due {
            due
        } else {
            tokio::time::Instant::now()
        };
        let payload = payload::make(s.payload, s.payload_size, seq);
        let sent_at = tokio::time::Instant::now();
        let measuring = ctx.rec.measuring();
        if let Err(e) = send(&ws, s.payload, &payload).await {
            if !ctx.stopped() {
                ctx.rec.error(error_kind(&e));
            }
            break;
        }
        if measuring {
            Counts::add(&ctx.rec.counts.sent, 1);
        }
        let Some(reply) = next_message(ctx, &mut ws).await else {
            break;
        };
        let back = tokio::time::Instant::now();
        last_back = back;
        Counts::add(&ctx.rec.counts.received_total, 1);
        if measuring {
            if check_echo(ctx, conn, &reply, seq) {
                Counts::add(&ctx.rec.counts.delivered, 1);
            } else {
                Counts::add(&ctx.rec.counts.mismatches, 1);
            }
            let corrected = (back - intended).as_nanos() as u64;
            let actual = (back - sent_at).as_nanos() as u64;
            ctx.rec.record(conn, Metric::EchoRtt, corrected, false);
            ctx.rec
                .record(conn, Metric::EchoRttUncorrected, actual, false);
        }
        seq += 1;
        due += period;
    }
    ctx.rec.counts.connection_closed();
    ConnOutcome {
        tracker: None,
        opened_ns,
    }
}

/// Throughput, closed model: `in_flight` messages out at all times; each
/// echo sends the next.
async fn ws_throughput(ctx: &PhaseCtx, conn: u64) -> ConnOutcome {
    let Some((mut ws, opened_ns)) = open_ws(ctx, conn, "/echo").await else {
        return ConnOutcome::default();
    };
    let s = &ctx.scenario;
    let mut outstanding = std::collections::VecDeque::with_capacity(s.in_flight as usize);
    let mut seq = 0u64;
    let queue = |ws: &TcpWebSocket, seq: u64| {
        let p = payload::make(s.payload, s.payload_size, seq);
        match s.payload {
            PayloadKind::Binary => ws.writer().queue_binary(&p),
            _ => ws
                .writer()
                .queue_text(std::str::from_utf8(&p).unwrap_or_default()),
        }
    };
    'run: loop {
        while outstanding.len() < s.in_flight as usize {
            if queue(&ws, seq).is_err() {
                break 'run;
            }
            outstanding.push_back((seq, tokio::time::Instant::now(), ctx.rec.measuring()));
            seq += 1;
        }
        if let Err(e) = ws.writer().flush().await {
            if !ctx.stopped() {
                ctx.rec.error(error_kind(&e));
            }
            break;
        }
        let Some(first) = next_message(ctx, &mut ws).await else {
            break;
        };
        // Take every echo already buffered before refilling, so one write
        // carries many messages, as a pipelining client does.
        let mut replies = vec![first];
        while replies.len() < s.in_flight as usize {
            match ws.next_event().now_or_never() {
                Some(Some(Event::Message(d))) => replies.push(d),
                Some(Some(Event::Pong(_))) => {}
                Some(other) => {
                    ended_early(ctx, other);
                    break 'run;
                }
                None => break,
            }
        }
        let back = tokio::time::Instant::now();
        for reply in replies {
            let Some((sent_seq, sent_at, measured)) = outstanding.pop_front() else {
                ctx.rec.error("unexpected-message");
                break 'run;
            };
            Counts::add(&ctx.rec.counts.received_total, 1);
            if measured && ctx.rec.measuring() {
                Counts::add(&ctx.rec.counts.sent, 1);
                if check_echo(ctx, conn, &reply, sent_seq) {
                    Counts::add(&ctx.rec.counts.delivered, 1);
                } else {
                    Counts::add(&ctx.rec.counts.mismatches, 1);
                }
                let rtt = (back - sent_at).as_nanos() as u64;
                ctx.rec.record(conn, Metric::ThroughputRtt, rtt, false);
            }
        }
    }
    ctx.rec.counts.connection_closed();
    ConnOutcome {
        tracker: None,
        opened_ns,
    }
}

/// Connect: open, then hold the connection (answering pings). The engine
/// aborts these tasks at the end of the phase rather than signalling them,
/// so a held connection's task is the socket and its read only.
async fn ws_hold(ctx: &PhaseCtx, conn: u64) -> ConnOutcome {
    let Some((mut ws, _)) = open_ws(ctx, conn, "/echo").await else {
        return ConnOutcome::default();
    };
    loop {
        match ws.next_event().await {
            Some(Event::Message(_) | Event::Pong(_)) => {}
            other => {
                ended_early(ctx, other);
                break;
            }
        }
    }
    ctx.rec.counts.connection_closed();
    ConnOutcome::default()
}

/// Long-poll (`wait`) or short poll on an interval.
async fn poll_push(ctx: &PhaseCtx, conn: u64, wait: bool) -> ConnOutcome {
    let started = Instant::now();
    let connected = PollClient::connect(&ctx.origin.http("/poll"), &ctx.options_for(conn)).await;
    let Some(mut client) = http_opened(ctx, conn, started, connected) else {
        return ConnOutcome::default();
    };
    let opened_ns = monotonic_ns();
    let mut tracker = SeqTracker::default();
    let mut cursor: Option<u64> = None;
    let interval = ctx.scenario.short_poll_interval;
    // Short pollers spread their polls over the interval.
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::now() + interval.mul_f64((conn % 100) as f64 / 100.0),
        interval,
    );
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if !wait {
            tokio::select! {
                _ = tick.tick() => {}
                () = ctx.wait_stop() => break,
            }
        }
        let measuring = ctx.rec.measuring();
        let result = tokio::select! {
            // Boxed for the same reason as the handshake (hyper's request
            // state is large).
            r = Box::pin(client.poll(cursor, wait)) => r,
            () = ctx.wait_stop() => break,
        };
        let now = monotonic_ns();
        match result {
            Ok(body) => {
                if measuring {
                    Counts::add(&ctx.rec.counts.http_requests, 1);
                }
                match PollBatch::parse(&body) {
                    Ok(batch) => {
                        for m in &batch.messages {
                            ctx.on_message(conn, &mut tracker, m, now);
                        }
                        cursor = Some(batch.cursor);
                    }
                    Err(_) => ctx.rec.error("bad-message"),
                }
            }
            Err(e) => {
                if ctx.stopped() {
                    break;
                }
                ctx.rec.error(error_kind(&e));
                // Back off a little rather than spin on a failing target.
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(100)) => {}
                    () = ctx.wait_stop() => break,
                }
            }
        }
    }
    ctx.rec.counts.connection_closed();
    ConnOutcome {
        tracker: Some(tracker),
        opened_ns,
    }
}

/// Server-Sent Events; reconnects with `Last-Event-ID` if the stream ends.
async fn sse_push(ctx: &PhaseCtx, conn: u64) -> ConnOutcome {
    let url = ctx.origin.http("/events");
    let started = Instant::now();
    let options = ctx.options_for(conn);
    let connected = Box::pin(SseClient::connect(&url, None, &options)).await;
    let Some(mut client) = http_opened(ctx, conn, started, connected) else {
        return ConnOutcome::default();
    };
    let opened_ns = monotonic_ns();
    let mut tracker = SeqTracker::default();
    let mut last_id: Option<u64> = None;
    loop {
        let next = tokio::select! {
            e = client.next_event() => e,
            () = ctx.wait_stop() => break,
        };
        match next {
            Ok(Some(event)) => {
                last_id = event
                    .last_event_id
                    .as_deref()
                    .and_then(|i| i.parse().ok())
                    .or(last_id);
                ctx.on_push(conn, &mut tracker, event.data.as_bytes(), monotonic_ns());
            }
            Ok(None) | Err(_) => {
                if ctx.stopped() {
                    break;
                }
                ctx.rec.error(match next {
                    Err(e) => error_kind(&e),
                    _ => "closed".into(),
                });
                let options = ctx.options_for(conn);
                let reconnected = tokio::select! {
                    r = Box::pin(SseClient::connect(&url, last_id, &options)) => r,
                    () = ctx.wait_stop() => break,
                };
                match reconnected {
                    Ok(c) => {
                        if ctx.rec.measuring() {
                            Counts::add(&ctx.rec.counts.http_requests, 1);
                        }
                        client = c;
                    }
                    Err(e) => {
                        ctx.rec.error(error_kind(&e));
                        tokio::select! {
                            () = tokio::time::sleep(Duration::from_millis(100)) => {}
                            () = ctx.wait_stop() => break,
                        }
                    }
                }
            }
        }
    }
    ctx.rec.counts.connection_closed();
    ConnOutcome {
        tracker: Some(tracker),
        opened_ns,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size<F: Future>(_: &F) -> usize {
        std::mem::size_of::<F>()
    }

    /// Memory per connection is what a load generator is judged on: the
    /// task of a connection must hold its own driver's state only, and no
    /// handshake state once open.
    #[test]
    fn connection_tasks_stay_small() {
        let (_tx, stop) = watch::channel(false);
        let text = "schema_version = 1\nname = \"x\"\n[target]\nbuiltin = true\n[load]\n\
                    transports = [\"websocket\"]\nconnections = 1\nduration = \"1s\"\n\
                    [workload]\nkind = \"connect\"\n";
        let ctx = Arc::new(PhaseCtx {
            scenario: Arc::new(Scenario::parse("x", text).unwrap()),
            transport: Transport::Websocket,
            rec: Recorder::new(Metric::HandshakeTime),
            origin: Origin {
                authority: String::new(),
                tls: false,
            },
            options: ClientOptions::default(),
            window_start: AtomicU64::new(0),
            window_end: AtomicU64::new(0),
            seq_lo: AtomicU64::new(0),
            seq_hi: AtomicU64::new(0),
            stop,
            own_origin: None,
        });
        assert!(size(&connection(Arc::clone(&ctx), 0)) <= 64);
        assert!(size(&open_ws(&ctx, 0, "/")) <= 512);
        // A held connection's task is one allocation: tokio's task cell
        // (about 100 bytes of header and trailer around the future, rounded
        // up to 128-byte lines). At most 640 bytes of future keep the cell
        // at 768.
        let held = size(&hold(Arc::clone(&ctx), 0));
        assert!(held <= 640, "hold: {held} bytes, over 640");
        // WebSocket drivers hold thousands of idle connections; the HTTP
        // ones carry hyper's buffers (8 KiB and more) anyway.
        for (name, n, limit) in [
            ("ws_push", size(&ws_push(&ctx, 0)), 1024),
            ("ws_hold", size(&ws_hold(&ctx, 0)), 640),
            ("ws_echo", size(&ws_echo(&ctx, 0)), 1024),
            ("poll_push", size(&poll_push(&ctx, 0, true)), 4096),
            ("sse_push", size(&sse_push(&ctx, 0)), 2048),
        ] {
            assert!(n <= limit, "{name}: {n} bytes, over {limit}");
        }
    }
}
