//! Scenario files: what `wsbench run` reads.
//!
//! ```toml
//! schema_version = 1
//! name = "quickstart"
//! thresholds = ["push_latency.p99 < 50ms", "errors == 0"]
//!
//! [target]
//! builtin = true            # or: url = "ws://127.0.0.1:9001"
//!
//! [load]
//! transports = ["websocket", "long-poll"]
//! connections = 1000
//! ramp_rate = 2000          # connections opened per second
//! duration = "10s"
//! warmup = "2s"
//! # or, instead of connections, ramp_rate and duration, the number of
//! # open connections step by step (ramped linearly, from 0):
//! # stages = [{ duration = "10s", target = 1000 }, { duration = "20s", target = 1000 },
//! #           { duration = "5s", target = 0 }]
//!
//! [workload]
//! kind = "push"             # push | echo | throughput | connect | rpc | flow
//! rate = 10                 # push: published per second; echo: sent per second per connection
//! payload_size = 64
//! ```
//!
//! Or, for a mixed population in one phase, `[[group]]` tables instead of
//! `[workload]` (see `groups.rs`).
//!
//! Parsing reports unknown keys and wrong types with the file, line and
//! column; [`Scenario::load`] then checks every value and reports
//! impossible ones the same way, with a hint.

mod checks;
mod correlate;
mod dialect;
mod endpoints;
mod error;
mod flow;
mod groups;
mod input;
mod overrides;
mod protocol;
mod reconnect;
mod stages;
mod steps;
mod thresholds;

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use self::checks::{LoadValues, WorkloadValues};
pub use self::dialect::{PUBLISH_VARIABLES, RPC_VARIABLES};
pub use self::endpoints::{
    Profile, Publish, Role, TargetProtocol, TemplateError, Vars, expand, expand_env,
    expand_env_keeping, expand_env_with,
};
pub use self::error::ScenarioError;
use self::error::hint_for;
pub(crate) use self::error::line_col;
pub use self::flow::Flow;
pub use self::groups::Group;
pub use self::overrides::{Override, apply as apply_overrides};
use toml::Spanned;

use self::input::{Checker, RawLoad, RawScenario, RawWorkload, target};
use self::protocol::{check_url_scheme, protocol, required_endpoints, roles};
pub use self::reconnect::Reconnect;
pub use self::stages::{Stage, arrivals_in};
use crate::threshold::Threshold;
pub use crate::workload::{PayloadKind, RunShape, Transport, WorkloadKind};

/// The scenario format this build reads.
pub const SCENARIO_SCHEMA_VERSION: u32 = 1;

/// The target of a run.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// `wsbench serve`, started as a child process for the run.
    Builtin {
        /// Server processes (`wsbench serve --workers`); 0: one per 15,000
        /// connections.
        workers: u16,
    },
    /// A running server: its origin, e.g. `ws://127.0.0.1:9001`; paths
    /// `/echo`, `/push`, `/poll` and `/events` are used under it.
    Url {
        /// `host:port`.
        authority: String,
        /// TLS (`wss://` or `https://`).
        tls: bool,
        /// Accept any certificate.
        insecure_tls: bool,
    },
}

/// The request–response workload: what a request is and where its reply
/// holds the request's id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rpc {
    /// The request template: `{id}` (the request's number), `{payload}`
    /// (text of `payload_size` bytes), `{conn}`, `{shard}`, `{rand}`,
    /// `${ENV}`.
    pub request: String,
    /// The JSON pointer to the id in a reply.
    pub reply_id: String,
}

/// A validated scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// Scenario name (used in result folder names).
    pub name: String,
    /// What it is for.
    pub description: String,
    /// Where the traffic goes.
    pub target: Target,
    /// What the target speaks: profile, endpoints, headers.
    pub protocol: TargetProtocol,
    /// One phase per transport, in this order.
    pub transports: Vec<Transport>,
    /// Connections per phase (with stages: their highest target).
    pub connections: u64,
    /// The number of open connections over the phase, step by step
    /// (empty: `connections` opened at `ramp_rate` and held).
    pub stages: Vec<Stage>,
    /// Connections opened per second.
    pub ramp_rate: f64,
    /// Measured time per phase, after the warm-up (with stages: their
    /// sum less the warm-up).
    pub duration: Duration,
    /// Time per phase before measuring (excluded from results).
    pub warmup: Duration,
    /// What a connection that ends while the phase runs does (`None`:
    /// it stays closed).
    pub reconnect: Option<Reconnect>,
    /// Source addresses 127.0.0.1 … 127.0.0.N to spread connections over.
    pub source_addresses: Vec<IpAddr>,
    /// Interval between short polls.
    pub short_poll_interval: Duration,
    /// Load generator processes (0: automatic).
    pub workers: u16,
    /// The workload.
    pub workload: WorkloadKind,
    /// Push: messages published per second. Echo: messages sent per
    /// second per connection.
    pub rate: f64,
    /// Payload bytes per message.
    pub payload_size: usize,
    /// Payload content.
    pub payload: PayloadKind,
    /// Throughput: messages in flight per connection.
    pub in_flight: u32,
    /// Rpc: the request and how its reply is found.
    pub rpc: Option<Rpc>,
    /// Flow: the steps each connection runs.
    pub flow: Option<Flow>,
    /// Echo and rpc against a target of another profile: how long a
    /// request waits for its reply before it counts as timed out.
    pub reply_timeout: Duration,
    /// Checks on the results.
    pub thresholds: Vec<Threshold>,
    /// A mixed population: groups run side by side in one phase, each
    /// with its own transport, connections and workload (empty: one
    /// phase per transport of this scenario's own workload).
    pub groups: Vec<Group>,
    /// The file's text, recorded with the results.
    pub source: String,
}

