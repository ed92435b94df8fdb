//! The byte streams connections run on: TCP, with or without TLS, with
//! optional counters of the bytes that cross the socket.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_rustls::TlsStream;

/// The read half of a stream, able to say when a read would make progress,
/// so an idle connection can wait without holding a read buffer.
pub trait ReadReady: AsyncRead + Unpin {
    /// Ready when the stream has data (or EOF, or an error) to read; while
    /// pending, `cx`'s waker is woken when that changes. Streams that cannot
    /// tell are always ready; the reader then keeps its buffer while it
    /// waits.
    ///
    /// A poll function rather than a future: the wait then adds no state to
    /// the reader's future, which every idle connection holds.
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let _ = cx;
        Poll::Ready(Ok(()))
    }
}

impl ReadReady for OwnedReadHalf {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // The socket's own reader slot, not a waiter node of its own as
        // `readable()` takes; only the reading task waits here.
        self.as_ref().poll_read_ready(cx)
    }
}

impl<S: AsyncRead> ReadReady for tokio::io::ReadHalf<S> {}

/// Bytes read from and written to sockets, counted below TLS and HTTP, so
/// headers, framing and TLS records are all included. Share one between
/// many connections to total them.
#[derive(Debug, Default)]
pub struct ByteCounters {
    read: AtomicU64,
    written: AtomicU64,
}

