//! Compares WebSocket stacks on this host: memory per idle connection and
//! echo throughput. Loopback only, bounded in connections and time.
//!
//!     stack_compare servers [IDLE] [ECHO_CONNS] [SECONDS]
//!         for each `wsbench serve --impl`: server RSS per idle connection,
//!         and echo msg/s with ECHO_CONNS wsbench clients × 32 messages of
//!         20 bytes in flight
//!         (and for uWS `echo_server` when `$WSBENCH_UWS_ECHO` names its
//!         binary: the uWebSockets peer, built by scripts/uws-peers.sh)
//!     stack_compare client own|tungstenite [IDLE]
//!         client RSS per idle connection (against `wsbench serve`)
//!
//! `scripts/stack-compare.sh` runs all of them. The wsbench binary is taken
//! from `$WSBENCH_BIN`, else next to this example's folder.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use wsbench_transport::{ClientOptions, Data, Event, TcpWebSocket, connect};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const PAGE: u64 = 4096;
const IN_FLIGHT: usize = 32;
const PAYLOAD: &str = "0123456789abcdefghij";

fn wsbench_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("WSBENCH_BIN") {
        return p.into();
    }
    let exe = std::env::current_exe().expect("own path");
    exe.parent()
        .and_then(|examples| examples.parent())
        .map(|dir| dir.join("wsbench"))
        .expect("target folder")
}

/// Resident set size of a process, bytes.
fn rss(pid: Option<u32>) -> u64 {
    let path = match pid {
        Some(p) => format!("/proc/{p}/statm"),
        None => "/proc/self/statm".to_owned(),
    };
    let statm = std::fs::read_to_string(path).expect("statm readable");
    statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse::<u64>().ok())
        .expect("statm")
        * PAGE
}

struct Served {
    child: Child,
    addr: String,
}

impl Served {
    fn start(imp: &str) -> Result<Served, BoxError> {
        let child = Command::new(wsbench_bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--impl", imp])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        Served::listening(child, |line| {
            line.strip_prefix("listening on ").map(str::to_owned)
        })
    }

    /// uWS `echo_server` (echo on every path, its port from `$PORT`) on
    /// a free loopback port.
    fn start_uws(bin: &str) -> Result<Served, BoxError> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = Command::new(bin)
            .env("PORT", port.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        Served::listening(child, |line| {
            (line == format!("Listening on port {port}")).then(|| format!("127.0.0.1:{port}"))
        })
    }

    /// The server `child`, once its first line says where it listens
    /// (`addr` of that line); it is stopped if the line does not.
    fn listening(
        mut child: Child,
        addr: impl FnOnce(&str) -> Option<String>,
    ) -> Result<Served, BoxError> {
        let stdout = child.stdout.take().expect("piped");
        let mut served = Served {
            child,
            addr: String::new(),
        };
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        served.addr = addr(line.trim()).ok_or_else(|| format!("the server printed {line:?}"))?;
        Ok(served)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Opens `n` own-client connections, 100 at a time.
async fn open_own(url: &str, n: usize) -> Result<Vec<TcpWebSocket>, BoxError> {
    let mut all = Vec::with_capacity(n);
    while all.len() < n {
        let batch = (n - all.len()).min(100);
        let mut tasks = Vec::new();
        for _ in 0..batch {
            let url = url.to_owned();
            tasks.push(tokio::spawn(async move {
                connect(&url, &ClientOptions::default()).await
            }));
        }
        for t in tasks {
            all.push(t.await??.socket);
        }
    }
    Ok(all)
}

async fn echo_rate(url: &str, conns: usize, seconds: u64) -> Result<f64, BoxError> {
    let received = Arc::new(AtomicU64::new(0));
    let sockets = open_own(url, conns).await?;
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for mut ws in sockets {
        let received = Arc::clone(&received);
        tasks.push(tokio::spawn(async move {
            for _ in 0..IN_FLIGHT {
                ws.writer().queue_text(PAYLOAD)?;
            }
            ws.writer().flush().await?;
            while Instant::now() < deadline {
                match tokio::time::timeout(Duration::from_secs(5), ws.next_event()).await {
                    Ok(Some(Event::Message(Data::Text(t)))) if t == PAYLOAD => {
                        received.fetch_add(1, Ordering::Relaxed);
                        ws.send_text(PAYLOAD).await?;
                    }
                    Ok(Some(Event::Message(_))) => return Err("echo payload mismatch".into()),
                    Ok(Some(Event::Pong(_))) => {}
                    other => return Err(format!("echo stopped: {other:?}").into()),
                }
            }
            Ok::<_, BoxError>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(received.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64())
}

async fn servers(idle: usize, conns: usize, seconds: u64) -> Result<(), BoxError> {
    println!(
        "| server stack | server RSS per idle connection | echo msg/s ({conns} conns × {IN_FLIGHT} in flight, 20 B) |"
    );
    println!("|---|---|---|");
    const UWS: &str = "uWS echo_server";
    let uws = std::env::var("WSBENCH_UWS_ECHO").ok();
    let mut rows = vec!["own", "fastwebsockets", "tokio-tungstenite"];
    rows.extend(uws.as_ref().map(|_| UWS));
    for imp in rows {
        let served = match &uws {
            Some(bin) if imp == UWS => Served::start_uws(bin)?,
            _ => Served::start(imp)?,
        };
        let url = format!("ws://{}/echo", served.addr);
        let pid = Some(served.child.id());
        // Warm the server's allocator and runtime first.
        drop(open_own(&url, 100).await?);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before = rss(pid);
        let held = open_own(&url, idle).await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let per_conn = rss(pid).saturating_sub(before) as f64 / idle as f64;
        drop(held);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let rate = echo_rate(&url, conns, seconds).await?;
        println!("| {imp} | {per_conn:.0} B | {rate:.0} |");
    }
    Ok(())
}

async fn client(kind: &str, idle: usize) -> Result<(), BoxError> {
    let served = Served::start("own")?;
    let url = format!("ws://{}/echo", served.addr);
    let before = rss(None);
    let per_conn = match kind {
        "own" => {
            let held = open_own(&url, idle).await?;
            let per = rss(None).saturating_sub(before) as f64 / idle as f64;
            drop(held);
            per
        }
        "tungstenite" => {
            let mut held = Vec::with_capacity(idle);
            for _ in 0..idle {
                let tcp = tokio::net::TcpStream::connect(&served.addr).await?;
                held.push(tokio_tungstenite::client_async(url.as_str(), tcp).await?.0);
            }
            let per = rss(None).saturating_sub(before) as f64 / idle as f64;
            drop(held);
            per
        }
        other => return Err(format!("unknown client {other:?} (own, tungstenite)").into()),
    };
    println!("| {kind} client | {per_conn:.0} B per idle connection ({idle} connections) |");
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, default: usize| -> Result<usize, BoxError> {
        Ok(args
            .get(i)
            .map(|s| s.parse())
            .transpose()?
            .unwrap_or(default))
    };
    match args.first().map(String::as_str) {
        Some("servers") => servers(num(1, 5000)?, num(2, 100)?, num(3, 10)? as u64).await,
        Some("client") => {
            let kind = args.get(1).ok_or("client own|tungstenite [IDLE]")?;
            client(kind, num(2, 5000)?).await
        }
        _ => Err("usage: stack_compare servers [IDLE] [ECHO_CONNS] [SECONDS] | client own|tungstenite [IDLE]".into()),
    }
}
