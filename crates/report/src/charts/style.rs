//! What every chart shares: colours (a transport keeps its own), axis
//! labels and ticks, and the drawing result type.

use plotters::prelude::*;

/// The suffix of a latency's uncorrected twin (from the actual send).
pub(crate) const UNCORRECTED: &str = " (uncorrected)";

/// Series colours, in order; the first four are the transports'.
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

/// Colour `i` of the palette.
pub(super) fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// The colour of series `i` of `labels`: a transport keeps its colour in
/// every chart and report (websocket blue, long-poll orange, short-poll
/// green, sse red), the same transport of a later run a darker shade of
/// it; other series (groups) take the rest of the palette in order.
pub(super) fn colour_at(labels: &[&str], i: usize) -> RGBColor {
    let transport = |l: &str| {
        if l.ends_with(UNCORRECTED) {
            return None;
        }
        let last = l.rsplit(' ').next().unwrap_or(l);
        ["websocket", "long-poll", "short-poll", "sse"]
            .iter()
            .position(|t| *t == last)
    };
    // A series' uncorrected twin takes the series' colour (drawn dashed).
    let me = labels[i].strip_suffix(UNCORRECTED).unwrap_or(labels[i]);
    if me.len() < labels[i].len()
        && let Some(k) = labels.iter().position(|l| *l == me)
    {
        return colour_at(labels, k);
    }
    match transport(labels[i]) {
        Some(t) => {
            let before = labels[..i]
                .iter()
                .filter(|l| transport(l) == Some(t))
                .count();
            let RGBColor(r, g, b) = PALETTE[t];
            let k = 0.6f64.powi(i32::try_from(before).unwrap_or(4).min(4));
            let dim = |v: u8| (f64::from(v) * k) as u8;
            RGBColor(dim(r), dim(g), dim(b))
        }
        None => colour(4 + i),
    }
}

pub(super) type DrawResult = Result<(), String>;

pub(super) fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("{e:?}")
}

/// Percentiles on the 1/(1−p) axis: 2 is 50%, 10 is 90%, 100 is 99%, ….
pub(super) const SPECTRUM_MAX_X: f64 = 100_000.0;

pub(super) fn percentile_label(x: f64) -> String {
    let p = 100.0 * (1.0 - 1.0 / x);
    let digits = (x.log10().round() as i32 - 2).max(0) as usize;
    format!("{p:.digits$}%")
}

/// Milliseconds with at least two significant digits (an axis end such as
/// 0.063 ms is read within 5 % of where it is drawn).
pub(super) fn ms_label(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.1}")
    } else if v >= 0.1 {
        format!("{v:.2}")
    } else if v >= 0.01 {
        format!("{v:.3}")
    } else {
        format!("{v:.4}")
    }
}

pub(super) fn count_label(v: f64) -> String {
    if v.abs() >= 10.0 || v == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// Ticks of a log axis from `lo` to `hi`: 1, 2 and 5 of every decade
/// inside, and both ends, so every value on the axis has a labelled
/// neighbour within a factor of 2.5.
pub(super) fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let mut ticks = vec![lo];
    let mut decade = 10f64.powf(lo.log10().floor());
    while decade <= hi {
        for m in [1.0, 2.0, 5.0] {
            let t = decade * m;
            // Not so close to an end that the labels collide (60.7 and
            // 50.0 on a 200 px axis over a factor of 15 touch).
            if t > lo * 1.3 && t < hi / 1.3 {
                ticks.push(t);
            }
        }
        decade *= 10.0;
    }
    ticks.push(hi);
    ticks
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
    fn log_ticks_mark_1_2_5_of_each_decade_and_both_ends() {
        let t = log_ticks(0.43, 48.0);
        assert_eq!(t, [0.43, 1.0, 2.0, 5.0, 10.0, 20.0, 48.0]);
        // Every value has a tick within a factor of 2.5.
        for k in 0..100 {
            let v = 0.43 * (48.0f64 / 0.43).powf(f64::from(k) / 99.0);
            assert!(t.iter().any(|x| v / x <= 2.5 && x / v <= 2.5), "{v}");
        }
    }

    #[test]
    fn a_transport_keeps_its_colour_and_a_second_run_a_shade_of_it() {
        let labels = ["websocket", "sse", "base websocket", "readers"];
        assert_eq!(colour_at(&labels, 0), PALETTE[0]);
        assert_eq!(colour_at(&labels, 1), PALETTE[3]);
        let RGBColor(r, g, b) = colour_at(&labels, 2);
        let RGBColor(r0, g0, b0) = PALETTE[0];
        assert!(r < r0 && g < g0 && b < b0 && r > 0);
        assert_eq!(colour_at(&labels, 3), colour(7));
    }
}
