//! `wsbench`: the command-line front end. The only crate with `anyhow` and
//! process exit codes.

#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use wsbench_server::{Server, ServerConfig, WsImpl};

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
    Serve(ServeArgs),
    /// Print facts about this build and machine that results depend on.
    Info,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the address is
    /// printed on stdout as `listening on ADDR`).
    #[arg(long, default_value = "127.0.0.1:9001")]
    listen: SocketAddr,
    /// Listening sockets on the address (SO_REUSEPORT), each with its own
    /// accept loop.
    #[arg(long, default_value_t = 1)]
    listeners: usize,
    /// Built-in publisher: messages per second to the push hub (0: off).
    #[arg(long, default_value_t = 0.0)]
    publish_rate: f64,
    /// Payload bytes of each built-in message.
    #[arg(long, default_value_t = 64)]
    payload_size: usize,
    /// Largest WebSocket message accepted, bytes (larger: close 1009).
    #[arg(long, default_value_t = 64 << 20)]
    max_message_size: u64,
    /// Open connections allowed; more get 503.
    #[arg(long, default_value_t = 18_000)]
    max_connections: usize,
    /// Milliseconds allowed for a request head or upgrade (slowloris).
    #[arg(long, default_value_t = 10_000)]
    handshake_timeout_ms: u64,
    /// Seconds an idle keep-alive connection is kept.
    #[arg(long, default_value_t = 60)]
    idle_timeout_s: u64,
    /// WebSocket stack behind /echo and /push: own, fastwebsockets or
    /// tokio-tungstenite (the upgrade is answered by the same code for all).
    #[arg(long = "impl", default_value = "own")]
    ws_impl: WsImpl,
    /// Refuse permessage-deflate offers (accepted by default, own stack only).
    #[arg(long)]
    no_deflate: bool,
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
        Command::Serve(args) => match serve(args) {
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

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = ServerConfig {
        listen: args.listen,
        listeners: args.listeners,
        max_message_size: args.max_message_size,
        handshake_timeout: Duration::from_millis(args.handshake_timeout_ms),
        idle_timeout: Duration::from_secs(args.idle_timeout_s),
        max_connections: args.max_connections,
        publish_rate: args.publish_rate,
        payload_size: args.payload_size,
        ws_impl: args.ws_impl,
        deflate: !args.no_deflate,
        ..ServerConfig::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(async {
        let server = Server::start(config).await?;
        println!("listening on {}", server.local_addr());
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("installing the SIGTERM handler")?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.context("waiting for SIGINT")?,
            _ = term.recv() => {}
        }
        eprintln!("wsbench serve: shutting down (closing WebSocket clients with 1001)");
        server.shutdown(Duration::from_secs(5)).await;
        Ok(())
    })
}
