//! Finding published messages by JSON stamps (`[target.correlation]
//! by = "json"`): the publisher's sequence number, relayed, and a send
//! time, relayed or stamped by the server.

use wsbench_protocol::correlation::JsonStamps;

use super::{Found, PhaseCtx};
use crate::receipts::Receipts;
use crate::recorder::Counts;

/// What a time on the message's clock may be off by: its unit (a
/// truncated time reads early) and a millisecond between the two clocks.
fn slack(stamps: &JsonStamps) -> u64 {
    stamps.unit.ns() + 1_000_000
}

impl PhaseCtx {
    /// One pushed message arrived at `recv_ns`, to be found by its stamps.
    /// A message without them is the target's own (`other`). One whose
    /// time is before its sequence number's due time, or after its
    /// arrival, was not sent by this phase's publisher (a message of an
    /// earlier phase or run has an earlier time): unknown.
    pub(super) fn on_stamped(
        &self,
        r: &mut Receipts,
        message: &str,
        stamps: &JsonStamps,
        recv_ns: u64,
    ) {
        self.received();
        let Some(push) = &self.push else { return };
        let Some((j, sent)) = stamps.read(message.as_bytes()) else {
            return Counts::add(&self.rec.counts.other, 1);
        };
        let intended = push.grid.intended_ns(j);
        let slack = slack(stamps);
        if sent.saturating_add(slack) < intended || recv_ns.saturating_add(slack) < sent {
            return self.unknown();
        }
        let found = Found {
            j,
            intended,
            sent: sent.min(recv_ns),
            timed: true,
        };
        self.account(r, &found, (None, recv_ns), message);
    }
}
