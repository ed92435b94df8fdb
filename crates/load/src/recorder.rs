//! Where connections put what they measure: HDR histograms in shards, one
//! per core, each thread recording into its own (so threads rarely
//! contend), counters in atomics; live progress reads the main latency's
//! values since its last look as the difference of two merges.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use hdrhistogram::Histogram;
use wsbench_model::metric::{Metric, flow_timer};
use wsbench_model::results::latency_histogram;
use wsbench_protocol::clock::monotonic_ns;

/// Shards per recorder: one per core, each thread recording into its own
/// (a shard's histograms take about 270 KB apiece, a memory cost every
/// load generator process pays).
fn shard_count() -> usize {
    std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, 16)
}

/// Threads in the order they first recorded: a thread's shard.
static THREADS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static THREAD: usize = THREADS.fetch_add(1, Ordering::Relaxed);
}

/// Where a latency metric's histogram sits in a shard (latencies come
/// first in the vocabulary).
fn slot(m: Metric) -> usize {
    debug_assert!(m.kind() == wsbench_model::metric::Kind::Latency, "{m:?}");
    m as usize
}

#[derive(Debug)]
struct Shard {
    histograms: Vec<Option<Histogram<u64>>>,
    /// With stages: the main latency per stage.
    stages: Vec<Option<Histogram<u64>>>,
}

impl Shard {
    /// A value of the main latency, in stage `stage` if any (the value
    /// itself is in the main latency's histogram already).
    fn record_stage(&mut self, ns: u64, stage: Option<usize>) {
        if let Some(h) = stage.and_then(|i| self.stages.get_mut(i)) {
            h.get_or_insert_with(latency_histogram)
                .saturating_record(ns);
        }
    }
}

/// Counters a phase keeps.
#[derive(Debug, Default)]
pub struct Counts {
    /// Connections tried.
    pub attempted: AtomicU64,
    /// Connections opened.
    pub opened: AtomicU64,
    /// Connections that failed to open.
    pub failed: AtomicU64,
    /// Connections open now.
    pub open_now: AtomicU64,
    /// Most open at once.
    pub peak: AtomicU64,
    /// Window messages received (each connection counts its own, once).
    pub delivered: AtomicU64,
    /// Messages received while the window was open, by receive time.
    pub received: AtomicU64,
    /// Messages received in total (progress).
    pub received_total: AtomicU64,
    /// Messages the publisher never sent.
    pub unknown: AtomicU64,
    /// Messages of the target's own, without a marker.
    pub other: AtomicU64,
    /// Requests (echo, rpc) whose reply did not come in time.
    pub timed_out: AtomicU64,
    /// Repeated deliveries.
    pub duplicated: AtomicU64,
    /// Deliveries after a later message.
    pub out_of_order: AtomicU64,
    /// Echo payloads that came back different.
    pub mismatches: AtomicU64,
    /// Messages sent in the window (echo, throughput).
    pub sent: AtomicU64,
    /// HTTP requests answered in the window.
    pub http_requests: AtomicU64,
    /// Connections opened again after they ended (`[load] reconnect`).
    pub reconnects: AtomicU64,
}

impl Counts {
    /// A connection opened.
    pub fn connection_opened(&self) {
        self.opened.fetch_add(1, Ordering::Relaxed);
        let now = self.open_now.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak.fetch_max(now, Ordering::Relaxed);
    }

    /// An open connection ended.
    pub fn connection_closed(&self) {
        self.open_now.fetch_sub(1, Ordering::Relaxed);
    }

    /// Reads a counter.
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }

    /// Adds to a counter.
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
}

/// One phase's measurements.
#[derive(Debug)]
pub struct Recorder {
    shards: Vec<Mutex<Shard>>,
    /// The counters.
    pub counts: Counts,
    errors: Mutex<BTreeMap<String, u64>>,
    /// Whether the measured window is open.
    measuring: AtomicBool,
    main: Metric,
    /// With stages: when each stage starts, CLOCK_MONOTONIC ns.
    stage_starts: Vec<u64>,
    /// A flow's timers, by the name they are reported under.
    timers: Mutex<BTreeMap<String, Histogram<u64>>>,
    /// The main latency over the shards at the last [`Recorder::take_interval`].
    seen: Mutex<Histogram<u64>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Recorder {
    /// A recorder whose progress shows `main`.
    pub fn new(main: Metric) -> Recorder {
        Recorder::with_stages(main, Vec::new())
    }

    /// A recorder that also keeps `main` per stage: a value belongs to
    /// the stage its start instant (the intended publish or send time:
    /// the clock now less the value) fell in; `stage_starts` are the
    /// stages' starts, CLOCK_MONOTONIC ns.
    /// The harness verdict on the window so far, from the harness lag's
    /// p99 against the main latency's p50 (CPU shares are judged at the
    /// end): `ok`, `suspect` or `saturated`.
    pub fn harness_so_far(&self) -> &'static str {
        let h = self.histograms();
        let at = |m: Metric, q: f64| {
            h.get(&m)
                .filter(|h| !h.is_empty())
                .map(|h| h.value_at_quantile(q))
        };
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let lag = at(Metric::HarnessLag, 0.99);
        let health = wsbench_model::health::Health::judge(
            lag,
            at(self.main, 0.5),
            wsbench_model::health::Cpu {
                cores,
                ..Default::default()
            },
        );
        health.verdict.name()
    }

