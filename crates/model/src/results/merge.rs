//! Parts of one phase (worker processes, shards) merged into one phase:
//! counters add up, histograms merge exactly, timelines second by second.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::hdr::{
    Interval, interval_log_base, latency_histogram, read_histogram, read_interval_log,
    write_histogram, write_interval_log,
};
use super::{
    LatencyStats, OpenSample, OpenTrace, PhaseSummary, Recovery, StageSpan, StopReason,
    TimelinePoint, files,
};
use crate::delivery::{Ledger, PublishRecord, account};

/// A phase measured in parts (worker processes, shards): what each part
/// counted, with its ledger of what its subscribers owed and got.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PhasePart {
    /// The part's own summary; its latency files are in its folder.
    pub phase: PhaseSummary,
    /// Why the part ended early, if it did.
    pub stop_reason: Option<StopReason>,
    /// Details of the early end.
    pub stop_detail: Option<String>,
}

/// Merges the counters and rates of parts of one phase (latencies are
/// merged from the histogram files by the caller). Counts add up; rates
/// are recomputed from the sums; the measured time is the longest.
pub fn merge_parts(parts: &[PhasePart]) -> PhaseSummary {
    let mut out = PhaseSummary::default();
    let Some(first) = parts.first() else {
        return out;
    };
    out.transport.clone_from(&first.phase.transport);
    out.group.clone_from(&first.phase.group);
    out.window_start.clone_from(&first.phase.window_start);
    out.window_at_s = first.phase.window_at_s;
    out.workload.clone_from(&first.phase.workload);
    let (mut rss_weighted, mut rss_conns) = (0.0, 0u64);
    for part in parts {
        let p = &part.phase;
        let c = &p.counters;
        let o = &mut out.counters;
        o.connections_attempted += c.connections_attempted;
        o.connections_opened += c.connections_opened;
        o.connections_failed += c.connections_failed;
        o.connections_peak += c.connections_peak;
        o.published += c.published;
        o.publish_failed += c.publish_failed;
        o.delivered += c.delivered;
        o.owed += c.owed;
        o.lost += c.lost;
        o.duplicated += c.duplicated;
        o.out_of_order += c.out_of_order;
        o.unknown += c.unknown;
        o.other += c.other;
        o.received += c.received;
        o.payload_mismatches += c.payload_mismatches;
        o.bytes_sent += c.bytes_sent;
        o.bytes_received += c.bytes_received;
        o.http_requests += c.http_requests;
        o.reconnects += c.reconnects;
        o.lost_in_gaps += c.lost_in_gaps;
        for (k, v) in &c.errors {
            *o.errors.entry(k.clone()).or_default() += v;
        }
        out.measured_s = out.measured_s.max(p.measured_s);
        out.client_cpu_s += p.client_cpu_s;
        if let Some(r) = p.client_rss_per_conn {
            rss_weighted += r * c.connections_opened as f64;
            rss_conns += c.connections_opened;
        }
    }
    out.schedule = first.phase.schedule;
    out.stages.clone_from(&first.phase.stages);
    out.derive_rates();
    out.client_rss_per_conn = (rss_conns > 0).then(|| rss_weighted / rss_conns as f64);
    out
}

/// Merges parts of one phase, each written into its own folder, into
/// `out`: counters by [`merge_parts`], latency histograms exactly (HDR
/// add), the timelines second by second (rates, open connections and
/// errors add up; percentiles come from the merged interval histograms),
/// and push delivery: the parts' ledgers add up and are accounted against
/// every publisher's record (the parts' and `records`, e.g. the
/// coordinator's), copied next to the merged result. The harness verdict
/// is judged again on the merged figures, with `server_cpu_share` when the
/// caller read the target's CPU.
pub fn merge_part_dirs(
    parts: &[(PathBuf, PhasePart)],
    out: &Path,
    prefix: &str,
    records: &[PathBuf],
    server_cpu_share: Option<f64>,
) -> io::Result<PhaseSummary> {
    let list: Vec<PhasePart> = parts.iter().map(|(_, p)| p.clone()).collect();
    let mut summary = merge_parts(&list);
    merge_delivery(parts, out, prefix, records, &mut summary)?;
    let mut merged: BTreeMap<String, Histogram<u64>> = BTreeMap::new();
    for (dir, part) in parts {
        for (metric, stats) in &part.phase.latency {
            let h = read_histogram(&dir.join(&stats.file))?;
            merged
                .entry(metric.clone())
                .or_insert_with(latency_histogram)
                .add(h)
                .map_err(|e| io::Error::other(format!("merging {metric}: {e:?}")))?;
        }
    }
    for (metric, h) in &merged {
        let file = files::histogram(prefix, metric);
        write_histogram(h, &out.join(&file))?;
        summary
            .latency
            .insert(metric.clone(), LatencyStats::of(h, &file));
    }
    merge_stage_latencies(parts, out, prefix, &mut summary)?;
    // Timelines: the parts share a start, so second k of one is second k
    // of the others.
    let key = |t: f64| (t.round().max(0.0)) as u64;
    let mut points: BTreeMap<u64, TimelinePoint> = BTreeMap::new();
    let mut intervals: BTreeMap<u64, Interval> = BTreeMap::new();
    let mut base = None;
    for (dir, part) in parts {
        for p in &part.phase.timeline {
            let e = points.entry(key(p.t_s)).or_insert_with(|| TimelinePoint {
                t_s: p.t_s,
                ..TimelinePoint::default()
            });
            // The latest of the parts' samples of that second (a stage's
            // edge falls between samples, not between rounded seconds).
            e.t_s = e.t_s.max(p.t_s);
            e.msg_rate += p.msg_rate;
            e.open += p.open;
            e.opened += p.opened;
            e.errors += p.errors;
        }
        if let Some(file) = &part.phase.timeline_log {
            let path = dir.join(file);
            base = base.or_else(|| interval_log_base(&path));
            for i in read_interval_log(&path)? {
                let k = key(i.start_s + i.duration_s);
                let e = intervals.entry(k).or_insert_with(|| Interval {
                    start_s: i.start_s,
                    duration_s: i.duration_s,
                    histogram: latency_histogram(),
                });
                e.histogram
                    .add(&i.histogram)
                    .map_err(|e| io::Error::other(format!("merging intervals: {e:?}")))?;
            }
        }
    }
    for (k, i) in &intervals {
        if let Some(p) = points.get_mut(k)
            && !i.histogram.is_empty()
        {
            p.p50 = i.histogram.value_at_quantile(0.5);
            p.p99 = i.histogram.value_at_quantile(0.99);
        }
    }
    summary.timeline = points.into_values().collect();
    let traces: Vec<&[OpenSample]> = parts
        .iter()
        .map(|(_, p)| p.phase.open_trace.as_slice())
        .collect();
    summary.open_trace = OpenTrace::sum(&traces);
    StageSpan::observe(&mut summary.stages, &summary.timeline);
    if !intervals.is_empty() {
        let file = files::timeline_log(prefix);
        let list: Vec<Interval> = intervals.into_values().collect();
        write_interval_log(
            &out.join(&file),
            base.unwrap_or(std::time::UNIX_EPOCH),
            prefix,
            &list,
        )?;
        summary.timeline_log = Some(file);
    }
    let cores = list
        .iter()
        .find_map(|p| p.phase.health.as_ref().map(|h| h.cores))
        .unwrap_or(1);
    let server = server_cpu_share.or_else(|| {
        list.iter()
            .find_map(|p| p.phase.health.as_ref()?.server_cpu_share)
    });
    summary.recovery = Recovery::of_phase(
        merged.get(crate::metric::Metric::ReconnectTime.name()),
        &summary.counters.errors,
    );
    // The parts watched the same window, each on its own cores.
    let steal = list
        .iter()
        .filter_map(|p| p.phase.health.as_ref()?.steal_share)
        .reduce(f64::max);
    summary.judge_health(server, steal, cores);
    Ok(summary)
}

