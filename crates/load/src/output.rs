//! The results folder: `results/<date>-<scenario>/` with `run.md`
//! (written first, so even a run that dies at once leaves its record, and
//! completed with the harness verdicts at the end), `summary.json`
//! (rewritten after every phase), one `.hdr` file per phase and metric, the
//! push ledger and publish records, and `server.log` for builtin targets.
//! The folder and its file names are `wsbench_model::results`'
//! (`RunFolder`, `files`).

use std::fmt::Write as _;
use std::io;
use std::path::Path;

use wsbench_model::Scenario;
use wsbench_model::delivery::{Delivery, Ledger, PublishRecord, account, account_recorded};
use wsbench_model::metric::{Metric, flow_timer, flow_timer_of, fmt_ns, main_latency_of};
use wsbench_model::results::{
    Environment, LatencyStats, PhaseSummary, Recovery, RunFolder, Summary, files, write_histogram,
    write_interval_log,
};

use crate::phase::{Measured, cores};
use crate::stop::Early;

/// Creates the run's results folder `root/<date>-<scenario><suffix>/` and
/// writes `run.md` into it first, so even a run that dies at once leaves
/// its record.
pub(crate) fn create_folder(
    root: &Path,
    scenario: &Scenario,
    suffix: &str,
    command: &str,
    env: &Environment,
) -> io::Result<RunFolder> {
    let folder = RunFolder::create(root, &scenario.name, suffix)?;
    folder.write_run_md(&run_md(scenario, command, env))?;
    Ok(folder)
}

/// How a phase's push delivery is accounted where its files are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Accounting {
    /// Against this process's record: it published every message.
    All,
    /// Against this process's record, for its own share only (a shard;
    /// `wsbench merge` accounts every share).
    OwnShare,
    /// Not here: another process published (a worker; the coordinator
    /// accounts when it merges).
    Later,
}

/// Writes what one process measured of a phase into `dir` (histograms,
/// the main latency's interval log, the push ledger and publish record)
/// and completes its summary: latency statistics, push delivery accounted
/// as `accounting` says, and the harness verdict.
pub(crate) fn write_phase(
    dir: &Path,
    prefix: &str,
    m: Measured,
    accounting: Accounting,
) -> io::Result<(PhaseSummary, Early)> {
    let mut summary = m.summary;
    for (metric, h) in &m.histograms {
        let file = files::histogram(prefix, metric.name());
        write_histogram(h, &dir.join(&file))?;
        summary
            .latency
            .insert(metric.name().to_owned(), LatencyStats::of(h, &file));
    }
    for (name, h) in &m.timer_histograms {
        let file = files::histogram(prefix, name);
        write_histogram(h, &dir.join(&file))?;
        summary
            .latency
            .insert(name.clone(), LatencyStats::of(h, &file));
    }
    let main = main_latency_of(&summary.workload);
    for (span, h) in summary.stages.iter_mut().zip(&m.stage_histograms) {
        if !h.is_empty() {
            let file = files::stage_histogram(prefix, &span.name, main.name());
            write_histogram(h, &dir.join(&file))?;
            span.main_latency = Some(LatencyStats::of(h, &file));
        }
    }
    if !m.intervals.is_empty() {
        let file = files::timeline_log(prefix);
        write_interval_log(&dir.join(&file), m.timeline_base, prefix, &m.intervals)?;
        summary.timeline_log = Some(file);
    }
    let records: Vec<_> = m.record.iter().cloned().collect();
    if let Some(ledger) = &m.ledger {
        let file = files::ledger(prefix);
        if let Some(d) = write_ledger(ledger, &dir.join(&file), &records, accounting)? {
            summary.apply_delivery(d);
        }
        summary.ledger = Some(file);
    }
    if let Some(gaps) = &m.gap_ledger {
        let file = files::gap_ledger(prefix);
        if let Some(d) = write_ledger(gaps, &dir.join(&file), &records, accounting)? {
            summary.counters.lost_in_gaps = d.lost;
        }
        summary.gap_ledger = Some(file);
    }
    if let Some(record) = &m.record {
        let file = files::publish_record(prefix, record.index);
        record.write(&dir.join(&file))?;
        summary.publish_records.push(file);
    }
    summary.recovery = Recovery::of_phase(
        m.histograms.get(&Metric::ReconnectTime),
        &summary.counters.errors,
    );
    summary.judge_health(m.server_cpu_share, m.steal_share, cores());
    Ok((summary, m.early))
}

/// Writes `ledger` to `path` and accounts it against `records` as
/// `accounting` says (`None`: later, by the coordinator).
fn write_ledger(
    ledger: &Ledger,
    path: &Path,
    records: &[PublishRecord],
    accounting: Accounting,
) -> io::Result<Option<Delivery>> {
    ledger.write(path)?;
    let delivery = match accounting {
        Accounting::All => account(ledger, records),
        Accounting::OwnShare => account_recorded(ledger, records),
        Accounting::Later => return Ok(None),
    };
    delivery.map(Some).map_err(io::Error::other)
}

