//! The charts, drawn with plotters to PNG and SVG from the same code:
//! the latency percentile spectrum, a latency histogram per phase, the
//! timeline, and bytes / requests per message.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use hdrhistogram::Histogram;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;
use wsbench_model::metric::Metric;
use wsbench_model::results::TimelinePoint;

use crate::ReportError;
use crate::data::{Run, main_metric, metric_title, series_label};

/// Colours of the series, in order (readable on white, distinct in print).
const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

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

/// One series of latencies.
#[derive(Clone, Debug)]
pub struct LatencySeries {
    /// Legend.
    pub label: String,
    /// Values in nanoseconds.
    pub histogram: Histogram<u64>,
}

/// One series over time.
#[derive(Clone, Debug)]
pub struct TimeSeries {
    /// Legend.
    pub label: String,
    /// One point a second.
    pub points: Vec<TimelinePoint>,
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
    let mut timeline = Vec::new();
    let mut costs = Vec::new();
    for run in runs {
        for phase in &run.summary.phases {
            let label = series_label(runs, run, phase);
            let metric = main_metric(phase);
            if let Some(h) = run.histogram(phase, metric.name())? {
                let series = LatencySeries {
                    label: label.clone(),
                    histogram: h,
                };
                match by_metric.iter_mut().find(|(m, _)| *m == metric) {
                    Some((_, list)) => list.push(series),
                    None => by_metric.push((metric, vec![series])),
                }
            }
            if !phase.timeline.is_empty() {
                timeline.push(TimeSeries {
                    label: label.clone(),
                    points: phase.timeline.clone(),
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
        let height = 260 * series.len().max(1) as u32 + 80;
        out.push(Chart {
            name: format!("{metric}-spectrum"),
            title: format!("{scenario}: {what} by percentile"),
            kind: Kind::Spectrum(series.clone()),
            size: (1000, 600),
        });
        out.push(Chart {
            name: format!("{metric}-histogram"),
            title: format!("{scenario}: {what}, distribution"),
            kind: Kind::Histograms(series),
            size: (1000, height.min(2000)),
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

type DrawResult = Result<(), String>;

fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("{e:?}")
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

/// Percentiles on the 1/(1−p) axis: 2 is 50%, 10 is 90%, 100 is 99%, ….
const SPECTRUM_MAX_X: f64 = 100_000.0;

fn percentile_label(x: f64) -> String {
    let p = 100.0 * (1.0 - 1.0 / x);
    let digits = (x.log10().round() as i32 - 2).max(0) as usize;
    format!("{p:.digits$}%")
}

fn ms_label(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.1}")
    } else if v >= 0.01 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

fn count_label(v: f64) -> String {
    if v.abs() >= 10.0 || v == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn latency_bounds(series: &[LatencySeries], from_quantile: f64) -> (f64, f64) {
    let lo = series
        .iter()
        .map(|s| s.histogram.value_at_quantile(from_quantile).max(1) as f64 / 1e6)
        .fold(f64::INFINITY, f64::min);
    let hi = series
        .iter()
        .map(|s| s.histogram.max() as f64 / 1e6)
        .fold(0.0, f64::max);
    let lo = if lo.is_finite() { lo / 1.5 } else { 0.001 };
    (lo.max(1e-4), (hi * 1.5).max(lo * 10.0).max(1e-3))
}

fn spectrum<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    series: &[LatencySeries],
) -> DrawResult {
    let (lo, hi) = latency_bounds(series, 0.5);
    let mut chart = ChartBuilder::on(area)
        .margin(16)
        .margin_right(40)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d((2f64..SPECTRUM_MAX_X).log_scale(), (lo..hi).log_scale())
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency (ms)")
        .x_label_formatter(&|x| percentile_label(*x))
        .y_label_formatter(&|y| ms_label(*y))
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 17))
        .draw()
        .map_err(err)?;
    for (i, s) in series.iter().enumerate() {
        let c = colour(i);
        let steps = 240;
        let max_x = SPECTRUM_MAX_X.log10();
        let points: Vec<(f64, f64)> = (0..=steps)
            .map(|k| {
                let x = 10f64.powf(2f64.log10() + (max_x - 2f64.log10()) * k as f64 / steps as f64);
                let q = (1.0 - 1.0 / x).min(1.0);
                let v = s.histogram.value_at_quantile(q).max(1) as f64 / 1e6;
                (x, v)
            })
            .collect();
        chart
            .draw_series(LineSeries::new(points, c.stroke_width(2)))
            .map_err(err)?
            .label(format!(
                "{} (n = {}, p99 {} ms)",
                s.label,
                s.histogram.len(),
                ms_label(s.histogram.value_at_quantile(0.99) as f64 / 1e6)
            ))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(3)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .label_font(("sans-serif", 15))
        .draw()
        .map_err(err)
}

/// Log-spaced bins between `lo` and `hi` (ms) and the share of `h`'s
/// values, in percent, in each.
fn bins(h: &Histogram<u64>, lo: f64, hi: f64, n: usize) -> Vec<(f64, f64, f64)> {
    let (llo, lhi) = (lo.ln(), hi.ln());
    let width = (lhi - llo) / n as f64;
    let mut counts = vec![0u64; n];
    for v in h.iter_recorded() {
        let ms = v.value_iterated_to().max(1) as f64 / 1e6;
        let i = (((ms.ln() - llo) / width) as usize).min(n - 1);
        counts[i] += v.count_at_value();
    }
    let total = h.len().max(1) as f64;
    counts
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            (
                (llo + width * i as f64).exp(),
                (llo + width * (i + 1) as f64).exp(),
                100.0 * c as f64 / total,
            )
        })
        .collect()
}

fn histograms<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    series: &[LatencySeries],
) -> DrawResult {
    let (lo, hi) = latency_bounds(series, 0.0);
    let panels = area.split_evenly((series.len().max(1), 1));
    for (i, (s, panel)) in series.iter().zip(&panels).enumerate() {
        let b = bins(&s.histogram, lo, hi, 60);
        let top = b.iter().map(|b| b.2).fold(0.0, f64::max).max(1.0) * 1.15;
        let mut chart = ChartBuilder::on(panel)
            .caption(
                format!(
                    "{}: p50 {} ms, p99 {} ms, max {} ms",
                    s.label,
                    ms_label(s.histogram.value_at_quantile(0.5) as f64 / 1e6),
                    ms_label(s.histogram.value_at_quantile(0.99) as f64 / 1e6),
                    ms_label(s.histogram.max() as f64 / 1e6)
                ),
                ("sans-serif", 16),
            )
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d((lo..hi).log_scale(), 0f64..top)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("latency (ms)")
            .y_desc("share of messages (%)")
            .x_label_formatter(&|x| ms_label(*x))
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 15))
            .draw()
            .map_err(err)?;
        let c = colour(i);
        chart
            .draw_series(
                b.iter()
                    .filter(|b| b.2 > 0.0)
                    .map(|&(x0, x1, y)| Rectangle::new([(x0, 0.0), (x1, y)], c.mix(0.75).filled())),
            )
            .map_err(err)?;
    }
    Ok(())
}

fn timeline<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    series: &[TimeSeries],
) -> DrawResult {
    let panels = area.split_evenly((3, 1));
    let end = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.t_s))
        .fold(1.0, f64::max);
    type Pick = fn(&TimelinePoint) -> Option<f64>;
    let rows: [(&str, Pick); 3] = [
        ("messages received per second", |p| Some(p.msg_rate)),
        ("connections open", |p| Some(p.open as f64)),
        ("p99 latency in the second (ms)", |p| {
            (p.p99 > 0).then(|| p.p99 as f64 / 1e6)
        }),
    ];
    for (row, (panel, (desc, pick))) in panels.iter().zip(rows).enumerate() {
        let top = series
            .iter()
            .flat_map(|s| s.points.iter().filter_map(pick))
            .fold(0.0, f64::max)
            .max(1e-3)
            * 1.15;
        let mut chart = ChartBuilder::on(panel)
            .margin(10)
            .x_label_area_size(if row == 2 { 40 } else { 24 })
            .y_label_area_size(80)
            .build_cartesian_2d(0f64..end, 0f64..top)
            .map_err(err)?;
        let mut mesh = chart.configure_mesh();
        mesh.y_desc(desc)
            .y_label_formatter(&|v| count_label(*v))
            .x_label_formatter(&|v| count_label(*v))
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 14));
        if row == 2 {
            mesh.x_desc("seconds since the phase started");
        }
        mesh.draw().map_err(err)?;
        for (i, s) in series.iter().enumerate() {
            let c = colour(i);
            let points: Vec<(f64, f64)> = s
                .points
                .iter()
                .filter_map(|p| pick(p).map(|v| (p.t_s, v)))
                .collect();
            let drawn = chart
                .draw_series(LineSeries::new(points, c.stroke_width(2)))
                .map_err(err)?;
            if row == 0 {
                drawn.label(s.label.clone()).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(3))
                });
            }
        }
        if row == 0 {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.4))
                .label_font(("sans-serif", 14))
                .draw()
                .map_err(err)?;
        }
    }
    Ok(())
}

