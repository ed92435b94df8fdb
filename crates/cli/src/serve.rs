//! `wsbench serve`: the reference server, in one process or spread over
//! worker processes that share the port.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use wsbench_server::cluster::Relay;
use wsbench_server::{Faults, Server, ServerConfig, WsImpl};
use wsbench_transport::tls;

#[derive(Clone, Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the address is
    /// printed on stdout as `listening on ADDR`).
    #[arg(long, default_value = "127.0.0.1:9001")]
    listen: SocketAddr,
    /// Processes serving the port (SO_REUSEPORT). Each may hold up to
    /// --max-connections, so several get past the per-process open-file
    /// limit. They share one push stream: this process publishes, the
    /// others mirror it.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    workers: u16,
    /// Listening sockets per process (SO_REUSEPORT), each with its own
    /// accept loop.
    #[arg(long, default_value_t = 1)]
    listeners: usize,
    /// Built-in publisher: messages per second to the push hub (0: off).
    #[arg(long, default_value_t = 0.0)]
    publish_rate: f64,
    /// Payload bytes of each built-in message.
    #[arg(long, default_value_t = 64)]
    payload_size: usize,
    /// Built-in messages carry a JSON document as their payload.
    #[arg(long)]
    payload_json: bool,
    /// Largest WebSocket message accepted, bytes (larger: close 1009).
    #[arg(long, default_value_t = 64 << 20)]
    max_message_size: u64,
    /// Open connections allowed per process; more get 503.
    #[arg(long, default_value_t = 18_000)]
    max_connections: usize,
    /// Milliseconds allowed for a request head or upgrade (slowloris).
    #[arg(long, default_value_t = 10_000)]
    handshake_timeout_ms: u64,
    /// Seconds an idle keep-alive connection is kept.
    #[arg(long, default_value_t = 60)]
    idle_timeout_s: u64,
    /// WebSocket stack behind /echo and /push: own, fastwebsockets or
    /// tokio-tungstenite (the upgrade is answered by the same code for all).
    #[arg(long = "impl", default_value = "own")]
    ws_impl: WsImpl,
    /// Refuse permessage-deflate offers (accepted by default, own stack only).
    #[arg(long)]
    no_deflate: bool,
    /// Serve TLS (wss://, https://) with this certificate chain (PEM, leaf
    /// first); needs --tls-key.
    #[arg(long, requires = "tls_key", conflicts_with = "tls_self_signed")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve TLS with a certificate for localhost and 127.0.0.1 generated
    /// now; its PEM is written to this file for clients to trust.
    #[arg(long, value_name = "CERT_OUT")]
    tls_self_signed: Option<PathBuf>,
    /// Fault injection, to check a load generator: hold every echo this
    /// many milliseconds.
    #[arg(long, default_value_t = 0, help_heading = "Fault injection")]
    echo_delay_ms: u64,
    /// Pause echoing for PAUSE ms once every PERIOD ms, e.g. 200/1000.
    #[arg(long, value_name = "PAUSE/PERIOD", value_parser = parse_stall, help_heading = "Fault injection")]
    stall_ms: Option<(Duration, Duration)>,
    /// Leave out every Nth pushed message on /push (0: none).
    #[arg(long, default_value_t = 0, help_heading = "Fault injection")]
    drop_every: u64,
    /// Send every Nth pushed message twice on /push (0: none).
    #[arg(long, default_value_t = 0, help_heading = "Fault injection")]
    duplicate_every: u64,
    /// Hold every POST /publish this many milliseconds before the message
    /// reaches the hub: every push transport delivers it that much later.
    #[arg(long, default_value_t = 0, help_heading = "Fault injection")]
    push_delay_ms: u64,
    /// Accept every publish but deliver only messages numbered up to N, on
    /// every push transport (0: all).
    #[arg(
        long,
        default_value_t = 0,
        value_name = "N",
        help_heading = "Fault injection"
    )]
    stop_delivering_after: u64,
    /// Run as a worker of the primary whose relay socket is at PATH
    /// (started by --workers; not for direct use).
    #[arg(long, hide = true)]
    worker_of: Option<PathBuf>,
}

/// The TLS a process serves, and the files that hold it (for workers).
struct TlsSetup {
    server: Arc<tls::rustls::ServerConfig>,
    cert: PathBuf,
    key: PathBuf,
}

