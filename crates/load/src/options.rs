//! How a run is carried out (`RunOptions`), and one shard of a run spread
//! over machines (`ShardRun`): its schedule and run id.

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::watch;
use wsbench_model::Scenario;
use wsbench_protocol::clock::monotonic_ns;

use crate::plan::{Plan, nanos};
use crate::stop::MAX_DRAIN;

/// How a run is carried out.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The `wsbench` executable, to start the builtin server.
    pub exe: PathBuf,
    /// Where result folders go (`results/`).
    pub results_root: PathBuf,
    /// The command line, recorded with the results.
    pub command: String,
    /// Live progress on stderr.
    pub progress: bool,
    /// Load generator processes; `None`: the scenario's `load.workers`,
    /// where 0 means one per 15,000 connections.
    pub workers: Option<u16>,
    /// Becomes true on Ctrl-C / SIGTERM: the run stops, writes what it
    /// measured, and reports itself partial.
    pub interrupt: watch::Receiver<bool>,
    /// Run one shard of a run spread over machines (`--shard I/N
    /// --start-at T`).
    pub shard: Option<ShardRun>,
    /// Measure the harness floor before the first phase.
    pub calibrate: bool,
    /// A URL target's server process on this host: its CPU time (with its
    /// children's) over each window gives `server_cpu_us_per_msg` and the
    /// server's CPU share, as for the builtin server.
    pub server_pid: Option<u32>,
    /// `--stream`: one JSON line per second per phase.
    pub stream: Option<std::sync::Arc<crate::stream::Stream>>,
    /// `--metrics-listen`: the live metrics endpoint.
    pub metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
}

/// One shard of a run spread over several machines: connections
/// `index, index + count, …` of every phase, on a schedule fixed by a
/// common wall-clock start, so shards started apart line up. Shard *i*
/// publishes the push messages `j` with `j mod count = i` and times those.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardRun {
    /// This shard, from 0.
    pub index: u64,
    /// Shards in the run.
    pub count: u64,
    /// When phase 1's connection 0 is due, wall clock.
    pub start_at: std::time::SystemTime,
}

/// Room after a sharded phase's window for its drain and for closing
/// connections, before the next phase's slot begins.
const SHARD_SLOT_SLACK: Duration = Duration::from_secs(15);

impl ShardRun {
    /// How long each phase's slot lasts: ramp or warm-up, the window,
    /// the longest drain and some slack.
    pub fn slot(s: &Scenario) -> Duration {
        Plan::lead(s) + s.duration + MAX_DRAIN + SHARD_SLOT_SLACK
    }

    /// The plan of phase `k` (from 0): its start on this host's monotonic
    /// clock, from the common wall-clock start.
    pub(crate) fn plan(&self, s: &Scenario, k: u32) -> Plan {
        let start = self.start_at + Self::slot(s) * k;
        let (now_wall, now_ns) = (std::time::SystemTime::now(), monotonic_ns());
        let t0_ns = match start.duration_since(now_wall) {
            Ok(ahead) => now_ns + nanos(ahead),
            Err(e) => now_ns.saturating_sub(nanos(e.duration())),
        };
        Plan::starting_at(s, t0_ns, self.index, self.count)
    }

    /// The run id every shard of one run shares: from the scenario and
    /// the common start.
    pub(crate) fn run_id(&self, s: &Scenario) -> u32 {
        let secs = self
            .start_at
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        fnv(format!("{}@{secs}", s.name).as_bytes())
    }
}

pub(crate) fn fnv(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |h: u32, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}
