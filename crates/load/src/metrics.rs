//! Live metrics during a run (`wsbench run --metrics-listen ADDR`): an
//! OpenMetrics text endpoint at `/metrics` that Prometheus scrapes.
//!
//! Every family is named `wsbench_…` and labelled with the phase (its
//! transport, or in a mixed population its group), the transport and the
//! group (empty without groups). While a phase runs in this process its
//! figures are read from its recorder at each scrape: the counters of the
//! measured window (messages received, connections, errors by kind) and
//! the window's latency quantiles so far; over worker processes, from the
//! workers' latest seconds (open and opened connections, errors), the rest
//! once the phase is merged. When a phase ends its figures become the
//! ones written to `summary.json`, so a scrape after the end reads exactly
//! the summary. At the end of the run the endpoint stays up until it has
//! been scraped once more (at most [`LINGER`]), so the final figures reach
//! Prometheus.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wsbench_model::metric::{Metric, main_latency_of};
use wsbench_model::results::{LatencyStats, PhaseSummary, TimelinePoint};

use crate::recorder::{Counts, Recorder};

/// Every family the endpoint serves (the names a dashboard may use).
pub const FAMILIES: [&str; 7] = [
    "wsbench_connections_open",
    "wsbench_connections_opened",
    "wsbench_connections_failed",
    "wsbench_messages_received",
    "wsbench_errors",
    "wsbench_latency_seconds",
    "wsbench_harness_lag_seconds",
];

/// Longest the endpoint waits at the end of a run for a last scrape.
pub const LINGER: Duration = Duration::from_secs(10);

/// Quantiles served for a latency.
const QUANTILES: [f64; 4] = [0.5, 0.9, 0.99, 0.999];

/// Where a phase's figures come from now.
enum Source {
    /// Its recorder, in this process.
    Live(Arc<Recorder>),
    /// Its workers' latest second, summed.
    Workers(TimelinePoint),
    /// Its summary: the phase is over.
    Done(Box<PhaseSummary>),
}

struct Entry {
    name: String,
    transport: String,
    group: String,
    workload: String,
    source: Source,
}

/// The live figures of a run, and its endpoint.
pub struct Metrics {
    addr: SocketAddr,
    phases: Mutex<Vec<Entry>>,
    /// Scrapes served.
    scrapes: AtomicU64,
    /// The run is over: every phase is `Done`.
    finished: AtomicBool,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Metrics({})", self.addr)
    }
}

