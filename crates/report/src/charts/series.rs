//! The data a chart draws.

use hdrhistogram::Histogram;
use wsbench_model::results::TimelinePoint;

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
    /// The measured window on the series' clock, seconds (`None`: not
    /// recorded).
    pub window: Option<(f64, f64)>,
}