fn costs<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    rows: &[(String, f64, f64)],
) -> DrawResult {
    let panels = area.split_evenly((1, 2));
    type Pick = fn(&(String, f64, f64)) -> f64;
    let metrics: [(&str, Pick); 2] = [
        ("bytes on the wire per message", |r| r.1),
        ("HTTP requests per message", |r| r.2),
    ];
    for (panel, (desc, pick)) in panels.iter().zip(metrics) {
        let top = rows.iter().map(pick).fold(0.0, f64::max).max(1e-3) * 1.2;
        let n = rows.len();
        let mut chart = ChartBuilder::on(panel)
            .caption(desc, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..n as f64, 0f64..top)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n * 2 + 1)
            .x_label_formatter(&|x| {
                let i = x.floor() as usize;
                if (x - x.floor() - 0.5).abs() < 0.01 && i < n {
                    rows[i].0.clone()
                } else {
                    String::new()
                }
            })
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(err)?;
        chart
            .draw_series(rows.iter().enumerate().map(|(i, r)| {
                Rectangle::new(
                    [(i as f64 + 0.15, 0.0), (i as f64 + 0.85, pick(r))],
                    colour(i).mix(0.8).filled(),
                )
            }))
            .map_err(err)?;
        chart
            .draw_series(rows.iter().enumerate().map(|(i, r)| {
                let v = pick(r);
                Text::new(
                    if v >= 10.0 {
                        format!("{v:.0}")
                    } else {
                        format!("{v:.2}")
                    },
                    (i as f64 + 0.35, v + top * 0.02),
                    ("sans-serif", 14),
                )
            }))
            .map_err(err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_labels_follow_the_inverse_tail_scale() {
        assert_eq!(percentile_label(2.0), "50%");
        assert_eq!(percentile_label(10.0), "90%");
        assert_eq!(percentile_label(100.0), "99%");
        assert_eq!(percentile_label(1000.0), "99.9%");
        assert_eq!(percentile_label(100_000.0), "99.999%");
    }

    #[test]
    fn bins_cover_every_value_once() {
        let mut h = wsbench_model::results::latency_histogram();
        for v in 1..=1000u64 {
            h.record(v * 10_000).unwrap();
        }
        let b = bins(&h, 0.005, 15.0, 30);
        let total: f64 = b.iter().map(|b| b.2).sum();
        assert!((total - 100.0).abs() < 1e-9);
        assert!(b.windows(2).all(|w| (w[0].1 - w[1].0).abs() < 1e-9));
    }
}
