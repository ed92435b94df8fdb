//! `wsbench serve`: the reference server, in one process or spread over
//! worker processes that share the port.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use wsbench_server::args::ServeArgs;
use wsbench_server::cluster::Relay;
use wsbench_server::{Server, ServerConfig};
use wsbench_transport::tls;

/// The TLS a process serves, and the files that hold it (for workers).
struct TlsSetup {
    server: Arc<tls::rustls::ServerConfig>,
    cert: PathBuf,
    key: PathBuf,
}

/// Loads or generates the TLS certificate; a generated one is written
/// to `scratch` too, so workers present the very same certificate.
fn tls(args: &ServeArgs, scratch: &Path) -> anyhow::Result<Option<TlsSetup>> {
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        return Ok(Some(TlsSetup {
            server: tls::server_config_from_pem(cert, key)?,
            cert: cert.clone(),
            key: key.clone(),
        }));
    }
    let Some(out) = &args.tls_self_signed else {
        return Ok(None);
    };
    let signed = tls::self_signed(&["localhost", "127.0.0.1"])?;
    write_pem(out, &signed.cert_pem)?;
    errln!(
        "wsbench serve: TLS with a self-signed certificate for localhost and 127.0.0.1; \
         its PEM is in {}",
        out.display()
    );
    std::fs::create_dir_all(scratch).with_context(|| format!("creating {}", scratch.display()))?;
    let (cert, key) = (scratch.join("cert.pem"), scratch.join("key.pem"));
    write_pem(&cert, &signed.cert_pem)?;
    write_pem(&key, &signed.key_pem)?;
    Ok(Some(TlsSetup {
        server: signed.server,
        cert,
        key,
    }))
}

fn config(args: &ServeArgs, tls: Option<&TlsSetup>) -> ServerConfig {
    ServerConfig {
        listen: args.listen,
        listeners: args.listeners,
        max_message_size: args.max_message_size,
        max_inflate_ratio: args.max_inflate_ratio,
        write: args.write_limits(),
        history_bytes: usize::try_from(args.history_bytes).unwrap_or(usize::MAX),
        publish_token: args.publish_token.clone(),
        handshake_timeout: Duration::from_millis(args.handshake_timeout_ms),
        idle_timeout: Duration::from_secs(args.idle_timeout_s),
        max_connections: args.max_connections,
        publish_rate: args.publish_rate,
        payload_size: args.payload_size,
        payload_json: args.payload_json,
        ws_impl: args.ws_impl,
        deflate: !args.no_deflate,
        tls: tls.map(|t| Arc::clone(&t.server)),
        reuse_port: args.workers > 1 || args.worker_of.is_some(),
        upstream: args.worker_of.clone(),
        faults: args.faults(),
        ..ServerConfig::default()
    }
}

/// The command line of a worker: these settings, on the port the
/// primary got, with the primary's TLS certificate files (the primary
/// publishes; workers mirror its stream).
fn worker_args(
    args: &ServeArgs,
    addr: SocketAddr,
    relay: &Path,
    tls: Option<&TlsSetup>,
) -> Vec<String> {
    let worker = ServeArgs {
        listen: addr,
        workers: 1,
        publish_rate: 0.0,
        payload_json: false,
        tls_cert: tls.map(|t| t.cert.clone()),
        tls_key: tls.map(|t| t.key.clone()),
        tls_self_signed: None,
        worker_of: Some(relay.to_owned()),
        ..args.clone()
    };
    let mut a = vec!["serve".to_owned()];
    a.extend(worker.to_args());
    a
}

fn write_pem(path: &Path, pem: &str) -> anyhow::Result<()> {
    std::fs::write(path, pem).with_context(|| format!("writing {}", path.display()))
}

pub(crate) fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let runtime = crate::runtime::build().context("starting the tokio runtime")?;
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
    let tls = tls(args, &std::env::temp_dir())?;
    let server = Server::start(config(args, tls.as_ref())).await?;
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
    let tls = tls(args, &scratch.0)?;
    let server = Server::start(config(args, tls.as_ref())).await?;
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
                .args(worker_args(args, addr, r.path(), tls.as_ref()))
                .envs(args.secret_env())
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
    outln!("listening on {addr}");
    if workers > 0 {
        errln!("wsbench serve: {} processes share {addr}", workers + 1);
    }
    let outcome = tokio::select! {
        r = stop_requested() => r,
        Some((i, status)) = exits.1.recv() => Err(anyhow::anyhow!(
            "worker {i} exited: {}; shutting down", describe(status)
        )),
    };
    errln!("wsbench serve: shutting down (closing WebSocket clients with 1001)");
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