impl Metrics {
    /// Listens on `addr` and serves `/metrics` until the process ends.
    pub async fn serve(addr: SocketAddr) -> std::io::Result<Arc<Metrics>> {
        let listener = TcpListener::bind(addr).await?;
        let metrics = Arc::new(Metrics {
            addr: listener.local_addr()?,
            phases: Mutex::new(Vec::new()),
            scrapes: AtomicU64::new(0),
            finished: AtomicBool::new(false),
        });
        let served = Arc::clone(&metrics);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(respond(stream, Arc::clone(&served)));
            }
        });
        Ok(metrics)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn set(
        &self,
        name: &str,
        transport: &str,
        group: Option<&str>,
        workload: &str,
        source: Source,
    ) {
        let mut phases = self
            .phases
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = Entry {
            name: name.to_owned(),
            transport: transport.to_owned(),
            group: group.unwrap_or_default().to_owned(),
            workload: workload.to_owned(),
            source,
        };
        match phases.iter_mut().find(|e| e.name == name) {
            Some(e) => *e = entry,
            None => phases.push(entry),
        }
    }

    /// Phase `name` runs here: read `rec` at each scrape.
    pub(crate) fn live(
        &self,
        name: &str,
        transport: &str,
        group: Option<&str>,
        workload: &str,
        rec: Arc<Recorder>,
    ) {
        self.set(name, transport, group, workload, Source::Live(rec));
    }

    /// Phase `name` runs over workers: their latest second, summed.
    pub(crate) fn workers(
        &self,
        name: &str,
        transport: &str,
        group: Option<&str>,
        workload: &str,
        p: TimelinePoint,
    ) {
        self.set(name, transport, group, workload, Source::Workers(p));
    }

    /// Phase `p` is over: from now on its summary's figures.
    pub(crate) fn done(&self, p: &PhaseSummary) {
        let source = Source::Done(Box::new(p.clone()));
        self.set(
            p.name(),
            &p.transport,
            p.group.as_deref(),
            &p.workload,
            source,
        );
    }

    /// The run is over: waits until the final figures were scraped once
    /// (at most [`LINGER`]).
    pub async fn linger(&self) {
        self.finished.store(true, Ordering::SeqCst);
        let seen = self.scrapes.load(Ordering::SeqCst);
        let deadline = tokio::time::Instant::now() + LINGER;
        while self.scrapes.load(Ordering::SeqCst) == seen && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The OpenMetrics text of every phase now.
    pub fn render(&self) -> String {
        let phases = self
            .phases
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let figures: Vec<(String, Figures)> =
            phases.iter().map(|e| (labels(e), Figures::of(e))).collect();
        drop(phases);
        let mut out = String::new();
        family(
            &mut out,
            FAMILIES[0],
            "gauge",
            "connections open now",
            &figures,
            |f| f.open.map(|v| vec![(String::new(), v)]),
        );
        family(
            &mut out,
            FAMILIES[1],
            "counter",
            "connections opened since the phase started",
            &figures,
            |f| f.opened.map(|v| vec![(String::new(), v)]),
        );
        family(
            &mut out,
            FAMILIES[2],
            "counter",
            "connections that failed to open",
            &figures,
            |f| f.failed.map(|v| vec![(String::new(), v)]),
        );
        family(
            &mut out,
            FAMILIES[3],
            "counter",
            "messages received in the measured window",
            &figures,
            |f| f.received.map(|v| vec![(String::new(), v)]),
        );
        family(
            &mut out,
            FAMILIES[4],
            "counter",
            "errors by kind",
            &figures,
            |f| {
                (!f.errors.is_empty()).then(|| {
                    f.errors
                        .iter()
                        .map(|(k, v)| (format!(",kind=\"{}\"", escape(k)), *v as f64))
                        .collect()
                })
            },
        );
        summary(
            &mut out,
            FAMILIES[5],
            "the phase's main latency in the window so far (push_latency, echo_rtt, …)",
            &figures,
            |f| f.latency.as_ref(),
        );
        summary(
            &mut out,
            FAMILIES[6],
            "the load generator's own scheduling lag",
            &figures,
            |f| f.lag.as_ref(),
        );
        out.push_str("# EOF\n");
        out
    }
}

/// One phase's figures at a scrape.
#[derive(Default)]
struct Figures {
    open: Option<f64>,
    opened: Option<f64>,
    failed: Option<f64>,
    received: Option<f64>,
    errors: BTreeMap<String, u64>,
    /// (metric name, stats).
    latency: Option<(String, LatencyStats)>,
    lag: Option<(String, LatencyStats)>,
}

impl Figures {
    fn of(e: &Entry) -> Figures {
        let main = main_latency_of(&e.workload);
        match &e.source {
            Source::Live(rec) => {
                let c = &rec.counts;
                let h = rec.histograms();
                let stats = |m: Metric| {
                    h.get(&m)
                        .filter(|h| !h.is_empty())
                        .map(|h| (m.name().to_owned(), stats_of(h)))
                };
                Figures {
                    open: Some(Counts::get(&c.open_now) as f64),
                    opened: Some(Counts::get(&c.opened) as f64),
                    failed: Some(Counts::get(&c.failed) as f64),
                    received: Some(Counts::get(&c.received) as f64),
                    errors: rec.errors(),
                    latency: stats(main),
                    lag: stats(Metric::HarnessLag),
                }
            }
            Source::Workers(p) => Figures {
                open: Some(p.open as f64),
                opened: Some(p.opened as f64),
                ..Figures::default()
            },
            Source::Done(p) => {
                let c = &p.counters;
                let stats = |m: Metric| {
                    p.latency
                        .get(m.name())
                        .filter(|s| s.count > 0)
                        .map(|s| (m.name().to_owned(), s.clone()))
                };
                Figures {
                    open: Some(0.0),
                    opened: Some(c.connections_opened as f64),
                    failed: Some(c.connections_failed as f64),
                    received: Some(c.received as f64),
                    errors: c.errors.clone(),
                    latency: stats(main),
                    lag: stats(Metric::HarnessLag),
                }
            }
        }
    }
}

