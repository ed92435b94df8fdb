//! Stage profiles through the real binary: the open connections follow
//! the profile second by second, up and down, in one process and in
//! worker processes, and the push accounting stays exact while
//! subscribers come and go; a server frozen in one stage shows in that
//! stage's latency and its threshold, and in no other stage's.

mod common;

use std::time::Duration;

use common::{freeze, newest_run, run_quiet, serial, serve, spawn_run, summary, temp_dir, text};

/// (seconds, target) per stage.
const STAGES: [(f64, u64); 4] = [(2.0, 300), (1.0, 300), (2.0, 60), (1.5, 60)];

/// How long a connection's handshake may take before it counts as open
/// (a busy machine's, in worker processes just started), seconds.
const HANDSHAKE: f64 = 0.05;

/// The profile's count `t` seconds after the phase's start.
fn profile(t: f64) -> f64 {
    let (mut start, mut from) = (0.0, 0.0);
    for (d, target) in STAGES {
        if t <= start + d {
            return from + (target as f64 - from) * ((t - start) / d).max(0.0);
        }
        (start, from) = (start + d, target as f64);
    }
    from
}

/// Checks every sample (`t_s`, `open`) of `samples` up to `total` seconds
/// against the profile: within 5% (or 2 connections), allowing the count
/// to trail it by `lag` seconds. Returns how many were checked.
fn follows_profile(samples: &serde_json::Value, lag: f64, total: f64, workers: &str) -> usize {
    let mut checked = 0;
    for point in samples.as_array().unwrap() {
        let t = point["t_s"].as_f64().unwrap();
        if t > total {
            continue;
        }
        let open = point["open"].as_u64().unwrap() as f64;
        let (want, before) = (profile(t), profile(t - lag));
        let (low, high) = (want.min(before), want.max(before));
        let off = if open < low {
            low - open
        } else {
            (open - high).max(0.0)
        };
        assert!(
            off <= (want * 0.05).max(2.0),
            "{workers} workers, {t:.3} s: {open} open, the profile says {want:.1}\n{samples}"
        );
        checked += 1;
    }
    checked
}

#[test]
fn open_connections_follow_the_stage_profile_up_and_down() {
    let _one = serial();
    let dir = temp_dir("stages", "profile");
    let stages: Vec<String> = STAGES
        .iter()
        .map(|(s, n)| format!("{{ duration = \"{}ms\", target = {n} }}", s * 1000.0))
        .collect();
    let file = dir.join("ramp.toml");
    std::fs::write(
        &file,
        format!(
            "schema_version = 1\nname = \"ramp\"\n[target]\nbuiltin = true\n[load]\n\
             transports = [\"websocket\"]\nwarmup = \"500ms\"\nstages = [{}]\n\
             [workload]\nkind = \"push\"\nrate = 50\n",
            stages.join(", ")
        ),
    )
    .unwrap();
    for workers in ["1", "2"] {
        let results = dir.join(format!("results-{workers}"));
        let (_, s) = run_quiet(&file, &results, &["--workers", workers]);
        let p = &s["phases"][0];
        let c = &p["counters"];
        assert_eq!(c["connections_opened"], 300, "{workers}: {c}");
        assert_eq!(c["errors"], serde_json::json!({}), "{workers}: {c}");
        assert_eq!(c["lost"], 0, "{workers}: {c}");
        assert_eq!(p["delivered_ratio"], 1.0, "{workers}: {p}");
        // Every second's sample within 5% of the profile (2 connections
        // at the smallest counts: a sample lands a few ms off its second).
        // A connection counts as open once its handshake is done: the
        // count may trail the profile by up to HANDSHAKE.
        let total: f64 = STAGES.iter().map(|s| s.0).sum();
        let seconds = follows_profile(&p["timeline"], HANDSHAKE, total, workers);
        assert!(seconds >= 6, "{workers}: {seconds} samples");
        // The open-connection trace, ten samples a second where the count
        // changes, follows it too (merged over workers, a process's
        // latest sample may be one step old): the 2 s ramp is drawn from
        // its own samples, not from the seconds' two.
        let trace = &p["open_trace"];
        follows_profile(trace, HANDSHAKE + 0.1, total, workers);
        let ramp = trace.as_array().unwrap().iter();
        let ramp = ramp.filter(|o| o["t_s"].as_f64().unwrap() < STAGES[0].0);
        assert!(ramp.count() >= 12, "{workers}: {trace}");
        // The result names each stage, with the same finding.
        let spans = p["stages"].as_array().unwrap();
        assert_eq!(spans.len(), STAGES.len());
        assert_eq!(
            (spans[2]["name"].as_str(), spans[2]["target"].as_u64()),
            (Some("stage3"), Some(60))
        );
        for span in spans {
            let gap = span["worst_gap"].as_u64().unwrap() as f64;
            assert!(gap <= 15.0, "{workers}: {span}");
        }
        // Each stage's latency, merged over the workers, and the window's
        // hold the same messages.
        let count = |v: &serde_json::Value| v["count"].as_u64().unwrap_or(0);
        let per_stage: u64 = spans.iter().map(|s| count(&s["main_latency"])).sum();
        assert_eq!(
            per_stage,
            count(&p["latency"]["push_latency"]),
            "{workers}: {p}"
        );
        assert!(per_stage > 0);
    }
}

