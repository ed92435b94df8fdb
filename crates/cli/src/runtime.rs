//! The tokio runtime every wsbench process runs on.

use tokio::runtime::{Builder, Runtime};

/// The runtime for this process: one thread when the process may use one
/// CPU only (pinned with `taskset`, or by its cgroup), a worker per CPU
/// otherwise.
///
/// On one CPU a worker pool has one worker and buys nothing, while it costs
/// the pool's hand-offs on every wake-up, and its extra threads make the
/// kernel take the shared file table's slow path on every socket call.
/// (Large deflate work then runs in place: there is no other worker to
/// hand the connections to.)
pub(crate) fn build() -> std::io::Result<Runtime> {
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let mut builder = if single_threaded(cpus) {
        Builder::new_current_thread()
    } else {
        Builder::new_multi_thread()
    };
    builder.enable_all().build()
}

fn single_threaded(cpus: usize) -> bool {
    cpus <= 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_cpu_gets_one_thread_and_more_get_a_pool() {
        assert!(single_threaded(1));
        assert!(!single_threaded(2));
        assert!(!single_threaded(64));
    }

    #[test]
    fn the_runtime_matches_the_cpus_this_process_may_use() {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        let flavor = build().unwrap().handle().runtime_flavor();
        let expected = if cpus == 1 {
            tokio::runtime::RuntimeFlavor::CurrentThread
        } else {
            tokio::runtime::RuntimeFlavor::MultiThread
        };
        assert_eq!(flavor, expected);
    }
}
