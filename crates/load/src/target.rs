//! The target: where it is, the client options that reach it, and the
//! builtin one (`wsbench serve` as a child process, started for the run
//! and stopped after it).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStderr, Command};

use wsbench_model::Scenario;
use wsbench_model::scenario::{Role, TargetProtocol, TemplateError, Vars, expand_env};
use wsbench_server::args::ServeArgs;
use wsbench_transport::{ClientOptions, tls};

use crate::RunError;

/// Where the target is: `host:port` and whether it speaks TLS.
#[derive(Clone, Debug)]
pub(crate) struct Origin {
    pub(crate) authority: String,
    pub(crate) tls: bool,
    /// This load generator process (`{shard}` in endpoint templates).
    pub(crate) shard: u32,
}

impl Origin {
    /// The URL of `role` for the connection `vars` describe: the
    /// scenario's endpoint for it, or the wsbench profile's path here
    /// (`/push?after=N` for a push subscriber that reopens after message
    /// `N`).
    pub(crate) fn url(
        &self,
        protocol: &TargetProtocol,
        role: Role,
        vars: &Vars,
    ) -> Result<String, TemplateError> {
        match protocol.endpoint(role) {
            Some(template) => expand_env(template, vars),
            // A push subscriber that reopens resumes after the last
            // message it received.
            None if role == Role::Websocket && vars.last_seen.is_some() => {
                let after = vars.last_seen.unwrap_or(0);
                Ok(self.ws(&format!("{}?after={after}", role.wsbench_path())))
            }
            None if role.is_websocket() => Ok(self.ws(role.wsbench_path())),
            None => Ok(self.http(role.wsbench_path())),
        }
    }

    /// The WebSocket URL of `path`.
    pub(crate) fn ws(&self, path: &str) -> String {
        format!(
            "{}://{}{path}",
            if self.tls { "wss" } else { "ws" },
            self.authority
        )
    }

    /// The HTTP URL of `path`.
    pub(crate) fn http(&self, path: &str) -> String {
        format!(
            "{}://{}{path}",
            if self.tls { "https" } else { "http" },
            self.authority
        )
    }
}

/// Lines of the server's stderr kept for error messages and `server.log`.
const LOG_LINES: usize = 200;

/// The last lines a child process wrote to stderr, collected by a task.
#[derive(Debug, Clone, Default)]
pub(crate) struct LogTail(Arc<Mutex<VecDeque<String>>>);

impl LogTail {
    /// Reads `stderr` in the background, keeping its last `keep` lines.
    pub(crate) fn spawn(stderr: Option<ChildStderr>, keep: usize) -> LogTail {
        let tail = LogTail::default();
        if let Some(stderr) = stderr {
            let lines_kept = Arc::clone(&tail.0);
            tokio::spawn(async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let mut l = lines_kept.lock().unwrap_or_else(|p| p.into_inner());
                    if l.len() == keep {
                        l.pop_front();
                    }
                    l.push_back(line);
                }
            });
        }
        tail
    }

    /// The lines kept.
    pub(crate) fn lines(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }
}

/// A running builtin server.
#[derive(Debug)]
pub struct Builtin {
    child: Child,
    pid: u32,
    addr: SocketAddr,
    log: LogTail,
    /// How it was started, to start it again after a restart storm.
    exe: PathBuf,
    args: ServeArgs,
    /// Killed by a restart storm and not started again yet.
    down: bool,
}

impl Builtin {
    /// Starts `exe serve` with `args` on a free loopback port
    /// (`127.0.0.1:0`, whatever `args.listen` says) and waits for it to
    /// listen.
    pub async fn start(exe: &Path, args: &ServeArgs) -> Result<Builtin, RunError> {
        let args = ServeArgs {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            ..args.clone()
        };
        Builtin::start_on(exe, args).await
    }

