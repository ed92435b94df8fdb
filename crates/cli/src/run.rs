//! `wsbench run`: a scenario against its target, results written to
//! `results/`, a table on stdout, thresholds checked.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use tokio::sync::watch;
use wsbench_load::shard::ShardSpec;
use wsbench_load::{RunError, RunOptions, output};
use wsbench_model::metric::Metric;
use wsbench_model::{Scenario, Summary};

/// Exit codes of `wsbench run`.
pub(crate) mod exit {
    /// A threshold failed.
    pub(crate) const THRESHOLD: u8 = 1;
    /// The scenario file is invalid (clap's usage errors are 2 as well).
    pub(crate) const INVALID: u8 = 2;
    /// Interrupted; partial results written.
    pub(crate) const INTERRUPTED: u8 = 4;
    /// The target failed; partial results written.
    pub(crate) const TARGET_FAILED: u8 = 5;
    /// Anything else (the target could not start, results not writable).
    pub(crate) const ERROR: u8 = 6;
}

#[derive(Clone, Debug, Args)]
pub(crate) struct RunArgs {
    /// The scenario file (TOML).
    scenario: PathBuf,
    /// Folder that receives the run's results folder.
    #[arg(long, default_value = "results")]
    results: PathBuf,
    /// No live progress on stderr.
    #[arg(long, short)]
    quiet: bool,
    /// Load generator processes (overrides the scenario's load.workers;
    /// default: one per 15,000 connections, as each process may hold
    /// 20,000 open files).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=64))]
    workers: Option<u16>,
    /// Run the I-th of N shards (I from 0) of a run spread over machines:
    /// connections I, I+N, I+2N, …; needs a URL target and --start-at;
    /// combine the shards' results with `wsbench merge`.
    #[arg(long, value_parser = parse_shard, requires = "start_at")]
    shard: Option<(u64, u64)>,
    /// The shards' common start, wall clock: RFC 3339 (`2026-11-27T16:00:00Z`)
    /// or seconds since the Unix epoch.
    #[arg(long, value_parser = parse_start_at, requires = "shard")]
    start_at: Option<std::time::SystemTime>,
    /// Also write the report (charts and report.html) into the results
    /// folder at the end, partial runs included.
    #[arg(long)]
    report: bool,
    /// Skip the 1-second loopback calibration of the harness floor that
    /// precedes the first phase.
    #[arg(long)]
    no_calibrate: bool,
    /// A URL target's server process on this host: its CPU time and its
    /// child processes' is read at each window's edges and reported as
    /// server_cpu_us_per_msg and the server's CPU share, as for the
    /// builtin server.
    #[arg(long, value_parser = parse_server_pid)]
    server_pid: Option<u32>,
    /// Write one JSON line per second per phase (NDJSON: time, phase,
    /// stage, open, opened, msg_rate, errors, p50, p99) to FILE while the
    /// run goes on; `-` is stdout (the table then goes to stderr).
    #[arg(long, value_name = "FILE|-")]
    stream: Option<PathBuf>,
    /// Serve live metrics (OpenMetrics, for Prometheus) at
    /// http://ADDR/metrics while the run goes on: connections, messages,
    /// errors by kind, latency and harness-lag quantiles, per phase; at
    /// the end the endpoint waits (at most 10 s) for one last scrape.
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<std::net::SocketAddr>,
    #[command(flatten)]
    changes: crate::changes::Changes,
}

fn parse_server_pid(s: &str) -> Result<u32, String> {
    let pid: u32 = s.parse().map_err(|_| format!("not a process id: {s:?}"))?;
    if !std::path::Path::new(&format!("/proc/{pid}/stat")).exists() {
        return Err(format!("no process {pid} on this host"));
    }
    Ok(pid)
}

fn parse_start_at(s: &str) -> Result<std::time::SystemTime, String> {
    if let Ok(secs) = s.parse::<f64>()
        && secs.is_finite()
        && secs >= 0.0
    {
        return Ok(std::time::UNIX_EPOCH + std::time::Duration::from_secs_f64(secs));
    }
    humantime::parse_rfc3339_weak(s).map_err(|e| {
        format!("{s:?}: {e}; write RFC 3339 UTC (2026-11-27T16:00:00Z) or Unix seconds")
    })
}

pub(crate) fn run(args: RunArgs) -> ExitCode {
    let scenario = match args.changes.load(&args.scenario) {
        Ok(s) => s,
        Err(e) => {
            errln!("wsbench run: invalid scenario\n{e}");
            return ExitCode::from(exit::INVALID);
        }
    };
    execute(scenario, &args, |_| {})
}

