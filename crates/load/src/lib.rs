//! # wsbench-load
//!
//! The load generator: runs a [`wsbench_model::Scenario`] against a target,
//! one phase per transport, and writes the results folder. Depends on the
//! transport, the model and (for the builtin target's executable) nothing
//! else of wsbench; must not depend on the report crate.
//!
//! The engine (`engine.rs`) composes an arrival model (connections at the
//! ramp rate), a stop condition (warm-up, measured window, drain, or an
//! interruption, or a dead target), a driver per connection (transport ×
//! workload, `drivers.rs`) and a [`recorder::Recorder`] (sharded HDR
//! histograms and counters).

#![forbid(unsafe_code)]

mod drivers;
mod engine;
pub mod output;
pub mod payload;
mod progress;
pub mod recorder;
pub mod shard;
pub mod sys;
mod target;
pub mod tracker;

use std::path::PathBuf;

pub use engine::{RunOptions, RunOutcome, ShardRun, environment, run};
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