    pub fn with_stages(main: Metric, stage_starts: Vec<u64>) -> Recorder {
        Recorder {
            shards: (0..shard_count())
                .map(|_| {
                    Mutex::new(Shard {
                        histograms: vec![None; Metric::LATENCIES],
                        stages: vec![None; stage_starts.len()],
                    })
                })
                .collect(),
            counts: Counts::default(),
            errors: Mutex::default(),
            measuring: AtomicBool::new(false),
            main,
            stage_starts,
            timers: Mutex::default(),
            seen: Mutex::new(latency_histogram()),
        }
    }

    /// The stage a main-latency value `ns` recorded now started in.
    fn stage_of(&self, ns: u64) -> Option<usize> {
        if self.stage_starts.is_empty() {
            return None;
        }
        let start = monotonic_ns().saturating_sub(ns);
        self.stage_starts
            .partition_point(|&s| s <= start)
            .checked_sub(1)
    }

    /// Opens or closes the measured window.
    pub fn set_measuring(&self, on: bool) {
        self.measuring.store(on, Ordering::Release);
    }

    /// Whether the measured window is open.
    pub fn measuring(&self) -> bool {
        self.measuring.load(Ordering::Acquire)
    }

    /// Adds one to a counter of the window (`received`, `http_requests`)
    /// when the window is open, by the time of the call.
    pub fn count_in_window(&self, c: &AtomicU64) {
        if self.measuring() {
            Counts::add(c, 1);
        }
    }

    /// Records `ns`, when the window is open (or
    /// always, with `always`: connect and handshake times). A value past
    /// the histograms' range (1 hour) is recorded as 1 hour and counted as
    /// an error (`latency-over-1h`).
    pub fn record(&self, metric: Metric, ns: u64, always: bool) {
        if !(always || self.measuring()) {
            return;
        }
        let ns = self.in_range(ns);
        let stage = (metric == self.main).then(|| self.stage_of(ns)).flatten();
        let mut shard = self.shard();
        let h = shard.histograms[slot(metric)].get_or_insert_with(latency_histogram);
        h.saturating_record(ns);
        if metric == self.main {
            shard.record_stage(ns, stage);
        }
    }

    /// Records two values of one message under one lock (the corrected and
    /// uncorrected push latency), whether or not the window is open: the
    /// caller has decided the message belongs to it.
    pub fn record_pair(&self, pair: [(Metric, u64); 2]) {
        let pair = pair.map(|(m, ns)| (m, self.in_range(ns)));
        let stage = pair
            .iter()
            .find(|(m, _)| *m == self.main)
            .and_then(|&(_, ns)| self.stage_of(ns));
        let mut shard = self.shard();
        for (metric, ns) in pair {
            let h = shard.histograms[slot(metric)].get_or_insert_with(latency_histogram);
            h.saturating_record(ns);
            if metric == self.main {
                shard.record_stage(ns, stage);
            }
        }
    }

    /// Records a lag `ns` of a periodic event due every `interval` ns,
    /// with the events the lag made it miss (HdrHistogram's
    /// `record_correct`), while the window is open.
    pub fn record_lag(&self, ns: u64, interval: u64, metric: Metric) {
        if !self.measuring() {
            return;
        }
        let ns = self.in_range(ns);
        let mut shard = self.shard();
        let h = shard.histograms[slot(metric)].get_or_insert_with(latency_histogram);
        if h.record_correct(ns, interval).is_err() {
            h.saturating_record(ns);
        }
    }

