//! The sending half of a connection, the handle applications hold: the
//! browser API's `send`, `close`, `readyState` and `bufferedAmount` over
//! the writer the reader shares.

use std::sync::Arc;

use tokio::io::AsyncWrite;
use wsbench_codec::{CloseCode, OpCode, ReadyState, ServerFrame};

use super::write::Shared;
use crate::error::Error;

/// The sending half of a connection: the browser API's `send`, `close`,
/// `readyState` and `bufferedAmount`. A clone is another handle on the same
/// connection (a broadcaster queues through one while the connection's own
/// task holds the other).
#[derive(Debug)]
pub struct WsWriter<W> {
    shared: Arc<Shared<W>>,
}

impl<W> Clone for WsWriter<W> {
    fn clone(&self) -> WsWriter<W> {
        WsWriter {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<W: AsyncWrite + Unpin> WsWriter<W> {
    pub(crate) fn new(shared: Arc<Shared<W>>) -> WsWriter<W> {
        WsWriter { shared }
    }

    /// `readyState`.
    pub fn ready_state(&self) -> ReadyState {
        self.shared.ready_state()
    }

    /// `bufferedAmount`: payload bytes accepted by `send`/`queue` and not
    /// yet written to the socket.
    pub fn buffered_amount(&self) -> usize {
        self.shared.buffered_amount()
    }

    /// Queues a text message without writing it (the browser's `send`,
    /// which never blocks); [`WsWriter::flush`] writes the queue.
    pub fn queue_text(&self, text: &str) -> Result<(), Error> {
        self.shared.queue(OpCode::Text, text.as_bytes())
    }

    /// Queues a binary message without writing it.
    pub fn queue_binary(&self, data: &[u8]) -> Result<(), Error> {
        self.shared.queue(OpCode::Binary, data)
    }

    /// Queues a message framed once for many connections (a server's
    /// broadcast: the same bytes for every client) without writing it; a
    /// connection with permessage-deflate compresses the payload itself. A
    /// client connection refuses it ([`Error::Encode`]): a client masks
    /// each frame with its own key.
    pub fn queue_frame(&self, frame: &ServerFrame) -> Result<(), Error> {
        self.shared.queue_frame(frame)
    }

    /// Sends a message framed once for many connections (see
    /// [`WsWriter::queue_frame`]) now: straight from `frame` to the socket
    /// when nothing is queued before it, else queued and written as far
    /// as the socket takes it. Never waits. `Ok(false)`: bytes are left
    /// for [`WsWriter::flush`].
    pub fn send_frame_now(&self, frame: &ServerFrame) -> Result<bool, Error> {
        self.shared.send_frame_now(frame)
    }

    /// Sends a text message now: straight to the socket when nothing is
    /// queued before it, else queued and written as far as the socket
    /// takes it. Never waits. `Ok(false)`: bytes are left for
    /// [`WsWriter::flush`], and count towards `bufferedAmount`.
    pub fn send_text_now(&self, text: &str) -> Result<bool, Error> {
        self.shared.send_now(OpCode::Text, text.as_bytes())
    }

    /// Sends a binary message now, as [`WsWriter::send_text_now`].
    pub fn send_binary_now(&self, data: &[u8]) -> Result<bool, Error> {
        self.shared.send_now(OpCode::Binary, data)
    }

    /// Writes everything queued to the socket.
    pub async fn flush(&self) -> Result<(), Error> {
        Ok(self.shared.flush().await?)
    }

    /// Sends a text message: written now as far as the socket takes it,
    /// then flushed.
    pub async fn send_text(&self, text: &str) -> Result<(), Error> {
        if self.send_text_now(text)? {
            return Ok(());
        }
        self.flush().await
    }

    /// Sends a binary message, as [`WsWriter::send_text`].
    pub async fn send_binary(&self, data: &[u8]) -> Result<(), Error> {
        if self.send_binary_now(data)? {
            return Ok(());
        }
        self.flush().await
    }

    /// Sends a ping (up to 125 bytes); the answer arrives as
    /// [`crate::Event::Pong`].
    pub async fn ping(&self, payload: &[u8]) -> Result<(), Error> {
        self.shared.queue(OpCode::Ping, payload)?;
        self.flush().await
    }

    /// Starts the closing handshake with `code` and `reason` (at most 123
    /// bytes). Browsers allow only 1000 and 3000–4999 here; this accepts
    /// every code valid on the wire, since servers and tests need the rest.
    /// The reader reports the close event when the peer answers, or after
    /// the close timeout with `was_clean == false`.
    pub async fn close(&self, code: u16, reason: &str) -> Result<(), Error> {
        self.shared.close(CloseCode::new(code), reason)?;
        self.flush().await
    }

    /// Bytes of heap memory held by the write buffers.
    pub fn heap_bytes(&self) -> usize {
        self.shared.heap_bytes()
    }
}

impl WsWriter<crate::net::NetWriteHalf> {
    /// Makes dropping this connection reset it, discarding what the
    /// kernel has not sent (plain TCP; see
    /// [`crate::net::NetWriteHalf::set_zero_linger`]): for a peer cut for
    /// not reading, whose unsent bytes would otherwise stay queued in the
    /// kernel. `false` when it could not be set now.
    pub fn discard_unsent(&self) -> bool {
        matches!(
            self.shared.try_with_io(|io| io.set_zero_linger()),
            Some(Ok(()))
        )
    }
}
