//! # wsbench-codec
//!
//! The sans-IO layer of wsbench: RFC 6455 frames, masking with SIMD backends,
//! streaming UTF-8 validation, close codes, message assembly and the opening
//! handshake. It takes bytes and buffers and returns frames, messages and
//! typed errors; the caller owns sockets, timers and randomness.
//!
//! Must not depend on tokio, any I/O, or clocks.
//!
//! - [`Decoder`]: bytes in, [`Message`]s out (the connection's read side);
//!   [`FrameDecoder`] beneath it for frame-level access.
//! - [`Encoder`]: frames out, masked by clients with keys from a
//!   [`MaskKeySource`].
//! - [`mask`]: the SIMD masking backends and their runtime dispatch.
//! - [`handshake`]: the HTTP/1.1 upgrade, both sides.
//! - [`connection`]: an open connection fed bytes and time: it decodes,
//!   answers pings and close frames, keeps `readyState` and the deadlines
//!   and holds the bytes to write.
//!
//! `unsafe` is confined to the SIMD backends under `mask/`; every other
//! module forbids it.

#![deny(unsafe_code)]

#[forbid(unsafe_code)]
pub mod close;
#[forbid(unsafe_code)]
pub mod connection;
#[forbid(unsafe_code)]
pub mod decode;
#[forbid(unsafe_code)]
pub mod encode;
#[forbid(unsafe_code)]
pub mod error;
#[forbid(unsafe_code)]
pub mod frame;
#[forbid(unsafe_code)]
pub mod handshake;
pub mod mask;
#[forbid(unsafe_code)]
pub mod message;
#[forbid(unsafe_code)]
pub mod utf8;

pub use close::{CloseCode, CloseFrame};
pub use connection::{CloseEvent, Connection, ReadyState};
pub use decode::{FrameDecoder, FrameEvent, PayloadChunk};
pub use encode::{EncodeError, Encoder, FastMaskKeys, FrameKind, MaskKeySource, ServerFrame};
pub use error::ProtocolError;
pub use frame::{FrameHeader, FrameRules, OpCode, Role};
pub use message::{Decoder, DecoderConfig, Message, OwnedMessage};
pub use utf8::Utf8Validator;
