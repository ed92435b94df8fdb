//! The `[load]` and `[workload]` values of a scenario, each checked
//! where it is written.

use std::net::{IpAddr, Ipv4Addr};
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use super::input::{Checker, RawLoad, RawWorkload};
use super::stages::{self, Shape, Stage};
use super::{MAX_PAYLOAD, PayloadKind, Scenario, ScenarioError, Transport, WorkloadKind};
use crate::threshold::Threshold;

/// The transports, one phase each: listed once, WebSocket only for
/// workloads other than push.
pub(super) fn transports(
    c: &Checker<'_>,
    load: &RawLoad,
    table: Range<usize>,
    kind: WorkloadKind,
) -> Result<Vec<Transport>, ScenarioError> {
    let Some(listed) = &load.transports else {
        return Err(c.at(
            table,
            "no transports",
            Some("transports = [\"websocket\"] (or \"long-poll\", \"short-poll\", \"sse\")"),
        ));
    };
    let mut transports = Vec::new();
    for t in listed.get_ref() {
        if transports.contains(t.get_ref()) {
            return Err(c.at(
                t.span(),
                format!("transport {} is listed twice", t.get_ref()),
                None,
            ));
        }
        if kind != WorkloadKind::Push && *t.get_ref() != Transport::Websocket {
            return Err(c.at(
                t.span(),
                format!("the {} workload runs over WebSocket only", kind.name()),
                Some("HTTP polling and SSE only receive: compare them with kind = \"push\""),
            ));
        }
        transports.push(*t.get_ref());
    }
    if transports.is_empty() {
        return Err(c.at(
            listed.span(),
            "no transports",
            Some("name at least one of \"websocket\", \"long-poll\", \"short-poll\", \"sse\""),
        ));
    }
    Ok(transports)
}

/// `[load]`'s values.
pub(super) struct LoadValues {
    pub(super) connections: u64,
    pub(super) stages: Vec<Stage>,
    pub(super) ramp_rate: f64,
    pub(super) duration: Duration,
    pub(super) warmup: Duration,
    pub(super) short_poll_interval: Duration,
    pub(super) source_addresses: Vec<IpAddr>,
    pub(super) workers: u16,
}

/// `[load]`, each value checked.
pub(super) fn load(
    c: &Checker<'_>,
    load: &RawLoad,
    table: Range<usize>,
    kind: WorkloadKind,
) -> Result<LoadValues, ScenarioError> {
    let warmup = match &load.warmup {
        Some(w) => c.duration(w, "warmup")?,
        None => Duration::ZERO,
    };
    let Shape {
        connections,
        ramp_rate,
        duration,
        stages,
    } = stages::shape(c, load, table, warmup, kind)?;
    let short_poll_interval = match &load.short_poll_interval {
        Some(i) => {
            let d = c.duration(i, "short_poll_interval")?;
            if d < Duration::from_millis(1) {
                return Err(c.at(i.span(), "short_poll_interval must be at least 1ms", None));
            }
            d
        }
        None => Duration::from_millis(250),
    };
    let sources = load.source_addresses.as_ref().map_or(1, |s| *s.get_ref());
    if sources == 0 || sources == 255 {
        let span = load
            .source_addresses
            .as_ref()
            .map(Spanned::span)
            .unwrap_or_default();
        return Err(c.at(
            span,
            "source_addresses must be between 1 and 254",
            Some("N spreads connections over 127.0.0.1 … 127.0.0.N"),
        ));
    }
    let source_addresses = (1..=sources)
        .map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 0, i)))
        .collect();
    let workers = load.workers.as_ref().map_or(0, |w| *w.get_ref());
    if let Some(w) = &load.workers
        && *w.get_ref() > 64
    {
        return Err(c.at(
            w.span(),
            "workers must be between 0 (automatic) and 64",
            Some("0 runs one load generator process per 15,000 connections"),
        ));
    }

    Ok(LoadValues {
        connections,
        stages,
        ramp_rate,
        duration,
        warmup,
        short_poll_interval,
        source_addresses,
        workers,
    })
}