/// The server frozen for 800 ms inside stage 3 (3–5 s after the phase's
/// start): the messages intended meanwhile wait for it, and only stage
/// 3's latency, and its threshold, show it.
#[test]
fn a_freeze_in_one_stage_shows_in_that_stages_latency_only() {
    let _one = serial();
    let dir = temp_dir("stages", "freeze");
    let target = serve(&[]);
    let file = dir.join("freeze.toml");
    std::fs::write(
        &file,
        format!(
            "schema_version = 1\nname = \"freeze\"\n\
             thresholds = [\"stage2.push_latency.p99 < 300ms\", \"stage3.push_latency.p99 < 300ms\"]\n\
             [target]\nurl = \"ws://{}\"\n[load]\ntransports = [\"websocket\"]\nwarmup = \"500ms\"\n\
             stages = [{{ duration = \"1s\", target = 20 }}, {{ duration = \"2s\", target = 20 }}, \
             {{ duration = \"2s\", target = 20 }}]\n[workload]\nkind = \"push\"\nrate = 200\n",
            target.addr
        ),
    )
    .unwrap();
    let results = dir.join("results");
    let run = spawn_run(&file, &results);
    // The phase starts a little after the process: 3.4 s after it is
    // 3.1–3.4 s into the phase, and the freeze ends before 4.3 s.
    std::thread::sleep(Duration::from_millis(3400));
    freeze(target.child.id(), Duration::from_millis(800));
    let out = run.wait_with_output().unwrap();
    let report = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(1),
        "stage 3's threshold fails: {report}"
    );
    let s = summary(&newest_run(&results));
    let verdicts: Vec<(String, bool)> = s["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["threshold"].as_str().unwrap().to_owned(),
                t["passed"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        verdicts,
        [
            ("stage2.push_latency.p99 < 300ms".to_owned(), true),
            ("stage3.push_latency.p99 < 300ms".to_owned(), false)
        ],
        "{report}"
    );
    let p = &s["phases"][0];
    let p99 = |i: usize| p["stages"][i]["main_latency"]["p99"].as_f64().unwrap() / 1e6;
    assert!(p99(0) < 300.0 && p99(1) < 300.0, "{}", p["stages"]);
    assert!(p99(2) > 600.0, "the 800 ms freeze: {}", p["stages"]);
    // The stages' values make up the window's.
    let count = |v: &serde_json::Value| v["count"].as_u64().unwrap();
    let per_stage: u64 = (0..3).map(|i| count(&p["stages"][i]["main_latency"])).sum();
    assert_eq!(per_stage, count(&p["latency"]["push_latency"]), "{p}");
    assert_eq!(p["counters"]["lost"], 0);
}

