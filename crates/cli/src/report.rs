//! `wsbench report`, `wsbench compare` and `wsbench merge`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use wsbench_report::compare::{self, DEFAULT_LIMITS, Limits, Side};
use wsbench_report::{Format, ReportError, Run};

/// Exit codes of `wsbench compare` (and `merge`).
mod exit {
    /// A gated metric regressed (merge: a threshold failed).
    pub(super) const REGRESSION: u8 = 1;
    /// Bad usage, unreadable or incompatible results.
    pub(super) const USAGE: u8 = 2;
    /// A gated latency could not be judged: too few repetitions.
    pub(super) const INCONCLUSIVE: u8 = 3;
}

#[derive(Clone, Debug, Args)]
pub(crate) struct ReportArgs {
    /// Results folders (`results/<run>`); several are drawn together.
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    /// What to write, comma-separated: png, svg, html, csv, md, hlog.
    #[arg(long, default_value = "png,svg,html")]
    format: String,
    /// Where the comparison of several runs goes (default: a
    /// `report-<time>` folder next to the first run).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Names for the runs, in order, in legends and tables (repeatable,
    /// one per run; default for two runs: baseline and current, for more:
    /// the folders' names).
    #[arg(long = "label", value_name = "NAME")]
    labels: Vec<String>,
}

#[derive(Clone, Debug, Args)]
pub(crate) struct CompareArgs {
    /// The baseline: a results folder, or a folder of repetitions.
    baseline: PathBuf,
    /// The result to judge: a results folder, or a folder of repetitions.
    current: PathBuf,
    /// Allowed worsening per metric, named as thresholds name them:
    /// p50, p90, p99, p99.9, max (the main latency; or e.g.
    /// push_latency.p99), msg_rate, delivered_ratio, errors, lost,
    /// bytes_per_msg, requests_per_msg, server_cpu_us_per_msg. Metrics not
    /// listed are shown, not gated. Latencies need at least 3 repetitions
    /// a side.
    #[arg(long, default_value = DEFAULT_LIMITS)]
    max_regression: String,
    /// Also write the comparison as Markdown to this file (e.g.
    /// $GITHUB_STEP_SUMMARY; appended to).
    #[arg(long)]
    markdown: Option<PathBuf>,
}

#[derive(Clone, Debug, Args)]
pub(crate) struct MergeArgs {
    /// The new results folder.
    #[arg(long)]
    out: PathBuf,
    /// The shard results folders (`wsbench run --shard I/N`), all of them.
    #[arg(required = true)]
    shards: Vec<PathBuf>,
}

fn usage_error(cmd: &str, e: &ReportError) -> ExitCode {
    errln!("wsbench {cmd}: {e}");
    ExitCode::from(exit::USAGE)
}

pub(crate) fn report(args: ReportArgs) -> ExitCode {
    let formats = match Format::parse_list(&args.format) {
        Ok(f) => f,
        Err(e) => {
            errln!("wsbench report: --format: {e}");
            return ExitCode::from(exit::USAGE);
        }
    };
    if !args.labels.is_empty() && args.labels.len() != args.runs.len() {
        errln!(
            "wsbench report: {} --label for {} runs: give one per run, in order",
            args.labels.len(),
            args.runs.len()
        );
        return ExitCode::from(exit::USAGE);
    }
    match write_reports(&args.runs, &formats, args.out.as_deref(), &args.labels) {
        Ok(files) => {
            for f in files {
                outln!("{}", f.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => usage_error("report", &e),
    }
}

/// Writes the reports of the results folders `dirs`; the files written.
pub(crate) fn write_reports(
    dirs: &[PathBuf],
    formats: &[Format],
    out: Option<&Path>,
    labels: &[String],
) -> Result<Vec<PathBuf>, ReportError> {
    let mut runs = dirs
        .iter()
        .map(|d| Run::load(d))
        .collect::<Result<Vec<_>, _>>()?;
    if labels.len() == runs.len() {
        for (run, label) in runs.iter_mut().zip(labels) {
            run.label.clone_from(label);
        }
    } else if let [baseline, current] = runs.as_mut_slice() {
        baseline.label = "baseline".to_owned();
        current.label = "current".to_owned();
    }
    let default_out = || {
        dirs[0]
            .parent()
            .unwrap_or(Path::new("."))
            .join(format!("report-{}", wsbench_model::results::folder_stamp()))
    };
    let out = out.map_or_else(default_out, Path::to_owned);
    wsbench_report::report(&runs, formats, Some(&out))
}

pub(crate) fn compare(args: CompareArgs) -> ExitCode {
    let limits = match Limits::parse(&args.max_regression) {
        Ok(l) => l,
        Err(e) => {
            errln!("wsbench compare: --max-regression: {e}");
            return ExitCode::from(exit::USAGE);
        }
    };
    let sides = Side::load(&args.baseline).and_then(|b| Ok((b, Side::load(&args.current)?)));
    let (baseline, current) = match sides {
        Ok(s) => s,
        Err(e) => return usage_error("compare", &e),
    };
    let result = match compare::compare(&baseline, &current, &limits) {
        Ok(r) => r,
        Err(e) => return usage_error("compare", &e),
    };
    outln!(
        "baseline: {} ({} run{})\ncurrent:  {} ({} run{})\n",
        baseline.label,
        baseline.runs.len(),
        if baseline.runs.len() == 1 { "" } else { "s" },
        current.label,
        current.runs.len(),
        if current.runs.len() == 1 { "" } else { "s" },
    );
    out!("{}", result.table());
    if let Some(path) = &args.markdown {
        use std::io::Write as _;
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| f.write_all(result.markdown().as_bytes()));
        if let Err(e) = written {
            errln!("wsbench compare: {}: {e}", path.display());
            return ExitCode::from(exit::USAGE);
        }
    }
    let regressed: Vec<String> = result
        .regressions()
        .map(|r| format!("{} {}", r.transport, r.metric))
        .collect();
    let unsure = result.inconclusive().count();
    if !regressed.is_empty() {
        outln!("FAIL: regression in {}", regressed.join(", "));
        ExitCode::from(exit::REGRESSION)
    } else if unsure > 0 {
        outln!(
            "INCONCLUSIVE: {unsure} gated metric(s) could not be judged (see the verdict above; \
             latencies need at least {} repetitions a side, taken on a quiet machine)",
            compare::MIN_REPETITIONS
        );
        ExitCode::from(exit::INCONCLUSIVE)
    } else {
        outln!("PASS: no gated metric regressed");
        ExitCode::SUCCESS
    }
}

pub(crate) fn merge(args: MergeArgs) -> ExitCode {
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    match wsbench_report::merge::merge(&args.shards, &args.out, &command) {
        Ok(summary) => {
            out!("{}", wsbench_load::output::table(&summary));
            outln!("merged: {}", args.out.display());
            let failed: Vec<String> = summary
                .thresholds
                .iter()
                .filter(|t| !t.passed)
                .map(|t| format!("{} ({})", t.threshold, t.transport))
                .collect();
            if failed.is_empty() {
                ExitCode::SUCCESS
            } else {
                outln!("thresholds failed: {}", failed.join(", "));
                ExitCode::from(exit::REGRESSION)
            }
        }
        Err(e) => usage_error("merge", &e),
    }
}
