//! Charts over time and of costs: the timeline and bytes and requests
//! per message.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::series::TimeSeries;
use super::style::{DrawResult, colour, colour_at, count_label, err, log_ticks, ms_label};

/// A row's points of a series: (seconds, value).
type Pick = fn(&TimeSeries) -> Vec<(f64, f64)>;

pub(super) fn timeline<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    series: &[TimeSeries],
) -> DrawResult {
    let panels = area.split_evenly((3, 1));
    let end = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.t_s))
        .fold(1.0, f64::max);
    let labels: Vec<&str> = series.iter().map(|s| s.label.as_str()).collect();
    let rows: [(&str, Pick); 2] = [
        ("messages received per second", |s| {
            s.points.iter().map(|p| (p.t_s, p.msg_rate)).collect()
        }),
        ("connections open", TimeSeries::open_points),
    ];
    p99_row(&panels[2], series, &labels, end)?;
    for (row, (panel, (desc, pick))) in panels.iter().zip(rows).enumerate() {
        let top = series
            .iter()
            .flat_map(|s| pick(s).into_iter().map(|(_, v)| v))
            .fold(0.0, f64::max)
            .max(1e-3)
            * 1.15;
        let mut chart = ChartBuilder::on(panel)
            .margin(10)
            .x_label_area_size(24)
            .y_label_area_size(80)
            .build_cartesian_2d(0f64..end, 0f64..top)
            .map_err(err)?;
        let mut mesh = chart.configure_mesh();
        mesh.y_desc(desc)
            .y_label_formatter(&|v| count_label(*v))
            .x_label_formatter(&|v| count_label(*v))
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 14));
        mesh.draw().map_err(err)?;
        if let Some((from, to)) = window(series) {
            let grey = RGBColor(225, 225, 225).mix(0.6).filled();
            chart
                .draw_series([
                    Rectangle::new([(0.0, 0.0), (from, top)], grey),
                    Rectangle::new([(to.min(end), 0.0), (end, top)], grey),
                ])
                .map_err(err)?;
            if row == 0 {
                let font = ("sans-serif", 13).into_font().color(&BLACK.mix(0.6));
                chart
                    .draw_series([
                        Text::new("warm-up", (0.0, top), font.clone()),
                        Text::new("drain", (to.min(end), top), font),
                    ])
                    .map_err(err)?;
            }
        }
        for (i, s) in series.iter().enumerate() {
            let c = colour_at(&labels, i);
            let points = pick(s);
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
                .position(quiet_corner(series, pick, end, top))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.4))
                .label_font(("sans-serif", 14))
                .draw()
                .map_err(err)?;
        }
    }
    Ok(())
}

/// The corner of a row where the legend covers the fewest of its points
/// (each corner a quarter of the width and 40% of the height).
fn quiet_corner(series: &[TimeSeries], pick: Pick, end: f64, top: f64) -> SeriesLabelPosition {
    let points: Vec<(f64, f64)> = series.iter().flat_map(pick).collect();
    let (w, h) = (end * 0.25, top * 0.4);
    let corners = [
        (SeriesLabelPosition::LowerRight, end - w, 0.0),
        (SeriesLabelPosition::UpperRight, end - w, top - h),
        (SeriesLabelPosition::LowerLeft, 0.0, 0.0),
        (SeriesLabelPosition::UpperLeft, 0.0, top - h),
    ];
    let covered = |x0: f64, y0: f64| {
        points
            .iter()
            .filter(|&&(x, y)| x >= x0 && x <= x0 + w && y >= y0 && y <= y0 + h)
            .count()
    };
    corners
        .into_iter()
        .min_by_key(|&(_, x0, y0)| covered(x0, y0))
        .map_or(SeriesLabelPosition::LowerRight, |(c, _, _)| c)
}

/// The measured window shaded on a timeline: the first series' that has
/// one (the warm-up before it and the drain after it are greyed).
fn window(series: &[TimeSeries]) -> Option<(f64, f64)> {
    series.iter().find_map(|s| s.window)
}

/// The timeline's p99 row, on a log axis: a slow transport's seconds and
/// a fast one's both stay readable.
fn p99_row<DB: DrawingBackend>(
    panel: &DrawingArea<DB, Shift>,
    series: &[TimeSeries],
    labels: &[&str],
    end: f64,
) -> DrawResult {
    let values = || {
        series.iter().flat_map(|s| {
            s.points
                .iter()
                .filter(|p| p.p99 > 0)
                .map(|p| p.p99 as f64 / 1e6)
        })
    };
    let lo = values().fold(f64::INFINITY, f64::min);
    let lo = if lo.is_finite() {
        (lo / 1.5).max(1e-3)
    } else {
        0.01
    };
    let hi = values().fold(0.0, f64::max).max(lo * 10.0) * 1.5;
    let mut chart = ChartBuilder::on(panel)
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(
            0f64..end,
            (lo..hi).log_scale().with_key_points(log_ticks(lo, hi)),
        )
        .map_err(err)?;
    chart
        .configure_mesh()
        .y_desc("p99 in the second (ms, log)")
        .x_desc("seconds since the phase started")
        .y_label_formatter(&|v| ms_label(*v))
        .x_label_formatter(&|v| count_label(*v))
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 14))
        .draw()
        .map_err(err)?;
    if let Some((from, to)) = window(series) {
        let grey = RGBColor(225, 225, 225).mix(0.6).filled();
        chart
            .draw_series([
                Rectangle::new([(0.0, lo), (from, hi)], grey),
                Rectangle::new([(to.min(end), lo), (end, hi)], grey),
            ])
            .map_err(err)?;
    }
    for (i, s) in series.iter().enumerate() {
        let points: Vec<(f64, f64)> = s
            .points
            .iter()
            .filter(|p| p.p99 > 0)
            .map(|p| (p.t_s, p.p99 as f64 / 1e6))
            .collect();
        chart
            .draw_series(LineSeries::new(
                points,
                colour_at(labels, i).stroke_width(2),
            ))
            .map_err(err)?;
    }
    Ok(())
}

pub(super) fn costs<DB: DrawingBackend>(
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
