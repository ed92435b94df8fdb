//! What one connection does, per transport and workload (`ws.rs`:
//! WebSocket push, echo and held connections; `throughput.rs`: WebSocket
//! throughput; `http.rs`: long-poll, short poll and SSE). Every driver
//! runs until the phase's stop signal; push drivers return their
//! [`Receipts`].

mod flow;
mod http;
mod reconnect;
mod roundtrip;
mod script;
mod stamped;
mod throughput;
mod ws;

use std::sync::Arc;
use std::time::{Duration, Instant};

use wsbench_model::metric::Metric;
use wsbench_model::results::DROPPED;
use wsbench_model::scenario::{Role, TemplateError, Vars};
use wsbench_model::{PayloadKind, Scenario, Transport, WorkloadKind};
use wsbench_protocol::clock::monotonic_ns;
use wsbench_protocol::correlation::Correlation;
use wsbench_protocol::push::PushMessage;
use wsbench_transport::{ClientOptions, Error, Event};

pub(crate) use self::reconnect::GAVE_UP;
use self::reconnect::{End, Ends};
use crate::failure::error_kind;
use crate::plan::{Grid, instant_at};
use crate::rates::RateProfile;
use crate::receipts::{Delivery, Receipts};
use crate::recorder::{Counts, Recorder};
use crate::signal::{Stop, Waiter};
use crate::stages::Lives;
use crate::target::{Origin, headers};
use wsbench_protocol::marker::Marker;

/// Everything the connections of one phase share.
#[derive(Debug)]
pub(crate) struct PhaseCtx {
    pub(crate) scenario: Arc<Scenario>,
    pub(crate) transport: Transport,
    pub(crate) rec: Arc<Recorder>,
    pub(crate) origin: Origin,
    pub(crate) options: ClientOptions,
    pub(crate) stop: Stop,
    /// Push phases: the schedule and which messages are this run's.
    pub(crate) push: Option<PushCtx>,
    /// With stages: when each connection opens and leaves.
    pub(crate) lives: Option<Arc<Lives>>,
    /// Echo and rpc with stages that set a rate: the send rate per
    /// connection, and the phase's start it counts from.
    pub(crate) send_rate: Option<(RateProfile, u64)>,
}

/// What a push subscriber needs to judge a message.
#[derive(Clone, Debug)]
pub(crate) struct PushCtx {
    /// The publish schedule.
    pub(crate) grid: Grid,
    /// The run and phase the markers must name.
    pub(crate) run: u32,
    pub(crate) phase: u32,
    /// Messages `j` with `j mod clock.1 == clock.0` were published on this
    /// host's clock and are timed; the others (another shard's publisher,
    /// on another host) are counted, not timed.
    pub(crate) clock: (u64, u64),
}

impl PushCtx {
    fn timed(&self, j: i64) -> bool {
        j.rem_euclid(self.clock.1.max(1) as i64) == self.clock.0 as i64
    }
}

/// A published message, found in what arrived: its number on the
/// schedule, its intended and actual send times (CLOCK_MONOTONIC ns), and
/// whether they are on this host's clock.
#[derive(Clone, Copy, Debug)]
struct Found {
    j: i64,
    intended: u64,
    sent: u64,
    timed: bool,
}

/// What a connection hands back at the end.
#[derive(Debug, Default)]
pub(crate) struct ConnOutcome {
    /// Push: what it was owed and received.
    pub(crate) receipts: Option<Receipts>,
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

/// A push subscriber's WebSocket gave `event` (neither a text message
/// nor a pong): a binary message is an error (`None`: the connection goes
/// on), anything else the end of the connection, counted when the phase
/// still runs ([`End::Lost`] at this instant).
fn subscriber_ended(ctx: &PhaseCtx, event: Option<Event>) -> Option<End> {
    if let Some(Event::Message(_)) = event {
        ctx.rec.error(BAD_MESSAGE);
        return None;
    }
    ended_early(ctx, event);
    Some(if ctx.stopped() {
        End::Stopped
    } else {
        End::Lost(monotonic_ns())
    })
}

/// A subscriber leaving on the stage schedule owes what was intended up to
/// this long before it closes.
pub(crate) const LEAVE_MARGIN: Duration = Duration::from_millis(100);

/// How early of its instant a timer may wake.
const TIMER_SLACK: Duration = Duration::from_millis(5);

/// The close code and reason of a connection leaving on the stage
/// schedule.
const LEAVE_CODE: (u16, &str) = (1000, "stage");

/// The error kind of a message that is not in the target's format.
const BAD_MESSAGE: &str = "bad-message";

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl PhaseCtx {
    fn stopped(&self) -> bool {
        self.stop.is_set()
    }

    fn wait_stop(&self) -> impl Future<Output = ()> + Send + '_ {
        self.stop.wait()
    }

