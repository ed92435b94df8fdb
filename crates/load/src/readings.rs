//! What a phase reads at its window's edges (bytes, CPU time of the load
//! generator and of the server, steal) to take differences.

use wsbench_transport::net::ByteCounters;

use crate::recorder::Recorder;
use crate::sys;

/// Readings at a moment, to take differences over the window.
#[derive(Clone, Copy, Default)]
pub(crate) struct Readings {
    pub(crate) bytes_sent: u64,
    pub(crate) bytes_received: u64,
    pub(crate) client_cpu_ns: u64,
    pub(crate) server_cpu_ns: Option<u64>,
    /// Steal time of the watched cores (ns) and their number.
    pub(crate) steal: Option<(u64, usize)>,
}

impl Readings {
    /// Reads everything, the byte counters last (after `slow`, which
    /// reads the rest: a server's process tree can take milliseconds).
    fn take(bytes: &ByteCounters, slow: impl FnOnce() -> Readings) -> Readings {
        let rest = slow();
        Readings {
            bytes_sent: bytes.written(),
            bytes_received: bytes.read(),
            ..rest
        }
    }
}

/// An edge of the measured window: takes the readings, then opens
/// (`open`) or closes the window of `rec`. The byte counters are read
/// right next to the flag that decides which messages and requests count,
/// so the bytes and the counts cover the same interval.
pub(crate) fn window_edge(
    rec: &Recorder,
    bytes: &ByteCounters,
    server_pid: Option<u32>,
    open: bool,
) -> Readings {
    edge_with(rec, bytes, || slow_readings(server_pid), open)
}

fn edge_with(
    rec: &Recorder,
    bytes: &ByteCounters,
    slow: impl FnOnce() -> Readings,
    open: bool,
) -> Readings {
    let readings = Readings::take(bytes, slow);
    rec.set_measuring(open);
    readings
}

/// CPU time of the load generator and the server, and steal.
fn slow_readings(server_pid: Option<u32>) -> Readings {
    Readings {
        client_cpu_ns: sys::cpu_ns(None).unwrap_or(0),
        server_cpu_ns: server_pid.map(sys::tree_cpu_ns),
        steal: steal(server_pid),
        ..Readings::default()
    }
}

/// The steal time of the cores the figures depend on: those this process
/// and the server (when known) may run on.
fn steal(server_pid: Option<u32>) -> Option<(u64, usize)> {
    let mut cpus = sys::allowed_cpus(None)?;
    if let Some(theirs) = server_pid.and_then(|p| sys::allowed_cpus(Some(p))) {
        cpus.extend(theirs);
        cpus.sort_unstable();
        cpus.dedup();
    }
    Some((sys::steal_ns(&cpus)?, cpus.len()))
}

/// The share of the watched cores' time in a window of `secs` that the
/// hypervisor took (steal), from readings at its edges.
pub(crate) fn steal_share(before: &Readings, after: &Readings, secs: f64) -> Option<f64> {
    match (before.steal, after.steal) {
        (Some((b, n)), Some((a, m))) if n == m && n > 0 && secs > 0.0 => {
            Some(a.saturating_sub(b) as f64 / 1e9 / secs / n as f64)
        }
        _ => None,
    }
}

/// The server's CPU time per received message in µs, from the CPU it used
/// over the window (ns): `None` without that reading or without messages.
pub(crate) fn server_cpu_per_msg(used_ns: Option<u64>, received: u64) -> Option<f64> {
    let used = used_ns?;
    (received > 0).then(|| used as f64 / 1e3 / received as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wsbench_model::metric::Metric;

    use crate::recorder::Counts;

    #[test]
    fn traffic_during_the_edge_readings_falls_on_one_side_for_bytes_and_counts() {
        let rec = Recorder::new(Metric::PushLatency);
        let bytes = ByteCounters::default();
        // One message of 100 bytes in one HTTP answer, counted as the
        // drivers count it.
        let message = || {
            bytes.add_read(100);
            rec.count_in_window(&rec.counts.received);
            rec.count_in_window(&rec.counts.http_requests);
        };
        let slow = |n: usize| {
            // Messages that arrive while the slow readings are taken.
            move || {
                (0..n).for_each(|_| message());
                slow_readings(None)
            }
        };
        message();
        // Unequal traffic at the edges: a window shifted at both edges
        // the same way would not show.
        let before = edge_with(&rec, &bytes, slow(3), true);
        assert!(rec.measuring());
        (0..10).for_each(|_| message());
        let after = edge_with(&rec, &bytes, slow(1), false);
        assert!(!rec.measuring());
        message();
        let received = Counts::get(&rec.counts.received);
        // The 10 in the window and the 1 during the closing readings.
        assert_eq!(received, 11);
        assert_eq!(after.bytes_received - before.bytes_received, 100 * received);
        assert_eq!(Counts::get(&rec.counts.http_requests), received);
        assert!(after.client_cpu_ns >= before.client_cpu_ns);
    }

    #[test]
    fn the_steal_share_is_stolen_time_over_the_window_and_cores() {
        let at = |ns, cores| Readings {
            steal: Some((ns, cores)),
            ..Readings::default()
        };
        // 0.8 s stolen from 2 cores over a 2 s window: 20 %.
        let share = steal_share(&at(1_000_000_000, 2), &at(1_800_000_000, 2), 2.0).unwrap();
        assert!((share - 0.2).abs() < 1e-9, "{share}");
        assert_eq!(steal_share(&at(5, 2), &at(5, 2), 1.0), Some(0.0));
        // Not comparable, or not read: no figure rather than a wrong one.
        assert_eq!(steal_share(&at(0, 1), &at(9, 2), 1.0), None);
        assert_eq!(steal_share(&Readings::default(), &at(9, 2), 1.0), None);
        // This machine's reading works end to end.
        assert!(steal(None).is_some());
    }
}
