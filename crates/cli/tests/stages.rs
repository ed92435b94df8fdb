//! Stage profiles through the real binary against the builtin server: the
//! open connections follow the profile second by second, up and down, in
//! one process and in worker processes, and the push accounting stays
//! exact while subscribers come and go.

mod common;

use common::{newest_run, serial, summary, temp_dir, text, wsbench};

/// (seconds, target) per stage.
const STAGES: [(f64, u64); 4] = [(2.0, 300), (1.0, 300), (2.0, 60), (1.5, 60)];

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
        let out = wsbench(&[
            "run",
            file.to_str().unwrap(),
            "--quiet",
            "--no-calibrate",
            "--workers",
            workers,
            "--results",
            results.to_str().unwrap(),
        ]);
        let report = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(out.status.success(), "{workers} workers: {report}");
        let s = summary(&newest_run(&results));
        let p = &s["phases"][0];
        let c = &p["counters"];
        assert_eq!(c["connections_opened"], 300, "{workers}: {c}");
        assert_eq!(c["errors"], serde_json::json!({}), "{workers}: {c}");
        assert_eq!(c["lost"], 0, "{workers}: {c}");
        assert_eq!(p["delivered_ratio"], 1.0, "{workers}: {p}");
        // Every second's sample within 5% of the profile (2 connections
        // at the smallest counts: a sample lands a few ms off its second).
        let total: f64 = STAGES.iter().map(|s| s.0).sum();
        let mut checked = 0;
        for point in p["timeline"].as_array().unwrap() {
            let t = point["t_s"].as_f64().unwrap();
            if t > total {
                continue;
            }
            let open = point["open"].as_u64().unwrap() as f64;
            let want = profile(t);
            assert!(
                (open - want).abs() <= (want * 0.05).max(2.0),
                "{workers} workers, {t:.3} s: {open} open, the profile says {want:.1}\n{}",
                p["timeline"]
            );
            checked += 1;
        }
        assert!(checked >= 6, "{workers}: {checked} samples");
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
    }
}