    /// When connection `conn` leaves on the stage schedule,
    /// CLOCK_MONOTONIC ns (`None`: it stays until the phase stops).
    fn leaves_ns(&self, conn: u64) -> Option<u64> {
        self.lives.as_ref()?.leaves_ns(conn)
    }

    /// Until the phase stops or connection `conn`'s time to leave comes.
    async fn wait_end(&self, conn: u64) {
        let Some(ns) = self.leaves_ns(conn) else {
            return self.wait_stop().await;
        };
        // Boxed: only connections of a stage profile carry a timer.
        let leave = Box::pin(tokio::time::sleep_until(instant_at(ns)));
        tokio::select! {
            () = self.wait_stop() => {}
            () = leave => {}
        }
    }

    /// Until the first drop storm that takes connection `conn` down after
    /// `after_ns` (at once if it is past: the connection opened late);
    /// never without one. Counts the drop and gives its instant
    /// (CLOCK_MONOTONIC ns), when the connection's gap starts.
    async fn dropped(&self, conn: u64, after_ns: u64) -> u64 {
        let next = self
            .lives
            .as_ref()
            .and_then(|l| l.next_drop_ns(conn, after_ns));
        let Some(ns) = next else {
            return std::future::pending().await;
        };
        Box::pin(tokio::time::sleep_until(instant_at(ns))).await;
        self.rec.error(DROPPED);
        monotonic_ns().max(ns)
    }

