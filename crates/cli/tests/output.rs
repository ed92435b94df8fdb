//! The command line as a CI job or a shell pipeline meets it: `validate`
//! checks files without running them, `--set` and its shortcuts change a
//! scenario for one run (checked like the file, recorded with the
//! results), the table fits 100 columns, a closed stdout ends the output without a panic, and without
//! a terminal the progress is a plain line every 5 s.

mod common;

use std::io::Read as _;

use common::{newest_run, run_quiet, serial, spawn, summary, temp_dir, text, wsbench};

const SHORT: &str = "schema_version = 1\nname = \"short\"\n[target]\nbuiltin = true\n\
                     [load]\ntransports = [\"websocket\"]\nconnections = 10\nduration = \"6s\"\n\
                     [workload]\nkind = \"push\"\nrate = 10\n";

#[test]
fn validate_checks_every_file_without_running_it() {
    let scenarios = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scenarios");
    let mut files: Vec<String> = std::fs::read_dir(scenarios)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| p.display().to_string())
        .collect();
    files.sort();
    let mut args = vec!["validate"];
    args.extend(files.iter().map(String::as_str));
    let out = wsbench(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.matches(": ok: ").count(), files.len(), "{stdout}");

    let dir = temp_dir("output", "validate");
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, SHORT.replace("rate = 10", "rate = -1")).unwrap();
    let out = wsbench(&["validate", files[0].as_str(), bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("bad.toml:11:8: rate must be a positive number"),
        "{err}"
    );
    // A change that breaks the file is refused the same way.
    let good = dir.join("good.toml");
    std::fs::write(&good, SHORT).unwrap();
    let out = wsbench(&[
        "validate",
        good.to_str().unwrap(),
        "--set",
        "load.conections=5",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("did you mean `connections`?"));
    let out = wsbench(&["validate", good.to_str().unwrap(), "--connections", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("connections = 0 is out of range"));
}

/// `--set`, `--connections` and `--duration` change the run, and the
/// results folder keeps the scenario as run.
#[test]
fn overrides_change_the_run_and_are_recorded() {
    let _one = serial();
    let dir = temp_dir("output", "overrides");
    let file = dir.join("short.toml");
    std::fs::write(&file, SHORT).unwrap();
    let (_, s) = run_quiet(
        &file,
        &dir.join("results"),
        &[
            "--connections",
            "3",
            "--duration",
            "1s",
            "--set",
            "workload.rate=20",
        ],
    );
    let p = &s["phases"][0];
    assert_eq!(p["counters"]["connections_opened"], 3, "{p}");
    assert!((p["measured_s"].as_f64().unwrap() - 1.0).abs() < 0.2, "{p}");
    assert_eq!(p["schedule"]["rate"], 20.0, "{p}");
    let run = newest_run(&dir.join("results"));
    let kept = std::fs::read_to_string(run.join("scenario.toml")).unwrap();
    assert!(
        kept.contains("connections = 3") && kept.contains("duration = \"1s\""),
        "{kept}"
    );
    let md = std::fs::read_to_string(run.join("run.md")).unwrap();
    assert!(md.contains("--connections 3"), "{md}");
}

/// stdout closed before the table is printed (`wsbench run … | head -0`),
/// stderr not a terminal: the run completes with its own exit code, no
/// panic, and progress came as plain lines.
#[test]
fn a_closed_stdout_is_quiet_and_progress_is_plain_without_a_terminal() {
    let _one = serial();
    let dir = temp_dir("output", "pipe");
    let file = dir.join("short.toml");
    std::fs::write(&file, SHORT).unwrap();
    let results = dir.join("results");
    let mut child = spawn(&[
        "run",
        file.to_str().unwrap(),
        "--no-calibrate",
        "--results",
        results.to_str().unwrap(),
    ]);
    drop(child.stdout.take());
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("wsbench: websocket (phase 1/1) ["))
        .collect();
    assert!(
        !lines.is_empty() && lines.len() <= 3,
        "one every 5 s: {err}"
    );
    assert!(
        lines[0].contains("| harness ") && lines[0].ends_with(" so far"),
        "{err}"
    );
    assert!(
        lines[0].contains("open 10/10") && lines[0].contains("msg/s"),
        "{err}"
    );
    assert_eq!(summary(&newest_run(&results))["partial"], false);
    // compare | true: the same.
    let run = newest_run(&results);
    let mut child = spawn(&["compare", run.to_str().unwrap(), run.to_str().unwrap()]);
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_ne!(out.status.code(), Some(101), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("panicked"));
}

/// `--stream -`: stdout carries one JSON line per second of the phase
/// (and nothing else: the table goes to stderr), each with the timeline's
/// fields; a file works the same, over worker processes with bounded
/// percentiles.
#[test]
fn stream_writes_a_line_per_second_per_phase() {
    let _one = serial();
    let dir = temp_dir("output", "stream");
    let file = dir.join("short.toml");
    std::fs::write(&file, SHORT).unwrap();
    let results = dir.join("results");
    let r = results.to_str().unwrap();
    let f = file.to_str().unwrap();
    let base = [
        "run",
        f,
        "--quiet",
        "--no-calibrate",
        "--results",
        r,
        "--duration",
        "3s",
    ];
    let out = wsbench(&[&base[..], &["--stream", "-"]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("push_latency"),
        "the table: {}",
        text(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    // Warm-up (the ramp), 3 s measured, the drain: a line a second.
    assert!((3..=8).contains(&lines.len()), "{lines:?}");
    let measuring: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l["stage"] == "measuring").collect();
    assert!(measuring.len() >= 2, "{lines:?}");
    for l in &measuring {
        assert_eq!(
            (&l["phase"], &l["processes"]),
            (&"websocket".into(), &1.into())
        );
        assert_eq!(l["open"], 10);
        assert!(l["msg_rate"].as_f64().unwrap() > 50.0, "{l}");
        assert!(
            l["p99"].as_u64().unwrap() > 0 && l["time"].is_string(),
            "{l}"
        );
    }
    let t: Vec<f64> = lines.iter().map(|l| l["t_s"].as_f64().unwrap()).collect();
    assert!(t.windows(2).all(|w| w[1] - w[0] > 0.5), "{t:?}");

    let into = dir.join("s.ndjson");
    let out = wsbench(
        &[
            &base[..],
            &["--workers", "2", "--stream", into.to_str().unwrap()],
        ]
        .concat(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let kept = std::fs::read_to_string(&into).unwrap();
    let last: serde_json::Value = serde_json::from_str(kept.lines().last().unwrap()).unwrap();
    assert_eq!(
        (&last["processes"], &last["percentiles_bound"]),
        (&2.into(), &true.into())
    );
    assert!(kept.lines().count() >= 3, "{kept}");
}