/// Runs `scenario`, prints the table (and `extra` on success), and turns
/// the outcome into an exit code.
fn execute(scenario: Scenario, args: &RunArgs, extra: impl FnOnce(&Summary)) -> ExitCode {
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            errln!("wsbench run: cannot find the wsbench executable: {e}");
            return ExitCode::from(exit::ERROR);
        }
    };
    let runtime = match crate::runtime::build() {
        Ok(r) => r,
        Err(e) => {
            errln!("wsbench run: cannot start the tokio runtime: {e}");
            return ExitCode::from(exit::ERROR);
        }
    };
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let plan = Planned::of(&scenario);
    let stream = match &args.stream {
        Some(to) => match wsbench_load::stream::Stream::open(to) {
            Ok(s) => {
                if to.as_os_str() == "-" {
                    crate::out::stdout_is_taken();
                }
                Some(std::sync::Arc::new(s))
            }
            Err(e) => {
                errln!("wsbench run: --stream {}: {e}", to.display());
                return ExitCode::from(exit::ERROR);
            }
        },
        None => None,
    };
    runtime.block_on(async move {
        let (interrupt_tx, interrupt) = watch::channel(false);
        tokio::spawn(async move {
            let Ok(mut term) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            else {
                return;
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            errln!("\nwsbench run: stopping; writing what was measured (Ctrl-C again to abort)");
            interrupt_tx.send_replace(true);
            let _ = tokio::signal::ctrl_c().await;
            std::process::exit(130);
        });
        let metrics = match args.metrics_listen {
            Some(addr) => match wsbench_load::metrics::Metrics::serve(addr).await {
                Ok(m) => {
                    errln!("wsbench run: metrics at http://{}/metrics", m.addr());
                    Some(m)
                }
                Err(e) => {
                    errln!("wsbench run: --metrics-listen {addr}: {e}");
                    return ExitCode::from(exit::ERROR);
                }
            },
            None => None,
        };
        let options = RunOptions {
            exe,
            results_root: args.results.clone(),
            command,
            progress: !args.quiet,
            workers: args.workers,
            interrupt,
            shard: args
                .shard
                .zip(args.start_at)
                .map(|((index, count), start_at)| wsbench_load::ShardRun {
                    index,
                    count,
                    start_at,
                }),
            calibrate: !args.no_calibrate,
            server_pid: args.server_pid,
            stream,
            metrics,
        };
        let report = |dir: &std::path::Path| {
            if args.report {
                let formats = [
                    wsbench_report::Format::Png,
                    wsbench_report::Format::Svg,
                    wsbench_report::Format::Html,
                ];
                match crate::report::write_reports(&[dir.to_owned()], &formats, None, &[]) {
                    Ok(_) => outln!(
                        "report: {}",
                        dir.join(wsbench_model::results::files::REPORT_HTML)
                            .display()
                    ),
                    Err(e) => errln!("wsbench run: writing the report: {e}"),
                }
            }
        };
        match wsbench_load::run(scenario, options).await {
            Ok(outcome) => {
                out!("{}", output::table(&outcome.summary));
                extra(&outcome.summary);
                outln!("results: {}", outcome.dir.display());
                report(&outcome.dir);
                thresholds_verdict(&outcome.summary)
            }
            Err(RunError::Interrupted { dir, summary }) => {
                out!("{}", output::table(&summary));
                plan.partial(&summary, "interrupted");
                errln!(
                    "wsbench run: interrupted; partial results in {}",
                    dir.display()
                );
                report(&dir);
                ExitCode::from(exit::INTERRUPTED)
            }
            Err(RunError::TargetFailed {
                dir,
                detail,
                summary,
            }) => {
                out!("{}", output::table(&summary));
                plan.partial(&summary, "the target failed");
                errln!(
                    "wsbench run: the target failed: {detail}\npartial results in {}",
                    dir.display()
                );
                report(&dir);
                ExitCode::from(exit::TARGET_FAILED)
            }
            Err(e @ RunError::Unsupported(_)) => {
                errln!("wsbench run: {e}");
                ExitCode::from(exit::INVALID)
            }
            Err(e) => {
                errln!("wsbench run: {e}");
                ExitCode::from(exit::ERROR)
            }
        }
    })
}

/// What the scenario planned to run: to say, after an early end, which
/// phases were cut short and which never ran.
struct Planned {
    phases: Vec<String>,
    window_s: f64,
}

impl Planned {
    fn of(s: &Scenario) -> Planned {
        let phases = if s.groups.is_empty() {
            s.transports.iter().map(|t| t.name().to_owned()).collect()
        } else {
            s.groups.iter().map(|g| g.name.clone()).collect()
        };
        Planned {
            phases,
            window_s: s.duration.as_secs_f64(),
        }
    }

    /// On stdout, with the table: the figures are partial, which phases
    /// ran how long of their window and which were skipped, and the
    /// thresholds as checked on the partial data.
    fn partial(&self, summary: &Summary, why: &str) {
        outln!("PARTIAL ({why}): the figures above cover only what ran");
        for p in &summary.phases {
            outln!(
                "  {}: measured {:.1} s of {:.1} s",
                p.label(),
                p.measured_s,
                self.window_s
            );
        }
        let skipped: Vec<&str> = self
            .phases
            .iter()
            .filter(|n| !summary.phases.iter().any(|p| p.name() == n.as_str()))
            .map(String::as_str)
            .collect();
        if !skipped.is_empty() {
            outln!("  skipped: {}", skipped.join(", "));
        }
        for t in &summary.thresholds {
            outln!(
                "threshold {} [{}]: {} on partial data ({})",
                t.threshold,
                t.transport,
                if t.passed { "ok" } else { "FAILED" },
                t.shown_value()
            );
        }
    }
}

