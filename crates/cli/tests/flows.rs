//! Flows (`[workload] kind = "flow"`) through the real binary against
//! `wsbench serve`'s echo: each connection runs its steps over and over,
//! its timed expects measured as `flow_time` and `flow.<name>`; `repeat`
//! ends a connection's flow; with `pace`, a server freeze delays the
//! iterations after it, and the time from their place on the schedule
//! shows it where the time from the actual send does not.

mod common;

use std::time::Duration;

use common::{freeze, newest_run, run_quiet, serial, serve, spawn_run, summary, temp_dir, text};

const STEPS: &str = "[[workload.steps]]\nsend = '{\"n\":{conn},\"op\":\"say\"}'\n\n\
                     [[workload.steps]]\nexpect = { pointer = \"/op\", equals = \"say\" }\n\
                     capture = { pointer = \"/n\", as = \"me\" }\ntime = \"say\"\n\n\
                     [[workload.steps]]\nsleep = { uniform = [\"10ms\", \"30ms\"] }\n\n\
                     [[workload.steps]]\nsend = '{\"me\":\"{me}\"}'\n\n\
                     [[workload.steps]]\nexpect = { contains = '\"me\"' }\ntime = \"again\"\n";

fn ms(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap() / 1e6
}

/// 10 connections, 8 iterations each paced 200 ms apart: every timed
/// expect is measured once under its name and in
/// `flow_time`, the captured value feeds the later send, and each
/// connection ends its flow with a clean close.
#[test]
fn a_flow_runs_its_steps_and_times_each_named_expect() {
    let _one = serial();
    let dir = temp_dir("flows", "repeat");
    let target = serve(&[]);
    let file = dir.join("flow.toml");
    std::fs::write(
        &file,
        format!(
            "schema_version = 1\nname = \"flow\"\n[target]\nurl = \"ws://{}\"\n[load]\n\
             transports = [\"websocket\"]\nconnections = 10\nwarmup = \"0s\"\nduration = \"3s\"\n\
             [workload]\nkind = \"flow\"\nrepeat = 8\npace = \"200ms\"\n{STEPS}",
            target.addr
        ),
    )
    .unwrap();
    let (_, s) = run_quiet(&file, &dir.join("results"), &[]);
    let p = &s["phases"][0];
    let c = &p["counters"];
    assert_eq!(c["errors"], serde_json::json!({}), "{c}");
    let lat = &p["latency"];
    // Two timed expects per iteration, 8 iterations, 10 connections: the
    // repeat stops them at 80 each (unstopped, 3 s would give 150); those
    // of the first iterations sent before the window opened (as the
    // connections came up) are not measured.
    let count = |name: &str| lat[name]["count"].as_u64().unwrap();
    let (say, again) = (count("flow.say"), count("flow.again"));
    assert!(
        (60..=80).contains(&say) && (60..=80).contains(&again),
        "{lat}"
    );
    assert_eq!(count("flow.say_uncorrected"), say);
    assert_eq!(count("flow_time"), say + again, "{lat}");
    assert_eq!(c["delivered"], say + again, "{c}");
    assert!(ms(&lat["flow.say"]["p50"]) < 50.0, "{lat}");
    let run = newest_run(&dir.join("results"));
    assert!(run.join("websocket-flow.say.hdr").exists());
}

/// A 600 ms freeze of the server in a paced flow (an iteration every
/// 100 ms): the iterations due during the freeze go out late, and their
/// times from the schedule show the wait (more than 10% of the values
/// above 100 ms), while the times from the actual send do not (the
/// freeze's one answer per connection is under 5%).
#[test]
fn a_paced_flow_shows_a_server_freeze_from_its_schedule() {
    let _one = serial();
    let dir = temp_dir("flows", "freeze");
    let target = serve(&[]);
    let file = dir.join("paced.toml");
    std::fs::write(
        &file,
        format!(
            "schema_version = 1\nname = \"paced\"\n[target]\nurl = \"ws://{}\"\n[load]\n\
             transports = [\"websocket\"]\nconnections = 10\nwarmup = \"500ms\"\n\
             duration = \"3500ms\"\n[workload]\nkind = \"flow\"\npace = \"100ms\"\n\
             [[workload.steps]]\nsend = '{{\"n\":{{conn}}}}'\n\n[[workload.steps]]\n\
             expect = {{ contains = '\"n\"' }}\ntime = \"echo\"\n",
            target.addr
        ),
    )
    .unwrap();
    let results = dir.join("results");
    let run = spawn_run(&file, &results);
    // The window opens about 0.7 s after the start.
    std::thread::sleep(Duration::from_millis(1800));
    freeze(target.child.id(), Duration::from_millis(600));
    let out = run.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = summary(&newest_run(&results));
    let lat = &s["phases"][0]["latency"];
    let (corrected, actual) = (&lat["flow.echo"], &lat["flow.echo_uncorrected"]);
    assert!(ms(&corrected["p90"]) > 100.0, "{corrected}");
    assert!(ms(&corrected["max"]) >= 500.0, "{corrected}");
    assert!(ms(&actual["p90"]) < 50.0, "{actual}");
    assert!(
        ms(&actual["max"]) >= 500.0,
        "the frozen answer itself: {actual}"
    );
    assert_eq!(lat["flow_time"]["count"], corrected["count"]);
}

/// A close step ends a connection's flow where it stands: think 500 ms,
/// say something, close (4000 "bye"): each of 10 connections is timed
/// once in a 2 s window (without the close, each would loop 3 times or
/// more), and none of them counts an error.
#[test]
fn a_close_step_ends_the_flow() {
    let _one = serial();
    let dir = temp_dir("flows", "close");
    let target = serve(&[]);
    let file = dir.join("close.toml");
    std::fs::write(
        &file,
        format!(
            "schema_version = 1\nname = \"close\"\n[target]\nurl = \"ws://{}\"\n[load]\n\
             transports = [\"websocket\"]\nconnections = 10\nwarmup = \"0s\"\nduration = \"2s\"\n\
             [workload]\nkind = \"flow\"\n\
             [[workload.steps]]\nsleep = \"500ms\"\n\
             [[workload.steps]]\nsend = 'hi {{conn}}'\n\
             [[workload.steps]]\nexpect = {{ contains = \"hi\" }}\ntime = \"hi\"\n\
             [[workload.steps]]\nclose = {{ code = 4000, reason = \"bye\" }}\n\
             [[workload.steps]]\nsend = 'never sent'\n",
            target.addr
        ),
    )
    .unwrap();
    let (_, s) = run_quiet(&file, &dir.join("results"), &[]);
    let p = &s["phases"][0];
    assert_eq!(p["counters"]["errors"], serde_json::json!({}), "{p}");
    assert_eq!(p["latency"]["flow.hi"]["count"], 10, "{p}");
    assert_eq!(p["counters"]["published"], 10, "{p}");
    assert_eq!(p["counters"]["connections_opened"], 10, "{p}");
}