/// With stages: each stage's main latency, the parts' histograms added.
fn merge_stage_latencies(
    parts: &[(PathBuf, PhasePart)],
    out: &Path,
    prefix: &str,
    summary: &mut PhaseSummary,
) -> io::Result<()> {
    let main = crate::metric::main_latency_of(&summary.workload);
    for (i, span) in summary.stages.iter_mut().enumerate() {
        let mut h = latency_histogram();
        for (dir, part) in parts {
            let stats = part
                .phase
                .stages
                .get(i)
                .and_then(|s| s.main_latency.as_ref());
            if let Some(stats) = stats {
                h.add(read_histogram(&dir.join(&stats.file))?)
                    .map_err(|e| io::Error::other(format!("merging {}: {e:?}", span.name)))?;
            }
        }
        span.main_latency = None;
        if !h.is_empty() {
            let file = files::stage_histogram(prefix, &span.name, main.name());
            write_histogram(&h, &out.join(&file))?;
            span.main_latency = Some(LatencyStats::of(&h, &file));
        }
    }
    Ok(())
}

/// Adds the parts' ledgers and accounts them against every publish record
/// (copied into `out`).
fn merge_delivery(
    parts: &[(PathBuf, PhasePart)],
    out: &Path,
    prefix: &str,
    records: &[PathBuf],
    summary: &mut PhaseSummary,
) -> io::Result<()> {
    let mut record_paths: Vec<PathBuf> = records.to_vec();
    for (dir, part) in parts {
        record_paths.extend(part.phase.publish_records.iter().map(|f| dir.join(f)));
    }
    let ledger = sum_ledgers(
        parts
            .iter()
            .filter_map(|(dir, part)| part.phase.ledger.as_ref().map(|f| dir.join(f))),
    )?;
    let Some(ledger) = ledger else {
        return Ok(());
    };
    let file = files::ledger(prefix);
    ledger.write(&out.join(&file))?;
    summary.ledger = Some(file);
    let mut list = Vec::new();
    for path in &record_paths {
        list.push(PublishRecord::read(path)?);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if path.parent() != Some(out) {
            std::fs::copy(path, out.join(&name))?;
        }
        summary.publish_records.push(name);
    }
    let d = account(&ledger, &list)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{prefix}: {e}")))?;
    summary.apply_delivery(d);
    summary.counters.lost_in_gaps = 0;
    if let Some(gaps) = sum_ledgers(
        parts
            .iter()
            .filter_map(|(dir, part)| part.phase.gap_ledger.as_ref().map(|f| dir.join(f))),
    )? {
        let file = files::gap_ledger(prefix);
        gaps.write(&out.join(&file))?;
        summary.gap_ledger = Some(file);
        let d = account(&gaps, &list)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{prefix}: {e}")))?;
        summary.counters.lost_in_gaps = d.lost;
    }
    Ok(())
}

/// The ledgers in `paths` added up (`None`: there were none).
fn sum_ledgers(paths: impl Iterator<Item = PathBuf>) -> io::Result<Option<Ledger>> {
    let mut sum: Option<Ledger> = None;
    for path in paths {
        let l = Ledger::read(&path)?;
        sum = Some(match sum {
            None => l,
            Some(s) => s.add(&l).map_err(io::Error::other)?,
        });
    }
    Ok(sum)
}
