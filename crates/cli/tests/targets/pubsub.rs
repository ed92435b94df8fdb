//! A small authenticated pub/sub server, as a perf engineer's own might
//! be: every request needs `Authorization: Bearer <token>`; subscribers
//! connect to `/ws`, are greeted with a session of their own
//! (`{"type":"welcome","session":…}`), send
//! `{"op":"subscribe","channel":…,"session":…}` with it (another session
//! is refused: close 4004) and get `{"type":"subscribed"}` once
//! subscribed; the server pings
//! (`{"type":"ping"}`) every 300 ms and drops a subscriber that did not
//! answer the last ping with `{"op":"pong"}` (close 4001) or sent no
//! `{"op":"heartbeat"}` for 2.5 s (close 4002); `POST /api/publish` with
//! a JSON body sends `{"type":"event","id":N,"sent_at":<Unix ms>,
//! "data":<body>}` to every subscriber (after a delay, when the test asks
//! for one; `sent_at` is when the event goes out). A `/ws` connection that sends
//! `{"op":"publisher"}` instead of subscribing gets
//! `{"type":"publisher-ready"}`, is pinged the same way, and publishes
//! with `{"op":"publish","channel":"bench","data":…}`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use wsbench_transport::{Data, Event, ServerOptions, TcpWebSocket, accept_with_head};

/// What the server saw.
#[derive(Debug, Default)]
pub struct Stats {
    /// Requests refused for their token.
    pub unauthorized: AtomicU64,
    /// Connections (TCP) accepted.
    pub connections: AtomicU64,
    /// Subscribers that completed the subscribe step.
    pub subscribed: AtomicU64,
    /// Messages published (over HTTP or a publisher WebSocket).
    pub published: AtomicU64,
    /// Of them, over a publisher WebSocket.
    pub ws_published: AtomicU64,
    /// Subscribers dropped for a ping without its pong.
    pub no_pong: AtomicU64,
    /// Subscribers dropped for missing heartbeats.
    pub no_heartbeat: AtomicU64,
    /// Subscribers that closed with 1000 "stage" (leaving on a stage
    /// profile), the closing handshake completed.
    pub closed_normally: AtomicU64,
    /// Subscribe requests refused for a session other than the one the
    /// welcome gave (close 4004).
    pub bad_session: AtomicU64,
    /// The shortest and the longest time from the welcome to a
    /// subscribe request, ms (`u64::MAX` and 0 before any).
    pub think_min_ms: AtomicU64,
    pub think_max_ms: AtomicU64,
}

impl Stats {
    fn new() -> Stats {
        Stats {
            think_min_ms: AtomicU64::new(u64::MAX),
            ..Stats::default()
        }
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

struct State {
    token: String,
    tx: broadcast::Sender<Arc<str>>,
    next_id: AtomicU64,
    next_session: AtomicU64,
    stats: Arc<Stats>,
    delay: Duration,
}

/// The server, running until dropped.
pub struct PubSub {
    pub port: u16,
    pub stats: Arc<Stats>,
    _runtime: tokio::runtime::Runtime,
}

impl PubSub {
    /// Starts it on a free loopback port; `token` is the one it accepts.
    pub fn start(token: &str) -> PubSub {
        PubSub::start_with(token, Duration::ZERO)
    }

    /// Starts it with `delay` between an HTTP publish and its event (the
    /// event is stamped when it goes out).
    pub fn start_with(token: &str, delay: Duration) -> PubSub {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stats = Arc::new(Stats::new());
        let state = Arc::new(State {
            token: format!("Bearer {token}"),
            tx: broadcast::channel(4096).0,
            next_id: AtomicU64::new(1),
            next_session: AtomicU64::new(1),
            stats: Arc::clone(&stats),
            delay,
        });
        runtime.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                state.stats.connections.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(handle(stream, Arc::clone(&state)));
            }
        });
        PubSub {
            port,
            stats,
            _runtime: runtime,
        }
    }
}

/// Reads into `buf` until it holds a request head; its length, or `None`
/// at the end of the stream.
async fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<usize> {
    loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Some(i + 4);
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then_some(v.trim())
    })
}

async fn respond(stream: &mut TcpStream, status: &str) -> std::io::Result<()> {
    let reply = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n");
    stream.write_all(reply.as_bytes()).await
}

