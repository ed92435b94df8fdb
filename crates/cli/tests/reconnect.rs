//! Connections that reconnect (`[load] reconnect`), through the real
//! binary against a real `wsbench serve` that is killed and started again
//! on the same port in the middle of the window: every subscriber comes
//! back, the time it was away is its `reconnect_time`, the publishes
//! that met no server failed, and every message lost is one a subscriber
//! was owed while it was reconnecting (`lost_in_gaps`).

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use wsbench_model::delivery::{Ledger, Outcome, PublishRecord};
use wsbench_model::results::files;

use common::{newest_run, serial, serve, spawn_run, summary, temp_dir, text};

/// Every message lost (`c`: the phase's counters) was owed in its
/// subscriber's gap, or is one of the last publishes the server
/// acknowledged before it died (the first refused one marks its death):
/// it answered, then was killed before every subscriber's frame went out.
fn losses_are_in_gaps_or_at_the_death(run: &Path, c: &serde_json::Value, transport: &str) {
    let get = |k: &str| c[k].as_u64().unwrap_or_else(|| panic!("{k} in {c}"));
    let refused = refused(run, transport);
    let dead = *refused.iter().min().expect("a publish refused");
    let outside = lost_outside_gaps(run, transport, &refused);
    for &(j, n) in &outside {
        assert!(
            j < dead && j + 3 >= dead,
            "{transport}: message {j} lost to {n} subscribers outside their gaps, \
             the first publish refused was {dead}: {c}"
        );
    }
    let sum: u64 = outside.iter().map(|&(_, n)| n).sum();
    assert_eq!(get("lost"), get("lost_in_gaps") + sum, "{transport}: {c}");
}

/// Window messages the server acknowledged and some subscribers missed
/// outside their gaps, with how many missed each: the ledger's losses
/// less the gap ledger's, refused publishes aside (never owed).
fn lost_outside_gaps(run: &Path, transport: &str, refused: &BTreeSet<i64>) -> Vec<(i64, u64)> {
    let all = Ledger::read(&run.join(files::ledger(transport))).unwrap();
    let gaps = Ledger::read(&run.join(files::gap_ledger(transport))).unwrap();
    let mut out = Vec::new();
    for (j, ((o, g), (go, gg))) in all.per_message().zip(gaps.per_message()).enumerate() {
        let n = (o - g) - (go - gg);
        if n > 0 && !refused.contains(&(j as i64)) {
            out.push((j as i64, n));
        }
    }
    out
}

/// The window messages whose publish the server refused (the first is
/// its death, seen by the publisher).
fn refused(run: &Path, transport: &str) -> BTreeSet<i64> {
    let mut refused = BTreeSet::new();
    for i in 0.. {
        let path = run.join(files::publish_record(transport, i));
        if !path.exists() {
            break;
        }
        let record = PublishRecord::read(&path).unwrap();
        let failed = record
            .entries
            .iter()
            .filter(|e| e.outcome == Outcome::Failed);
        refused.extend(failed.map(|e| e.j));
    }
    refused
}

/// `wsbench serve` on `addr` (the port of a server that just died).
fn serve_on(addr: &str) -> std::process::Child {
    for _ in 0..50 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wsbench"))
            .args(["serve", "--listen", addr])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        if child.try_wait().unwrap().is_none() {
            return child;
        }
    }
    panic!("cannot listen on {addr} again");
}