    /// This thread's shard.
    fn shard(&self) -> std::sync::MutexGuard<'_, Shard> {
        lock(&self.shards[THREAD.with(|t| *t) % self.shards.len()])
    }

    fn in_range(&self, ns: u64) -> u64 {
        let max = wsbench_model::results::MAX_LATENCY_NS;
        if ns > max {
            self.error("latency-over-1h");
        }
        ns.clamp(1, max)
    }

    /// Records a flow timer's values, `flow.<name>` from the send's instant
    /// on the flow's schedule and `flow.<name>_uncorrected` from the
    /// actual send, whether or not the window is open (as
    /// [`Recorder::record_pair`]: the caller has decided they belong to
    /// it).
    pub fn record_timer(&self, name: &str, corrected: u64, uncorrected: u64) {
        let values =
            [(true, corrected), (false, uncorrected)].map(|(c, ns)| (c, self.in_range(ns)));
        let mut timers = lock(&self.timers);
        for (c, ns) in values {
            let h = timers
                .entry(flow_timer(name, c))
                .or_insert_with(latency_histogram);
            let _ = h.record(ns);
        }
    }

    /// The flow timers' histograms, by the name they are reported under.
    pub fn timer_histograms(&self) -> BTreeMap<String, Histogram<u64>> {
        lock(&self.timers).clone()
    }

    /// Adds a whole histogram of `metric` (recorded elsewhere, e.g. by the
    /// publisher).
    pub fn add_histogram(&self, metric: Metric, h: &Histogram<u64>) {
        let mut shard = lock(&self.shards[0]);
        let slot = shard.histograms[slot(metric)].get_or_insert_with(latency_histogram);
        let _ = slot.add(h);
    }

    /// Counts an error of `kind`.
    pub fn error(&self, kind: impl Into<String>) {
        *lock(&self.errors).entry(kind.into()).or_default() += 1;
    }

    /// Errors by kind.
    pub fn errors(&self) -> BTreeMap<String, u64> {
        lock(&self.errors).clone()
    }

    /// Total errors.
    pub fn error_count(&self) -> u64 {
        lock(&self.errors).values().sum()
    }

    /// The main metric's values recorded since the last call (for
    /// progress), merged: its histogram over the shards now less the one
    /// the last call saw. Recording a value costs no second histogram.
    pub fn take_interval(&self) -> Histogram<u64> {
        let mut seen = lock(&self.seen);
        let mut now = latency_histogram();
        for s in &self.shards {
            if let Some(h) = &lock(s).histograms[slot(self.main)] {
                now.add(h).expect("same bounds");
            }
        }
        let mut out = now.clone();
        // Histograms only grow: every count of `seen` is in `now`.
        out.subtract(&*seen).expect("a histogram only grows");
        *seen = now;
        out
    }

    /// With stages: the main latency of each stage, merged over the
    /// shards (empty histograms for stages that saw none).
    pub fn stage_histograms(&self) -> Vec<Histogram<u64>> {
        let mut out = vec![latency_histogram(); self.stage_starts.len()];
        for s in &self.shards {
            let s = lock(s);
            for (o, h) in out.iter_mut().zip(&s.stages) {
                if let Some(h) = h {
                    o.add(h).expect("same bounds");
                }
            }
        }
        out
    }

    /// Every histogram recorded, merged over the shards (an exact merge).
    pub fn histograms(&self) -> BTreeMap<Metric, Histogram<u64>> {
        let mut out: BTreeMap<Metric, Histogram<u64>> = BTreeMap::new();
        for s in &self.shards {
            let s = lock(s);
            for m in &Metric::ALL[..Metric::LATENCIES] {
                let m = *m;
                if let Some(h) = &s.histograms[slot(m)] {
                    out.entry(m)
                        .or_insert_with(latency_histogram)
                        .add(h)
                        .expect("same bounds");
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_only_in_the_window_and_merges_shards_exactly() {
        let r = Recorder::new(Metric::PushLatency);
        r.record(Metric::PushLatency, 5, false);
        r.record(Metric::ConnectTime, 7, true);
        r.set_measuring(true);
        // From ten threads one after the other (each takes the next
        // thread number), so more than one shard holds values.
        for t in 0..10 {
            std::thread::scope(|s| {
                s.spawn(|| {
                    for v in t * 10..(t + 1) * 10 {
                        r.record(Metric::PushLatency, 1000 + v, false);
                    }
                });
            });
        }
        let shards_used = r
            .shards
            .iter()
            .filter(|s| lock(s).histograms[slot(Metric::PushLatency)].is_some())
            .count();
        assert!(shards_used >= r.shards.len().min(2), "{shards_used}");
        let h = r.histograms();
        assert_eq!(h[&Metric::PushLatency].len(), 100);
        assert_eq!(h[&Metric::PushLatency].min(), 1000);
        assert_eq!(h[&Metric::ConnectTime].len(), 1);
        assert_eq!(r.take_interval().len(), 100);
        assert_eq!(r.take_interval().len(), 0, "the interval resets");
        // Values after a look are the next look's alone.
        for v in [1_500, 1_900] {
            r.record(Metric::PushLatency, v, false);
        }
        r.record_pair([(Metric::PushLatency, 1_700), (Metric::ConnectTime, 1)]);
        let next = r.take_interval();
        assert_eq!((next.len(), next.min(), next.max()), (3, 1_500, 1_900));
        assert_eq!(r.histograms()[&Metric::PushLatency].len(), 103);
    }

    #[test]
    fn lags_count_what_they_missed() {
        let r = Recorder::new(Metric::PushLatency);
        r.set_measuring(true);
        // A 300 ms stall of a 1 ms tick: 300 samples, from 300 ms down.
        r.record_lag(300_000_000, 1_000_000, Metric::HarnessLag);
        r.record_lag(50_000, 1_000_000, Metric::HarnessLag);
        let h = &r.histograms()[&Metric::HarnessLag];
        assert_eq!(h.len(), 301);
        assert!(h.value_at_quantile(0.99) > 290_000_000);
        r.record(Metric::PushLatency, u64::MAX, false);
        assert_eq!(r.errors().get("latency-over-1h"), Some(&1));
    }
}
