//! The charts, drawn with plotters to PNG and SVG from the same code:
//! the latency percentile spectrum, a latency histogram per phase, the
//! timeline, and bytes / requests per message.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;
use wsbench_model::metric::Metric;

mod latency;
mod series;
mod style;
mod time;

use self::latency::{histograms, spectrum};
pub use self::series::{LatencySeries, TimeSeries};
use self::style::{DrawResult, UNCORRECTED, err};
use self::time::{costs, timeline};
use crate::ReportError;
use crate::data::{Run, main_metric, metric_title, series_label};

/// Colours of the series, in order (readable on white, distinct in print).
/// Font files tried, in order, when `WSBENCH_FONT` is not set.
const FONT_FILES: [&str; 5] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
];

/// Loads a TrueType font for chart text once (`WSBENCH_FONT`, else a
/// common system font, else what `fc-match sans-serif` names).
fn ensure_font() -> Result<(), ReportError> {
    static LOADED: OnceLock<Result<(), String>> = OnceLock::new();
    LOADED
        .get_or_init(|| {
            let mut candidates: Vec<PathBuf> = Vec::new();
            if let Some(f) = std::env::var_os("WSBENCH_FONT") {
                candidates.push(f.into());
            }
            candidates.extend(FONT_FILES.iter().map(PathBuf::from));
            if let Ok(out) = std::process::Command::new("fc-match")
                .args(["-f", "%{file}", "sans-serif"])
                .output()
                && out.status.success()
            {
                candidates.push(String::from_utf8_lossy(&out.stdout).trim().into());
            }
            for path in &candidates {
                if let Ok(bytes) = std::fs::read(path) {
                    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                    let ok = plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
                        .is_ok();
                    if ok {
                        return Ok(());
                    }
                }
            }
            Err(
                "no TrueType font for chart text: install fonts-dejavu-core \
                 (Debian/Ubuntu) or set WSBENCH_FONT to a .ttf file"
                    .to_owned(),
            )
        })
        .clone()
        .map_err(ReportError::Font)
}

/// What a chart shows.
#[derive(Clone, Debug)]
pub enum Kind {
    /// Latency by percentile on the 1/(1−p) scale.
    Spectrum(Vec<LatencySeries>),
    /// How latencies are distributed, one panel per series.
    Histograms(Vec<LatencySeries>),
    /// msg/s, open connections and p99 per second.
    Timeline(Vec<TimeSeries>),
    /// Bytes on the wire and HTTP requests per delivered message.
    Costs(Vec<(String, f64, f64)>),
}

/// A chart ready to draw.
#[derive(Clone, Debug)]
pub struct Chart {
    /// The file name without extension.
    pub name: String,
    /// The caption.
    pub title: String,
    /// What it shows.
    pub kind: Kind,
    /// Pixels.
    pub size: (u32, u32),
}

