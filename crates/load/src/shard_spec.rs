//! One worker's assignment, as a type: the hidden `wsbench shard` command
//! parses it with clap, and the coordinator that starts the worker turns it
//! into arguments with [`ShardSpec::to_args`], the one place that writes
//! them.

use std::path::PathBuf;

use clap::Args;
use wsbench_model::Transport;

/// One worker's share of a phase.
#[derive(Clone, Debug, PartialEq, Eq, Args)]
pub struct ShardSpec {
    /// The scenario file.
    pub scenario: PathBuf,
    /// The phase's transport.
    #[arg(long, value_parser = parse_transport)]
    pub transport: Transport,
    /// The target's `host:port`.
    #[arg(long)]
    pub authority: String,
    /// The target speaks TLS.
    #[arg(long)]
    pub tls: bool,
    /// Accept any certificate.
    #[arg(long)]
    pub insecure_tls: bool,
    /// This worker's index, from 0.
    #[arg(long)]
    pub index: u64,
    /// How many workers.
    #[arg(long)]
    pub count: u64,
    /// CLOCK_MONOTONIC ns at which connection 0 is due (the window
    /// follows from the scenario).
    #[arg(long)]
    pub start_ns: u64,
    /// Folder for `part.json` and the histograms.
    #[arg(long)]
    pub out: PathBuf,
    /// The run id push markers carry.
    #[arg(long)]
    pub run: u32,
    /// The phase's index in the run.
    #[arg(long)]
    pub phase: u32,
    /// In a mixed population, the group this worker runs a share of.
    #[arg(long)]
    pub group: Option<String>,
}

impl ShardSpec {
    /// The `wsbench shard` command line that carries this spec.
    pub fn to_args(&self) -> Vec<String> {
        // Every field by name: a new one does not compile until it is
        // written here too.
        let ShardSpec {
            scenario,
            transport,
            authority,
            tls,
            insecure_tls,
            index,
            count,
            start_ns,
            out,
            run,
            phase,
            group,
        } = self;
        let mut a = vec!["shard".to_owned(), scenario.display().to_string()];
        for (flag, v) in [
            ("transport", transport.name().to_owned()),
            ("authority", authority.clone()),
            ("index", index.to_string()),
            ("count", count.to_string()),
            ("start-ns", start_ns.to_string()),
            ("out", out.display().to_string()),
            ("run", run.to_string()),
            ("phase", phase.to_string()),
        ] {
            a.push(format!("--{flag}"));
            a.push(v);
        }
        if let Some(g) = group {
            a.push("--group".to_owned());
            a.push(g.clone());
        }
        for (flag, on) in [("tls", tls), ("insecure-tls", insecure_tls)] {
            if *on {
                a.push(format!("--{flag}"));
            }
        }
        a
    }

    /// Why this assignment cannot be run, if it cannot.
    pub fn check(&self) -> Result<(), String> {
        if self.index >= self.count {
            return Err(format!(
                "worker {} of {}: the index counts from 0 and must be below the count",
                self.index, self.count
            ));
        }
        Ok(())
    }
}

fn parse_transport(s: &str) -> Result<Transport, String> {
    Transport::ALL
        .into_iter()
        .find(|t| t.name() == s)
        .ok_or_else(|| format!("unknown transport {s:?}"))
}

#[cfg(test)]
mod tests {
    use clap::{Parser, Subcommand};

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    #[derive(Subcommand)]
    enum Command {
        Shard(ShardSpec),
    }

    #[test]
    fn every_field_survives_argv_and_clap() {
        let spec = ShardSpec {
            scenario: "/s/push.toml".into(),
            transport: Transport::ShortPoll,
            authority: "127.0.0.2:9443".into(),
            tls: true,
            insecure_tls: true,
            index: 2,
            count: 5,
            start_ns: 123_456_789_012,
            out: "/r/part-2".into(),
            run: 77,
            phase: 3,
            group: Some("writers".into()),
        };
        let back = |s: &ShardSpec| {
            let argv = std::iter::once("wsbench".to_owned()).chain(s.to_args());
            match Cli::try_parse_from(argv).unwrap().command {
                Command::Shard(s) => s,
            }
        };
        assert_eq!(back(&spec), spec);
        let plain = ShardSpec {
            tls: false,
            insecure_tls: false,
            transport: Transport::Websocket,
            group: None,
            ..spec.clone()
        };
        assert_eq!(back(&plain), plain);
        assert!(spec.check().is_ok());
        assert!(ShardSpec { index: 5, ..spec }.check().is_err());
    }
}
