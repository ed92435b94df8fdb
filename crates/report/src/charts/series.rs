//! The data a chart draws.

use hdrhistogram::Histogram;
use wsbench_model::results::{OpenSample, TimelinePoint};

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
    /// The open connections every 100 ms where they changed (empty: not
    /// recorded; the seconds' points stand in).
    pub opens: Vec<OpenSample>,
}

impl TimeSeries {
    /// The open connections over time: the fine trace when recorded (a
    /// 0.1 s ramp drawn over 0.1 s), else the seconds' samples.
    pub fn open_points(&self) -> Vec<(f64, f64)> {
        if self.opens.is_empty() {
            self.points.iter().map(|p| (p.t_s, p.open as f64)).collect()
        } else {
            self.opens.iter().map(|o| (o.t_s, o.open as f64)).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_connections_come_from_the_trace_when_there_is_one() {
        let second = |t_s, open| TimelinePoint {
            t_s,
            open,
            ..TimelinePoint::default()
        };
        let mut s = TimeSeries {
            label: "websocket".into(),
            points: vec![second(0.0, 0), second(1.0, 100)],
            window: None,
            opens: Vec::new(),
        };
        assert_eq!(s.open_points(), [(0.0, 0.0), (1.0, 100.0)]);
        // A 0.1 s ramp ends at 0.1 s, not at the next second.
        s.opens = [(0.0, 0), (0.1, 100), (1.0, 100)]
            .map(|(t_s, open)| OpenSample { t_s, open })
            .to_vec();
        assert_eq!(s.open_points(), [(0.0, 0.0), (0.1, 100.0), (1.0, 100.0)]);
    }
}