/// The charts of `runs`: one spectrum and one histogram chart per latency
/// metric that a phase is about, the timeline, and the costs.
pub fn build(runs: &[Run]) -> Result<Vec<Chart>, ReportError> {
    let mut by_metric: Vec<(Metric, Vec<LatencySeries>)> = Vec::new();
    let mut connects = Vec::new();
    let mut timeline = Vec::new();
    let mut costs = Vec::new();
    for run in runs {
        for phase in &run.summary.phases {
            let label = series_label(runs, run, phase);
            latencies(run, phase, &label, &mut by_metric, &mut connects)?;
            if !phase.timeline.is_empty() {
                timeline.push(TimeSeries {
                    label: label.clone(),
                    points: phase.timeline.clone(),
                    window: phase.window_at_s.map(|a| (a, a + phase.measured_s)),
                    opens: phase.open_trace.clone(),
                });
            }
            if phase.counters.delivered > 0 {
                costs.push((label, phase.bytes_per_msg, phase.requests_per_msg));
            }
        }
    }
    let scenario = runs
        .first()
        .map_or_else(String::new, |r| r.summary.scenario.clone());
    let mut out = Vec::new();
    for (metric, series) in by_metric {
        let what = metric_title(metric);
        let panels = series
            .iter()
            .filter(|s| !s.label.ends_with(UNCORRECTED))
            .count();
        let height = 260 * panels.max(1) as u32 + 80;
        out.push(Chart {
            name: format!("{metric}-spectrum"),
            title: format!("{scenario}: {what} by percentile"),
            kind: Kind::Spectrum(series.clone()),
            size: (1000, 600),
        });
        out.push(Chart {
            name: format!("{metric}-histogram"),
            title: format!("{scenario}: {what}, distribution"),
            kind: Kind::Histograms(
                series
                    .into_iter()
                    .filter(|s| !s.label.ends_with(UNCORRECTED))
                    .collect(),
            ),
            size: (1000, height.min(2000)),
        });
    }
    if !connects.is_empty() {
        out.push(Chart {
            name: "connect-spectrum".into(),
            title: format!("{scenario}: connect and WebSocket handshake times by percentile"),
            kind: Kind::Spectrum(connects),
            size: (1000, 600),
        });
    }
    if !timeline.is_empty() {
        out.push(Chart {
            name: "timeline".into(),
            title: format!("{scenario}: over time"),
            kind: Kind::Timeline(timeline),
            size: (1000, 800),
        });
    }
    if !costs.is_empty() {
        out.push(Chart {
            name: "costs".into(),
            title: format!("{scenario}: cost per delivered message"),
            kind: Kind::Costs(costs),
            size: (1000, 450),
        });
    }
    Ok(out)
}

/// A phase's latency series: its main latency and, dashed in the same
/// colour, its uncorrected twin (echo, rpc, push, flow), by metric; its
/// connect and handshake times.
fn latencies(
    run: &Run,
    phase: &wsbench_model::results::PhaseSummary,
    label: &str,
    by_metric: &mut Vec<(Metric, Vec<LatencySeries>)>,
    connects: &mut Vec<LatencySeries>,
) -> Result<(), ReportError> {
    let metric = main_metric(phase);
    let twin = metric.uncorrected();
    for (m, suffix) in [(Some(metric), ""), (twin, UNCORRECTED)] {
        let Some(m) = m else { continue };
        if let Some(h) = run.histogram(phase, m.name())? {
            let series = LatencySeries {
                label: format!("{label}{suffix}"),
                histogram: h,
            };
            match by_metric.iter_mut().find(|(k, _)| *k == metric) {
                Some((_, list)) => list.push(series),
                None => by_metric.push((metric, vec![series])),
            }
        }
    }
    for (m, what) in [
        (Metric::ConnectTime, "connect"),
        (Metric::HandshakeTime, "handshake"),
    ] {
        if let Some(h) = run.histogram(phase, m.name())? {
            connects.push(LatencySeries {
                label: format!("{label} {what}"),
                histogram: h,
            });
        }
    }
    Ok(())
}

impl Chart {
    /// Draws into a string of SVG.
    pub fn svg(&self) -> Result<String, ReportError> {
        ensure_font()?;
        let mut text = String::new();
        {
            let root = SVGBackend::with_string(&mut text, self.size).into_drawing_area();
            self.draw(&root).map_err(|d| self.error(d))?;
            root.present().map_err(|e| self.error(err(e)))?;
        }
        Ok(text)
    }

    /// Writes `<name>.png` into `dir`.
    pub fn write_png(&self, dir: &Path) -> Result<PathBuf, ReportError> {
        ensure_font()?;
        let path = dir.join(format!("{}.png", self.name));
        {
            let root = BitMapBackend::new(&path, self.size).into_drawing_area();
            self.draw(&root).map_err(|d| self.error(d))?;
            root.present().map_err(|e| self.error(err(e)))?;
        }
        Ok(path)
    }

    fn error(&self, detail: String) -> ReportError {
        ReportError::Chart {
            chart: self.name.clone(),
            detail,
        }
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult {
        root.fill(&WHITE).map_err(err)?;
        let root = root.titled(&self.title, ("sans-serif", 22)).map_err(err)?;
        match &self.kind {
            Kind::Spectrum(series) => spectrum(&root, series),
            Kind::Histograms(series) => histograms(&root, series),
            Kind::Timeline(series) => timeline(&root, series),
            Kind::Costs(rows) => costs(&root, rows),
        }
    }
}
