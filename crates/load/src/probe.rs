//! The harness's scheduling-lag probe. A thread ticks every millisecond on
//! an absolute schedule and wakes one probe task per runtime worker; each
//! task records how long after the tick's *intended* instant it got to run
//! (`harness_lag`). A tick a task could not take in time (the runtime was
//! busy, or the whole process was stopped) stays pending and its missed
//! successors are recorded too, one per millisecond, so a 300 ms stall
//! weighs 300 samples, not one (coordinated omission, corrected).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use wsbench_protocol::clock::monotonic_ns;

use wsbench_model::metric::Metric;

use crate::recorder::Recorder;

/// The probe's period.
const TICK: Duration = Duration::from_millis(1);

/// One probe task's mailbox: the intended instant of the oldest tick it has
/// not taken (0: none pending).
#[derive(Debug, Default)]
struct Mailbox {
    due_ns: AtomicU64,
    wake: Notify,
}

/// A running probe; stops when dropped.
#[derive(Debug)]
pub(crate) struct LagProbe {
    stop: Arc<AtomicBool>,
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
        let boxes: Vec<Arc<Mailbox>> = (0..workers).map(|_| Arc::default()).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = boxes
            .iter()
            .map(|b| tokio::spawn(take_ticks(Arc::clone(b), Arc::clone(&rec))))
            .collect();
        let thread_stop = Arc::clone(&stop);
        let spawned = std::thread::Builder::new()
            .name("wsbench-lag-probe".into())
            .spawn(move || tick(&boxes, &thread_stop));
        if spawned.is_err() {
            rec.error("lag-probe");
        }
        LagProbe { stop, tasks }
    }
}

impl Drop for LagProbe {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.tasks.iter().for_each(tokio::task::JoinHandle::abort);
    }
}

/// The ticking thread: sleeps to each tick's instant (with the least timer
/// slack the kernel allows, so its own wake-up adds little), and posts the
/// tick to every mailbox that has none pending.
fn tick(boxes: &[Arc<Mailbox>], stop: &AtomicBool) {
    let _ = rustix::thread::set_current_timer_slack(std::num::NonZeroU64::new(1));
    let period = u64::try_from(TICK.as_nanos()).unwrap_or(1_000_000);
    let mut next = monotonic_ns() + period;
    while !stop.load(Ordering::Relaxed) {
        let now = monotonic_ns();
        if now < next {
            std::thread::sleep(Duration::from_nanos(next - now));
            continue;
        }
        for b in boxes {
            // The oldest pending tick stays: its lag keeps growing.
            if b.due_ns
                .compare_exchange(0, next, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                b.wake.notify_one();
            }
        }
        // Ticks missed while this thread could not run are not posted: the
        // pending one accounts for them when taken.
        next += period * ((now - next) / period + 1);
    }
}

async fn take_ticks(mailbox: Arc<Mailbox>, rec: Arc<Recorder>) {
    let period = u64::try_from(TICK.as_nanos()).unwrap_or(1_000_000);
    loop {
        mailbox.wake.notified().await;
        let now = monotonic_ns();
        let due = mailbox.due_ns.swap(0, Ordering::AcqRel);
        if due == 0 {
            continue;
        }
        rec.record_lag(now.saturating_sub(due), period, Metric::HarnessLag);
    }
}