    /// Until connection `conn`'s end that is not its own doing: the phase
    /// stops or its time to leave comes ([`End::Stopped`]), or a drop
    /// storm after `since` takes it down ([`End::Dropped`]). Without a
    /// stage profile only the stop can come, and the future is the stop's
    /// alone (a subscriber holds it all its life: memory per connection).
    fn ends(&self, conn: u64, since: u64) -> Ends<'_> {
        if self.lives.is_none() {
            return Ends::Stop {
                waiter: Waiter::new(),
            };
        }
        Ends::Lives {
            both: Box::pin(async move {
                tokio::select! {
                    () = self.wait_end(conn) => End::Stopped,
                    at = self.dropped(conn, since) => End::Dropped(at),
                }
            }),
        }
    }

    /// When connection `conn` left on the stage schedule, if its time has
    /// come while the phase still runs.
    fn left_at(&self, conn: u64) -> Option<u64> {
        let ns = self.leaves_ns(conn)?;
        // (Timers may wake a little early of CLOCK_MONOTONIC's instant.)
        let due = monotonic_ns() + nanos(TIMER_SLACK) >= ns;
        (!self.stopped() && due).then_some(ns)
    }

    /// Whether push subscriber `conn` left on the stage schedule; if so,
    /// it owes the messages intended up to [`LEAVE_MARGIN`] before it
    /// left (one the publisher sent late may reach the target after the
    /// close, and is not the target's loss).
    fn left(&self, conn: u64, receipts: &mut Receipts) -> bool {
        let Some(ns) = self.left_at(conn) else {
            return false;
        };
        receipts.ended(ns.saturating_sub(nanos(LEAVE_MARGIN)));
        true
    }

    /// The template variables of connection `conn`.
    fn vars(&self, conn: u64) -> Vars {
        Vars {
            conn,
            shard: self.origin.shard,
            // Distinct per connection and per run (the run id is random).
            rand: (conn ^ u64::from(self.push.as_ref().map_or(0, |p| p.run)) << 32)
                .wrapping_mul(0x9e37_79b9_7f4a_7c15),
            last_seen: None,
        }
    }

    /// Where connection `conn` goes for `role`, and its client options
    /// (source address, the scenario's headers). A template that no longer
    /// expands (its environment variable was unset after the scenario was
    /// checked) fails the connection as `template`.
    fn reach(&self, vars: &Vars, role: Role) -> Option<(String, ClientOptions)> {
        let conn = vars.conn;
        let protocol = &self.scenario.protocol;
        let reach = || -> Result<_, TemplateError> {
            let url = self.origin.url(protocol, role, vars)?;
            let mut o = self.options.clone();
            o.headers.extend(headers(protocol, vars)?);
            let sources = &self.scenario.source_addresses;
            if sources.len() > 1 {
                o.local_addr = Some(sources[(conn as usize) % sources.len()]);
            }
            Ok((url, o))
        };
        match reach() {
            Ok(r) => Some(r),
            Err(_) => {
                self.failed_as("template");
                None
            }
        }
    }

    /// A connection opened: `tcp` is its TCP connect, `handshake` the rest
    /// until it is usable (TLS, the upgrade or the subscription).
    fn opened(&self, tcp: Duration, handshake: Duration) {
        self.rec.record(Metric::ConnectTime, nanos(tcp), true);
        self.rec
            .record(Metric::HandshakeTime, nanos(handshake), true);
        self.rec.counts.connection_opened();
    }

    /// A connection could not open.
    fn failed(&self, e: &Error) {
        self.failed_as(&error_kind(e));
    }

    /// A connection failed to open, for the reason `kind`.
    fn failed_as(&self, kind: &str) {
        Counts::add(&self.rec.counts.failed, 1);
        self.rec.error(kind);
    }

    /// A message nobody published arrived.
    fn unknown(&self) {
        Counts::add(&self.rec.counts.unknown, 1);
        self.rec.error("unknown-message");
    }

    /// One pushed message arrived; `recv_ns`: right after the socket read
    /// that completed it. In the wsbench profile it is a push message
    /// (`{"seq","ts","payload"}`); in others, whatever the target wraps
    /// the payload in, searched for the marker.
    fn on_push(&self, r: &mut Receipts, message: &str, recv_ns: u64) {
        if self.scenario.protocol.profile.wraps_messages() {
            self.on_push_message(r, message.as_bytes(), recv_ns);
        } else if let Correlation::Json(stamps) = &self.scenario.protocol.correlation {
            self.on_stamped(r, message, stamps, recv_ns);
        } else {
            self.on_payload(r, message, None, recv_ns);
        }
    }

    /// One message of the push dialect (`{"seq","ts","payload"}`) arrived.
    fn on_push_message(&self, r: &mut Receipts, json: &[u8], recv_ns: u64) {
        match PushMessage::parse(json) {
            Ok(m) => self.on_payload(r, &m.payload, Some(m.seq), recv_ns),
            Err(_) => {
                self.received();
                self.rec.error(BAD_MESSAGE);
            }
        }
    }

    fn received(&self) {
        Counts::add(&self.rec.counts.received_total, 1);
        self.rec.count_in_window(&self.rec.counts.received);
    }

    /// One pushed payload arrived at `recv_ns` on the connection of `r`: found
    /// by its marker, checked against the schedule, counted once if it
    /// belongs to the window, and timed from its intended and its actual
    /// send time. `seq`, the target's own number for it when it gives one,
    /// is the order it is judged late against (publishes that overlap may
    /// reach the target in either order).
    fn on_payload(&self, r: &mut Receipts, payload: &str, seq: Option<u64>, recv_ns: u64) {
        self.received();
        if let Some(id) = seq {
            r.seen_id(id);
        }
        let Some(push) = &self.push else { return };
        let found = Marker::find(payload);
        if found.is_none() && !self.scenario.protocol.profile.wraps_messages() {
            // The target's own message (a greeting, a heartbeat).
            return Counts::add(&self.rec.counts.other, 1);
        }
        let Some(m) = found.filter(|m| m.run == push.run && m.phase == push.phase) else {
            return self.unknown();
        };
        let intended = push.grid.intended_ns(m.j);
        let sent = intended.saturating_add(m.lag_ns);
        let timed = push.timed(m.j);
        // Nothing arrives before it was sent: a marker that says otherwise
        // was not written by this run's publisher.
        if timed && recv_ns < sent {
            return self.unknown();
        }
        let found = Found {
            j: m.j,
            intended,
            sent,
            timed,
        };
        self.account(r, &found, (seq, recv_ns), payload);
    }

    /// Counts window message `found` once for the connection of `r`, and times
    /// it from its intended and its actual send time. `seq`, the target's
    /// own number for it when it gives one, is the order it is judged
    /// late against.
    fn account(
        &self,
        r: &mut Receipts,
        found: &Found,
        (seq, recv_ns): (Option<u64>, u64),
        payload: &str,
    ) {
        let Some(push) = &self.push else { return };
        let Found {
            j,
            intended,
            sent,
            timed,
        } = *found;
        let Ok(j) = u64::try_from(j) else { return };
        if !push.grid.in_window(j as i64) {
            return;
        }
        let counts = &self.rec.counts;
        match r.on_message(j, push.grid.window, seq.unwrap_or(j)) {
            Delivery::Duplicate => return Counts::add(&counts.duplicated, 1),
            Delivery::Late => Counts::add(&counts.out_of_order, 1),
            Delivery::New => {}
        }
        Counts::add(&counts.delivered, 1);
        if timed {
            self.rec.record_pair([
                (Metric::PushLatency, recv_ns.saturating_sub(intended)),
                (Metric::PushLatencyUncorrected, recv_ns.saturating_sub(sent)),
            ]);
        }
        if self.scenario.payload == PayloadKind::Json {
            let mut doc = payload.as_bytes().to_vec();
            let t = Instant::now();
            let parsed = simd_json::to_borrowed_value(&mut doc).is_ok();
            let took = t.elapsed().as_nanos() as u64;
            if parsed {
                self.rec.record(Metric::JsonParse, took, true);
            } else {
                self.rec.error("bad-json");
            }
        }
    }
}

