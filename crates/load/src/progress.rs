//! Live progress on stderr: phase, connections open, msg/s, current
//! p50/p99 and errors, once a second. Hidden when stderr is not a
//! terminal or progress is off.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::recorder::{Counts, Recorder};

/// The progress line of one phase.
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
    phase: String,
    target: u64,
}

impl Progress {
    /// A progress line for `phase`, shown when `on` and stderr is a
    /// terminal.
    pub fn new(on: bool, phase: &str, target: u64) -> Progress {
        let bar = if on && std::io::stderr().is_terminal() {
            let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            b.set_style(
                ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")
                    .expect("valid template"),
            );
            b
        } else {
            ProgressBar::hidden()
        };
        Progress {
            bar,
            phase: phase.to_owned(),
            target,
        }
    }

    /// Updates the line (call once a second).
    pub fn tick(&self, rec: &Recorder, stage: &str, last_received: &mut u64) {
        let received = Counts::get(&rec.counts.received_total);
        let rate = received - *last_received;
        *last_received = received;
        let h = rec.take_interval();
        let (p50, p99) = if h.is_empty() {
            (0.0, 0.0)
        } else {
            (
                h.value_at_quantile(0.5) as f64 / 1e6,
                h.value_at_quantile(0.99) as f64 / 1e6,
            )
        };
        self.bar.set_message(format!(
            "{} [{stage}] open {}/{} | {rate} msg/s | p50 {p50:.2} ms p99 {p99:.2} ms | errors {}",
            self.phase,
            Counts::get(&rec.counts.open_now),
            self.target,
            rec.error_count()
        ));
        self.bar.tick();
    }

    /// Updates the line of a phase run by worker processes, which report
    /// only at the end.
    pub fn tick_workers(&self, workers: u64, stage: &str, running: usize) {
        self.bar.set_message(format!(
            "{} [{stage}] {} connections over {workers} processes ({running} running)",
            self.phase, self.target
        ));
        self.bar.tick();
    }

    /// Removes the line.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
