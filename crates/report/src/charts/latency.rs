//! Latency charts: the percentile spectrum and the histograms.

use hdrhistogram::Histogram;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::series::LatencySeries;
use super::style::{
    DrawResult, SPECTRUM_MAX_X, UNCORRECTED, colour_at, err, log_ticks, ms_label, percentile_label,
};

/// The percentiles marked on a spectrum: 50%, 90%, 99%, … 99.999%.
const SPECTRUM_TICKS: [f64; 6] = [2.0, 10.0, 100.0, 1_000.0, 10_000.0, 100_000.0];

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

pub(super) fn spectrum<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    series: &[LatencySeries],
) -> DrawResult {
    let (lo, hi) = latency_bounds(series, 0.5);
    let labels: Vec<&str> = series.iter().map(|s| s.label.as_str()).collect();
    // The legend goes below the plot, where it covers no curve.
    let legend_rows = i32::try_from(series.len()).unwrap_or(8).min(8);
    let (_, h) = area.dim_in_pixel();
    let (plot, legend) =
        area.split_vertically(h.saturating_sub(24 * legend_rows as u32 + 16).max(h / 2));
    let mut chart = ChartBuilder::on(&plot)
        .margin(16)
        .margin_right(40)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(
            (2f64..SPECTRUM_MAX_X)
                .log_scale()
                .with_key_points(SPECTRUM_TICKS.to_vec()),
            (lo..hi).log_scale().with_key_points(log_ticks(lo, hi)),
        )
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
        let c = colour_at(&labels, i);
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
        if s.label.ends_with(UNCORRECTED) {
            chart
                .draw_series(DashedLineSeries::new(points, 6, 4, c.stroke_width(2)))
                .map_err(err)?;
        } else {
            chart
                .draw_series(LineSeries::new(points, c.stroke_width(2)))
                .map_err(err)?;
        }
        let row = i32::try_from(i).unwrap_or(0);
        if row < legend_rows {
            let y = 8 + 24 * row;
            let dashes: &[(i32, i32)] = if s.label.ends_with(UNCORRECTED) {
                &[(88, 96), (104, 112)]
            } else {
                &[(88, 112)]
            };
            for &(a, b) in dashes {
                legend
                    .draw(&PathElement::new(
                        vec![(a, y + 8), (b, y + 8)],
                        c.stroke_width(3),
                    ))
                    .map_err(err)?;
            }
            legend
                .draw(&Text::new(
                    format!(
                        "{}: n = {}, p50 {} ms, p99 {} ms",
                        s.label,
                        s.histogram.len(),
                        ms_label(s.histogram.value_at_quantile(0.5) as f64 / 1e6),
                        ms_label(s.histogram.value_at_quantile(0.99) as f64 / 1e6)
                    ),
                    (120, y),
                    ("sans-serif", 15).into_font(),
                ))
                .map_err(err)?;
        }
    }
    Ok(())
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

pub(super) fn histograms<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    series: &[LatencySeries],
) -> DrawResult {
    let (lo, hi) = latency_bounds(series, 0.0);
    let labels: Vec<&str> = series.iter().map(|s| s.label.as_str()).collect();
    let panels = area.split_evenly((series.len().max(1), 1));
    let binned: Vec<Vec<(f64, f64, f64)>> = series
        .iter()
        .map(|s| bins(&s.histogram, lo, hi, 60))
        .collect();
    // One y scale for every panel, so their heights compare.
    let top = binned
        .iter()
        .flatten()
        .map(|b| b.2)
        .fold(0.0, f64::max)
        .max(1.0)
        * 1.15;
    for (i, ((s, panel), b)) in series.iter().zip(&panels).zip(&binned).enumerate() {
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
            .build_cartesian_2d(
                (lo..hi).log_scale().with_key_points(log_ticks(lo, hi)),
                0f64..top,
            )
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
        let c = colour_at(&labels, i);
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

#[cfg(test)]
mod tests {
    use super::*;

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