/// Statistics of `h` as the summary keeps them.
fn stats_of(h: &Histogram<u64>) -> LatencyStats {
    LatencyStats::of(h, "")
}

/// `{phase="…",transport="…",group="…"` (left open for more labels).
fn labels(e: &Entry) -> String {
    format!(
        "{{phase=\"{}\",transport=\"{}\",group=\"{}\"",
        escape(&e.name),
        escape(&e.transport),
        escape(&e.group)
    )
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A gauge or counter family: each phase's samples (extra labels, value).
fn family(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    figures: &[(String, Figures)],
    values: impl Fn(&Figures) -> Option<Vec<(String, f64)>>,
) {
    let _ = writeln!(out, "# TYPE {name} {kind}\n# HELP {name} {help}.");
    let suffix = if kind == "counter" { "_total" } else { "" };
    for (labels, f) in figures {
        for (extra, v) in values(f).unwrap_or_default() {
            let _ = writeln!(out, "{name}{suffix}{labels}{extra}}} {v}");
        }
    }
}

/// A summary family, in seconds: quantiles, count and sum.
fn summary(
    out: &mut String,
    name: &str,
    help: &str,
    figures: &[(String, Figures)],
    stats: impl Fn(&Figures) -> Option<&(String, LatencyStats)>,
) {
    let _ = writeln!(
        out,
        "# TYPE {name} summary\n# HELP {name} {help}.\n# UNIT {name} seconds"
    );
    for (labels, f) in figures {
        let Some((metric, s)) = stats(f) else {
            continue;
        };
        let labels = format!("{labels},metric=\"{metric}\"");
        for q in QUANTILES {
            let v = match q {
                0.5 => s.p50,
                0.9 => s.p90,
                0.99 => s.p99,
                _ => s.p999,
            };
            let _ = writeln!(out, "{name}{labels},quantile=\"{q}\"}} {}", v as f64 / 1e9);
        }
        let _ = writeln!(
            out,
            "{name}_sum{labels}}} {}",
            s.mean * s.count as f64 / 1e9
        );
        let _ = writeln!(out, "{name}_count{labels}}} {}", s.count);
    }
}

/// Serves one connection: `GET /metrics` (any other path: 404).
async fn respond(mut stream: TcpStream, metrics: Arc<Metrics>) {
    let mut buf = vec![0u8; 4096];
    let mut filled = 0;
    let path = loop {
        let Ok(n) = stream.read(&mut buf[filled..]).await else {
            return;
        };
        if n == 0 {
            return;
        }
        filled += n;
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf[..filled]) {
            Ok(httparse::Status::Complete(_)) => break req.path.unwrap_or("/").to_owned(),
            Ok(httparse::Status::Partial) if filled < buf.len() => {}
            _ => return,
        }
    };
    let (status, kind, body) = if path == "/metrics" || path.starts_with("/metrics?") {
        let finished = metrics.finished.load(Ordering::SeqCst);
        let body = metrics.render();
        if finished {
            metrics.scrapes.fetch_add(1, Ordering::SeqCst);
        }
        (
            "200 OK",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            body,
        )
    } else {
        (
            "404 Not Found",
            "text/plain",
            "wsbench serves /metrics\n".to_owned(),
        )
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body.as_bytes()).await;
    let _ = stream.shutdown().await;
}

#[cfg(test)]
mod tests;