impl ServeArgs {
    /// Loads or generates the TLS certificate; a generated one is written
    /// to `scratch` too, so workers present the very same certificate.
    fn tls(&self, scratch: &Path) -> anyhow::Result<Option<TlsSetup>> {
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            return Ok(Some(TlsSetup {
                server: tls::server_config_from_pem(cert, key)?,
                cert: cert.clone(),
                key: key.clone(),
            }));
        }
        let Some(out) = &self.tls_self_signed else {
            return Ok(None);
        };
        let signed = tls::self_signed(&["localhost", "127.0.0.1"])?;
        write_pem(out, &signed.cert_pem)?;
        eprintln!(
            "wsbench serve: TLS with a self-signed certificate for localhost and 127.0.0.1; \
             its PEM is in {}",
            out.display()
        );
        std::fs::create_dir_all(scratch)
            .with_context(|| format!("creating {}", scratch.display()))?;
        let (cert, key) = (scratch.join("cert.pem"), scratch.join("key.pem"));
        write_pem(&cert, &signed.cert_pem)?;
        write_pem(&key, &signed.key_pem)?;
        Ok(Some(TlsSetup {
            server: signed.server,
            cert,
            key,
        }))
    }

    fn config(&self, tls: Option<&TlsSetup>) -> ServerConfig {
        ServerConfig {
            listen: self.listen,
            listeners: self.listeners,
            max_message_size: self.max_message_size,
            handshake_timeout: Duration::from_millis(self.handshake_timeout_ms),
            idle_timeout: Duration::from_secs(self.idle_timeout_s),
            max_connections: self.max_connections,
            publish_rate: self.publish_rate,
            payload_size: self.payload_size,
            payload_json: self.payload_json,
            ws_impl: self.ws_impl,
            deflate: !self.no_deflate,
            tls: tls.map(|t| Arc::clone(&t.server)),
            reuse_port: self.workers > 1 || self.worker_of.is_some(),
            upstream: self.worker_of.clone(),
            faults: Faults {
                echo_delay: Duration::from_millis(self.echo_delay_ms),
                stall: self.stall_ms,
                drop_every: self.drop_every,
                duplicate_every: self.duplicate_every,
                push_delay: Duration::from_millis(self.push_delay_ms),
                stop_delivering_after: self.stop_delivering_after,
            },
            ..ServerConfig::default()
        }
    }

    /// The command line of a worker: these settings, on the port the
    /// primary got, with the primary's TLS certificate files.
    fn worker_args(&self, addr: SocketAddr, relay: &Path, tls: Option<&TlsSetup>) -> Vec<String> {
        let mut a: Vec<String> = vec![
            "serve".into(),
            "--listen".into(),
            addr.to_string(),
            "--worker-of".into(),
            relay.display().to_string(),
            "--listeners".into(),
            self.listeners.to_string(),
            "--payload-size".into(),
            self.payload_size.to_string(),
            "--max-message-size".into(),
            self.max_message_size.to_string(),
            "--max-connections".into(),
            self.max_connections.to_string(),
            "--handshake-timeout-ms".into(),
            self.handshake_timeout_ms.to_string(),
            "--idle-timeout-s".into(),
            self.idle_timeout_s.to_string(),
            "--impl".into(),
            self.ws_impl.name().into(),
        ];
        if self.no_deflate {
            a.push("--no-deflate".into());
        }
        for (flag, n) in [
            ("--echo-delay-ms", self.echo_delay_ms),
            ("--drop-every", self.drop_every),
            ("--duplicate-every", self.duplicate_every),
            ("--push-delay-ms", self.push_delay_ms),
            ("--stop-delivering-after", self.stop_delivering_after),
        ] {
            if n > 0 {
                a.push(flag.into());
                a.push(n.to_string());
            }
        }
        if let Some((pause, period)) = self.stall_ms {
            a.push("--stall-ms".into());
            a.push(format!("{}/{}", pause.as_millis(), period.as_millis()));
        }
        if let Some(t) = tls {
            a.push("--tls-cert".into());
            a.push(t.cert.display().to_string());
            a.push("--tls-key".into());
            a.push(t.key.display().to_string());
        }
        a
    }
}

