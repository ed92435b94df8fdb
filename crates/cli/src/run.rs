//! `wsbench run`: a scenario against its target, results written to
//! `results/`, a table on stdout, thresholds checked.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use tokio::sync::watch;
use wsbench_load::{RunError, RunOptions, output};
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
}

pub(crate) fn run(args: RunArgs) -> ExitCode {
    let scenario = match Scenario::load(&args.scenario) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("wsbench run: invalid scenario\n{e}");
            return ExitCode::from(exit::INVALID);
        }
    };
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("wsbench run: cannot find the wsbench executable: {e}");
            return ExitCode::from(exit::ERROR);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("wsbench run: cannot start the tokio runtime: {e}");
            return ExitCode::from(exit::ERROR);
        }
    };
    let command = std::env::args().collect::<Vec<_>>().join(" ");
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
            eprintln!("\nwsbench run: stopping; writing what was measured (Ctrl-C again to abort)");
            interrupt_tx.send_replace(true);
            let _ = tokio::signal::ctrl_c().await;
            std::process::exit(130);
        });
        let options = RunOptions {
            exe,
            results_root: args.results.clone(),
            command,
            progress: !args.quiet,
            interrupt,
        };
        match wsbench_load::run(scenario, options).await {
            Ok(outcome) => {
                print!("{}", output::table(&outcome.summary));
                println!("results: {}", outcome.dir.display());
                thresholds_verdict(&outcome.summary)
            }
            Err(RunError::Interrupted { dir, summary }) => {
                print!("{}", output::table(&summary));
                eprintln!(
                    "wsbench run: interrupted; partial results in {}",
                    dir.display()
                );
                ExitCode::from(exit::INTERRUPTED)
            }
            Err(RunError::TargetFailed {
                dir,
                detail,
                summary,
            }) => {
                print!("{}", output::table(&summary));
                eprintln!(
                    "wsbench run: the target failed: {detail}\npartial results in {}",
                    dir.display()
                );
                ExitCode::from(exit::TARGET_FAILED)
            }
            Err(e) => {
                eprintln!("wsbench run: {e}");
                ExitCode::from(exit::ERROR)
            }
        }
    })
}

fn thresholds_verdict(summary: &Summary) -> ExitCode {
    let failed: Vec<_> = summary.thresholds.iter().filter(|t| !t.passed).collect();
    if summary.thresholds.is_empty() {
        return ExitCode::SUCCESS;
    }
    for t in &summary.thresholds {
        let value = t
            .value
            .map_or_else(|| "no value".to_owned(), |v| format!("{v}"));
        println!(
            "threshold {} [{}]: {} ({value})",
            t.threshold,
            t.transport,
            if t.passed { "ok" } else { "FAILED" }
        );
    }
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("wsbench run: {} threshold check(s) failed", failed.len());
        ExitCode::from(exit::THRESHOLD)
    }
}