#[test]
fn subscribers_reconnect_after_the_server_restarts_and_lose_only_in_their_gaps() {
    let _one = serial();
    let dir = temp_dir("reconnect", "restart");
    for transport in ["websocket", "long-poll"] {
        let mut first = serve(&[]);
        let addr = first.addr.clone();
        let file = dir.join(format!("{transport}.toml"));
        // Attempts every 300 ms (no jitter): the server is away 700 ms,
        // so each subscriber is back about 900 ms after it went down,
        // some 200 ms after the server.
        std::fs::write(
            &file,
            format!(
                "schema_version = 1\nname = \"restart\"\n[target]\nurl = \"ws://{addr}\"\n\
                 [load]\ntransports = [\"{transport}\"]\nconnections = 20\nduration = \"4s\"\n\
                 warmup = \"500ms\"\n\
                 reconnect = {{ attempts = 10, backoff = \"300ms\", max_backoff = \"300ms\", jitter = 0 }}\n\
                 [workload]\nkind = \"push\"\nrate = 100\n"
            ),
        )
        .unwrap();
        let results = dir.join(format!("results-{transport}"));
        let run = spawn_run(&file, &results);
        // The window runs from about 0.7 s to 4.7 s after the start.
        std::thread::sleep(Duration::from_millis(2000));
        let _ = first.child.kill();
        let _ = first.child.wait();
        std::thread::sleep(Duration::from_millis(700));
        let mut second = serve_on(&addr);
        let out = run.wait_with_output().unwrap();
        let _ = second.kill();
        let _ = second.wait();
        let report = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(out.status.success(), "{transport}: {report}");
        let s = summary(&newest_run(&results));
        let p = &s["phases"][0];
        let c = &p["counters"];
        let get = |k: &str| c[k].as_u64().unwrap_or_else(|| panic!("{k} in {c}"));
        assert_eq!(get("reconnects"), 20, "{transport}: {c}");
        assert!(
            c["errors"].get("reconnect-gave-up").is_none(),
            "{transport}: {c}"
        );
        // About 70 publishes met no server; every message lost was owed
        // while its subscriber was away.
        assert!(get("publish_failed") >= 40, "{transport}: {c}");
        losses_are_in_gaps_or_at_the_death(&newest_run(&results), c, transport);
        assert!(get("lost_in_gaps") >= 20 * 5, "{transport}: {c}");
        assert!(p["gap_ledger"].is_string(), "{transport}: {p}");
        // The new server numbers its stream from 1 again: order is judged
        // within a connection, so nothing after the return is late.
        assert_eq!(get("out_of_order"), 0, "{transport}: {c}");
        if transport == "websocket" {
            // Back some 200 ms after the server: what was published
            // meanwhile is lost (a WebSocket subscriber does not resume).
            let back = &p["latency"]["reconnect_time"];
            let ms = |k: &str| back[k].as_f64().unwrap() / 1e6;
            assert_eq!(back["count"], 20, "{transport}: {back}");
            assert!(
                ms("min") > 650.0 && ms("max") < 1500.0,
                "{transport}: {back}"
            );
        }
        // A long-poller comes back with the cursor of the server's first
        // life, past the end of the new one's stream: it waits until the
        // new stream catches up, and what was published until then is
        // lost in its gap (the builtin server keeps no stream across a
        // restart).
    }
}

