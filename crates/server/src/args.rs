//! The command line of `wsbench serve`, as a type: the front end parses it
//! with clap, and whoever starts a server process (the load generator's
//! builtin target, a primary starting its workers) builds one and turns
//! it into arguments with [`ServeArgs::to_args`], the one place that
//! writes them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser};

use crate::{Faults, WsImpl};

/// `wsbench serve`'s settings.
#[derive(Clone, Debug, PartialEq, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the address is
    /// printed on stdout as `listening on ADDR`).
    #[arg(long, default_value = "127.0.0.1:9001")]
    pub listen: SocketAddr,
    /// Processes serving the port (SO_REUSEPORT). Each may hold up to
    /// --max-connections, so several get past the per-process open-file
    /// limit. They share one push stream: this process publishes, the
    /// others mirror it.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub workers: u16,
    /// Listening sockets per process (SO_REUSEPORT), each with its own
    /// accept loop.
    #[arg(long, default_value_t = 1)]
    pub listeners: usize,
    /// Built-in publisher: messages per second to the push hub (0: off).
    #[arg(long, default_value_t = 0.0)]
    pub publish_rate: f64,
    /// Payload bytes of each built-in message.
    #[arg(long, default_value_t = 64)]
    pub payload_size: usize,
    /// Built-in messages carry a JSON document as their payload.
    #[arg(long)]
    pub payload_json: bool,
    /// Largest WebSocket message accepted, bytes (larger: close 1009).
    /// Each connection may hold about three times this while a message
    /// is read and echoed.
    #[arg(long, default_value_t = 16 << 20)]
    pub max_message_size: u64,
    /// A compressed message may inflate to this many times its size on the
    /// wire once past 1 MiB (more: close 1009, a compression bomb); 0: off.
    #[arg(long, default_value_t = 100)]
    pub max_inflate_ratio: u32,
    /// Milliseconds within which bytes queued for a connection must reach
    /// its socket; a client that does not read is cut (WebSocket 1008).
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub write_timeout_ms: u64,
    /// Most bytes queued for one connection beyond what its socket took; a
    /// client that reads too slowly is cut (WebSocket 1008).
    #[arg(long, default_value_t = 1 << 20, value_parser = clap::value_parser!(u64).range(1..))]
    pub send_queue_max: u64,
    /// Bytes of published messages kept for pollers and resuming clients
    /// (as delivered, JSON-escaped; at most 4,096 messages).
    #[arg(long, default_value_t = 32 << 20)]
    pub history_bytes: u64,
    /// Let clients that send `Authorization: Bearer TOKEN` publish (and
    /// stamp messages with their clock); without it, only loopback
    /// clients may. Read from WSBENCH_PUBLISH_TOKEN when set there.
    #[arg(long, env = PUBLISH_TOKEN_ENV, hide_env_values = true)]
    pub publish_token: Option<String>,
    /// Open connections allowed per process; more get 503.
    #[arg(long, default_value_t = 18_000)]
    pub max_connections: usize,
    /// Milliseconds allowed for a request head or upgrade (slowloris).
    #[arg(long, default_value_t = 10_000)]
    pub handshake_timeout_ms: u64,
    /// Seconds an idle keep-alive connection is kept.
    #[arg(long, default_value_t = 60)]
    pub idle_timeout_s: u64,
    /// WebSocket stack behind /echo and /push: own, fastwebsockets or
    /// tokio-tungstenite (the upgrade is answered by the same code for all).
    #[arg(long = "impl", default_value = "own")]
    pub ws_impl: WsImpl,
    /// Refuse permessage-deflate offers (accepted by default, own stack only).
    #[arg(long)]
    pub no_deflate: bool,
    /// Serve TLS (wss://, https://) with this certificate chain (PEM, leaf
    /// first); needs --tls-key.
    #[arg(long, requires = "tls_key", conflicts_with = "tls_self_signed")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve TLS with a certificate for localhost and 127.0.0.1 generated
    /// now; its PEM is written to this file for clients to trust.
    #[arg(long, value_name = "CERT_OUT")]
    pub tls_self_signed: Option<PathBuf>,
    /// Fault injection, to check a load generator: hold every echo this
    /// many milliseconds.
    #[arg(long, default_value_t = 0, help_heading = "Fault injection")]
    pub echo_delay_ms: u64,
    /// Pause echoing for PAUSE ms once every PERIOD ms, e.g. 200/1000.
    #[arg(long, value_name = "PAUSE/PERIOD", value_parser = parse_stall, help_heading = "Fault injection")]
    pub stall_ms: Option<(Duration, Duration)>,
    /// Leave out every Nth pushed message on /push (0: none).
    #[arg(long, default_value_t = 0, help_heading = "Fault injection")]
    pub drop_every: u64,
    /// Send every Nth pushed message twice on /push (0: none).
    #[arg(long, default_value_t = 0, help_heading = "Fault injection")]
    pub duplicate_every: u64,
    /// Hold every POST /publish this many milliseconds before the message
    /// reaches the hub: every push transport delivers it that much later.
    #[arg(long, default_value_t = 0, help_heading = "Fault injection")]
    pub push_delay_ms: u64,
    /// Accept every publish but deliver only messages numbered up to N, on
    /// every push transport (0: all).
    #[arg(
        long,
        default_value_t = 0,
        value_name = "N",
        help_heading = "Fault injection"
    )]
    pub stop_delivering_after: u64,
    /// Run as a worker of the primary whose relay socket is at PATH
    /// (started by --workers; not for direct use).
    #[arg(long, hide = true)]
    pub worker_of: Option<PathBuf>,
}

