//! The real binary, as a user runs it.

mod common;

use std::process::Command;

use common::wsbench;

#[test]
fn info_names_the_selected_masking_backend() {
    let out = wsbench(&["info"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let selected = wsbench_codec::mask::selected().backend().name();
    assert!(
        text.contains(&format!("mask backend: {selected}\n")),
        "{text}"
    );
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    common::temp_dir("cli", name)
}

const SMALL_PUSH: &str = r#"schema_version = 1
name = "small"
thresholds = ["delivered_ratio >= 1.0", "errors == 0"]

[target]
builtin = true

[load]
transports = ["websocket", "sse"]
connections = 10
duration = "1s"
warmup = "300ms"

[workload]
kind = "push"
rate = 20
"#;

#[test]
fn run_refuses_an_invalid_scenario_with_file_line_and_column() {
    let dir = temp_dir("invalid");
    let file = dir.join("bad.toml");
    std::fs::write(
        &file,
        SMALL_PUSH.replace("connections = 10", "connections = 10\nramp = 5"),
    )
    .unwrap();
    let out = wsbench(&[
        "run",
        file.to_str().unwrap(),
        "--results",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("bad.toml:11:1: unknown field `ramp`"), "{err}");
    assert!(err.contains("hint: did you mean `ramp_rate`?"), "{err}");
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        1,
        "nothing started"
    );
}

#[test]
fn run_drives_the_builtin_server_and_writes_results() {
    let dir = temp_dir("run");
    let file = dir.join("small.toml");
    std::fs::write(&file, SMALL_PUSH).unwrap();
    let results = dir.join("results");
    let out = wsbench(&[
        "run",
        file.to_str().unwrap(),
        "--results",
        results.to_str().unwrap(),
        "--quiet",
    ]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    for transport in ["websocket", "sse"] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(transport) && l.contains("push_latency")),
            "{stdout}"
        );
    }
    let run = std::fs::read_dir(&results)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    for f in [
        "summary.json",
        "run.md",
        "server.log",
        "websocket-push_latency.hdr",
        "sse-push_latency.hdr",
    ] {
        assert!(run.join(f).exists(), "{f} in {}", run.display());
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["partial"], false);
    // Present for a builtin target, and above zero even in so short a run
    // (the server's CPU clock reads nanoseconds, not 10 ms ticks).
    let cpu = summary["phases"][0]["server_cpu_us_per_msg"].as_f64();
    assert!(cpu.is_some_and(|us| us > 0.0), "{cpu:?}");
    let md = std::fs::read_to_string(run.join("run.md")).unwrap();
    for needle in [
        "| SIMD backend |",
        "| kernel |",
        "| rustc |",
        "kind = \"push\"",
    ] {
        assert!(md.contains(needle), "{needle} in run.md");
    }

    // A threshold that cannot hold: exit 1, and it says which.
    std::fs::write(
        &file,
        SMALL_PUSH.replace("\"errors == 0\"", "\"push_latency.p50 < 1ns\""),
    )
    .unwrap();
    let out = wsbench(&[
        "run",
        file.to_str().unwrap(),
        "--results",
        results.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("threshold push_latency.p50 < 1ns [websocket]: FAILED"),
        "{stdout}"
    );
}

#[test]
fn calibrate_measures_and_records_the_floor() {
    let dir = temp_dir("calibrate");
    let out = wsbench(&["calibrate", "--results", dir.to_str().unwrap()]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("harness floor (loopback echo, builtin server): p50 "),
        "{stdout}"
    );
    let run = std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert!(
        run.file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .ends_with("-calibrate")
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    assert!(
        summary["phases"][0]["latency"]["echo_rtt"]["count"]
            .as_u64()
            .unwrap()
            > 1000
    );
}

/// Two load generator processes share each phase; their histograms and
/// counters merge into one result, as exact as one process's.
#[test]
fn run_with_workers_merges_the_shards() {
    let dir = temp_dir("workers");
    let file = dir.join("small.toml");
    std::fs::write(
        &file,
        SMALL_PUSH.replace("connections = 10", "connections = 11"),
    )
    .unwrap();
    let results = dir.join("results");
    let out = wsbench(&[
        "run",
        file.to_str().unwrap(),
        "--results",
        results.to_str().unwrap(),
        "--quiet",
        "--workers",
        "2",
    ]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let run = std::fs::read_dir(&results)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["environment"]["workers"], 2);
    for (i, phase) in summary["phases"].as_array().unwrap().iter().enumerate() {
        let c = &phase["counters"];
        assert_eq!(c["connections_opened"], 11, "phase {i}: {c}");
        let published = c["published"].as_u64().unwrap();
        assert!(published >= 15, "phase {i}: {c}");
        assert_eq!(
            c["delivered"].as_u64().unwrap(),
            published * 11,
            "phase {i}: {c}"
        );
        assert_eq!(c["lost"], 0, "phase {i}: {c}");
        assert_eq!(
            phase["latency"]["push_latency"]["count"], c["delivered"],
            "phase {i}"
        );
    }
    // Each worker's part is kept next to the merged result.
    for part in ["websocket-0", "websocket-1", "sse-0", "sse-1"] {
        assert!(
            run.join("shards").join(part).join("part.json").exists(),
            "{part}"
        );
    }
}

#[test]
fn run_interrupted_by_sigint_writes_partial_results_and_exits_4() {
    let dir = temp_dir("sigint");
    let file = dir.join("long.toml");
    std::fs::write(
        &file,
        SMALL_PUSH.replace("duration = \"1s\"", "duration = \"60s\""),
    )
    .unwrap();
    let results = dir.join("results");
    let child = Command::new(env!("CARGO_BIN_EXE_wsbench"))
        .args([
            "run",
            file.to_str().unwrap(),
            "--results",
            results.to_str().unwrap(),
            "--quiet",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(3));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = std::fs::read_dir(&results)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["partial"], true);
    assert_eq!(summary["stop_reason"], "interrupted");
    // stdout says so next to the table: what ran, what was skipped, and
    // the thresholds as checked on partial data.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("PARTIAL (interrupted)"), "{stdout}");
    assert!(stdout.contains("  websocket: measured "), "{stdout}");
    assert!(stdout.contains("  skipped: sse"), "{stdout}");
    assert!(
        stdout.contains("threshold errors == 0 [websocket]: ok on partial data"),
        "{stdout}"
    );
    assert!(
        summary["phases"][0]["counters"]["delivered"]
            .as_u64()
            .unwrap()
            > 0
    );
}

#[test]
fn unknown_commands_are_usage_errors() {
    let out = wsbench(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}

/// `wsbench serve` on a free port: echo works, and SIGTERM closes the
/// WebSocket client with 1001 before the process exits 0.
#[test]
fn serve_echoes_and_shuts_down_cleanly_on_sigterm() {
    let mut target = common::serve(&[]);
    let (child, addr) = (&mut target.child, target.addr.clone());

    let rt = tokio::runtime::Runtime::new().unwrap();
    let close = rt.block_on(async {
        use wsbench_transport::{ClientOptions, Data, Event, connect};
        let mut ws = connect(&format!("ws://{addr}/echo"), &ClientOptions::default())
            .await
            .unwrap()
            .socket;
        ws.send_text("hi").await.unwrap();
        let ev = ws.next_event().await.unwrap();
        assert!(matches!(ev, Event::Message(Data::Text(t)) if t == "hi"));
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        loop {
            match tokio::time::timeout(std::time::Duration::from_secs(10), ws.next_event()).await {
                Ok(Some(Event::Close(c))) => break c,
                Ok(Some(_)) => continue,
                other => panic!("expected a close event, got {other:?}"),
            }
        }
    });
    assert_eq!((close.code, close.was_clean), (1001, true));
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

fn alive(pid: u64) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Two processes share the port over TLS: connections land on both, every
/// subscriber sees one stream (same sequence numbers and publish times,
/// whichever process serves it), and SIGTERM to the primary closes every
/// client with 1001 and ends the worker too.
#[test]
fn serve_with_workers_shares_one_stream_over_tls_and_stops_together() {
    use std::collections::{BTreeMap, BTreeSet};
    use std::time::Duration;
    use wsbench_protocol::push::PushMessage;
    use wsbench_transport::http_client::PollClient;
    use wsbench_transport::{ClientOptions, Data, Event, connect, tls};

    let dir =
        std::env::temp_dir().join(format!("wsbench-cli-serve-workers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cert_out = dir.join("cert.pem");
    let mut target = common::serve(&[
        "--workers",
        "2",
        "--publish-rate",
        "50",
        "--tls-self-signed",
        cert_out.to_str().unwrap(),
    ]);
    let (child, addr) = (&mut target.child, target.addr.clone());
    let port = addr.rsplit(':').next().unwrap().to_owned();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (pids, closes) = rt.block_on(async {
        let options = ClientOptions {
            tls: Some(tls::client_config_from_pem(&cert_out).unwrap()),
            ..ClientOptions::default()
        };
        // Each health check is a new connection; the kernel spreads them.
        let mut pids = BTreeSet::new();
        for _ in 0..32 {
            let url = format!("https://localhost:{port}/health");
            let mut c = PollClient::connect(&url, &options).await.unwrap();
            let body = c.get("/health").await.unwrap();
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            pids.insert(v["pid"].as_u64().unwrap());
        }
        assert_eq!(
            pids.len(),
            2,
            "connections reached both processes: {pids:?}"
        );

        let mut sockets = Vec::new();
        for _ in 0..16 {
            let url = format!("wss://localhost:{port}/push");
            sockets.push(connect(&url, &options).await.unwrap().socket);
        }
        let mut seen: BTreeMap<u64, u64> = BTreeMap::new();
        for ws in &mut sockets {
            let mut last = None;
            for _ in 0..5 {
                let ev = tokio::time::timeout(Duration::from_secs(10), ws.next_event())
                    .await
                    .expect("a pushed message in time");
                let Some(Event::Message(Data::Text(t))) = ev else {
                    panic!("expected a message, got {ev:?}");
                };
                let m = PushMessage::parse(t.as_bytes()).unwrap();
                if let Some(prev) = last {
                    assert_eq!(m.seq, prev + 1, "consecutive on every process");
                }
                last = Some(m.seq);
                let ts = *seen.entry(m.seq).or_insert(m.ts_ns);
                assert_eq!(ts, m.ts_ns, "one publish time per sequence number");
            }
        }
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let mut closes = Vec::new();
        for ws in &mut sockets {
            loop {
                match tokio::time::timeout(Duration::from_secs(10), ws.next_event()).await {
                    Ok(Some(Event::Close(c))) => break closes.push((c.code, c.was_clean)),
                    Ok(Some(_)) => continue,
                    other => panic!("expected a close event, got {other:?}"),
                }
            }
        }
        (pids, closes)
    });
    assert!(closes.iter().all(|&c| c == (1001, true)), "{closes:?}");
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while pids.iter().any(|&p| alive(p)) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !pids.iter().any(|&p| alive(p)),
        "every process ended: {pids:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