/// Largest payload a scenario may ask for.
const MAX_PAYLOAD: u64 = 16 << 20;
/// Most connections one run may open.
const MAX_CONNECTIONS: u64 = 1_000_000;

impl Scenario {
    /// Reads and validates the scenario file at `path`.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
            file: file.clone(),
            line: 0,
            column: 0,
            message: format!("cannot read the scenario: {e}"),
            hint: None,
        })?;
        Scenario::parse(&file, &text)
    }

    /// Reads the scenario file at `path` with `changes` made to its text
    /// (`--set`), and validates it; errors name the file as changed.
    pub fn load_with(path: &Path, changes: &[Override]) -> Result<Scenario, ScenarioError> {
        if changes.is_empty() {
            return Scenario::load(path);
        }
        let file = format!("{} (as changed by the command line)", path.display());
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
            file: path.display().to_string(),
            line: 0,
            column: 0,
            message: format!("cannot read the scenario: {e}"),
            hint: None,
        })?;
        let changed = overrides::apply(&text, changes).map_err(|message| ScenarioError {
            file: file.clone(),
            line: 0,
            column: 0,
            message,
            hint: Some("--set KEY.PATH=VALUE names a key of the scenario file".to_owned()),
        })?;
        Scenario::parse(&file, &changed)
    }

    /// Validates scenario `text`; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Scenario, ScenarioError> {
        let c = Checker { file, text };
        let raw: RawScenario = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map_or((0, 0), |s| line_col(text, s.start));
            let message = e.message().trim().to_owned();
            let hint = hint_for(&message);
            ScenarioError {
                file: file.to_owned(),
                line,
                column,
                message,
                hint,
            }
        })?;
        if *raw.schema_version.get_ref() != SCENARIO_SCHEMA_VERSION {
            return Err(c.at(
                raw.schema_version.span(),
                format!(
                    "schema_version {} is not supported",
                    raw.schema_version.get_ref()
                ),
                Some(&format!(
                    "this wsbench reads schema_version = {SCENARIO_SCHEMA_VERSION}"
                )),
            ));
        }
        let name = raw.name.get_ref().trim().to_owned();
        if name.is_empty()
            || !name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.'))
        {
            return Err(c.at(
                raw.name.span(),
                format!("name {:?} cannot name a results folder", raw.name.get_ref()),
                Some("use letters, digits, '-', '_' and '.'"),
            ));
        }

        let (thresholds, threshold_spans) = checks::thresholds(&c, &raw.thresholds)?;
        let mut scenario = if raw.group.is_empty() {
            let Some(w) = &raw.workload else {
                return Err(c.at(
                    raw.load.span(),
                    "no [workload]",
                    Some("add a [workload] table (kind = \"push\", \"echo\", …), or [[group]] tables"),
                ));
            };
            build(&c, &raw, &raw.load, w, name)?
        } else {
            groups::grouped(&c, &raw, name)?
        };
        scenario.thresholds = thresholds;
        checks::thresholds_apply(&c, &scenario, &threshold_spans)?;
        Ok(scenario)
    }

    /// The scenario of group `name` (its own transport, connections and
    /// workload, the run's target and timing).
    pub fn group(&self, name: &str) -> Option<&Scenario> {
        self.groups
            .iter()
            .find(|g| g.name == name)
            .map(|g| &g.scenario)
    }
}

/// A scenario of one workload from `load` and `w` (thresholds are added
/// by the caller).
fn build(
    c: &Checker<'_>,
    raw: &RawScenario,
    raw_load: &Spanned<RawLoad>,
    w: &RawWorkload,
    name: String,
) -> Result<Scenario, ScenarioError> {
    let target = target(c, &raw.target)?;
    let protocol = protocol(c, &raw.target)?;
    let load = raw_load.get_ref();
    let kind = *w.kind.get_ref();

    let transports = checks::transports(c, load, raw_load.span(), kind)?;
    if let Target::Url { .. } = target
        && let Some(url) = &raw.target.get_ref().url
        && protocol.profile == Profile::Wsbench
    {
        check_url_scheme(c, url, &transports)?;
    }
    required_endpoints(c, &raw.target, &protocol, &roles(kind, &transports))?;

    let LoadValues {
        connections,
        stages,
        ramp_rate,
        duration,
        warmup,
        short_poll_interval,
        source_addresses,
        workers,
    } = checks::load(c, load, raw_load.span(), kind)?;
    let WorkloadValues {
        rate,
        payload_size,
        payload,
        in_flight,
    } = checks::workload(c, w, kind)?;

    if !matches!(target, Target::Builtin { .. }) && stages.iter().any(|s| s.restart.is_some()) {
        return Err(c.at(
            raw_load.span(),
            "a restart storm restarts the builtin server: this target is a url",
            Some("set [target] builtin = true, or restart your server yourself"),
        ));
    }
    let (rpc, reply_timeout) = dialect::rpc(c, w, kind)?;
    let flow = flow::flow(c, w, kind)?;
    let reconnect = reconnect::reconnect(c, load.reconnect.as_ref())?;

    Ok(Scenario {
        name,
        description: raw.description.clone(),
        target,
        protocol,
        transports,
        connections,
        stages,
        ramp_rate,
        duration,
        warmup,
        reconnect,
        source_addresses,
        short_poll_interval,
        workers,
        workload: kind,
        rate,
        payload_size: usize::try_from(payload_size).unwrap_or(usize::MAX),
        payload,
        in_flight,
        rpc,
        flow,
        reply_timeout,
        thresholds: Vec::new(),
        groups: Vec::new(),
        source: c.text.to_owned(),
    })
}