/// A publish rate that follows the stages: from 10/s, held 1 s, up to
/// 100/s over 2 s, held 2 s, to 10 subscribers. The window (after a
/// 500 ms warm-up) owes the profile's integral, and each second's
/// deliveries follow the rate.
#[test]
fn the_publish_rate_follows_the_stages() {
    let _one = serial();
    let dir = temp_dir("stages", "rates");
    let file = dir.join("rates.toml");
    std::fs::write(
        &file,
        "schema_version = 1\nname = \"rates\"\n[target]\nbuiltin = true\n[load]\n\
         transports = [\"websocket\"]\nwarmup = \"500ms\"\nstages = [\
         { duration = \"1s\", target = 10 }, { duration = \"2s\", target = 10, rate = 100 }, \
         { duration = \"2s\", target = 10 }]\n[workload]\nkind = \"push\"\nrate = 10\n",
    )
    .unwrap();
    let results = dir.join("results");
    let (_, s) = run_quiet(&file, &results, &[]);
    let p = &s["phases"][0];
    // 0.5 s × 10 + (10·2 + 90·2/2) + 2 s × 100 = 315 messages.
    let published = p["counters"]["published"].as_u64().unwrap();
    assert!(
        published.abs_diff(315) <= 1,
        "{published}: {}",
        p["counters"]
    );
    assert_eq!(p["counters"]["lost"], 0);
    assert_eq!(p["stages"][1]["rate"], 100.0);
    // The rate's integral over each second, × 10 subscribers.
    let rate = |t: f64| match t {
        t if t <= 1.0 => 10.0,
        t if t <= 3.0 => 10.0 + 45.0 * (t - 1.0),
        _ => 100.0,
    };
    let mut checked = 0;
    for point in p["timeline"].as_array().unwrap() {
        let t = point["t_s"].as_f64().unwrap();
        if !(2.0..=5.0).contains(&t) {
            continue;
        }
        let want = 10.0 * (rate(t - 1.0) + rate(t)) / 2.0;
        let got = point["msg_rate"].as_f64().unwrap();
        assert!(
            (got - want).abs() <= want * 0.1,
            "{t:.3} s: {got:.0} msg/s, the profile says {want:.0}\n{}",
            p["timeline"]
        );
        checked += 1;
    }
    assert!(checked >= 3, "{checked} samples");
}

/// Echo sends per connection follow the stages' rate too: from 20/s, held
/// 1 s, up to 100/s over 2 s; the window (after 500 ms) holds the
/// integral, 0.5 × 20 + (20·2 + 80·2/2) = 130 sends a connection.
#[test]
fn echo_sends_follow_the_stages_rate() {
    let _one = serial();
    let dir = temp_dir("stages", "echo-rates");
    let file = dir.join("echo.toml");
    std::fs::write(
        &file,
        "schema_version = 1\nname = \"echo-rates\"\n[target]\nbuiltin = true\n[load]\n\
         transports = [\"websocket\"]\nwarmup = \"500ms\"\nstages = [\
         { duration = \"400ms\", target = 5 }, { duration = \"600ms\", target = 5 }, \
         { duration = \"2s\", target = 5, rate = 100 }]\n[workload]\nkind = \"echo\"\nrate = 20\n",
    )
    .unwrap();
    let results = dir.join("results");
    let (_, s) = run_quiet(&file, &results, &[]);
    let c = &s["phases"][0]["counters"];
    let sent = c["published"].as_u64().unwrap();
    assert!(sent.abs_diff(5 * 130) <= 5, "{sent} sent: {c}");
    assert_eq!(c["delivered"], sent, "{c}");
}
