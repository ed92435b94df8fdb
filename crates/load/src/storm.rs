//! Restart storms: a stage with `restart = "2s"` kills the builtin server
//! (every process of it) at the stage's start and starts it again on the
//! same address that long after, while the connections reconnect under
//! the scenario's policy. The phase's watcher (one process) or the
//! coordinator (worker processes) carries the events out on time.

use wsbench_model::Scenario;
use wsbench_protocol::clock::monotonic_ns;

use crate::plan::nanos;
use crate::stages::starts_ns;
use crate::target::Builtin;

/// The restart events of a phase, in order.
#[derive(Debug, Default)]
pub(crate) struct Restarts {
    /// (killed at, started again at), CLOCK_MONOTONIC ns.
    events: Vec<(u64, u64)>,
    next: usize,
    down: bool,
}

impl Restarts {
    /// The restarts of `s` in a phase that started at `t0_ns`.
    pub(crate) fn of(s: &Scenario, t0_ns: u64) -> Restarts {
        let events = s
            .stages
            .iter()
            .zip(starts_ns(&s.stages, t0_ns))
            .filter_map(|(st, at)| st.restart.map(|down| (at, at + nanos(down))))
            .collect();
        Restarts {
            events,
            next: 0,
            down: false,
        }
    }

    /// Whether the phase has any.
    pub(crate) fn any(&self) -> bool {
        !self.events.is_empty()
    }

    /// When the next event is due, CLOCK_MONOTONIC ns.
    pub(crate) fn next_ns(&self) -> Option<u64> {
        let &(kill, back) = self.events.get(self.next)?;
        Some(if self.down { back } else { kill })
    }

    /// Carries out what is due: kills the server, or starts it again.
    /// An error when it cannot be started again.
    pub(crate) async fn act(&mut self, builtin: Option<&mut Builtin>) -> Result<(), String> {
        let (Some(due), Some(b)) = (self.next_ns(), builtin) else {
            return Ok(());
        };
        if monotonic_ns() < due {
            return Ok(());
        }
        if self.down {
            self.down = false;
            self.next += 1;
            b.restart()
                .await
                .map_err(|e| format!("the restart storm could not start the server again: {e}"))
        } else {
            self.down = true;
            b.kill().await;
            Ok(())
        }
    }
}
