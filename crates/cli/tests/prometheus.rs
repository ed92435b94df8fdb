//! Live metrics scraped by a real Prometheus (the Debian package): a
//! short run serves `--metrics-listen`, Prometheus scrapes it every
//! second, and its HTTP API then gives the run's message count and p99
//! as `summary.json` has them.
//!
//! `scripts/test.sh` installs `prometheus` when missing and sets
//! `WSBENCH_REQUIRE_PROMETHEUS=1`, so a missing component fails the test
//! there; elsewhere the test says SKIPPED and why.

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{newest_run, run_quiet, serial, summary, temp_dir};

const PROMETHEUS: &str = "/usr/bin/prometheus";

/// Prometheus, stopped on drop.
struct Prometheus {
    child: Child,
    port: u16,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path` on `127.0.0.1:port`: the status line and the body.
fn get(port: u16, path: &str) -> Option<(String, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    Some((head.lines().next()?.to_owned(), body.to_owned()))
}

fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The value of a PromQL instant query with one result.
fn query(port: u16, promql: &str) -> f64 {
    let (status, body) = get(port, &format!("/api/v1/query?query={}", encode(promql))).unwrap();
    assert!(status.contains("200"), "{status}: {body}");
    eprintln!("prometheus: {promql} → {body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let results = v["data"]["result"].as_array().unwrap();
    assert_eq!(results.len(), 1, "{body}");
    results[0]["value"][1].as_str().unwrap().parse().unwrap()
}

/// Starts Prometheus scraping `target` every second; `None` (after
/// saying SKIPPED) when it is not installed and not required.
fn start(dir: &Path, target: u16) -> Option<Prometheus> {
    if !Path::new(PROMETHEUS).exists() {
        assert!(
            std::env::var_os("WSBENCH_REQUIRE_PROMETHEUS").is_none(),
            "{PROMETHEUS} is missing (Debian package prometheus)"
        );
        eprintln!("SKIPPED: {PROMETHEUS} is missing (Debian package prometheus)");
        return None;
    }
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\nscrape_configs:\n  \
             - job_name: wsbench\n    static_configs:\n      - targets: ['127.0.0.1:{target}']\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let child = Command::new(PROMETHEUS)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
        .spawn()
        .expect("prometheus starts");
    let p = Prometheus { child, port };
    // Ready, and scraping already (the target is down yet: `up` is 0).
    let deadline = Instant::now() + Duration::from_secs(30);
    let up = format!("/api/v1/query?query={}", encode("up{job=\"wsbench\"}"));
    while get(port, &up).is_none_or(|(s, b)| !s.contains("200") || !b.contains("\"value\"")) {
        assert!(Instant::now() < deadline, "prometheus not scraping in 30 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(p)
}

#[test]
fn prometheus_scrapes_the_runs_count_and_p99() {
    let _one = serial();
    let dir = temp_dir("prometheus", "scrape");
    let metrics_port = free_port();
    let Some(prom) = start(&dir, metrics_port) else {
        return;
    };
    let file = dir.join("push.toml");
    std::fs::write(
        &file,
        "schema_version = 1\nname = \"prom\"\n[target]\nbuiltin = true\n[load]\n\
         transports = [\"websocket\"]\nconnections = 20\nduration = \"4s\"\n\
         [workload]\nkind = \"push\"\nrate = 50\n",
    )
    .unwrap();
    let listen = format!("127.0.0.1:{metrics_port}");
    let started = Instant::now();
    run_quiet(&file, &dir.join("results"), &["--metrics-listen", &listen]);
    let s = summary(&newest_run(&dir.join("results")));
    let p = &s["phases"][0];
    let received = p["counters"]["received"].as_f64().unwrap();
    let p99 = p["latency"]["push_latency"]["p99"].as_f64().unwrap() / 1e9;
    assert!(received >= 20.0 * 50.0 * 4.0 * 0.95, "{p}");
    // Scraped while running, and once more with the final figures: the
    // last value of each series is the summary's.
    let window = format!("[{}s]", started.elapsed().as_secs() + 30);
    let labels = "{phase=\"websocket\",transport=\"websocket\",group=\"\"}";
    let got = query(
        prom.port,
        &format!("last_over_time(wsbench_messages_received_total{labels}{window})"),
    );
    assert_eq!(got, received);
    let got = query(
        prom.port,
        &format!(
            "last_over_time(wsbench_latency_seconds{{quantile=\"0.99\",metric=\"push_latency\"}}{window})"
        ),
    );
    assert!((got - p99).abs() <= p99 * 1e-9, "{got} vs {p99}");
    // More than the final scrape: the run was watched as it went.
    let samples = query(
        prom.port,
        &format!("count_over_time(wsbench_connections_open{labels}{window})"),
    );
    assert!(samples >= 3.0, "{samples} scrapes");
    let opened = query(
        prom.port,
        &format!("max_over_time(wsbench_connections_open{labels}{window})"),
    );
    assert_eq!(opened, 20.0);
}
