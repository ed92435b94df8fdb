//! wsbench-report: turns result folders (`summary.json`, HDR histograms,
//! interval logs) into charts (PNG and SVG, drawn with plotters), a
//! self-contained `report.html`, CSV / Markdown / `.hlog` exports, and the
//! regression gate behind `wsbench compare`.

#![forbid(unsafe_code)]

pub mod charts;
pub mod compare;
pub mod data;
pub mod export;
pub mod html;
pub mod merge;
pub mod stats;

use std::path::PathBuf;

pub use data::Run;

/// What can go wrong turning results into reports.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A folder is not a results folder, or its files are unreadable.
    #[error("{0}")]
    Invalid(String),
    /// Results that cannot be compared or merged (other scenario, other
    /// schema, missing phases).
    #[error("{0}")]
    Incompatible(String),
    /// No font for chart text.
    #[error("{0}")]
    Font(String),
    /// Drawing a chart failed.
    #[error("drawing {chart}: {detail}")]
    Chart {
        /// The chart.
        chart: String,
        /// What the backend said.
        detail: String,
    },
}

impl ReportError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> ReportError {
        ReportError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Output formats of `wsbench report`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Format {
    /// Charts as PNG.
    Png,
    /// Charts as SVG.
    Svg,
    /// `report.html`.
    Html,
    /// `summary.csv`.
    Csv,
    /// `summary.md`.
    Markdown,
    /// HdrHistogram interval logs, one per phase and metric.
    Hlog,
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 6] = [
        Format::Png,
        Format::Svg,
        Format::Html,
        Format::Csv,
        Format::Markdown,
        Format::Hlog,
    ];

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Png => "png",
            Format::Svg => "svg",
            Format::Html => "html",
            Format::Csv => "csv",
            Format::Markdown => "md",
            Format::Hlog => "hlog",
        }
    }

    /// Parses a comma-separated list (`png,svg,html`).
    pub fn parse_list(text: &str) -> Result<Vec<Format>, String> {
        let mut out = Vec::new();
        for word in text.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            let f = Format::ALL
                .into_iter()
                .find(|f| f.name() == word || (word == "markdown" && *f == Format::Markdown))
                .ok_or_else(|| {
                    let names: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
                    format!(
                        "unknown format `{word}`; expected any of {}",
                        names.join(", ")
                    )
                })?;
            if !out.contains(&f) {
                out.push(f);
            }
        }
        if out.is_empty() {
            return Err("no format given".into());
        }
        Ok(out)
    }
}

/// Writes the reports of `runs` in `formats`: for each run, its charts
/// under `RUN/report/` and `RUN/report.html`; with several runs, charts
/// and a `report.html` comparing them in `compare_out`. Returns the files
/// written.
pub fn report(
    runs: &[Run],
    formats: &[Format],
    compare_out: Option<&std::path::Path>,
) -> Result<Vec<PathBuf>, ReportError> {
    let mut written = Vec::new();
    for run in runs {
        let out = run.dir.join("report");
        written.extend(write_set(
            std::slice::from_ref(run),
            formats,
            &out,
            &run.dir,
        )?);
    }
    if runs.len() > 1
        && let Some(out) = compare_out
    {
        written.extend(write_set(runs, formats, out, out)?);
    }
    Ok(written)
}

fn write_set(
    runs: &[Run],
    formats: &[Format],
    charts_dir: &std::path::Path,
    html_dir: &std::path::Path,
) -> Result<Vec<PathBuf>, ReportError> {
    let mut written = Vec::new();
    let wants = |f| formats.contains(&f);
    let needs_dir = formats.iter().any(|f| *f != Format::Html);
    if needs_dir {
        std::fs::create_dir_all(charts_dir).map_err(|e| ReportError::io(charts_dir, e))?;
    }
    let charts = charts::build(runs)?;
    // Each chart is drawn as SVG once, for its file and for the page.
    let mut svgs = Vec::new();
    for chart in &charts {
        if wants(Format::Svg) || wants(Format::Html) {
            let svg = chart.svg()?;
            if wants(Format::Svg) {
                let path = charts_dir.join(format!("{}.svg", chart.name));
                std::fs::write(&path, &svg).map_err(|e| ReportError::io(&path, e))?;
                written.push(path);
            }
            svgs.push((chart, svg));
        }
        if wants(Format::Png) {
            written.push(chart.write_png(charts_dir)?);
        }
    }
    if wants(Format::Csv) {
        let path = charts_dir.join("summary.csv");
        std::fs::write(&path, export::csv(runs)).map_err(|e| ReportError::io(&path, e))?;
        written.push(path);
    }
    if wants(Format::Markdown) {
        let path = charts_dir.join("summary.md");
        std::fs::write(&path, export::markdown(runs)).map_err(|e| ReportError::io(&path, e))?;
        written.push(path);
    }
    if wants(Format::Hlog) {
        written.extend(export::hlogs(runs, charts_dir)?);
    }
    if wants(Format::Html) {
        std::fs::create_dir_all(html_dir).map_err(|e| ReportError::io(html_dir, e))?;
        let path = html_dir.join(wsbench_model::results::files::REPORT_HTML);
        std::fs::write(&path, html::page(runs, &svgs)).map_err(|e| ReportError::io(&path, e))?;
        written.push(path);
    }
    Ok(written)
}
