//! `wsbench run --stream FILE|-`: one JSON line per second per phase
//! ([`StreamLine`]) while the run goes on, for a CI log or a dashboard.
//! A failed write (a closed pipe, a full disk) ends the stream; the run
//! and its results go on.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::sync::Mutex;

use wsbench_model::results::{StreamLine, TimelinePoint};

/// Where the lines go.
pub struct Stream {
    out: Mutex<Option<Box<dyn Write + Send>>>,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Stream")
    }
}

impl Stream {
    /// The stream into `to`, created or truncated; `-` is stdout.
    pub fn open(to: &Path) -> io::Result<Stream> {
        let out: Box<dyn Write + Send> = if to == Path::new("-") {
            Box::new(io::stdout())
        } else {
            Box::new(io::BufWriter::new(File::create(to)?))
        };
        Ok(Stream {
            out: Mutex::new(Some(out)),
        })
    }

    /// Writes one line for `phase`'s second `point`.
    pub(crate) fn second(&self, phase: &str, stage: &str, processes: u64, point: &TimelinePoint) {
        let line = StreamLine {
            time: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
            phase: phase.to_owned(),
            stage: stage.to_owned(),
            processes,
            percentiles_bound: processes > 1,
            point: point.clone(),
        };
        let Ok(text) = serde_json::to_string(&line) else {
            return;
        };
        let mut out = self
            .out
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let failed = out
            .as_mut()
            .is_some_and(|w| writeln!(w, "{text}").and_then(|()| w.flush()).is_err());
        if failed {
            *out = None;
        }
    }
}
