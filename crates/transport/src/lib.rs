//! # wsbench-transport
//!
//! The tokio layer: WebSocket connections over TCP (plain or TLS) built on
//! `wsbench-codec`.
//! Depends on the codec and tokio; must not depend on the load generator or
//! the report crates.
//!
//! The client side follows the browser WebSocket API: a [`ReadyState`]
//! (CONNECTING, OPEN, CLOSING, CLOSED), [`Event`]s (open, message, close with
//! code, reason and `was_clean`, error), `send` of text or binary,
//! [`WsWriter::buffered_amount`] and a closing handshake with a timeout.
//!
//! - [`connect`]: open a client connection to a `ws://` or `wss://` URL.
//! - [`tls`]: server and client TLS configurations (PEM files, self-signed).
//! - [`http_client`]: long-poll, short-poll and Server-Sent Events clients
//!   (HTTP/1.1 keep-alive, on hyper) for the push baselines.
//! - [`accept`] / [`accept_with_head`]: answer an upgrade request on a
//!   server's TCP stream.
//! - [`WebSocket`]: one connection; [`WebSocket::split`] gives a reader and
//!   a writer usable from separate tasks; [`WebSocket::over`] opens one
//!   over streams of the caller's own, the handshake done elsewhere.

#![forbid(unsafe_code)]

mod config;
mod deflate;
mod dial;
mod error;
pub mod http_client;
pub mod net;
pub mod tls;
mod ws;

pub use config::{ClientOptions, Config, DeflateConfig, ServerOptions};
pub use deflate::DeflateParams;
pub use error::Error;
pub use net::ReadReady;
pub use ws::client::{Connected, connect};
pub use ws::server::{Accepted, accept, accept_with_head};
pub use ws::{
    CloseEvent, Data, Event, PendingWrite, Polled, TcpWebSocket, WebSocket, WsReader, WsWriter,
};
pub use wsbench_codec::{ReadyState, Role};
