//! The results folder: `results/<date>-<scenario>/` with `run.md`
//! (written first, so even a run that dies at once leaves its record),
//! `summary.json` (rewritten after every phase), one `.hdr` file per
//! phase and metric, and `server.log` for builtin targets.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use hdrhistogram::Histogram;
use std::time::SystemTime;

use wsbench_model::Scenario;
use wsbench_model::results::{
    Environment, Interval, LatencyStats, PhaseSummary, Summary, write_histogram, write_interval_log,
};

use crate::recorder::Metric;

/// A run's results folder.
#[derive(Debug)]
pub struct ResultsDir {
    path: PathBuf,
}

impl ResultsDir {
    /// Creates `root/<UTC date and time>-<scenario name><suffix>/` and
    /// writes `run.md` into it.
    pub fn create(
        root: &Path,
        scenario: &Scenario,
        suffix: &str,
        command: &str,
        env: &Environment,
    ) -> io::Result<ResultsDir> {
        let stamp = folder_stamp();
        let mut path = root.join(format!("{stamp}-{}{suffix}", scenario.name));
        let mut n = 1;
        while path.exists() {
            n += 1;
            path = root.join(format!("{stamp}-{}{suffix}-{n}", scenario.name));
        }
        fs::create_dir_all(&path)?;
        let dir = ResultsDir { path };
        fs::write(dir.path.join("run.md"), run_md(scenario, command, env))?;
        Ok(dir)
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes each histogram as `<prefix>-<metric>.hdr` and the timeline's
    /// interval histograms as `<prefix>-timeline.hlog`, and fills the
    /// phase's latency statistics from the same histograms.
    pub fn write_histograms(
        &mut self,
        prefix: &str,
        histograms: &BTreeMap<Metric, Histogram<u64>>,
        timeline: (SystemTime, &[Interval]),
        summary: PhaseSummary,
    ) -> io::Result<PhaseSummary> {
        write_phase_files(&self.path, prefix, histograms, timeline, summary)
    }

    /// Writes `summary.json`.
    pub fn write_summary(&self, summary: &Summary) -> io::Result<()> {
        summary.write(&self.path)
    }

    /// Writes the builtin server's last stderr lines.
    pub fn write_server_log(&self, lines: &[String]) -> io::Result<()> {
        let mut text = lines.join("\n");
        text.push('\n');
        fs::write(self.path.join("server.log"), text)
    }
}

/// The UTC date and time that starts folder names: `2026-11-27T153446`.
pub fn folder_stamp() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now())
        .to_string()
        .replace(':', "")
        .trim_end_matches('Z')
        .to_owned()
}

/// Writes a phase's histograms and interval log into `dir` (see
/// [`ResultsDir::write_histograms`]).
pub fn write_phase_files(
    dir: &Path,
    prefix: &str,
    histograms: &BTreeMap<Metric, Histogram<u64>>,
    (base, intervals): (SystemTime, &[Interval]),
    mut summary: PhaseSummary,
) -> io::Result<PhaseSummary> {
    for (metric, h) in histograms {
        let file = format!("{prefix}-{}.hdr", metric.name());
        write_histogram(h, &dir.join(&file))?;
        summary
            .latency
            .insert(metric.name().to_owned(), LatencyStats::of(h, &file));
    }
    if !intervals.is_empty() {
        let file = format!("{prefix}-timeline.hlog");
        write_interval_log(&dir.join(&file), base, prefix, intervals)?;
        summary.timeline_log = Some(file);
    }
    Ok(summary)
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
    if let wsbench_model::Target::Url { push_clock, .. } = s.target {
        let _ = writeln!(md, "| push clock | {} |", push_clock.name());
    }
    let _ = writeln!(md, "| SIMD backend | {} |", env.simd_backend);
    let _ = writeln!(md, "| load generator processes | {} |", env.workers);
    let _ = writeln!(
        md,
        "\nResults: `summary.json` (schema in `results/schema/`), one HdrHistogram \
         (V2 compressed, nanoseconds) per phase and metric in `*.hdr`.\n"
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

/// The table printed at the end of a run: one row per phase.
pub fn table(summary: &Summary) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<11} {:<14} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10} {:>9} {:>10} {:>9} {:>7}",
        "transport",
        "metric (ms)",
        "p50",
        "p90",
        "p99",
        "p99.9",
        "max",
        "delivered",
        "msg/s",
        "bytes/msg",
        "req/msg",
        "errors"
    );
    for p in &summary.phases {
        let main = [
            "push_latency",
            "echo_rtt",
            "throughput_rtt",
            "handshake_time",
        ]
        .into_iter()
        .find_map(|m| p.latency.get(m).filter(|s| s.count > 0).map(|s| (m, s)));
        let (name, st) = match main {
            Some((m, s)) => (m, s.clone()),
            None => ("-", LatencyStats::default()),
        };
        let _ = writeln!(
            out,
            "{:<11} {:<14} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10} {:>9.0} {:>10.1} {:>9.3} {:>7}",
            p.transport,
            name,
            ms(st.p50),
            ms(st.p90),
            ms(st.p99),
            ms(st.p999),
            ms(st.max),
            p.counters.delivered,
            p.msg_rate,
            p.bytes_per_msg,
            p.requests_per_msg,
            p.errors(),
        );
        if let Some(u) = p
            .latency
            .get("echo_rtt_uncorrected")
            .filter(|s| s.count > 0)
        {
            let _ = writeln!(
                out,
                "{:<11} {:<14} {:>9} {:>9} {:>9} {:>9} {:>9}",
                "",
                "(uncorrected)",
                ms(u.p50),
                ms(u.p90),
                ms(u.p99),
                ms(u.p999),
                ms(u.max)
            );
        }
    }
    out
}