/// The environment variable holding `--publish-token`.
pub const PUBLISH_TOKEN_ENV: &str = "WSBENCH_PUBLISH_TOKEN";

/// `serve` alone on a command line, to read the defaults from clap.
#[derive(Parser)]
struct Bare {
    #[command(flatten)]
    args: ServeArgs,
}

impl Default for ServeArgs {
    /// What `wsbench serve` runs with when given no flags.
    fn default() -> ServeArgs {
        Bare::parse_from(["serve"]).args
    }
}

impl ServeArgs {
    /// The arguments after `serve` that give these settings.
    pub fn to_args(&self) -> Vec<String> {
        // Every field by name: a new one does not compile until it is
        // written here too.
        let ServeArgs {
            listen,
            workers,
            listeners,
            publish_rate,
            payload_size,
            payload_json,
            max_message_size,
            max_inflate_ratio,
            write_timeout_ms,
            send_queue_max,
            history_bytes,
            // Passed in the environment (see `secret_env`), never in argv
            // where every local user sees it.
            publish_token: _,
            max_connections,
            handshake_timeout_ms,
            idle_timeout_s,
            ws_impl,
            no_deflate,
            tls_cert,
            tls_key,
            tls_self_signed,
            echo_delay_ms,
            stall_ms,
            drop_every,
            duplicate_every,
            push_delay_ms,
            stop_delivering_after,
            worker_of,
        } = self;
        let mut a: Vec<String> = Vec::new();
        let mut value = |flag: &str, v: String| {
            a.push(format!("--{flag}"));
            a.push(v);
        };
        value("listen", listen.to_string());
        value("workers", workers.to_string());
        value("listeners", listeners.to_string());
        value("publish-rate", publish_rate.to_string());
        value("payload-size", payload_size.to_string());
        value("max-message-size", max_message_size.to_string());
        value("max-inflate-ratio", max_inflate_ratio.to_string());
        value("write-timeout-ms", write_timeout_ms.to_string());
        value("send-queue-max", send_queue_max.to_string());
        value("history-bytes", history_bytes.to_string());
        value("max-connections", max_connections.to_string());
        value("handshake-timeout-ms", handshake_timeout_ms.to_string());
        value("idle-timeout-s", idle_timeout_s.to_string());
        value("impl", ws_impl.name().to_owned());
        value("echo-delay-ms", echo_delay_ms.to_string());
        value("drop-every", drop_every.to_string());
        value("duplicate-every", duplicate_every.to_string());
        value("push-delay-ms", push_delay_ms.to_string());
        value("stop-delivering-after", stop_delivering_after.to_string());
        if let Some((pause, period)) = stall_ms {
            value(
                "stall-ms",
                format!("{}/{}", pause.as_millis(), period.as_millis()),
            );
        }
        for (flag, path) in [
            ("tls-cert", tls_cert),
            ("tls-key", tls_key),
            ("tls-self-signed", tls_self_signed),
            ("worker-of", worker_of),
        ] {
            if let Some(p) = path {
                value(flag, p.display().to_string());
            }
        }
        for (flag, on) in [("payload-json", payload_json), ("no-deflate", no_deflate)] {
            if *on {
                a.push(format!("--{flag}"));
            }
        }
        a
    }

