//! # wsbench-protocol
//!
//! What travels inside messages, for the reference server and the load
//! generator alike: nothing here opens a socket or runs a task.
//!
//! - [`clock`]: the host clock every timestamp is read from
//!   (CLOCK_MONOTONIC), so a publisher and a subscriber in different
//!   processes subtract to a one-way latency. The transport stamps its
//!   reads with it too.
//! - [`correlation`]: how a subscriber finds a published message (the
//!   marker, or a sequence number and send time at JSON pointers).
//! - [`push`]: the push message format of the reference server
//!   (`{"seq","ts","payload"}`, poll batches) and the publisher's clock
//!   header.
//! - [`marker`]: the marker a publisher embeds in each payload
//!   (`~wsb.<run>.<phase>.<j>.<lag>~`), found again in whatever arrives.
//! - [`poll`]: the HTTP polling dialects of other servers (`etag`,
//!   `query`, `none` cursors; how an answer holds its messages).
//! - [`steps`]: a WebSocket connection's script: steps on open (send,
//!   expect), periodic sends, replies to matching messages.
//! - [`payload`]: payload kinds and the bodies built from them (echo
//!   payloads that carry their number, the builtin publisher's bodies).

#![forbid(unsafe_code)]

pub mod clock;
pub mod correlation;
pub mod marker;
pub mod payload;
pub mod poll;
pub mod push;
pub mod steps;

pub use payload::PayloadKind;
