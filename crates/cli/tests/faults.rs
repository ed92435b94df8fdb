//! The numbers `wsbench run` prints under injected faults, through the
//! real binary against a real `wsbench serve`: a frozen server, a frozen
//! load generator, a held echo, a target that stops delivering, thresholds
//! that could never be checked, and push accounting that is the same in
//! one process, in worker processes and in merged shards. Each test would fail if the
//! measurement it names were wrong.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{
    freeze, newest_run, serial, serve, spawn, spawn_run, summary, temp_dir, text, wsbench,
};

fn write_scenario(dir: &Path, name: &str, target: &str, body: &str) -> String {
    let file = dir.join(format!("{name}.toml"));
    std::fs::write(
        &file,
        format!("schema_version = 1\nname = \"{name}\"\n{body}").replace("TARGET", target),
    )
    .unwrap();
    file.display().to_string()
}

/// Starts `wsbench run FILE` quietly, without the floor, into `results`.
fn start_run(file: &str, results: &Path) -> std::process::Child {
    spawn_run(Path::new(file), results)
}

fn ms(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap() / 1e6
}

/// A 1 s freeze of the server (SIGSTOP) in the middle of the window: the
/// messages due meanwhile wait for it, so the latency from their intended
/// publish time shows the freeze on every push transport, while the
/// latency from their actual send does not (the publisher could not send
/// them until the server woke), and the publish lag does.
#[test]
fn a_server_freeze_shows_in_the_corrected_push_latency_on_every_transport() {
    let _one = serial();
    let dir = temp_dir("faults", "server-freeze");
    for transport in ["websocket", "long-poll", "short-poll", "sse"] {
        let target = serve(&[]);
        let file = write_scenario(
            &dir,
            transport,
            &target.addr,
            &format!(
                "[target]\nurl = \"ws://TARGET\"\n[load]\ntransports = [\"{transport}\"]\n\
                 connections = 10\nduration = \"3500ms\"\nwarmup = \"500ms\"\n\
                 short_poll_interval = \"10ms\"\n[workload]\nkind = \"push\"\nrate = 800\n"
            ),
        );
        let results = dir.join(format!("results-{transport}"));
        let run = start_run(&file, &results);
        // The window opens about 0.7 s after the start and lasts 3.5 s.
        std::thread::sleep(Duration::from_millis(1800));
        freeze(target.child.id(), Duration::from_secs(1));
        let out = run.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{transport}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        let s = summary(&newest_run(&results));
        let p = &s["phases"][0];
        let lat = &p["latency"];
        let (corrected, uncorrected) = (
            ms(&lat["push_latency"]["p99"]),
            ms(&lat["push_latency_uncorrected"]["p99"]),
        );
        assert!(
            corrected >= 900.0,
            "{transport}: corrected p99 {corrected} ms"
        );
        assert!(
            uncorrected < corrected / 3.0,
            "{transport}: uncorrected p99 {uncorrected} ms vs corrected {corrected} ms"
        );
        let lag = ms(&lat["publish_lag"]["p99"]);
        assert!(lag >= 900.0, "{transport}: publish lag p99 {lag} ms");
        assert_eq!(p["counters"]["lost"], 0, "{transport}: {}", p["counters"]);
        assert_eq!(p["counters"]["publish_failed"], 0, "{transport}");
    }
}

