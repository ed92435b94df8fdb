//! A phase second by second (the timeline in `summary.json`, the interval
//! log, the progress line's samples) and its open connections ten times a
//! second.

use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use wsbench_model::results::{Interval, OpenTrace, TimelinePoint, latency_histogram};

use crate::recorder::{Counts, Recorder};

/// A phase second by second: rates, open connections, errors and the
/// main latency's interval histogram, sampled once a second from the
/// phase's start (the progress line shows the same samples).
#[derive(Debug)]
pub struct Timeline {
    t0: std::time::Instant,
    /// The wall-clock time of `t0`.
    pub base: std::time::SystemTime,
    prev_s: f64,
    last_received: u64,
    last_errors: u64,
    /// The samples.
    pub points: Vec<TimelinePoint>,
    /// The open connections every [`OpenTrace::EVERY_MS`].
    pub opens: OpenTrace,
    /// Each sample's interval histogram, V2 compressed (a histogram is
    /// large; its encoding is a few hundred bytes).
    encoded: Vec<Vec<u8>>,
}

impl Timeline {
    /// A timeline of a phase that started at `t0`.
    pub fn new(t0: std::time::Instant) -> Timeline {
        let now = std::time::Instant::now();
        let wall = std::time::SystemTime::now();
        let base = if t0 >= now {
            wall + (t0 - now)
        } else {
            wall - (now - t0)
        };
        Timeline {
            t0,
            base,
            prev_s: 0.0,
            last_received: 0,
            last_errors: 0,
            points: Vec::new(),
            opens: OpenTrace::default(),
            encoded: Vec::new(),
        }
    }

    /// Samples the open connections of `rec` now, for the open trace.
    pub fn trace(&mut self, rec: &Recorder) {
        let t_s = self.t0.elapsed().as_secs_f64();
        self.opens.record(t_s, Counts::get(&rec.counts.open_now));
    }

    /// Takes a sample of `rec` now and returns it.
    pub fn sample(&mut self, rec: &Recorder) -> &TimelinePoint {
        self.trace(rec);
        let now_s = self.t0.elapsed().as_secs_f64();
        let span = (now_s - self.prev_s).max(1e-3);
        let received = Counts::get(&rec.counts.received_total);
        let errors = rec.error_count();
        let h = rec.take_interval();
        let (p50, p99) = if h.is_empty() {
            (0, 0)
        } else {
            (h.value_at_quantile(0.5), h.value_at_quantile(0.99))
        };
        let mut bytes = Vec::new();
        if V2DeflateSerializer::new()
            .serialize(&h, &mut bytes)
            .is_err()
        {
            bytes.clear();
        }
        self.encoded.push(bytes);
        self.points.push(TimelinePoint {
            t_s: now_s,
            msg_rate: received.saturating_sub(self.last_received) as f64 / span,
            open: Counts::get(&rec.counts.open_now),
            opened: Counts::get(&rec.counts.opened),
            errors: errors.saturating_sub(self.last_errors),
            p50,
            p99,
        });
        self.prev_s = now_s;
        self.last_received = received;
        self.last_errors = errors;
        self.points.last().expect("just pushed")
    }

    /// The samples' interval histograms, for an interval log.
    pub fn intervals(&self) -> Vec<Interval> {
        let mut out = Vec::with_capacity(self.points.len());
        let mut start = 0.0;
        for (p, bytes) in self.points.iter().zip(&self.encoded) {
            let histogram = Deserializer::new()
                .deserialize(&mut bytes.as_slice())
                .unwrap_or_else(|_| latency_histogram());
            out.push(Interval {
                start_s: start,
                duration_s: p.t_s - start,
                histogram,
            });
            start = p.t_s;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wsbench_model::metric::Metric;

    #[test]
    fn the_timeline_samples_rates_and_interval_latencies() {
        let r = Recorder::new(Metric::EchoRtt);
        let mut t = Timeline::new(std::time::Instant::now());
        r.set_measuring(true);
        Counts::add(&r.counts.received_total, 10);
        r.counts.connection_opened();
        for v in [1_000, 2_000, 3_000] {
            r.record(Metric::EchoRtt, v, false);
        }
        r.error("reset");
        std::thread::sleep(std::time::Duration::from_millis(20));
        let p = t.sample(&r).clone();
        assert!(p.msg_rate > 10.0, "10 messages in ~20 ms: {p:?}");
        assert_eq!((p.open, p.errors), (1, 1));
        assert_eq!(p.p50, 2_000);
        let q = t.sample(&r).clone();
        assert_eq!((q.errors, q.p99), (0, 0), "counted per interval");
        let iv = t.intervals();
        assert_eq!(iv.len(), 2);
        assert_eq!(iv[0].histogram.len(), 3);
        assert!(iv[1].histogram.is_empty());
        assert!((iv[1].start_s - p.t_s).abs() < 1e-9);
    }
}
