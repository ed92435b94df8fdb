//! Live progress on stderr: phase, connections open, msg/s, current
//! p50/p99 and errors, once a second on a terminal; when stderr is not a
//! terminal (a CI log), the same as one plain line every 5 s. Off with
//! `--quiet`.

use std::io::{IsTerminal, Write as _};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use wsbench_model::results::TimelinePoint;

use crate::recorder::Recorder;
use crate::stream::Stream;

/// The progress line of one phase.
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
    phase: String,
    target: u64,
    /// Without a terminal: when the last plain line was written (`None`:
    /// no plain lines).
    plain: Option<Mutex<Instant>>,
    /// `--stream`: where each second goes, the phase's name there, and
    /// the `t_s` of the last written.
    stream: Option<(Arc<Stream>, String, Mutex<f64>)>,
}

/// How often a plain progress line is written without a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

impl Progress {
    /// A progress line for `phase` when `on`: redrawn on a terminal,
    /// else written as a plain line every 5 s.
    ///
    /// `stream`: `--stream`, and the phase's name there.
    pub fn new(
        on: bool,
        phase: &str,
        target: u64,
        stream: Option<(Arc<Stream>, String)>,
    ) -> Progress {
        let terminal = std::io::stderr().is_terminal();
        let bar = if on && terminal {
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
            plain: (on && !terminal).then(|| Mutex::new(Instant::now())),
            stream: stream.map(|(s, name)| (s, name, Mutex::new(f64::NEG_INFINITY))),
        }
    }

    /// Whether seconds go to a `--stream`.
    pub fn streaming(&self) -> bool {
        self.stream.is_some()
    }

    /// Writes second `p` to the stream, once per second of the phase.
    fn stream(&self, stage: &str, processes: u64, p: &TimelinePoint) {
        let Some((stream, name, last)) = &self.stream else {
            return;
        };
        let mut last = last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if p.t_s < *last + 0.5 {
            return;
        }
        *last = p.t_s;
        stream.second(name, stage, processes, p);
    }

    /// Writes `message` and what `more` adds as a plain line when 5 s
    /// have passed since the last (without a terminal only); a failed
    /// write is dropped.
    fn plain_line(&self, message: &str, more: impl FnOnce() -> String) {
        let Some(last) = &self.plain else { return };
        let mut last = last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.elapsed() < PLAIN_EVERY {
            return;
        }
        *last = Instant::now();
        let _ = writeln!(std::io::stderr().lock(), "wsbench: {message}{}", more());
    }

    /// Sets the line (and writes it plain when it is time, with `more`).
    fn show(&self, message: String, more: impl FnOnce() -> String) {
        self.plain_line(&message, more);
        self.bar.set_message(message);
        self.bar.tick();
    }

    /// Updates the line from the latest timeline sample (once a second).
    pub fn tick(&self, rec: &Recorder, stage: &str, p: &TimelinePoint) {
        self.stream(stage, 1, p);
        self.show(
            format!(
                "{} [{stage}] {:.0} s open {}/{} | {} | errors {}",
                self.phase,
                p.t_s,
                p.open,
                self.target,
                rates(p, ""),
                rec.error_count()
            ),
            || format!(" | harness {} so far", rec.harness_so_far()),
        );
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
        if let Some(p) = latest {
            self.stream(stage, workers, p);
        }
        self.show(match latest {
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
        }, String::new);
    }

    /// Whether progress is shown (off with `--quiet`): what only feeds
    /// it need not be gathered otherwise.
    pub fn visible(&self) -> bool {
        !self.bar.is_hidden() || self.plain.is_some()
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
