//! WebSocket connections: the browser API's model over a tokio stream.

pub(crate) mod client;
mod event;
mod read;
pub(crate) mod server;
mod write;
mod writer;

use std::sync::Arc;

use tokio::io::AsyncWrite;
pub use wsbench_codec::CloseEvent;
use wsbench_codec::connection::{Connection, Timeouts};
use wsbench_codec::frame::RSV1;
use wsbench_codec::{DecoderConfig, ReadyState, Role};
use wsbench_protocol::clock::monotonic_ns;

pub use event::{Data, Event};
pub use read::{PendingWrite, Polled, WsReader};
pub use writer::WsWriter;

use crate::config::Config;
use crate::deflate::{DeflateParams, Deflater, Inflater};
use crate::error::Error;
use crate::net::{NetReadHalf, NetWriteHalf, ReadReady};
use write::{Shared, random_u64};

/// Message-buffer capacity the decoder keeps between messages.
const DECODER_RETAIN: usize = 1024;

/// One WebSocket connection: a reader and a writer over the two halves of a
/// stream.
#[derive(Debug)]
pub struct WebSocket<R, W> {
    reader: WsReader<R, W>,
    writer: WsWriter<W>,
}

/// A WebSocket over TCP, plain (`ws://`) or with TLS (`wss://`).
pub type TcpWebSocket = WebSocket<NetReadHalf, NetWriteHalf>;

impl<R, W> WebSocket<R, W>
where
    R: ReadReady,
    W: AsyncWrite + Unpin,
{
    /// Wraps an open connection (handshake done). `leftover`: bytes read
    /// after the handshake head, the first frames.
    pub(crate) fn open(
        read: R,
        write: W,
        role: Role,
        config: Config,
        leftover: &[u8],
        deflate: Option<(DeflateParams, u32)>,
    ) -> WebSocket<R, W> {
        let (deflater, inflater) = match (deflate, role) {
            (None, _) => (None, None),
            (Some((p, level)), Role::Client) => (
                Some(Deflater::new(
                    level,
                    p.client_max_window_bits,
                    p.client_no_context_takeover,
                )),
                Some(Inflater::new(p.server_no_context_takeover)),
            ),
            (Some((p, level)), Role::Server) => (
                Some(Deflater::new(
                    level,
                    p.server_max_window_bits,
                    p.server_no_context_takeover,
                )),
                Some(Inflater::new(p.client_no_context_takeover)),
            ),
        };
        let mut decoder_config = DecoderConfig::new(role);
        decoder_config.max_frame_size = config.max_frame_size;
        decoder_config.max_message_size = config.max_message_size;
        decoder_config.retain_capacity = DECODER_RETAIN;
        if deflate.is_some() {
            decoder_config.allowed_rsv = RSV1;
        }
        let timeouts = Timeouts {
            keepalive: config.keepalive,
            close: config.close_timeout,
        };
        // Only a client masks: a server spends no system call on a seed.
        let mask_seed = match role {
            Role::Client => random_u64(),
            Role::Server => 0,
        };
        let connection = Connection::open(decoder_config, timeouts, mask_seed, monotonic_ns());
        let shared = Arc::new(Shared::new(write, connection, deflater));
        WebSocket {
            reader: WsReader::new(read, Arc::clone(&shared), config, leftover, inflater),
            writer: WsWriter::new(shared),
        }
    }

    /// A connection over streams of the caller's own (an in-memory pipe,
    /// a Unix socket) whose opening handshake was done elsewhere, without
    /// permessage-deflate. `leftover`: bytes read past the handshake, the
    /// first frames.
    pub fn over(read: R, write: W, role: Role, config: Config, leftover: &[u8]) -> WebSocket<R, W> {
        WebSocket::open(read, write, role, config, leftover, None)
    }

    /// The reader and writer, to use from separate tasks.
    pub fn split(self) -> (WsReader<R, W>, WsWriter<W>) {
        (self.reader, self.writer)
    }

    /// The next event; `None` once [`Event::Close`] has been returned.
    /// Cancel-safe: dropping the future loses no bytes.
    pub async fn next_event(&mut self) -> Option<Event> {
        self.reader.next_event().await
    }

    /// [`WsReader::poll_next_event`].
    pub fn poll_next_event(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Polled> {
        self.reader.poll_next_event(cx)
    }

    /// [`WsReader::finish_write`].
    pub async fn finish_write(&mut self, write: PendingWrite) -> Option<Event> {
        self.reader.finish_write(write).await
    }

    /// CLOCK_MONOTONIC ns right after the socket read that completed the
    /// last message returned (see [`WsReader::last_read_ns`]).
    pub fn last_read_ns(&self) -> u64 {
        self.reader.last_read_ns()
    }

    /// The writer half, for sending while keeping the reader here.
    pub fn writer(&self) -> &WsWriter<W> {
        &self.writer
    }

    /// `readyState`.
    pub fn ready_state(&self) -> ReadyState {
        self.writer.ready_state()
    }

    /// `bufferedAmount`: payload bytes accepted by `send` not yet written to
    /// the socket.
    pub fn buffered_amount(&self) -> usize {
        self.writer.buffered_amount()
    }

    /// Sends a text message.
    pub async fn send_text(&self, text: &str) -> Result<(), Error> {
        self.writer.send_text(text).await
    }

    /// Sends a binary message.
    pub async fn send_binary(&self, data: &[u8]) -> Result<(), Error> {
        self.writer.send_binary(data).await
    }

    /// Starts the closing handshake; [`WebSocket::next_event`] then returns
    /// the close event when the peer answers or the close timeout passes.
    pub async fn close(&self, code: u16, reason: &str) -> Result<(), Error> {
        self.writer.close(code, reason).await
    }

    /// Bytes of heap memory this connection holds in its buffers.
    pub fn heap_bytes(&self) -> usize {
        self.reader.heap_bytes() + self.writer.heap_bytes()
    }
}
