//! What a phase reads at its window's edges (bytes, HTTP requests, CPU
//! time of the load generator and of the server) to take differences.

use wsbench_transport::net::ByteCounters;

use crate::recorder::{Counts, Recorder};
use crate::sys;

/// Readings at a moment, to take differences over the window.
#[derive(Clone, Copy, Default)]
pub(crate) struct Readings {
    pub(crate) bytes_sent: u64,
    pub(crate) bytes_received: u64,
    pub(crate) http_requests: u64,
    pub(crate) client_cpu_ns: u64,
    pub(crate) server_cpu_ns: Option<u64>,
}

impl Readings {
    pub(crate) fn take(bytes: &ByteCounters, rec: &Recorder, server_pid: Option<u32>) -> Readings {
        Readings {
            bytes_sent: bytes.written(),
            bytes_received: bytes.read(),
            http_requests: Counts::get(&rec.counts.http_requests),
            client_cpu_ns: sys::cpu_ns(None).unwrap_or(0),
            server_cpu_ns: server_pid.map(sys::tree_cpu_ns),
        }
    }
}

/// The server's CPU time per received message in µs, from the CPU it used
/// over the window (ns): `None` without that reading or without messages.
pub(crate) fn server_cpu_per_msg(used_ns: Option<u64>, received: u64) -> Option<f64> {
    let used = used_ns?;
    (received > 0).then(|| used as f64 / 1e3 / received as f64)
}