/// Starts connection `conn` of the phase in its own task, counted as
/// tried from this instant (its due time on the arrival schedule). Held
/// connections and WebSocket push subscribers (the workloads that hold
/// tens of thousands) keep their whole state inline in the task, one
/// allocation; the other drivers are boxed by [`connection`].
pub(crate) fn spawn(ctx: Arc<PhaseCtx>, conn: u64) -> tokio::task::JoinHandle<ConnOutcome> {
    Counts::add(&ctx.rec.counts.attempted, 1);
    match (ctx.transport, ctx.scenario.workload) {
        (_, WorkloadKind::Connect) => tokio::spawn(hold(ctx, conn)),
        (Transport::Websocket, WorkloadKind::Push) => tokio::spawn(ws::push(ctx, conn)),
        _ => tokio::spawn(connection(ctx, conn)),
    }
}

/// Opens connection `conn` of a connect phase and holds it.
#[expect(
    clippy::manual_async_fn,
    reason = "an async fn keeps its arguments twice"
)]
pub(crate) fn hold(ctx: Arc<PhaseCtx>, conn: u64) -> impl Future<Output = ConnOutcome> {
    async move { ws::hold(&ctx, conn).await }
}

/// Runs connection `conn` of the phase until the stop signal.
pub(crate) async fn connection(ctx: Arc<PhaseCtx>, conn: u64) -> ConnOutcome {
    let workload = ctx.scenario.workload;
    // Each driver is boxed so a task holds the state of its own driver
    // only, not of the largest one.
    match (ctx.transport, workload) {
        (Transport::Websocket, WorkloadKind::Push) => {
            Box::pin(ws::push(Arc::clone(&ctx), conn)).await
        }
        (Transport::Websocket, WorkloadKind::Echo | WorkloadKind::Rpc) => {
            Box::pin(roundtrip::round_trips(&ctx, conn)).await
        }
        (Transport::Websocket, WorkloadKind::Throughput) => {
            Box::pin(throughput::throughput(&ctx, conn)).await
        }
        (Transport::Websocket, WorkloadKind::Connect) => Box::pin(ws::hold(&ctx, conn)).await,
        (Transport::Websocket, WorkloadKind::Flow) => Box::pin(flow::flow(&ctx, conn)).await,
        (Transport::LongPoll, _) => Box::pin(http::poll(&ctx, conn, true)).await,
        (Transport::ShortPoll, _) => Box::pin(http::poll(&ctx, conn, false)).await,
        (Transport::Sse, _) => Box::pin(http::sse(&ctx, conn)).await,
    }
}

#[cfg(test)]
mod tests;
