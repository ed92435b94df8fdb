//! # wsbench-load
//!
//! The load generator: runs a [`wsbench_model::Scenario`] against a target,
//! one phase per transport, and writes the results folder. Depends on the
//! transport, the protocol layer (message formats, markers, payloads, the
//! clock), the model and the server's command line (to start the builtin
//! target); must not depend on the report crate.
//!
//! A run (`engine.rs`) measures the harness floor (`floor.rs`) and runs
//! one phase per transport. A phase (`phase.rs`) composes an arrival model
//! (connections at the ramp rate) and a stop condition (warm-up, measured
//! window, drain; or an interruption, or a dead target) on one schedule
//! (`plan.rs`), a driver per connection (transport × workload,
//! `drivers/`), a [`recorder::Recorder`] (sharded HDR histograms and
//! counters) with a scheduling-lag probe (`probe.rs`), and for push the
//! publisher (`publisher.rs`: the load generator sends every message
//! itself, each payload marked with `wsbench_protocol::marker`) whose record every subscriber's
//! receipts (`receipts.rs`) are accounted against. Worker processes
//! (`shard.rs`) run shares of a phase and are merged exactly.

#![forbid(unsafe_code)]

mod arrival;
mod drivers;
mod engine;
mod failure;
mod floor;
pub mod metrics;
mod options;
pub mod output;
mod phase;
mod plan;
mod probe;
mod progress;
mod publisher;
mod rates;
mod readings;
mod receipts;
pub mod recorder;
mod runs;
pub mod shard;
mod shard_spec;
mod signal;
mod stages;
mod steps;
mod stop;
mod storm;
pub mod stream;
pub mod sys;
mod target;
pub mod timeline;
mod timer;

use std::path::PathBuf;

pub use engine::{RunOutcome, environment, run};
pub use options::{RunOptions, ShardRun};
use wsbench_model::Summary;

/// Why a run did not complete.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The target could not be started or reached at all.
    #[error("target: {0}")]
    Target(String),
    /// The run was interrupted; what was measured is in `dir`.
    #[error("interrupted; partial results in {}", dir.display())]
    Interrupted {
        /// The results folder.
        dir: PathBuf,
        /// What was measured.
        summary: Box<Summary>,
    },
    /// The target failed during the run; what was measured is in `dir`.
    #[error("the target failed: {detail}; partial results in {}", dir.display())]
    TargetFailed {
        /// The results folder.
        dir: PathBuf,
        /// What happened.
        detail: String,
        /// What was measured.
        summary: Box<Summary>,
    },
    /// The results folder could not be written.
    #[error("writing results: {0}")]
    Results(std::io::Error),
    /// The scenario asks for something this build cannot do.
    #[error("not supported: {0}")]
    Unsupported(String),
}