/// Completes `run.md` with what every reader of a result should see next
/// to its figures: the harness floor and each phase's verdict.
pub fn append_health(folder: &RunFolder, summary: &Summary) -> io::Result<()> {
    let mut md = String::from("\n## Harness health\n\n");
    if let Some(f) = &summary.floor {
        let _ = writeln!(
            md,
            "Floor (loopback echo in this process, {:.1} s): p50 {}, p99 {}, p99.9 {}; \
             harness lag p99 {}.\n",
            f.duration_s,
            fmt_ns(f.echo_rtt.p50 as f64),
            fmt_ns(f.echo_rtt.p99 as f64),
            fmt_ns(f.echo_rtt.p999 as f64),
            f.harness_lag_p99_ns
                .map_or_else(|| "not measured".to_owned(), |v| fmt_ns(v as f64)),
        );
    } else {
        md.push_str("Floor: not measured (--no-calibrate).\n\n");
    }
    let _ = writeln!(
        md,
        "| phase | verdict | harness lag p99 | main p50 | load generator CPU | server CPU | CPU steal |\n|---|---|---:|---:|---:|---:|---:|"
    );
    for p in &summary.phases {
        let Some(h) = &p.health else { continue };
        let ns = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |v| fmt_ns(v as f64));
        let share =
            |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |s| format!("{:.0}%", s * 100.0));
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {:.0}% | {} | {} |",
            p.label(),
            h.verdict.name(),
            ns(h.harness_lag_p99_ns),
            ns(h.main_p50_ns),
            h.client_cpu_share * 100.0,
            share(h.server_cpu_share),
            share(h.steal_share),
        );
        for r in &h.reasons {
            let _ = writeln!(md, "|  | {r} | | | | | |");
        }
    }
    folder.append_run_md(&md)
}

fn run_md(s: &Scenario, command: &str, env: &Environment) -> String {
    let unknown = || "unknown".to_owned();
    let mut md = String::new();
    let _ = writeln!(md, "# wsbench run: {}\n", s.name);
    if !s.description.is_empty() {
        let _ = writeln!(md, "{}\n", s.description);
    }
    let _ = writeln!(md, "| | |\n|---|---|");
    let _ = writeln!(md, "| command | `{command}` |");
    let _ = writeln!(md, "| wsbench | {} |", env.wsbench);
    let _ = writeln!(
        md,
        "| git rev | {} |",
        env.git_rev.clone().unwrap_or_else(unknown)
    );
    let _ = writeln!(
        md,
        "| rustc | {} |",
        env.rustc.clone().unwrap_or_else(unknown)
    );
    let _ = writeln!(
        md,
        "| CPU | {} ({} logical) |",
        env.cpu.clone().unwrap_or_else(unknown),
        env.cpus
    );
    let _ = writeln!(
        md,
        "| kernel | {} |",
        env.kernel.clone().unwrap_or_else(unknown)
    );
    let _ = writeln!(md, "| SIMD backend | {} |", env.simd_backend);
    let _ = writeln!(md, "| load generator processes | {} |", env.workers);
    let _ = writeln!(
        md,
        "\nResults: `summary.json` (schema in `results/schema/`), one HdrHistogram \
         (V2 compressed, nanoseconds) per phase and metric in `*.hdr`, the push \
         ledgers (`*-ledger.json`) and publish records (`*-publish-*.csv`).\n"
    );
    let _ = writeln!(md, "## Scenario\n\n```toml\n{}\n```", s.source.trim_end());
    md
}

fn ms(ns: u64) -> String {
    let ms = ns as f64 / 1e6;
    if ms >= 100.0 {
        format!("{ms:.0}")
    } else if ms >= 1.0 {
        format!("{ms:.2}")
    } else {
        format!("{ms:.3}")
    }
}

/// A flow's named timers, one note each: from the schedule, and from
/// the actual send.
fn flow_timers(p: &PhaseSummary) -> Vec<String> {
    let timers = p
        .latency
        .iter()
        .filter_map(|(name, l)| match flow_timer_of(name) {
            Some((bare, true)) => Some((name, bare, l)),
            _ => None,
        });
    timers
        .map(|(name, bare, l)| {
            let actual = p
                .latency
                .get(&flow_timer(bare, false))
                .map_or(String::new(), |u| {
                    format!(
                        "; from the actual send p50 {} p99 {} ms",
                        ms(u.p50),
                        ms(u.p99)
                    )
                });
            format!(
                "{}: {name}: {} timed, p50 {} p99 {} max {} ms from the flow's schedule{actual}",
                p.label(),
                l.count,
                ms(l.p50),
                ms(l.p99),
                ms(l.max)
            )
        })
        .collect()
}

