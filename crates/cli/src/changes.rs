//! Changes to a scenario on the command line, shared by `run` and
//! `validate`: `--set KEY.PATH=VALUE` (repeatable) and the shortcuts
//! `--duration`, `--connections`, `--rate`, `--url`, made to the file's
//! text in that order and checked like the file.

use std::path::Path;
use std::process::ExitCode;

use clap::Args;
use wsbench_model::Scenario;
use wsbench_model::scenario::{Override, ScenarioError};

/// The command line's changes to a scenario.
#[derive(Clone, Debug, Default, Args)]
pub(crate) struct Changes {
    /// Change a key of the scenario for this run: `--set
    /// load.connections=5000`, `--set workload.payload=json`, `--set
    /// group.1.weight=2` (repeatable; checked like the file; the scenario
    /// as run is recorded with the results).
    #[arg(long = "set", value_name = "KEY.PATH=VALUE", value_parser = Override::parse_set)]
    set: Vec<Override>,
    /// Shortcut for --set load.duration=D.
    #[arg(long, value_name = "D")]
    duration: Option<String>,
    /// Shortcut for --set load.connections=N.
    #[arg(long, value_name = "N")]
    connections: Option<u64>,
    /// Shortcut for --set workload.rate=R.
    #[arg(long, value_name = "R")]
    rate: Option<f64>,
    /// Run against this server instead: sets target.url, removes
    /// target.builtin.
    #[arg(long, value_name = "URL")]
    url: Option<String>,
}

impl Changes {
    /// Every change, in order: the `--set`s, then the shortcuts.
    pub(crate) fn list(&self) -> Vec<Override> {
        let mut out = self.set.clone();
        let mut set = |path: &str, v: String| out.push(Override::Set(path.to_owned(), v));
        if let Some(d) = &self.duration {
            set("load.duration", format!("{d:?}"));
        }
        if let Some(n) = self.connections {
            set("load.connections", n.to_string());
        }
        if let Some(r) = self.rate {
            set("workload.rate", format!("{r:?}"));
        }
        if let Some(u) = &self.url {
            set("target.url", format!("{u:?}"));
            out.push(Override::Remove("target.builtin".to_owned()));
        }
        out
    }

    /// The scenario at `path` with these changes.
    pub(crate) fn load(&self, path: &Path) -> Result<Scenario, ScenarioError> {
        Scenario::load_with(path, &self.list())
    }
}

/// `wsbench validate FILE...`: each scenario read and checked (with the
/// changes), nothing run.
#[derive(Debug, Args)]
pub(crate) struct ValidateArgs {
    /// Scenario files.
    #[arg(required = true)]
    files: Vec<std::path::PathBuf>,
    #[command(flatten)]
    changes: Changes,
}

/// Checks every file: exit 0 when all are valid, 2 otherwise.
pub(crate) fn validate(args: &ValidateArgs) -> ExitCode {
    let mut bad = 0;
    for file in &args.files {
        match args.changes.load(file) {
            Ok(s) => {
                let phases = if s.groups.is_empty() {
                    let names: Vec<&str> = s.transports.iter().map(|t| t.name()).collect();
                    format!("{} phase(s): {}", names.len(), names.join(", "))
                } else {
                    let names: Vec<&str> = s.groups.iter().map(|g| g.name.as_str()).collect();
                    format!("one phase of {} groups: {}", names.len(), names.join(", "))
                };
                outln!(
                    "{}: ok: {}, {} connections, {} s measured, {} threshold(s)",
                    file.display(),
                    phases,
                    s.connections,
                    s.duration.as_secs_f64(),
                    s.thresholds.len()
                );
            }
            Err(e) => {
                bad += 1;
                errln!("{e}");
            }
        }
    }
    if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::run::exit::INVALID)
    }
}