/// `[workload]`'s values besides the rpc ones.
pub(super) struct WorkloadValues {
    pub(super) rate: f64,
    pub(super) payload_size: u64,
    pub(super) payload: PayloadKind,
    pub(super) in_flight: u32,
}

/// `[workload]`, each value checked.
pub(super) fn workload(
    c: &Checker<'_>,
    w: &RawWorkload,
    kind: WorkloadKind,
) -> Result<WorkloadValues, ScenarioError> {
    let rate = match (kind, &w.rate) {
        (WorkloadKind::Push | WorkloadKind::Echo | WorkloadKind::Rpc, None) => {
            return Err(c.at(
                w.kind.span(),
                format!("the {} workload needs a rate", kind.name()),
                Some(if kind == WorkloadKind::Push {
                    "rate = messages published per second, e.g. rate = 10"
                } else {
                    "rate = messages each connection sends per second, e.g. rate = 10"
                }),
            ));
        }
        (_, Some(r)) if !(*r.get_ref() > 0.0 && r.get_ref().is_finite()) => {
            return Err(c.at(r.span(), "rate must be a positive number per second", None));
        }
        (_, Some(r)) => *r.get_ref(),
        (_, None) => 0.0,
    };
    let payload_size = match &w.payload_size {
        Some(p) if *p.get_ref() > MAX_PAYLOAD => {
            return Err(c.at(
                p.span(),
                format!("payload_size = {} is over the limit", p.get_ref()),
                Some(&format!("at most {MAX_PAYLOAD} bytes")),
            ));
        }
        Some(p) => *p.get_ref(),
        None => 64,
    };
    let payload = w.payload.unwrap_or_default();
    if kind == WorkloadKind::Push && payload == PayloadKind::Binary {
        return Err(c.at(
            w.kind.span(),
            "push messages are text (JSON with the sequence number and publish time)",
            Some("use payload = \"text\" or \"json\""),
        ));
    }
    let min_payload = if payload == PayloadKind::Json { 32 } else { 8 };
    if matches!(kind, WorkloadKind::Echo | WorkloadKind::Throughput) && payload_size < min_payload {
        let span = w
            .payload_size
            .as_ref()
            .map(Spanned::span)
            .unwrap_or_default();
        return Err(c.at(
            span,
            format!(
                "echo payloads carry a sequence number: payload_size must be at least {min_payload}"
            ),
            None,
        ));
    }
    let in_flight = match (&w.in_flight, kind) {
        (Some(n), WorkloadKind::Throughput) if *n.get_ref() == 0 => {
            return Err(c.at(n.span(), "in_flight must be at least 1", None));
        }
        (Some(n), _) => *n.get_ref(),
        (None, _) => 1,
    };

    Ok(WorkloadValues {
        rate,
        payload_size,
        payload,
        in_flight,
    })
}

/// The thresholds as parsed, and where each is written.
pub(super) fn thresholds(
    c: &Checker<'_>,
    raw: &[Spanned<String>],
) -> Result<(Vec<Threshold>, Vec<Range<usize>>), ScenarioError> {
    let mut thresholds = Vec::new();
    let mut threshold_spans = Vec::new();
    for t in raw {
        let parsed = Threshold::parse(t.get_ref()).map_err(|e| {
            // +1: the opening quote.
            let at = t.span().start + 1 + e.offset;
            c.at(
                at..at,
                format!("threshold {:?}: {}", t.get_ref(), e.message),
                e.hint.as_deref(),
            )
        })?;
        thresholds.push(parsed);
        threshold_spans.push(t.span());
    }
    Ok((thresholds, threshold_spans))
}

/// Each threshold names a metric this scenario produces.
pub(super) fn thresholds_apply(
    c: &Checker<'_>,
    scenario: &Scenario,
    spans: &[Range<usize>],
) -> Result<(), ScenarioError> {
    for (t, span) in scenario.thresholds.iter().zip(spans) {
        // +1: the opening quote.
        let at = span.start + 1..span.start + 1;
        scenario.check_threshold(t).map_err(|(message, hint)| {
            c.at(
                at,
                format!("threshold {:?}: {message}", t.text),
                hint.as_deref(),
            )
        })?;
    }
    Ok(())
}