/// One connection: HTTP requests kept alive, or an upgrade to `/ws`.
async fn handle(mut stream: TcpStream, state: Arc<State>) {
    let mut buf = Vec::new();
    while let Some(end) = read_head(&mut stream, &mut buf).await {
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        let mut first = head.split_whitespace();
        let (method, path) = (first.next().unwrap_or(""), first.next().unwrap_or(""));
        if header(&head, "authorization") != Some(state.token.as_str()) {
            state.stats.unauthorized.fetch_add(1, Ordering::Relaxed);
            let _ = respond(&mut stream, "401 Unauthorized").await;
            return;
        }
        match (method, path) {
            ("GET", "/ws") => {
                let Ok(accepted) = accept_with_head(stream, buf, &ServerOptions::default()).await
                else {
                    return;
                };
                return subscriber(accepted.socket, &state).await;
            }
            ("POST", "/api/publish") => {
                let len: usize = header(&head, "content-length")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                while buf.len() < end + len {
                    let mut chunk = [0u8; 4096];
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let body: Result<serde_json::Value, _> =
                    serde_json::from_slice(&buf[end..end + len]);
                buf.drain(..end + len);
                let Ok(data) = body else {
                    let _ = respond(&mut stream, "400 Bad Request").await;
                    return;
                };
                if state.delay.is_zero() {
                    publish(&state, data);
                } else {
                    let state = Arc::clone(&state);
                    tokio::spawn(async move {
                        tokio::time::sleep(state.delay).await;
                        publish(&state, data);
                    });
                }
                if respond(&mut stream, "202 Accepted").await.is_err() {
                    return;
                }
            }
            _ => {
                let _ = respond(&mut stream, "404 Not Found").await;
                return;
            }
        }
    }
}

/// Sends `data` to every subscriber as an event.
fn publish(state: &State, data: serde_json::Value) {
    let sent_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let id = state.next_id.fetch_add(1, Ordering::Relaxed);
    let event = serde_json::json!({
        "type": "event", "id": id, "sent_at": sent_at, "data": data
    });
    let _ = state.tx.send(event.to_string().into());
    state.stats.published.fetch_add(1, Ordering::Relaxed);
}

fn op(text: &str) -> Option<(String, serde_json::Value)> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    Some((v.get("op")?.as_str()?.to_owned(), v))
}

/// A subscriber: greeted, subscribed on its request, pinged, dropped
/// when it stops answering.
async fn subscriber(mut ws: TcpWebSocket, state: &State) {
    // Each connection's own session, which its subscribe must carry.
    let session = format!(
        "s-{}",
        state.next_session.fetch_add(1, Ordering::Relaxed) * 7919
    );
    let welcome =
        serde_json::json!({"type": "welcome", "server": "test-pubsub", "session": session});
    let _ = ws.send_text(&welcome.to_string()).await;
    let welcomed = tokio::time::Instant::now();
    let subscribe = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Event::Message(Data::Text(t))) = ws.next_event().await {
            match op(&t) {
                Some((o, v)) if o == "subscribe" && v["channel"] == "bench" => {
                    let think = welcomed.elapsed().as_millis() as u64;
                    state.stats.think_min_ms.fetch_min(think, Ordering::Relaxed);
                    state.stats.think_max_ms.fetch_max(think, Ordering::Relaxed);
                    return Some(if v["session"] == session.as_str() {
                        Ok(true)
                    } else {
                        Err(())
                    });
                }
                Some((o, _)) if o == "publisher" => return Some(Ok(false)),
                _ => {}
            }
        }
        None
    });
    let subscriber = match subscribe.await {
        Ok(Some(Ok(s))) => s,
        Ok(Some(Err(()))) => {
            state.stats.bad_session.fetch_add(1, Ordering::Relaxed);
            let _ = ws.close(4004, "bad session").await;
            return;
        }
        _ => {
            let _ = ws.close(4003, "no subscribe").await;
            return;
        }
    };
    // A publisher's receiver is never read from: it only keeps the
    // select below uniform.
    let mut rx = state.tx.subscribe();
    if subscriber {
        state.stats.subscribed.fetch_add(1, Ordering::Relaxed);
        let _ = ws
            .send_text(r#"{"type":"subscribed","channel":"bench"}"#)
            .await;
    } else {
        let _ = ws.send_text(r#"{"type":"publisher-ready"}"#).await;
    }
    let mut ping = tokio::time::interval(Duration::from_millis(300));
    ping.tick().await;
    let (mut pong_owed, mut heartbeat) = (false, tokio::time::Instant::now());
    loop {
        tokio::select! {
            m = rx.recv(), if subscriber => match m {
                Ok(text) => {
                    if ws.send_text(&text).await.is_err() {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            },
            ev = ws.next_event() => match ev {
                Some(Event::Message(Data::Text(t))) => match op(&t) {
                    Some((o, _)) if o == "pong" => pong_owed = false,
                    Some((o, _)) if o == "heartbeat" => heartbeat = tokio::time::Instant::now(),
                    Some((o, v)) if o == "publish" && !subscriber && v["channel"] == "bench" => {
                        state.stats.ws_published.fetch_add(1, Ordering::Relaxed);
                        publish(state, v["data"].clone());
                        heartbeat = tokio::time::Instant::now();
                    }
                    _ => {}
                },
                Some(Event::Message(_) | Event::Pong(_)) => {}
                Some(Event::Close(c)) => {
                    if (c.code, c.reason.as_str(), c.was_clean) == (1000, "stage", true) {
                        state.stats.closed_normally.fetch_add(1, Ordering::Relaxed);
                    }
                    return;
                }
                _ => return,
            },
            _ = ping.tick() => {
                if pong_owed {
                    state.stats.no_pong.fetch_add(1, Ordering::Relaxed);
                    let _ = ws.close(4001, "no pong").await;
                    return;
                }
                if heartbeat.elapsed() > Duration::from_millis(2500) {
                    state.stats.no_heartbeat.fetch_add(1, Ordering::Relaxed);
                    let _ = ws.close(4002, "no heartbeat").await;
                    return;
                }
                let _ = ws.send_text(r#"{"type":"ping"}"#).await;
                pong_owed = true;
            }
        }
    }
}
