//! `wsbench`: the command-line front end. The only crate with `anyhow` and
//! process exit codes.

#![forbid(unsafe_code)]

#[macro_use]
mod out;
mod changes;
mod report;
mod run;
mod runtime;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use report::{CompareArgs, MergeArgs, ReportArgs};
use run::{CalibrateArgs, RunArgs};
use wsbench_load::shard::ShardSpec;
use wsbench_server::args::ServeArgs;

/// Every wsbench process allocates through jemalloc (options in
/// .cargo/config.toml): its size classes hold tokio's 128-byte-aligned task
/// cells and I/O registrations without the C library's aligned-allocation
/// overhead (docs/performance.md, "100,000 connections").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Benchmark and load-testing harness for WebSocket systems.
#[derive(Debug, Parser)]
#[command(name = "wsbench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a scenario file against its target and write the results:
    /// exit 0 on success, 1 when a threshold fails, 2 on an invalid
    /// scenario, 4 when interrupted, 5 when the target failed, 6 on other
    /// errors (partial results are written in the last three cases).
    Run(RunArgs),
    /// Measure the harness's own floor: loopback echo on the builtin server
    /// at a low rate, written to results/ like any run.
    Calibrate(CalibrateArgs),
    /// Draw charts (PNG, SVG) and a self-contained report.html from results
    /// folders; export CSV, Markdown and HdrHistogram interval logs.
    Report(ReportArgs),
    /// Compare a result with a baseline: exit 0 when no gated metric
    /// regressed, 1 on a regression, 2 on bad usage or results that
    /// cannot be compared, 3 when a gated latency had too few repetitions
    /// to tell a change from noise.
    Compare(CompareArgs),
    /// Combine the results of the shards of one run (`run --shard I/N`)
    /// into one result: exit 0, 1 when a threshold fails on the merged
    /// result, 2 when the shards do not make one run.
    Merge(MergeArgs),
    /// One worker's share of a phase (started by `wsbench run`).
    #[command(hide = true)]
    Shard(ShardSpec),
    /// Serve the reference targets: echo and push hub over WebSocket,
    /// long-poll, short poll and SSE, on one port, until SIGINT or SIGTERM.
    Serve(Box<ServeArgs>),
    /// Check scenario files (with any --set changes) without running
    /// them: exit 0 when every one is valid, 2 otherwise (each error with
    /// its file, line, column and a hint).
    Validate(changes::ValidateArgs),
    /// Print facts about this build and machine that results depend on.
    Info,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => run::run(args),
        Command::Shard(args) => run::shard(args),
        Command::Report(args) => report::report(args),
        Command::Compare(args) => report::compare(args),
        Command::Merge(args) => report::merge(args),
        Command::Calibrate(args) => run::calibrate(args),
        Command::Validate(args) => changes::validate(&args),
        Command::Serve(args) => match serve::serve(*args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                errln!("wsbench serve: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Info => {
            let masker = wsbench_codec::mask::selected();
            outln!("wsbench {}", env!("CARGO_PKG_VERSION"));
            outln!("mask backend: {}", masker.backend());
            let available: Vec<&str> = wsbench_codec::mask::Backend::available()
                .into_iter()
                .map(|b| b.name())
                .collect();
            outln!("mask backends available: {}", available.join(", "));
            ExitCode::SUCCESS
        }
    }
}
