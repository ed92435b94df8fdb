//! The memory budget of one connection, and the connections cut for
//! going past it, counted by reason (shown by `GET /health`).
//!
//! Every transport writes under the same two limits: a write deadline
//! (queued bytes must reach the socket within it) and a cap on the bytes
//! queued for one connection. A WebSocket past either is closed with 1008
//! and the reason; an HTTP connection is closed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use wsbench_transport::Error;

use crate::http::Piece;
use crate::shutdown::shutting_down;

/// Why the server cut a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cut {
    /// Queued bytes did not reach the socket within the write deadline.
    WriteTimeout,
    /// Queuing more would pass the cap on bytes queued.
    SendQueueFull,
    /// A message (as sent or once inflated) over the size limit: 1009.
    MessageTooLarge,
    /// A compressed message past the inflate ratio limit: 1009.
    CompressionRatio,
}

impl Cut {
    const ALL: [Cut; 4] = [
        Cut::WriteTimeout,
        Cut::SendQueueFull,
        Cut::MessageTooLarge,
        Cut::CompressionRatio,
    ];

    /// Its name in `/health`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Cut::WriteTimeout => "write_timeout",
            Cut::SendQueueFull => "send_queue_full",
            Cut::MessageTooLarge => "message_too_large",
            Cut::CompressionRatio => "compression_ratio",
        }
    }

    /// The close reason a WebSocket cut for this gets (1008).
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Cut::WriteTimeout => "write deadline passed: the client does not read",
            Cut::SendQueueFull => "send queue full: the client reads too slowly",
            Cut::MessageTooLarge => "message too large",
            Cut::CompressionRatio => "compression ratio over the limit",
        }
    }

    /// The cut a connection error stands for, if any.
    pub(crate) fn of_error(e: &Error) -> Option<Cut> {
        match e {
            Error::MessageTooLarge { .. } => Some(Cut::MessageTooLarge),
            Error::Protocol(p) if p.close_code().as_u16() == 1009 => Some(Cut::MessageTooLarge),
            Error::CompressionRatio { .. } => Some(Cut::CompressionRatio),
            _ => None,
        }
    }
}

/// Connections cut, by reason.
#[derive(Debug, Default)]
pub(crate) struct Cuts([AtomicU64; Cut::ALL.len()]);

impl Cuts {
    pub(crate) fn count(&self, cut: Cut) {
        self.0[cut as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// `{"write_timeout":N,…}`.
    pub(crate) fn json(&self) -> String {
        let fields: Vec<String> = Cut::ALL
            .iter()
            .map(|&c| {
                format!(
                    "\"{}\":{}",
                    c.name(),
                    self.0[c as usize].load(Ordering::Relaxed)
                )
            })
            .collect();
        format!("{{{}}}", fields.join(","))
    }
}

/// The per-connection write limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteLimits {
    /// Queued bytes must be written within this.
    pub deadline: Duration,
    /// Most bytes queued for one connection beyond what its socket took
    /// (a single message larger than this is allowed when nothing else is
    /// queued).
    pub queue_max: usize,
}

impl Default for WriteLimits {
    fn default() -> WriteLimits {
        WriteLimits {
            deadline: Duration::from_secs(5),
            queue_max: 1 << 20,
        }
    }
}

impl WriteLimits {
    /// Whether `more` bytes may be queued on top of `queued`.
    pub(crate) fn admits(&self, queued: usize, more: usize) -> bool {
        queued == 0 || queued.saturating_add(more) <= self.queue_max
    }

    /// Writes `pieces` within the deadline: small ones gathered into
    /// writes of up to 64 KiB, large ones written from where they are.
    /// `Err(Some(cut))` when the deadline passed, `Err(None)` when the
    /// peer is gone.
    pub(crate) async fn write<W: AsyncWrite + Unpin>(
        &self,
        io: &mut W,
        pieces: &[Piece],
    ) -> Result<(), Option<Cut>> {
        let all = async {
            let total: usize = pieces.iter().map(|p| p.as_bytes().len()).sum();
            let mut staged = Vec::with_capacity(total.min(STAGE));
            for bytes in pieces.iter().map(Piece::as_bytes) {
                if staged.len() + bytes.len() > STAGE && !staged.is_empty() {
                    io.write_all(&staged).await?;
                    staged.clear();
                }
                if bytes.len() >= STAGE {
                    io.write_all(bytes).await?;
                } else {
                    staged.extend_from_slice(bytes);
                }
            }
            io.write_all(&staged).await
        };
        match tokio::time::timeout(self.deadline, all).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(None),
            Err(_) => Err(Some(Cut::WriteTimeout)),
        }
    }
}

/// Largest write gathered from small pieces.
const STAGE: usize = 64 << 10;

/// Bytes of a refused request's unread input read before closing.
const DRAIN_BYTES: usize = 64 << 10;
/// How long those are waited for.
const DRAIN_TIME: Duration = Duration::from_secs(1);

/// Sends `response` and closes (see [`close_reading`]).
pub(crate) async fn refuse<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    response: &[u8],
    shutdown: watch::Receiver<bool>,
) {
    if matches!(
        tokio::time::timeout(DRAIN_TIME, io.write_all(response)).await,
        Ok(Ok(()))
    ) {
        close_reading(io, shutdown).await;
    }
}

/// Closes after a last response: our side of TCP first, then up to 64 KiB
/// of the client's unread input (for up to 1 s, or until shutdown), so
/// the kernel does not answer unread bytes with a reset that can overtake
/// the response.
pub(crate) async fn close_reading<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    mut shutdown: watch::Receiver<bool>,
) {
    if !matches!(
        tokio::time::timeout(DRAIN_TIME, io.shutdown()).await,
        Ok(Ok(()))
    ) {
        return;
    }
    let drain = async {
        let mut sink = [0u8; 4096];
        let mut left = DRAIN_BYTES;
        while left > 0 {
            match io.read(&mut sink).await {
                Ok(n) if n > 0 => left = left.saturating_sub(n),
                _ => break,
            }
        }
    };
    tokio::select! {
        _ = tokio::time::timeout(DRAIN_TIME, drain) => {}
        () = shutting_down(&mut shutdown) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_cap_admits_one_large_message_alone() {
        let l = WriteLimits {
            deadline: Duration::from_secs(1),
            queue_max: 100,
        };
        assert!(l.admits(0, 1_000), "nothing queued: any size");
        assert!(l.admits(60, 40));
        assert!(!l.admits(60, 41));
    }

    #[test]
    fn cuts_are_counted_by_name() {
        let c = Cuts::default();
        c.count(Cut::SendQueueFull);
        c.count(Cut::SendQueueFull);
        c.count(Cut::WriteTimeout);
        let v: serde_json::Value = serde_json::from_str(&c.json()).unwrap();
        assert_eq!(v["send_queue_full"], 2);
        assert_eq!(v["write_timeout"], 1);
        assert_eq!(v["compression_ratio"], 0);
    }
}
