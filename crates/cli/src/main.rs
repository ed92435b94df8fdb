//! `wsbench`: the command-line front end. The only crate with `anyhow` and
//! process exit codes.

#![forbid(unsafe_code)]

mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serve::ServeArgs;

/// Benchmark and load-testing harness for WebSocket systems.
#[derive(Debug, Parser)]
#[command(name = "wsbench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a scenario file (load generator: not implemented yet).
    Run {
        /// Path to the scenario TOML file.
        scenario: PathBuf,
    },
    /// Serve the reference targets: echo and push hub over WebSocket,
    /// long-poll, short poll and SSE, on one port, until SIGINT or SIGTERM.
    Serve(Box<ServeArgs>),
    /// Print facts about this build and machine that results depend on.
    Info,
}

/// Exit code for a command this build cannot carry out yet.
const EXIT_UNAVAILABLE: u8 = 3;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run { scenario } => {
            eprintln!(
                "wsbench run {}: not yet: the load generator has not landed in this build",
                scenario.display()
            );
            ExitCode::from(EXIT_UNAVAILABLE)
        }
        Command::Serve(args) => match serve::serve(*args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("wsbench serve: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Info => {
            let masker = wsbench_codec::mask::selected();
            println!("wsbench {}", env!("CARGO_PKG_VERSION"));
            println!("mask backend: {}", masker.backend());
            let available: Vec<&str> = wsbench_codec::mask::Backend::available()
                .into_iter()
                .map(|b| b.name())
                .collect();
            println!("mask backends available: {}", available.join(", "));
            ExitCode::SUCCESS
        }
    }
}
