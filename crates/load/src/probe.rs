//! The harness's scheduling-lag probe. One probe task per runtime worker
//! waits on its own timer, a `timerfd` on the monotonic clock that expires
//! every millisecond on an absolute schedule, through the runtime's own
//! reactor; each time the task runs it records how long after the oldest
//! tick it had not taken it got to run (`harness_lag`). A tick the task
//! could not take in time (the runtime was busy, or the whole process was
//! stopped) stays pending and its missed successors are recorded too, one
//! per millisecond, so a 300 ms stall weighs 300 samples, not one
//! (coordinated omission, corrected).
//!
//! The timer ([`Timer`]) fires at the tick's instant with no thread of
//! the probe's own: nothing else takes a load generator's CPU every
//! millisecond.

use std::sync::Arc;
use std::time::Duration;

use wsbench_protocol::clock::monotonic_ns;

use wsbench_model::metric::Metric;

use crate::recorder::Recorder;
use crate::timer::Timer;

/// The probe's period.
const TICK: Duration = Duration::from_millis(1);

/// A running probe; stops when dropped.
#[derive(Debug)]
pub(crate) struct LagProbe {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl LagProbe {
    /// Starts a probe recording into `rec` (only while its window is open),
    /// on the current tokio runtime.
    pub(crate) fn start(rec: Arc<Recorder>) -> LagProbe {
        let workers = tokio::runtime::Handle::current()
            .metrics()
            .num_workers()
            .max(1);
        let period = u64::try_from(TICK.as_nanos()).unwrap_or(1_000_000);
        // Every task's timer ticks at the same instants.
        let first = monotonic_ns() + period;
        let tasks = (0..workers)
            .map(|_| tokio::spawn(take_ticks(first, period, Arc::clone(&rec))))
            .collect();
        LagProbe { tasks }
    }
}

impl Drop for LagProbe {
    fn drop(&mut self) {
        self.tasks.iter().for_each(tokio::task::JoinHandle::abort);
    }
}

async fn take_ticks(first: u64, period: u64, rec: Arc<Recorder>) {
    let timer = match Timer::new().and_then(|t| t.arm(first, period).map(|()| t)) {
        Ok(t) => t,
        Err(_) => return rec.error("lag-probe"),
    };
    // The oldest tick not taken yet.
    let mut due = first;
    loop {
        if timer.expired().await.is_err() {
            return rec.error("lag-probe");
        }
        let now = monotonic_ns();
        if now < due {
            continue;
        }
        rec.record_lag(now - due, period, Metric::HarnessLag);
        // The ticks up to now are the pending one's successors, counted
        // with it; the next to take is the first after now.
        due += period * ((now - due) / period + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A runtime blocked for 60 ms by its only thread: the probe records
    /// the stall as a lag of about 60 ms with a sample per missed tick,
    /// and the ticks around it as short lags.
    #[test]
    fn a_stalled_runtime_shows_as_lag_with_every_missed_tick() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let rec = Arc::new(Recorder::new(Metric::EchoRtt));
        rec.set_measuring(true);
        let t0 = std::time::Instant::now();
        rt.block_on(async {
            let _probe = LagProbe::start(Arc::clone(&rec));
            tokio::time::sleep(Duration::from_millis(20)).await;
            std::thread::sleep(Duration::from_millis(60));
            tokio::time::sleep(Duration::from_millis(20)).await;
        });
        let ticks = t0.elapsed().as_millis() as u64;
        let h = &rec.histograms()[&Metric::HarnessLag];
        assert!(h.max() >= 59_000_000, "max lag {} ns", h.max());
        assert!(h.max() < 1_000_000_000, "max lag {} ns", h.max());
        // A sample per tick of the run (about 20 before the stall, 60 in
        // it, 20 after); a probe that recorded only the ticks it took
        // would hold about 40.
        assert!(h.len() >= 80, "{} samples in {ticks} ms", h.len());
        assert!(h.len() <= ticks + 1, "{} samples in {ticks} ms", h.len());
        assert!(
            h.value_at_quantile(0.1) < 10_000_000,
            "p10 {} ns",
            h.value_at_quantile(0.1)
        );
        assert!(rec.errors().is_empty(), "{:?}", rec.errors());
    }
}
