//! Arrival stages (`stages = [{ duration, arrivals }]`) through the real
//! binary: connections open at the profile's rate, ramps included, each
//! runs its flow and leaves; the count opened follows the profile second
//! by second, in one process and over worker processes.

mod common;

use common::{run_quiet, serial, temp_dir};

/// Ramp to 100 arrivals/s over 2 s, hold 2 s, back to 0 over 2 s: 100 +
/// 200 + 100 connections, each running 2 iterations 100 ms apart.
const SCENARIO: &str = r#"schema_version = 1
name = "arrivals"
[target]
builtin = true
[load]
transports = ["websocket"]
warmup = "1s"
stages = [
  { duration = "2s", arrivals = 100 },
  { duration = "2s", arrivals = 100 },
  { duration = "2s", arrivals = 0 },
]
[workload]
kind = "flow"
repeat = 2
pace = "100ms"
[[workload.steps]]
send = '{"op":"hi"}'
[[workload.steps]]
expect = { pointer = "/op", equals = "hi" }
time = "hi"
"#;

/// Connections the profile has opened `t` s after the phase started.
fn planned(t: f64) -> f64 {
    match t {
        t if t <= 2.0 => 25.0 * t * t,
        t if t <= 4.0 => 100.0 + 100.0 * (t - 2.0),
        t if t <= 6.0 => 300.0 + 100.0 * (t - 4.0) - 25.0 * (t - 4.0) * (t - 4.0),
        _ => 400.0,
    }
}

fn arrivals_follow_the_profile(extra: &[&str], name: &str) {
    let dir = temp_dir("arrivals", name);
    let file = dir.join("arrivals.toml");
    std::fs::write(&file, SCENARIO).unwrap();
    let (_, s) = run_quiet(&file, &dir.join("results"), extra);
    let p = &s["phases"][0];
    let c = &p["counters"];
    assert_eq!(c["errors"], serde_json::json!({}), "{c}");
    assert_eq!(c["connections_opened"], 400, "{c}");
    // Each leaves after its two iterations (~100 ms): never more than a
    // fraction of the 400 open at once.
    assert!(c["connections_peak"].as_u64().unwrap() < 80, "{c}");
    // Second by second, the count opened within 5% of a second's
    // arrivals at the peak rate (100/s) of the profile, allowing for the
    // handshake's lag behind the planned instant (50 ms at the peak).
    let timeline = p["timeline"].as_array().unwrap();
    let mut checked = 0;
    for point in timeline {
        let t = point["t_s"].as_f64().unwrap();
        if t > 6.0 {
            break;
        }
        let opened = point["opened"].as_f64().unwrap();
        let (want, lagging) = (planned(t), planned((t - 0.05).max(0.0)));
        assert!(
            opened <= want + 5.0 && opened >= lagging - 5.0,
            "at {t:.2} s: {opened} opened, the profile {want:.1}: {timeline:?}"
        );
        checked += 1;
    }
    assert!(checked >= 5, "{timeline:?}");
    for st in p["stages"].as_array().unwrap() {
        assert!(st["worst_gap"].as_u64().unwrap() <= 10, "{st}");
        assert!(st["arrivals"].is_number(), "{st}");
    }
    let targets: Vec<u64> = p["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|st| st["target"].as_u64().unwrap())
        .collect();
    assert_eq!(targets, [100, 300, 400]);
}

#[test]
fn arrivals_open_connections_at_the_profiles_rate() {
    let _one = serial();
    arrivals_follow_the_profile(&[], "one-process");
}

#[test]
fn arrivals_are_shared_by_worker_processes() {
    let _one = serial();
    arrivals_follow_the_profile(&["--workers", "2"], "workers");
}