    /// The environment a process started with [`ServeArgs::to_args`]
    /// needs too: the publish token.
    pub fn secret_env(&self) -> Vec<(&'static str, String)> {
        self.publish_token
            .iter()
            .map(|t| (PUBLISH_TOKEN_ENV, t.clone()))
            .collect()
    }

    /// The write limits these settings ask for.
    pub fn write_limits(&self) -> crate::WriteLimits {
        crate::WriteLimits {
            deadline: Duration::from_millis(self.write_timeout_ms),
            queue_max: usize::try_from(self.send_queue_max).unwrap_or(usize::MAX),
        }
    }

    /// The fault injection these settings ask for.
    pub fn faults(&self) -> Faults {
        Faults {
            echo_delay: Duration::from_millis(self.echo_delay_ms),
            stall: self.stall_ms,
            drop_every: self.drop_every,
            duplicate_every: self.duplicate_every,
            push_delay: Duration::from_millis(self.push_delay_ms),
            stop_delivering_after: self.stop_delivering_after,
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[String]) -> ServeArgs {
        Bare::try_parse_from(std::iter::once("serve".to_owned()).chain(args.iter().cloned()))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
            .args
    }

    #[test]
    fn every_field_survives_argv_and_clap() {
        // Every field away from its default (the TLS files are exclusive
        // with the self-signed one: both ways below).
        let all = ServeArgs {
            listen: "127.0.0.2:4321".parse().unwrap(),
            workers: 3,
            listeners: 2,
            publish_rate: 12.5,
            payload_size: 99,
            payload_json: true,
            max_message_size: 12_345,
            max_inflate_ratio: 7,
            write_timeout_ms: 250,
            send_queue_max: 4_096,
            history_bytes: 1 << 20,
            publish_token: None,
            max_connections: 777,
            handshake_timeout_ms: 1_234,
            idle_timeout_s: 9,
            ws_impl: WsImpl::TokioTungstenite,
            no_deflate: true,
            tls_cert: Some("/c.pem".into()),
            tls_key: Some("/k.pem".into()),
            tls_self_signed: None,
            echo_delay_ms: 5,
            stall_ms: Some((Duration::from_millis(200), Duration::from_millis(1000))),
            drop_every: 7,
            duplicate_every: 11,
            push_delay_ms: 20,
            stop_delivering_after: 150,
            worker_of: Some("/relay.sock".into()),
        };
        assert_ne!(all, ServeArgs::default());
        assert_eq!(parse(&all.to_args()), all);
        let signed = ServeArgs {
            tls_cert: None,
            tls_key: None,
            tls_self_signed: Some("/out.pem".into()),
            ..all
        };
        assert_eq!(parse(&signed.to_args()), signed);
        let plain = ServeArgs::default();
        assert_eq!(parse(&plain.to_args()), plain);
        // The token goes by the environment, not argv.
        let secret = ServeArgs {
            publish_token: Some("s3cret".into()),
            ..ServeArgs::default()
        };
        assert!(!secret.to_args().iter().any(|a| a.contains("s3cret")));
        assert_eq!(
            secret.secret_env(),
            [(PUBLISH_TOKEN_ENV, "s3cret".to_owned())]
        );
    }

    #[test]
    fn defaults_are_the_command_lines() {
        let d = ServeArgs::default();
        assert_eq!(d.listen.to_string(), "127.0.0.1:9001");
        assert_eq!((d.workers, d.max_connections), (1, 18_000));
        assert_eq!(d.faults(), Faults::default());
    }
}
