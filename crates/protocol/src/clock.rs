//! The host clock that publish timestamps use.

/// CLOCK_MONOTONIC in nanoseconds. Every process on one host reads the same
/// clock, so a timestamp taken by a publisher and one taken by a subscriber
/// in another process subtract to a one-way latency.
pub fn monotonic_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    // The monotonic clock starts at boot: both fields are non-negative.
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// CLOCK_REALTIME in nanoseconds since the Unix epoch.
pub fn realtime_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Realtime);
    t.tv_sec.max(0) as u64 * 1_000_000_000 + t.tv_nsec as u64
}

#[cfg(test)]
mod tests {
    #[test]
    fn advances_with_std_instant() {
        let a = super::monotonic_ns();
        let i = std::time::Instant::now();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let b = super::monotonic_ns();
        let elapsed = i.elapsed().as_nanos() as u64;
        assert!(b - a >= 20_000_000, "{}", b - a);
        assert!(
            (b - a).abs_diff(elapsed) < 20_000_000,
            "{} vs {elapsed}",
            b - a
        );
    }
}
