//! One server spread over worker processes that share its port
//! (`SO_REUSEPORT`), so it can hold more connections than one process's
//! open-file limit allows.
//!
//! The primary process owns the push hub: the built-in publisher runs there
//! and every publish gets its sequence number there. Each worker connects
//! to the primary over a Unix socket ([`Relay`]), mirrors the hub (same
//! sequence numbers and publish times, so a poll cursor means the same on
//! every process) and forwards its `POST /publish` requests to the primary.
//!
//! On the socket, each frame is a kind byte, two little-endian u64 fields
//! and a u32 length, then that many bytes:
//!
//! | kind | direction | fields | bytes |
//! |---|---|---|---|
//! | 1 message | primary → worker | seq, publish time | the message JSON |
//! | 2 ack | primary → worker | request id, seq | the publish time (u64) |
//! | 3 publish | worker → primary | request id, publisher's time or 0 | the payload |

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};

use crate::hub::Hub;

const MESSAGE: u8 = 1;
const ACK: u8 = 2;
const PUBLISH: u8 = 3;
const HEADER: usize = 1 + 8 + 8 + 4;
/// Larger frames mean a broken peer (messages are bounded by the server's
/// own limits well below this).
const MAX_BODY: usize = 256 << 20;

#[derive(Debug)]
struct Frame {
    kind: u8,
    a: u64,
    b: u64,
    body: Vec<u8>,
}

async fn write_frame<W: AsyncWrite + Unpin>(
    w: &mut W,
    kind: u8,
    a: u64,
    b: u64,
    body: &[u8],
) -> io::Result<()> {
    let len = u32::try_from(body.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame body over 4 GiB"))?;
    let mut out = Vec::with_capacity(HEADER + body.len());
    out.push(kind);
    out.extend_from_slice(&a.to_le_bytes());
    out.extend_from_slice(&b.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(body);
    w.write_all(&out).await
}

/// The next frame; `None` at a clean end of stream.
async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> io::Result<Option<Frame>> {
    let mut head = [0u8; HEADER];
    match r.read_exact(&mut head[..1]).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    r.read_exact(&mut head[1..]).await?;
    let field = |at: usize| u64::from_le_bytes(head[at..at + 8].try_into().expect("8 bytes"));
    let len = u32::from_le_bytes(head[17..21].try_into().expect("4 bytes")) as usize;
    if len > MAX_BODY {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "relay frame too large",
        ));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).await?;
    Ok(Some(Frame {
        kind: head[0],
        a: field(1),
        b: field(9),
        body,
    }))
}

/// The primary's side: a Unix socket workers connect to.
#[derive(Debug)]
pub struct Relay {
    path: PathBuf,
    connected: watch::Receiver<usize>,
    task: JoinHandle<()>,
}