/// A restart storm on the builtin server (`restart` in a stage), in one
/// load generator process and in two: the server's processes are killed
/// at the stage's start and started again 800 ms later; every subscriber
/// comes back, the recovery figures say when, and every loss is in the
/// subscribers' gaps but for the publishes the server acknowledged in the
/// moment of its death (it answered and was killed before every
/// subscriber's frame was written).
#[test]
fn a_restart_storm_reports_the_recovery_and_the_loss_across_the_gap() {
    let _one = serial();
    let dir = temp_dir("reconnect", "storm");
    let file = dir.join("storm.toml");
    std::fs::write(
        &file,
        "schema_version = 1\nname = \"storm\"\n[target]\nbuiltin = true\n[load]\n\
         transports = [\"websocket\"]\nwarmup = \"500ms\"\n\
         reconnect = { attempts = 10, backoff = \"200ms\", max_backoff = \"200ms\", jitter = 0 }\n\
         stages = [{ duration = \"500ms\", target = 50 }, { duration = \"500ms\", target = 50 }, \
         { duration = \"3s\", target = 50, restart = \"800ms\" }]\n\
         [workload]\nkind = \"push\"\nrate = 100\n",
    )
    .unwrap();
    for workers in ["1", "2"] {
        let results = dir.join(format!("results-{workers}"));
        let (report, s) = common::run_quiet(&file, &results, &["--workers", workers]);
        let p = &s["phases"][0];
        let c = &p["counters"];
        let get = |k: &str| c[k].as_u64().unwrap_or_else(|| panic!("{k} in {c}"));
        let r = &p["recovery"];
        assert_eq!(r["reconnected"], 50, "{workers}: {r}\n{report}");
        assert_eq!(r["gave_up"], 0, "{workers}: {r}");
        let all = r["back_100_s"].as_f64().unwrap();
        assert!(all > 0.75 && all < 2.5, "{workers}: {r}");
        assert!(r["back_95_s"].as_f64().unwrap() <= all, "{workers}: {r}");
        assert!(get("publish_failed") >= 40, "{workers}: {c}");
        let run = newest_run(&results);
        assert!(
            run.join(files::gap_ledger("websocket")).exists(),
            "{workers}"
        );
        losses_are_in_gaps_or_at_the_death(&run, c, "websocket");
        assert!(report.contains("50 reconnected, 0 gave up"), "{report}");
    }
}

/// A drop storm (`drop` in a stage): half of the 40 subscribers open at
/// the stage's start lose their connection there and come back under the
/// policy (attempts every 200 ms), resuming after the last message they
/// received (WebSocket `/push?after=N`, SSE `Last-Event-ID`, long-poll its
/// cursor): nothing is lost across their gaps. (Each has received
/// messages by then: one dropped before its first has no id to resume
/// from.) In one process
/// and, for WebSocket, shared by two.
#[test]
fn a_drop_storm_takes_its_share_down_and_they_come_back() {
    let _one = serial();
    let dir = temp_dir("reconnect", "drop");
    for (transport, workers) in [
        ("websocket", "1"),
        ("websocket", "2"),
        ("sse", "1"),
        ("long-poll", "1"),
    ] {
        let file = dir.join(format!("{transport}-{workers}.toml"));
        std::fs::write(
            &file,
            format!(
                "schema_version = 1\nname = \"drop\"\n[target]\nbuiltin = true\n[load]\n\
                 transports = [\"{transport}\"]\nwarmup = \"500ms\"\n\
                 reconnect = {{ attempts = 10, backoff = \"200ms\", max_backoff = \"200ms\", jitter = 0 }}\n\
                 stages = [{{ duration = \"1s\", target = 40 }}, {{ duration = \"500ms\", target = 40 }}, \
                 {{ duration = \"2s\", target = 40, drop = \"50%\" }}]\n\
                 [workload]\nkind = \"push\"\nrate = 100\n"
            ),
        )
        .unwrap();
        let results = dir.join(format!("results-{transport}-{workers}"));
        let (report, s) = common::run_quiet(&file, &results, &["--workers", workers]);
        let label = format!("{transport} × {workers}");
        let p = &s["phases"][0];
        let c = &p["counters"];
        let get = |k: &str| c[k].as_u64().unwrap_or_else(|| panic!("{k} in {c}"));
        assert_eq!(c["errors"]["dropped"], 20, "{label}: {c}");
        assert_eq!(get("reconnects"), 20, "{label}: {c}");
        assert_eq!(get("publish_failed"), 0, "{label}: {c}");
        let r = &p["recovery"];
        assert_eq!(r["reconnected"], 20, "{label}: {r}\n{report}");
        let all = r["back_100_s"].as_f64().unwrap();
        assert!((0.19..0.6).contains(&all), "{label}: {r}");
        // Each resumed where it was: the server's history covered its
        // 200 ms or more away (20 or more messages a subscriber).
        assert_eq!(get("lost"), 0, "{label}: {c}");
        assert_eq!(get("duplicated"), 0, "{label}: {c}");
        assert!(p["gap_ledger"].is_string(), "{label}: {p}");
    }
}