fn parse_stall(s: &str) -> Result<(Duration, Duration), String> {
    let (pause, period) = s
        .split_once('/')
        .ok_or("write PAUSE/PERIOD in milliseconds, e.g. 200/1000")?;
    let ms = |v: &str| {
        v.trim()
            .parse::<u64>()
            .map_err(|_| format!("{v:?} is not a whole number of milliseconds"))
    };
    let (pause, period) = (ms(pause)?, ms(period)?);
    if pause >= period {
        return Err("the pause must be shorter than the period".into());
    }
    Ok((Duration::from_millis(pause), Duration::from_millis(period)))
}

fn write_pem(path: &Path, pem: &str) -> anyhow::Result<()> {
    std::fs::write(path, pem).with_context(|| format!("writing {}", path.display()))
}

pub(crate) fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(async {
        if args.worker_of.is_some() {
            worker(&args).await
        } else {
            primary(&args).await
        }
    })
}

async fn stop_requested() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("waiting for SIGINT")?,
        _ = term.recv() => {}
    }
    Ok(())
}

async fn worker(args: &ServeArgs) -> anyhow::Result<()> {
    // A worker is always given certificate files, never --tls-self-signed.
    let tls = args.tls(&std::env::temp_dir())?;
    let server = Server::start(args.config(tls.as_ref())).await?;
    tokio::select! {
        r = stop_requested() => r?,
        () = server.upstream_gone() => {}
    }
    server.shutdown(Duration::from_secs(5)).await;
    Ok(())
}

/// Files this process made for its workers, removed when it ends.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn primary(args: &ServeArgs) -> anyhow::Result<()> {
    let scratch =
        Scratch(std::env::temp_dir().join(format!("wsbench-serve-{}", std::process::id())));
    let tls = args.tls(&scratch.0)?;
    let server = Server::start(args.config(tls.as_ref())).await?;
    let addr = server.local_addr();
    let workers = usize::from(args.workers) - 1;
    let mut exits = mpsc::unbounded_channel();
    let mut children = JoinSet::new();
    let mut relay = None;
    if workers > 0 {
        std::fs::create_dir_all(&scratch.0)
            .with_context(|| format!("creating {}", scratch.0.display()))?;
        let mut r = Relay::start(&scratch.0.join("relay.sock"), Arc::clone(server.hub()))
            .context("starting the worker relay")?;
        let exe = std::env::current_exe().context("finding the wsbench executable")?;
        for i in 0..workers {
            let mut child = tokio::process::Command::new(&exe)
                .args(args.worker_args(addr, r.path(), tls.as_ref()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .context("starting a worker process")?;
            let tx = exits.0.clone();
            children.spawn(async move {
                let status = child.wait().await;
                let _ = tx.send((i + 1, status));
            });
        }
        let ready = tokio::select! {
            ok = r.wait_for(workers, Duration::from_secs(30)) => ok,
            Some((i, status)) = exits.1.recv() => bail!("worker {i} exited while starting: {}", describe(status)),
        };
        if !ready {
            bail!("the worker processes did not connect within 30 s");
        }
        relay = Some(r);
    }
    println!("listening on {addr}");
    if workers > 0 {
        eprintln!("wsbench serve: {} processes share {addr}", workers + 1);
    }
    let outcome = tokio::select! {
        r = stop_requested() => r,
        Some((i, status)) = exits.1.recv() => Err(anyhow::anyhow!(
            "worker {i} exited: {}; shutting down", describe(status)
        )),
    };
    eprintln!("wsbench serve: shutting down (closing WebSocket clients with 1001)");
    // Workers see their relay connection close and shut down too.
    drop(relay);
    let (_, ()) = tokio::join!(server.shutdown(Duration::from_secs(5)), async {
        let all_done = async { while children.join_next().await.is_some() {} };
        if tokio::time::timeout(Duration::from_secs(10), all_done)
            .await
            .is_err()
        {
            // kill_on_drop ends the stragglers.
            children.abort_all();
        }
    });
    outcome
}

fn describe(status: std::io::Result<ExitStatus>) -> String {
    match status {
        Ok(s) => s.to_string(),
        Err(e) => format!("cannot tell ({e})"),
    }
}
