//! Live progress on stderr: phase, connections open, msg/s, current
//! p50/p99 and errors, once a second. Hidden when stderr is not a
//! terminal or progress is off.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use wsbench_model::results::TimelinePoint;

use crate::recorder::Recorder;

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

    /// Updates the line from the latest timeline sample (once a second).
    pub fn tick(&self, rec: &Recorder, stage: &str, p: &TimelinePoint) {
        self.bar.set_message(format!(
            "{} [{stage}] open {}/{} | {} | errors {}",
            self.phase,
            p.open,
            self.target,
            rates(p, ""),
            rec.error_count()
        ));
        self.bar.tick();
    }

    /// Updates the line of a phase run by worker processes, from the sum
    /// of their latest seconds (`latest`, once they have written one).
    pub fn tick_workers(
        &self,
        workers: u64,
        stage: &str,
        running: usize,
        latest: Option<&TimelinePoint>,
    ) {
        self.bar.set_message(match latest {
            Some(p) => format!(
                "{} [{stage}] open {}/{} over {running}/{workers} processes | {} (worst process) \
                 | errors {} in the last second",
                self.phase,
                p.open,
                self.target,
                rates(p, "≤ "),
                p.errors
            ),
            None => format!(
                "{} [{stage}] {} connections over {workers} processes ({running} running)",
                self.phase, self.target
            ),
        });
        self.bar.tick();
    }

    /// Whether the line is drawn (off with `--quiet` or without a
    /// terminal): what only feeds it need not be gathered otherwise.
    pub fn visible(&self) -> bool {
        !self.bar.is_hidden()
    }

    /// Removes the line.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// `N msg/s | p50 X ms p99 Y ms`, the percentiles prefixed by `bound`.
fn rates(p: &TimelinePoint, bound: &str) -> String {
    format!(
        "{:.0} msg/s | p50 {bound}{:.2} ms p99 {bound}{:.2} ms",
        p.msg_rate,
        p.p50 as f64 / 1e6,
        p.p99 as f64 / 1e6
    )
}