fn thresholds_verdict(summary: &Summary) -> ExitCode {
    let failed: Vec<_> = summary.thresholds.iter().filter(|t| !t.passed).collect();
    if summary.thresholds.is_empty() {
        return ExitCode::SUCCESS;
    }
    for t in &summary.thresholds {
        let value = t.shown_value();
        outln!(
            "threshold {} [{}]: {} ({value})",
            t.threshold,
            t.transport,
            if t.passed { "ok" } else { "FAILED" }
        );
    }
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        errln!("wsbench run: {} threshold check(s) failed", failed.len());
        ExitCode::from(exit::THRESHOLD)
    }
}

fn parse_shard(s: &str) -> Result<(u64, u64), String> {
    let (i, n) = s.split_once('/').ok_or("write I/N, e.g. 0/4")?;
    let i: u64 = i.parse().map_err(|_| format!("{i:?} is not a number"))?;
    let n: u64 = n.parse().map_err(|_| format!("{n:?} is not a number"))?;
    if n == 0 || i >= n {
        return Err(format!("{s}: I must be below N"));
    }
    Ok((i, n))
}

/// `wsbench shard`: one worker's share of a phase (started by `wsbench run`
/// when it spreads a phase over processes; not for direct use).
pub(crate) fn shard(spec: ShardSpec) -> ExitCode {
    if let Err(why) = spec.check() {
        errln!("wsbench shard: {why}");
        return ExitCode::from(exit::INVALID);
    }
    let runtime = match crate::runtime::build() {
        Ok(r) => r,
        Err(e) => {
            errln!("wsbench shard: cannot start the tokio runtime: {e}");
            return ExitCode::from(exit::ERROR);
        }
    };
    runtime.block_on(async move {
        let (interrupt_tx, interrupt) = watch::channel(false);
        tokio::spawn(async move {
            let Ok(mut term) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            else {
                return;
            };
            // The first signal ends the share early (the coordinator, or a
            // terminal's Ctrl-C, sends it); later ones change nothing.
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            interrupt_tx.send_replace(true);
            loop {
                let _ = tokio::signal::ctrl_c().await;
            }
        });
        match wsbench_load::shard::run_shard(&spec, interrupt).await {
            Ok(part) => match part.stop_reason {
                None => ExitCode::SUCCESS,
                Some(wsbench_model::results::StopReason::Interrupted) => {
                    ExitCode::from(exit::INTERRUPTED)
                }
                Some(wsbench_model::results::StopReason::TargetFailed) => {
                    ExitCode::from(exit::TARGET_FAILED)
                }
            },
            Err(e) => {
                errln!("wsbench shard: {e}");
                ExitCode::from(exit::ERROR)
            }
        }
    })
}

/// The harness's own floor: echo over loopback to the builtin server at a
/// low rate, where the server adds next to nothing.
const CALIBRATE: &str = r#"# wsbench calibrate: the harness's own floor.
schema_version = 1
name = "calibrate"
description = "The measurement floor: loopback echo on the builtin server at a low rate (10 connections x 50 msg/s, 64 B)"

[target]
builtin = true

[load]
transports = ["websocket"]
connections = 10
ramp_rate = 100
duration = "5s"
warmup = "1s"

[workload]
kind = "echo"
rate = 50
payload_size = 64
"#;

#[derive(Clone, Debug, Args)]
pub(crate) struct CalibrateArgs {
    /// Folder that receives the calibration's results folder.
    #[arg(long, default_value = "results")]
    results: PathBuf,
}

pub(crate) fn calibrate(args: CalibrateArgs) -> ExitCode {
    let scenario = match Scenario::parse("(built-in calibrate scenario)", CALIBRATE) {
        Ok(s) => s,
        Err(e) => {
            errln!("wsbench calibrate: {e}");
            return ExitCode::from(exit::ERROR);
        }
    };
    let run_args = RunArgs {
        scenario: PathBuf::from("(calibrate)"),
        results: args.results,
        quiet: true,
        workers: Some(1),
        shard: None,
        start_at: None,
        report: false,
        no_calibrate: true,
        server_pid: None,
        stream: None,
        metrics_listen: None,
        changes: crate::changes::Changes::default(),
    };
    execute(scenario, &run_args, |summary| {
        if let Some(rtt) = summary
            .phases
            .first()
            .and_then(|p| p.latency.get(Metric::EchoRtt.name()))
        {
            outln!(
                "harness floor (loopback echo, builtin server): p50 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms",
                rtt.p50 as f64 / 1e6,
                rtt.p99 as f64 / 1e6,
                rtt.p999 as f64 / 1e6
            );
        }
    })
}
