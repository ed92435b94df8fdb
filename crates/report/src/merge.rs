//! `wsbench merge`: the shards of one run (`wsbench run --shard I/N`)
//! combined into one result, exactly: counters add up, HDR histograms
//! merge, timelines merge second by second, and the shards' push ledgers
//! add up and are accounted against every shard's publish record (each
//! shard published its share of the schedule).

use std::path::{Path, PathBuf};

use wsbench_model::results::{PhasePart, RunFolder, Summary, files, merge_part_dirs};
use wsbench_model::{Scenario, Threshold};

use crate::{ReportError, Run};

/// Merges the shard results in `dirs` into the new folder `out`, and
/// returns the merged summary (thresholds checked again on it).
pub fn merge(dirs: &[PathBuf], out: &Path, command: &str) -> Result<Summary, ReportError> {
    let runs = dirs
        .iter()
        .map(|d| Run::load(d))
        .collect::<Result<Vec<_>, _>>()?;
    let Some(first) = runs.first() else {
        return Err(ReportError::Invalid("nothing to merge".into()));
    };
    let shard_of = |r: &Run| {
        r.summary.shard.clone().ok_or_else(|| {
            ReportError::Incompatible(format!(
                "{} is not a shard result (it was not run with --shard)",
                r.dir.display()
            ))
        })
    };
    let lead = shard_of(first)?;
    let mut seen = vec![None::<&Path>; usize::try_from(lead.count).unwrap_or(0)];
    for r in &runs {
        let s = shard_of(r)?;
        if r.summary.scenario != first.summary.scenario
            || s.count != lead.count
            || s.start_at != lead.start_at
        {
            return Err(ReportError::Incompatible(format!(
                "{} is shard {}/{} of `{}` started at {}; {} is shard {}/{} of `{}` started at {}: not one run",
                first.dir.display(),
                lead.index,
                lead.count,
                first.summary.scenario,
                lead.start_at,
                r.dir.display(),
                s.index,
                s.count,
                r.summary.scenario,
                s.start_at
            )));
        }
        let slot = seen
            .get_mut(usize::try_from(s.index).unwrap_or(usize::MAX))
            .ok_or_else(|| {
                ReportError::Invalid(format!("{}: shard index out of range", r.dir.display()))
            })?;
        if let Some(other) = slot.replace(&r.dir) {
            return Err(ReportError::Incompatible(format!(
                "shard {} given twice: {} and {}",
                s.index,
                other.display(),
                r.dir.display()
            )));
        }
    }
    let missing: Vec<String> = seen
        .iter()
        .enumerate()
        .filter(|(_, d)| d.is_none())
        .map(|(i, _)| i.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(ReportError::Incompatible(format!(
            "incomplete: shard(s) {} of {} missing",
            missing.join(", "),
            lead.count
        )));
    }
    if out.exists() {
        return Err(ReportError::Invalid(format!(
            "{}: already exists; merge writes a new folder",
            out.display()
        )));
    }
    let folder = RunFolder::at(out).map_err(|e| ReportError::io(out, e))?;

    let mut summary = first.summary.clone();
    summary.command = command.to_owned();
    summary.shard = None;
    summary.environment.workers = runs.iter().map(|r| r.summary.environment.workers).sum();
    summary.partial = runs.iter().any(|r| r.summary.partial);
    if let Some(p) = runs.iter().find(|r| r.summary.partial) {
        summary.stop_reason.clone_from(&p.summary.stop_reason);
        summary.stop_detail = Some(format!(
            "shard {}: {}",
            p.summary.shard.as_ref().map_or(0, |s| s.index),
            p.summary.stop_detail.clone().unwrap_or_default()
        ));
    }
    summary.phases.clear();
    for phase in &first.summary.phases {
        let parts: Vec<(PathBuf, PhasePart)> = runs
            .iter()
            .filter_map(|r| {
                let p = r.summary.phases.iter().find(|p| p.name() == phase.name())?;
                Some((
                    r.dir.clone(),
                    PhasePart {
                        phase: p.clone(),
                        ..PhasePart::default()
                    },
                ))
            })
            .collect();
        let merged = merge_part_dirs(&parts, out, phase.name(), &[], None)
            .map_err(|e| ReportError::io(out, e))?;
        summary.phases.push(merged);
    }
    let thresholds: Vec<Threshold> = match &first.scenario_text {
        Some(text) => {
            let file = first.dir.join(files::SCENARIO);
            folder
                .write_scenario(text)
                .map_err(|e| ReportError::io(out, e))?;
            Scenario::parse(&file.display().to_string(), text)
                .map(|s| s.thresholds)
                .map_err(|e| ReportError::Invalid(e.to_string()))?
        }
        None => Vec::new(),
    };
    summary.thresholds = Summary::evaluate(&summary.phases, &thresholds, Some(out));
    folder
        .write_summary(&summary)
        .map_err(|e| ReportError::io(out, e))?;
    let sources: Vec<String> = runs
        .iter()
        .map(|r| format!("- `{}`", r.dir.display()))
        .collect();
    let md = format!(
        "# wsbench run: {} (merged from {} shards)\n\ncommand: `{command}`\n\nshards started at {}:\n\n{}\n",
        summary.scenario,
        lead.count,
        lead.start_at,
        sources.join("\n")
    );
    folder
        .write_run_md(&md)
        .map_err(|e| ReportError::io(out, e))?;
    Ok(summary)
}