impl ByteCounters {
    /// Bytes read so far.
    pub fn read(&self) -> u64 {
        self.read.load(Ordering::Relaxed)
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Counts `n` bytes read (a counted socket does, per read).
    pub fn add_read(&self, n: usize) {
        self.read.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Counts `n` bytes written (a counted socket does, per write).
    pub fn add_written(&self, n: usize) {
        self.written.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// A TCP socket that counts what crosses it, and may note when a read
/// last returned bytes.
#[derive(Debug)]
pub struct CountedTcp {
    tcp: TcpStream,
    counters: Option<Arc<ByteCounters>>,
    /// CLOCK_MONOTONIC ns right after the last read that returned bytes.
    read_ns: Option<Arc<AtomicU64>>,
}

impl CountedTcp {
    /// Wraps `tcp`; with `counters`, every byte read or written is added.
    pub fn new(tcp: TcpStream, counters: Option<Arc<ByteCounters>>) -> CountedTcp {
        CountedTcp {
            tcp,
            counters,
            read_ns: None,
        }
    }

    /// The socket.
    pub fn get_ref(&self) -> &TcpStream {
        &self.tcp
    }
}

impl AsyncRead for CountedTcp {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.tcp).poll_read(cx, buf))?;
        let n = buf.filled().len() - before;
        if let Some(c) = &self.counters {
            c.add_read(n);
        }
        if let (Some(stamp), true) = (&self.read_ns, n > 0) {
            stamp.store(wsbench_protocol::clock::monotonic_ns(), Ordering::Relaxed);
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for CountedTcp {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let n = ready!(Pin::new(&mut self.tcp).poll_write(cx, buf))?;
        if let Some(c) = &self.counters {
            c.add_written(n);
        }
        Poll::Ready(Ok(n))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let n = ready!(Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs))?;
        if let Some(c) = &self.counters {
            c.add_written(n);
        }
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

/// A connection's stream: plain TCP or TLS over TCP.
#[derive(Debug)]
pub enum NetStream {
    /// `ws://`, `http://`.
    Tcp(CountedTcp),
    /// `wss://`, `https://`: either side of a TLS session.
    Tls(Box<TlsStream<CountedTcp>>),
}

impl From<TcpStream> for NetStream {
    fn from(tcp: TcpStream) -> NetStream {
        NetStream::Tcp(CountedTcp::new(tcp, None))
    }
}

impl NetStream {
    /// The TCP socket underneath.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            NetStream::Tcp(t) => t.get_ref(),
            NetStream::Tls(t) => t.get_ref().0.get_ref(),
        }
    }

    /// Whether TLS runs on this stream.
    pub fn is_tls(&self) -> bool {
        matches!(self, NetStream::Tls(_))
    }

    /// From now on, every socket read that returns bytes stores
    /// CLOCK_MONOTONIC ns in `stamp` (below TLS: the read, not the
    /// decryption), so a reader above can tell when what it got arrived.
    /// Not kept by [`NetStream::into_split`].
    pub fn stamp_reads(&mut self, stamp: Arc<AtomicU64>) {
        match self {
            NetStream::Tcp(t) => t.read_ns = Some(stamp),
            NetStream::Tls(t) => t.get_mut().0.read_ns = Some(stamp),
        }
    }

    /// Splits into halves for a reader task and a writer task. Plain TCP
    /// splits without a lock, and its read half can wait for readiness
    /// without a buffer ([`ReadReady`]).
    pub fn into_split(self) -> (NetReadHalf, NetWriteHalf) {
        match self {
            NetStream::Tcp(CountedTcp { tcp, counters, .. }) => {
                let (r, w) = tcp.into_split();
                (
                    NetReadHalf::Tcp(r, counters.clone()),
                    NetWriteHalf::Tcp(w, counters),
                )
            }
            NetStream::Tls(t) => {
                let (r, w) = tokio::io::split(*t);
                (NetReadHalf::Tls(r), NetWriteHalf::Tls(w))
            }
        }
    }
}

impl AsyncRead for NetStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            NetStream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            NetStream::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for NetStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            NetStream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            NetStream::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            NetStream::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            NetStream::Tls(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            NetStream::Tcp(s) => s.is_write_vectored(),
            NetStream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            NetStream::Tcp(s) => Pin::new(s).poll_flush(cx),
            NetStream::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            NetStream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            NetStream::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// The read half of a [`NetStream`].
#[derive(Debug)]
pub enum NetReadHalf {
    /// Plain TCP, with the stream's counters.
    Tcp(OwnedReadHalf, Option<Arc<ByteCounters>>),
    /// TLS (the counters sit under the TLS session).
    Tls(tokio::io::ReadHalf<TlsStream<CountedTcp>>),
}

/// The write half of a [`NetStream`].
#[derive(Debug)]
pub enum NetWriteHalf {
    /// Plain TCP, with the stream's counters.
    Tcp(OwnedWriteHalf, Option<Arc<ByteCounters>>),
    /// TLS (the counters sit under the TLS session).
    Tls(tokio::io::WriteHalf<TlsStream<CountedTcp>>),
}

impl NetWriteHalf {
    /// Makes closing this connection discard the bytes the kernel has not
    /// sent yet and reset it (SO_LINGER 0), for a peer cut for not
    /// reading. Plain TCP only: a TLS half cannot reach its socket, and
    /// closes as usual.
    pub fn set_zero_linger(&self) -> io::Result<()> {
        match self {
            NetWriteHalf::Tcp(w, _) => w.as_ref().set_zero_linger(),
            NetWriteHalf::Tls(_) => Ok(()),
        }
    }
}

impl AsyncRead for NetReadHalf {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            NetReadHalf::Tcp(s, counters) => {
                let before = buf.filled().len();
                ready!(Pin::new(s).poll_read(cx, buf))?;
                if let Some(c) = counters {
                    c.add_read(buf.filled().len() - before);
                }
                Poll::Ready(Ok(()))
            }
            NetReadHalf::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl ReadReady for NetReadHalf {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            NetReadHalf::Tcp(s, _) => s.poll_read_ready(cx),
            // TLS may hold decrypted bytes the socket no longer shows.
            NetReadHalf::Tls(_) => Poll::Ready(Ok(())),
        }
    }
}

impl AsyncWrite for NetWriteHalf {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            NetWriteHalf::Tcp(s, counters) => {
                let n = ready!(Pin::new(s).poll_write(cx, buf))?;
                count_written(counters, n);
                Poll::Ready(Ok(n))
            }
            NetWriteHalf::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            NetWriteHalf::Tcp(s, counters) => {
                let n = ready!(Pin::new(s).poll_write_vectored(cx, bufs))?;
                count_written(counters, n);
                Poll::Ready(Ok(n))
            }
            NetWriteHalf::Tls(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            NetWriteHalf::Tcp(s, _) => s.is_write_vectored(),
            NetWriteHalf::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            NetWriteHalf::Tcp(s, _) => Pin::new(s).poll_flush(cx),
            NetWriteHalf::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            NetWriteHalf::Tcp(s, _) => Pin::new(s).poll_shutdown(cx),
            NetWriteHalf::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

fn count_written(counters: &Option<Arc<ByteCounters>>, n: usize) {
    if let Some(c) = counters {
        c.add_written(n);
    }
}