/// A 300 ms freeze of the load generator itself against a healthy server
/// (200 ms echoes): the round trips meanwhile are the harness's, and the
/// phase's verdict says so, for its harness lag. The same run without the
/// freeze is `ok` (the verdict allows the harness lag up to 10% of the
/// median round trip: 20 ms, which a busy shared machine's own jitter
/// stays under). CPU steal, which the verdict also reports, is the
/// hypervisor's and not this test's fault: a reason naming it is set
/// aside on both sides.
#[test]
fn a_frozen_load_generator_is_flagged_by_the_harness_verdict() {
    let _one = serial();
    let dir = temp_dir("faults", "harness-freeze");
    let target = serve(&["--echo-delay-ms", "200"]);
    let file = write_scenario(
        &dir,
        "echo",
        &target.addr,
        "[target]\nurl = \"ws://TARGET\"\n[load]\ntransports = [\"websocket\"]\nconnections = 4\n\
         duration = \"3s\"\nwarmup = \"300ms\"\n[workload]\nkind = \"echo\"\nrate = 10\n",
    );
    let mut verdicts = Vec::new();
    for frozen in [false, true] {
        let results = dir.join(format!("results-{frozen}"));
        let run = start_run(&file, &results);
        std::thread::sleep(Duration::from_millis(1800));
        if frozen {
            freeze(run.id(), Duration::from_millis(300));
        }
        let out = run.wait_with_output().unwrap();
        let stdout = text(&out.stdout);
        assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
        let s = summary(&newest_run(&results));
        let p = &s["phases"][0];
        let health = &p["health"];
        let p99 = ms(&p["latency"]["echo_rtt"]["p99"]);
        if frozen {
            assert!(
                p99 > 350.0,
                "the freeze shows in the round trips: p99 {p99} ms"
            );
            assert!(
                stdout.contains("websocket: harness"),
                "the verdict is printed with its reason: {stdout}"
            );
        }
        let reasons: Vec<String> = health["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap().to_owned())
            .filter(|r| !r.contains("CPU steal"))
            .collect();
        verdicts.push((health["verdict"].clone(), reasons));
    }
    assert!(
        verdicts[0].1.is_empty(),
        "without the freeze, nothing but steal: {:?}",
        verdicts[0]
    );
    if verdicts[0].0 != "ok" {
        eprintln!("control run not ok, for CPU steal only: {:?}", verdicts[0]);
    }
    assert!(
        verdicts[1].0 == "suspect" || verdicts[1].0 == "saturated",
        "with the freeze: {:?}",
        verdicts[1]
    );
    assert!(
        verdicts[1].1.iter().any(|r| r.contains("harness lag")),
        "the freeze is named by its lag: {:?}",
        verdicts[1]
    );
}

/// A target that accepts every publish and delivers only the first ones:
/// every subscriber lost the rest, the `lost == 0` threshold fails, and
/// `wsbench run` exits 1, printing values with their units; percentiles
/// other than the summary's are read from the histogram.
#[test]
fn a_target_that_stops_delivering_fails_the_loss_threshold() {
    let _one = serial();
    let dir = temp_dir("faults", "stops");
    let target = serve(&["--stop-delivering-after", "60"]);
    let file = write_scenario(
        &dir,
        "stops",
        &target.addr,
        "thresholds = [\"lost == 0\", \"delivered_ratio >= 1.0\", \"push_latency.p95 < 1s\", \
         \"push_latency.p99.99 < 1s\"]\n[target]\nurl = \"ws://TARGET\"\n[load]\n\
         transports = [\"websocket\"]\nconnections = 3\nduration = \"2s\"\nwarmup = \"300ms\"\n\
         [workload]\nkind = \"push\"\nrate = 50\n",
    );
    let results = dir.join("results");
    let out = start_run(&file, &results).wait_with_output().unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    let s = summary(&newest_run(&results));
    let c = &s["phases"][0]["counters"];
    let (published, delivered, lost) = (
        c["published"].as_u64().unwrap(),
        c["delivered"].as_u64().unwrap(),
        c["lost"].as_u64().unwrap(),
    );
    assert_eq!(published, 100, "2 s at 50/s, all accepted: {c}");
    assert!(delivered > 0 && delivered < 300, "{c}");
    assert_eq!(lost, published * 3 - delivered, "{c}");
    assert!(
        stdout.contains("threshold lost == 0 [websocket]: FAILED ("),
        "{stdout}"
    );
    assert!(
        stdout.contains("threshold delivered_ratio >= 1.0 [websocket]: FAILED (0."),
        "{stdout}"
    );
    let p95 = stdout
        .lines()
        .find(|l| l.starts_with("threshold push_latency.p95"))
        .unwrap_or_default();
    // A duration with its unit (`988.7 µs`, `1.03 ms`), not nanoseconds.
    assert!(
        p95.contains(": ok (") && p95.ends_with("s)") && !p95.ends_with("ns)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("threshold push_latency.p99.99 < 1s [websocket]: ok ("),
        "{stdout}"
    );
}

/// A threshold on a transport the run does not have, or on a metric its
/// workload does not produce, is refused before any connection opens.
#[test]
fn thresholds_that_could_never_be_checked_exit_2_before_any_connection() {
    let dir = temp_dir("faults", "thresholds");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    for (threshold, says) in [
        (
            "sse.push_latency.p99 < 1us",
            "the sse transport is not in this run",
        ),
        ("echo_rtt.p95 < 50ms", "does not produce echo_rtt"),
    ] {
        let file = write_scenario(
            &dir,
            "bad-threshold",
            &addr,
            &format!(
                "thresholds = [\"{threshold}\"]\n[target]\nurl = \"ws://TARGET\"\n[load]\n\
                 transports = [\"websocket\"]\nconnections = 2\nduration = \"1s\"\n\
                 [workload]\nkind = \"push\"\nrate = 10\n"
            ),
        );
        let out = wsbench(&["run", &file, "--results", dir.join("r").to_str().unwrap()]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("bad-threshold.toml:3:"), "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
        assert!(
            matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "no connection was opened"
        );
    }
}

/// The same faulty target (every 5th message dropped on /push) measured by
/// one process, by two worker processes and by two shards merged: the same
/// published, owed and lost.
#[test]
fn workers_and_merged_shards_account_like_one_process() {
    let _one = serial();
    let dir = temp_dir("faults", "split");
    let target = serve(&["--drop-every", "5"]);
    let file = write_scenario(
        &dir,
        "split",
        &target.addr,
        "[target]\nurl = \"ws://TARGET\"\n[load]\ntransports = [\"websocket\"]\nconnections = 6\n\
         duration = \"2s\"\nwarmup = \"500ms\"\n[workload]\nkind = \"push\"\nrate = 20\n",
    );
    let counts = |run: &Path| {
        let s = summary(run);
        let c = s["phases"][0]["counters"].clone();
        let get = |k: &str| c[k].as_u64().unwrap();
        (get("published"), get("owed"), get("lost"), get("delivered"))
    };
    let run = |root: &str, extra: &[&str]| {
        let results = dir.join(root);
        let mut args = vec!["run", &file, "--quiet", "--no-calibrate", "--results"];
        let r = results.display().to_string();
        args.push(&r);
        args.extend_from_slice(extra);
        let out = wsbench(&args);
        assert!(
            out.status.success(),
            "{}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        newest_run(&results)
    };
    // 40 messages in the window, 8 of them dropped, for each of 6
    // subscribers.
    let expected = (40, 240, 48, 192);
    assert_eq!(counts(&run("one", &[])), expected, "one process");
    assert_eq!(
        counts(&run("workers", &["--workers", "2"])),
        expected,
        "two workers"
    );

    let start = std::time::SystemTime::now() + Duration::from_secs(2);
    let start = format!(
        "{:.3}",
        start
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    );
    let shards = dir.join("shards");
    let r = shards.display().to_string();
    let children: Vec<_> = (0..2)
        .map(|i| {
            let shard = format!("{i}/2");
            spawn(&[
                "run",
                &file,
                "--quiet",
                "--results",
                &r,
                "--shard",
                &shard,
                "--start-at",
                &start,
            ])
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    }
    let mut parts: Vec<String> = std::fs::read_dir(&shards)
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    parts.sort();
    let merged = dir.join("merged");
    let mut args = vec!["merge", "--out", merged.to_str().unwrap()];
    args.extend(parts.iter().map(String::as_str));
    let out = wsbench(&args);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(counts(&merged), expected, "two shards, merged");
}

/// `--server-pid` reads the CPU time of the process it names over the
/// window: the serving process shows CPU per message, a process that
/// sleeps through the run shows none, and the builtin target refuses the
/// flag (its own server is always read).
#[test]
fn a_url_targets_server_cpu_is_read_from_the_process_named() {
    let _one = serial();
    let dir = temp_dir("faults", "server-pid");
    let target = serve(&[]);
    let file = write_scenario(
        &dir,
        "server-pid",
        &target.addr,
        "[target]\nurl = \"ws://TARGET\"\n[load]\ntransports = [\"websocket\"]\n\
         connections = 50\nduration = \"1500ms\"\nwarmup = \"300ms\"\n\
         [workload]\nkind = \"push\"\nrate = 200\n",
    );
    let mut sleeper = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .unwrap();
    let mut cpu_per_msg = Vec::new();
    for pid in [target.child.id(), sleeper.id()] {
        let results = dir.join(format!("results-{pid}"));
        let pid = pid.to_string();
        let out = wsbench(&[
            "run",
            &file,
            "--quiet",
            "--no-calibrate",
            "--server-pid",
            &pid,
            "--results",
            results.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let phase = &summary(&newest_run(&results))["phases"][0];
        assert_eq!(phase["counters"]["delivered"], 50 * 300, "{phase}");
        cpu_per_msg.push(phase["server_cpu_us_per_msg"].as_f64().unwrap());
    }
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    assert!(cpu_per_msg[0] > 0.0, "{cpu_per_msg:?}");
    assert_eq!(cpu_per_msg[1], 0.0, "{cpu_per_msg:?}");

    let builtin = write_scenario(
        &dir,
        "builtin",
        "",
        "[target]\nbuiltin = true\n[load]\ntransports = [\"websocket\"]\nconnections = 1\n\
         duration = \"1s\"\n[workload]\nkind = \"echo\"\nrate = 10\n",
    );
    let pid = target.child.id().to_string();
    let out = wsbench(&["run", &builtin, "--quiet", "--server-pid", &pid]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("--server-pid is for URL targets"));
}

/// The server holds every echo 50 ms: a closed-model round trip, from the
/// hand-over of a message to the read of its echo, can be no shorter, and
/// with one message in flight no much longer.
#[test]
fn a_held_echo_shows_whole_in_the_throughput_round_trip() {
    let _one = serial();
    let dir = temp_dir("faults", "throughput-hold");
    let target = serve(&["--echo-delay-ms", "50"]);
    let file = write_scenario(
        &dir,
        "throughput",
        &target.addr,
        "[target]\nurl = \"ws://TARGET\"\n[load]\ntransports = [\"websocket\"]\nconnections = 2\n\
         duration = \"1s\"\nwarmup = \"200ms\"\n[workload]\nkind = \"throughput\"\nin_flight = 1\n",
    );
    let results = dir.join("results");
    let out = start_run(&file, &results).wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let p = &summary(&newest_run(&results))["phases"][0];
    let rtt = &p["latency"]["throughput_rtt"];
    let (min, p99) = (ms(&rtt["min"]), ms(&rtt["p99"]));
    // 49.9: the histogram keeps 3 significant digits.
    assert!(
        min >= 49.9,
        "a round trip shorter than the hold: min {min} ms"
    );
    assert!(p99 < 150.0, "round trips far beyond the hold: p99 {p99} ms");
    assert!(
        p["counters"]["delivered"].as_u64().unwrap() > 0,
        "{}",
        p["counters"]
    );
}