impl Relay {
    /// Listens on `path` (removed first if a stale socket is there) and
    /// serves `hub` to every worker that connects.
    pub fn start(path: &Path, hub: Arc<Hub>) -> io::Result<Relay> {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path)?;
        let (count, connected) = watch::channel(0);
        let task = tokio::spawn(async move {
            let mut workers = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                count.send_modify(|n| *n += 1);
                workers.spawn(serve_worker(stream, Arc::clone(&hub)));
                // Reap finished ones so the set stays small.
                while workers.try_join_next().is_some() {}
            }
        });
        Ok(Relay {
            path: path.to_owned(),
            connected,
            task,
        })
    }

    /// The socket's path, for workers' `upstream`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Waits until `n` workers have connected; false when `limit` passes
    /// first.
    pub async fn wait_for(&mut self, n: usize, limit: Duration) -> bool {
        tokio::time::timeout(limit, self.connected.wait_for(|&c| c >= n))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

impl Drop for Relay {
    /// Closes every worker's connection (they shut down on it) and removes
    /// the socket file.
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Streams the hub to one worker and publishes what it forwards.
async fn serve_worker(stream: UnixStream, hub: Arc<Hub>) {
    let (mut read, mut write) = stream.into_split();
    let (acks, mut ack_rx) = mpsc::unbounded_channel::<(u64, u64, u64)>();
    let publisher = Arc::clone(&hub);
    let mut reader = tokio::spawn(async move {
        while let Ok(Some(frame)) = read_frame(&mut read).await {
            if frame.kind != PUBLISH {
                return;
            }
            let Ok(text) = String::from_utf8(frame.body) else {
                return;
            };
            let m = publisher.publish_at(&text, (frame.b != 0).then_some(frame.b));
            if acks.send((frame.a, m.seq, m.ts_ns)).is_err() {
                return;
            }
        }
    });
    // From the start of the retained history, so a worker's poll history
    // matches the primary's.
    let mut sub = hub.subscribe_after(0);
    let mut batch: Vec<Arc<crate::hub::Published>> = Vec::new();
    loop {
        for m in batch.drain(..) {
            if write_frame(&mut write, MESSAGE, m.seq, m.ts_ns, m.json.as_bytes())
                .await
                .is_err()
            {
                reader.abort();
                return;
            }
        }
        tokio::select! {
            next = sub.next() => match next {
                Some(b) => batch = b,
                None => break,
            },
            ack = ack_rx.recv() => match ack {
                Some((id, seq, ts_ns)) => {
                    let ts = ts_ns.to_le_bytes();
                    if write_frame(&mut write, ACK, id, seq, &ts).await.is_err() {
                        break;
                    }
                }
                None => break,
            },
            _ = &mut reader => break,
        }
    }
    reader.abort();
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<(u64, u64)>>>>;

/// A publish for the primary: the payload, the publisher's time if it
/// sent one, and where the sequence number and publish time go.
type PublishRequest = (String, Option<u64>, oneshot::Sender<(u64, u64)>);

/// A worker's link to its primary.
#[derive(Debug)]
pub(crate) struct Upstream {
    requests: mpsc::Sender<PublishRequest>,
    gone: watch::Receiver<bool>,
    hub: Arc<Hub>,
}

impl Upstream {
    /// Connects to the primary's relay at `path` and mirrors it into `hub`.
    pub(crate) async fn connect(path: &Path, hub: Arc<Hub>) -> io::Result<Upstream> {
        let stream = UnixStream::connect(path).await?;
        let (mut read, mut write) = stream.into_split();
        let (gone_tx, gone) = watch::channel(false);
        let pending: Pending = Arc::default();
        let (requests, mut request_rx) = mpsc::channel::<PublishRequest>(256);
        let waiting = Arc::clone(&pending);
        let mirror = Arc::clone(&hub);
        tokio::spawn(async move {
            while let Ok(Some(frame)) = read_frame(&mut read).await {
                match frame.kind {
                    MESSAGE => {
                        let Ok(json) = String::from_utf8(frame.body) else {
                            break;
                        };
                        mirror.mirror(frame.a, frame.b, json);
                    }
                    ACK => {
                        let Ok(ts) = <[u8; 8]>::try_from(frame.body.as_slice()) else {
                            break;
                        };
                        let waiter = waiting
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .remove(&frame.a);
                        if let Some(w) = waiter {
                            let _ = w.send((frame.b, u64::from_le_bytes(ts)));
                        }
                    }
                    _ => break,
                }
            }
            // The primary is gone: fail what waits, and say so.
            waiting.lock().unwrap_or_else(|p| p.into_inner()).clear();
            gone_tx.send_replace(true);
        });
        tokio::spawn(async move {
            let mut next_id = 0u64;
            while let Some((payload, sent_ns, reply)) = request_rx.recv().await {
                next_id += 1;
                pending
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(next_id, reply);
                let sent_ns = sent_ns.unwrap_or(0);
                if write_frame(&mut write, PUBLISH, next_id, sent_ns, payload.as_bytes())
                    .await
                    .is_err()
                {
                    break;
                }
            }
        });
        Ok(Upstream {
            requests,
            gone,
            hub,
        })
    }

    /// Publishes through the primary (stamped `sent_ns` when given): the
    /// sequence number and publish time it got, or `None` when the
    /// primary is gone.
    pub(crate) async fn publish(
        &self,
        payload: String,
        sent_ns: Option<u64>,
    ) -> Option<(u64, u64)> {
        let (reply, answer) = oneshot::channel();
        self.requests.send((payload, sent_ns, reply)).await.ok()?;
        let (seq, ts_ns) = answer.await.ok()?;
        // Answer once this process serves the message too, so a poll that
        // follows the publish sees it.
        let mirrored = self.hub.wait_after(seq.saturating_sub(1));
        tokio::time::timeout(Duration::from_secs(5), mirrored)
            .await
            .ok()?;
        Some((seq, ts_ns))
    }

    /// Resolves when the primary has gone away.
    pub(crate) async fn gone(&self) {
        let mut gone = self.gone.clone();
        let _ = gone.wait_for(|&g| g).await;
    }
}
