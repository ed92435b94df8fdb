//! What a phase reads at its window's edges (bytes, CPU time of the load
//! generator and of the server, steal) to take differences.

use wsbench_transport::net::ByteCounters;

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
    /// Reads everything, the byte counters last: the caller opens or
    /// closes the window right after, so the bytes are counted over the
    /// same interval as the messages (reading a server's process tree can
    /// take milliseconds).
    pub(crate) fn take(bytes: &ByteCounters, server_pid: Option<u32>) -> Readings {
        let client_cpu_ns = sys::cpu_ns(None).unwrap_or(0);
        let server_cpu_ns = server_pid.map(sys::tree_cpu_ns);
        let steal = steal(server_pid);
        Readings {
            bytes_sent: bytes.written(),
            bytes_received: bytes.read(),
            client_cpu_ns,
            server_cpu_ns,
            steal,
        }
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