    /// Starts `exe serve` with `args` as they are.
    async fn start_on(exe: &Path, args: ServeArgs) -> Result<Builtin, RunError> {
        let mut child = Command::new(exe)
            .arg("serve")
            .args(args.to_args())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| RunError::Target(format!("cannot start {} serve: {e}", exe.display())))?;
        let pid = child.id().unwrap_or_default();
        let log = LogTail::spawn(child.stderr.take(), LOG_LINES);
        let stdout = child.stdout.take().expect("piped");
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await;
        let line = match first {
            Ok(Ok(Some(line))) => line,
            _ => {
                // Give the stderr reader a moment to collect why.
                tokio::time::sleep(Duration::from_millis(100)).await;
                let why = log.lines().join("\n");
                return Err(RunError::Target(format!(
                    "the builtin server did not start listening: {}",
                    if why.is_empty() { "no output" } else { &why }
                )));
            }
        };
        let addr = line
            .strip_prefix("listening on ")
            .and_then(|a| a.trim().parse().ok())
            .ok_or_else(|| {
                RunError::Target(format!("unexpected first line from the server: {line:?}"))
            })?;
        // Keep draining stdout so the server never blocks on it.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Builtin {
            child,
            pid,
            addr,
            log,
            exe: exe.to_owned(),
            args,
            down: false,
        })
    }

    /// A restart storm's crash: every process of the server killed at
    /// once (SIGKILL), as a machine or a container dies.
    pub(crate) async fn kill(&mut self) {
        self.down = true;
        for pid in crate::sys::children(self.pid).into_iter().chain([self.pid]) {
            if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
        let _ = self.child.wait().await;
    }

    /// Starts the server again on the address it had (a freed port may
    /// take a moment to be free to bind again).
    pub(crate) async fn restart(&mut self) -> Result<(), RunError> {
        let args = ServeArgs {
            listen: self.addr,
            ..self.args.clone()
        };
        let mut last = None;
        for _ in 0..20 {
            match Builtin::start_on(&self.exe, args.clone()).await {
                Ok(b) => {
                    *self = b;
                    return Ok(());
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(last.unwrap_or_else(|| RunError::Target("cannot restart the builtin server".into())))
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's process id (its worker processes are its children).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// `Some(status)` once the server has exited.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(e) => Some(format!("cannot tell ({e})")),
        }
    }

    /// Why the server is gone, with its last lines; `None` while it runs.
    pub(crate) fn failure(&mut self) -> Option<String> {
        if self.down {
            return None;
        }
        let status = self.exited()?;
        let log = self.log();
        let tail = log[log.len().saturating_sub(5)..].join("\n");
        Some(format!(
            "the builtin server exited ({status}){}",
            if tail.is_empty() {
                String::new()
            } else {
                format!(":\n{tail}")
            }
        ))
    }

    /// The server's recent stderr lines.
    pub fn log(&self) -> Vec<String> {
        self.log.lines()
    }

    /// SIGTERM, then up to 10 s for a clean exit, then SIGKILL.
    pub async fn stop(mut self) {
        if let Some(pid) = rustix::process::Pid::from_raw(self.pid as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// Client options every connection of a run starts from.
pub(crate) fn client_options(s: &Scenario, insecure_tls: bool) -> ClientOptions {
    let mut options = ClientOptions::default();
    if insecure_tls {
        options.tls = Some(tls::client_config_insecure());
    }
    options.config.max_message_size = (s.payload_size as u64).max(1 << 20) * 2;
    options.protocols.clone_from(&s.protocol.subprotocols);
    options.deflate = s
        .protocol
        .permessage_deflate
        .then(wsbench_transport::DeflateConfig::default);
    options
}

/// The scenario's request headers for the connection `vars` describe.
pub(crate) fn headers(
    protocol: &TargetProtocol,
    vars: &Vars,
) -> Result<Vec<(String, String)>, TemplateError> {
    protocol
        .headers
        .iter()
        .map(|(name, value)| Ok((name.clone(), expand_env(value, vars)?)))
        .collect()
}
