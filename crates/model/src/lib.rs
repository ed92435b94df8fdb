//! # wsbench-model
//!
//! The data of wsbench: scenario files (TOML, `schema_version`, validated
//! with file:line:column errors and hints), thresholds, and results
//! (`summary.json`, HDR histograms in the V2 compressed encoding, exact
//! merges). No tokio and no I/O beyond reading and writing these files.

#![forbid(unsafe_code)]

pub mod delivery;
pub mod health;
pub mod metric;
pub mod results;
pub mod scenario;
pub mod threshold;
pub mod workload;

pub use results::{PhaseSummary, Summary};
pub use scenario::{PayloadKind, Scenario, ScenarioError, Target, Transport, WorkloadKind};
pub use threshold::Threshold;