/// The table printed at the end of a run, 100 columns wide (with names of
/// up to 10 characters): one row per phase with the main latency (and
/// its uncorrected twin), delivery, msg/s, errors and the harness
/// verdict (bytes and requests per message are in `summary.json` and the
/// report); below it, why a verdict is not ok, and publishes
/// that failed or messages nobody published.
pub fn table(summary: &Summary) -> String {
    let mut out = String::new();
    let grouped = summary.phases.iter().any(|p| p.group.is_some());
    let w = summary
        .phases
        .iter()
        .map(|p| p.name().len())
        .max()
        .unwrap_or(0)
        .max(10);
    let _ = writeln!(
        out,
        "{:<w$} {:<14} {:>7} {:>7} {:>7} {:>7} {:>9} {:>7} {:>7} {:>6} {:>9}",
        if grouped { "group" } else { "transport" },
        "metric (ms)",
        "p50",
        "p99",
        "p99.9",
        "max",
        Metric::Delivered.name(),
        Metric::Lost.name(),
        "msg/s",
        Metric::Errors.name(),
        "harness"
    );
    let mut notes = Vec::new();
    for p in &summary.phases {
        let main = main_latency_of(&p.workload);
        let st = p.latency.get(main.name()).cloned().unwrap_or_default();
        let verdict = p.health.as_ref().map_or("-", |h| h.verdict.name());
        let _ = writeln!(
            out,
            "{:<w$} {:<14} {:>7} {:>7} {:>7} {:>7} {:>9} {:>7} {:>7.0} {:>6} {:>9}",
            p.name(),
            main.name(),
            ms(st.p50),
            ms(st.p99),
            ms(st.p999),
            ms(st.max),
            p.counters.delivered,
            p.counters.lost,
            p.msg_rate,
            p.errors(),
            verdict,
        );
        let uncorrected = main.uncorrected().and_then(|m| p.latency.get(m.name()));
        if let Some(u) = uncorrected.filter(|s| s.count > 0) {
            let _ = writeln!(
                out,
                "{:<w$} {:<14} {:>7} {:>7} {:>7} {:>7}",
                "",
                "(uncorrected)",
                ms(u.p50),
                ms(u.p99),
                ms(u.p999),
                ms(u.max)
            );
        }
        for r in p.health.iter().flat_map(|h| &h.reasons) {
            notes.push(format!("{}: harness {verdict}: {r}", p.label()));
        }
        notes.extend(flow_timers(p));
        for st in &p.stages {
            let latency = match &st.main_latency {
                Some(l) => format!("{} p50 {} p99 {} ms", main.name(), ms(l.p50), ms(l.p99)),
                None => format!("no {}", main.name()),
            };
            let (what, seen) = match (st.arrivals_from, st.arrivals) {
                (Some(a), Some(b)) => (
                    format!(
                        "arrivals {a:.0} → {b:.0}/s, {} → {} opened",
                        st.from, st.target
                    ),
                    "connections opened",
                ),
                _ => (
                    format!("{} → {} connections", st.from, st.target),
                    "open connections",
                ),
            };
            notes.push(format!(
                "{}: {} {:.1}–{:.1} s, {what}; {seen} {}; {latency}",
                p.label(),
                st.name,
                st.start_s,
                st.end_s,
                match st.worst_gap {
                    Some(g) => format!("within {g} of the profile over {} samples", st.samples),
                    None => "not sampled".to_owned(),
                },
            ));
        }
        let c = &p.counters;
        if let Some(r) = &p.recovery {
            let secs = |v: Option<f64>| v.map_or("never".to_owned(), |s| format!("{s:.2} s"));
            notes.push(format!(
                "{}: {} reconnected, {} gave up, {} still away at the end; 95% back after {}, all after {}; {} of {} lost were owed while reconnecting",
                p.label(),
                r.reconnected,
                r.gave_up,
                r.still_away,
                secs(r.back_95_s),
                secs(r.back_100_s),
                c.lost_in_gaps,
                c.lost
            ));
        }
        if c.publish_failed > 0 || c.unknown > 0 {
            notes.push(format!(
                "{}: {} of {} window messages could not be published; {} messages nobody published arrived",
                p.label(),
                c.publish_failed,
                c.published + c.publish_failed,
                c.unknown
            ));
        }
    }
    if grouped {
        notes.push(together(&summary.phases));
    }
    for n in notes {
        let _ = writeln!(out, "{n}");
    }
    out
}

/// A mixed population's groups together: they ran in one window on one
/// target, so their counts add up.
fn together(phases: &[PhaseSummary]) -> String {
    let sum = |f: fn(&PhaseSummary) -> u64| phases.iter().map(f).sum::<u64>();
    let rate: f64 = phases.iter().map(|p| p.msg_rate).sum();
    format!(
        "all {} groups at once: {} connections opened, {} failed, {rate:.0} msg/s received, {} errors",
        phases.len(),
        sum(|p| p.counters.connections_opened),
        sum(|p| p.counters.connections_failed),
        sum(PhaseSummary::errors),
    )
}
