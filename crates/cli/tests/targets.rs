//! A server nobody wrote for wsbench, described in the scenario: the
//! test suite's authenticated pub/sub server (`targets/pubsub.rs`) and
//! `tests/pubsub/authenticated-pubsub.toml` (paths, a Bearer token from
//! the environment, a subscribe step, heartbeats, pongs, its own publish
//! body and message shape).

mod common;
#[path = "targets/pubsub.rs"]
mod pubsub;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::{newest_run, serial, summary, temp_dir, text};
use pubsub::{PubSub, Stats};

const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
const TOKEN: &str = "s3cret-token";

/// The shipped scenario against `port`, with `edit` applied.
fn scenario(dir: &Path, port: u16, edit: impl Fn(String) -> String) -> PathBuf {
    let text = std::fs::read_to_string(format!("{REPO}/tests/pubsub/authenticated-pubsub.toml"))
        .unwrap()
        .replace("127.0.0.1:8090", &format!("127.0.0.1:{port}"));
    let file = dir.join("authenticated-pubsub.toml");
    std::fs::write(&file, edit(text)).unwrap();
    file
}

/// `wsbench run FILE` with the environment variable `var` set to `value`
/// (unset: `None`).
fn run_env(file: &Path, results: &Path, (var, value): (&str, Option<&str>)) -> (Output, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wsbench"));
    cmd.args(["run", file.to_str().unwrap(), "--quiet", "--results"])
        .arg(results)
        .env_remove(var);
    if let Some(v) = value {
        cmd.env(var, v);
    }
    let out = cmd.output().unwrap();
    let report = format!("{}{}", text(&out.stdout), text(&out.stderr));
    (out, report)
}

/// `wsbench run FILE` with `BENCH_TOKEN` set to `token` (unset: `None`).
fn run(file: &Path, results: &Path, token: Option<&str>) -> (Output, String) {
    run_env(file, results, ("BENCH_TOKEN", token))
}

#[test]
fn an_authenticated_pubsub_server_with_a_subscribe_step_delivers_everything() {
    let _one = serial();
    let dir = temp_dir("targets", "pubsub");
    let server = PubSub::start(TOKEN);
    let file = scenario(&dir, server.port, |t| t);
    let results = dir.join("results");
    let (out, report) = run(&file, &results, Some(TOKEN));
    assert_eq!(out.status.code(), Some(0), "{report}");
    let run_dir = newest_run(&results);
    let s = summary(&run_dir);
    let p = &s["phases"][0];
    let c = &p["counters"];
    let get = |k: &str| c[k].as_u64().unwrap_or_else(|| panic!("{k} in {c}"));
    // 4 s at 20 msg/s, every one owed to each of 200 subscribers.
    assert_eq!(get("published"), 80, "{c}");
    assert_eq!(get("lost"), 0, "{c}");
    assert!(get("owed") >= 80 * 200, "{c}");
    assert_eq!(p["delivered_ratio"], 1.0, "{p}");
    assert_eq!(get("unknown"), 0, "{c}");
    assert_eq!(c["errors"], serde_json::json!({}), "{c}");
    let timed = p["latency"]["push_latency"]["count"].as_u64().unwrap();
    assert_eq!(timed, get("delivered"), "{p}");
    // The greeting, the acknowledgement and the pings are the server's own.
    assert!(get("other") >= 200 * 2, "{c}");
    let st = &server.stats;
    assert_eq!(Stats::get(&st.subscribed), 200);
    assert_eq!(Stats::get(&st.unauthorized), 0);
    assert_eq!(Stats::get(&st.no_pong), 0, "every ping was answered");
    assert_eq!(Stats::get(&st.no_heartbeat), 0, "heartbeats kept coming");
    assert!(Stats::get(&st.published) >= 80);
    // Every subscribe carried the session its welcome gave (captured by
    // a step), after the scenario's 100–200 ms think time.
    assert_eq!(Stats::get(&st.bad_session), 0);
    let think = (Stats::get(&st.think_min_ms), Stats::get(&st.think_max_ms));
    assert!(think.0 >= 100 && think.1 < 2000, "{think:?}");
    // The token is read when the run starts and written nowhere.
    for entry in std::fs::read_dir(&run_dir).unwrap() {
        let path = entry.unwrap().path();
        if let Ok(body) = std::fs::read(&path) {
            let found = body.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes());
            assert!(!found, "the token is in {}", path.display());
        }
    }
    assert!(!report.contains(TOKEN));
}

/// The session a step captured from the welcome is what makes the
/// subscribe acceptable: the same scenario sending a fixed session
/// instead has every subscribe refused (close 4004).
#[test]
fn a_capture_feeds_a_later_send() {
    let _one = serial();
    let dir = temp_dir("targets", "capture");
    let server = PubSub::start(TOKEN);
    let file = scenario(&dir, server.port, |t| {
        t.replace("\"session\":\"{session}\"", "\"session\":\"s-0\"")
            .replace("connections = 200", "connections = 20")
    });
    let (out, report) = run(&file, &dir.join("results"), Some(TOKEN));
    assert_ne!(out.status.code(), Some(0), "{report}");
    let st = &server.stats;
    assert_eq!(Stats::get(&st.bad_session), 20, "{report}");
    assert_eq!(Stats::get(&st.subscribed), 0);
    let s = summary(&newest_run(&dir.join("results")));
    let c = &s["phases"][0]["counters"];
    assert_eq!(c["errors"]["close-4004"], 20, "{c}");
}

/// A stage profile against the same server: 100 subscribers ramp up,
/// 60 of them leave on the way down, each with a closing handshake the
/// server sees (1000, "stage"), and none of the messages they owed before
/// leaving is lost (a subscriber leaving is not a loss, nor are the
/// messages published after it left).
#[test]
fn subscribers_leave_a_stage_profile_with_a_clean_close_and_lose_nothing() {
    let _one = serial();
    let dir = temp_dir("targets", "stages");
    let server = PubSub::start(TOKEN);
    let file = scenario(&dir, server.port, |t| {
        t.replace(
            "connections = 200\nramp_rate = 1000\nduration = \"4s\"\n",
            "stages = [{ duration = \"1s\", target = 100 }, { duration = \"1500ms\", target = 100 },\n\
             { duration = \"1s\", target = 40 }, { duration = \"1s\", target = 40 }]\n",
        )
    });
    assert!(std::fs::read_to_string(&file).unwrap().contains("stages"));
    let results = dir.join("results");
    let (out, report) = run(&file, &results, Some(TOKEN));
    assert_eq!(out.status.code(), Some(0), "{report}");
    let s = summary(&newest_run(&results));
    let p = &s["phases"][0];
    let c = &p["counters"];
    assert_eq!(c["connections_opened"], 100, "{c}");
    assert_eq!(c["lost"], 0, "{c}");
    assert_eq!(p["delivered_ratio"], 1.0, "{p}");
    assert_eq!(c["errors"], serde_json::json!({}), "{c}");
    // 3.5 s after the 1 s warm-up at 20 msg/s; the 40 who stayed owe all
    // 70, the 60 who left fewer.
    assert_eq!(c["published"], 70, "{c}");
    let owed = c["owed"].as_u64().unwrap();
    assert!(owed > 40 * 70 && owed < 100 * 70, "{c}");
    let st = &server.stats;
    assert_eq!(Stats::get(&st.subscribed), 100);
    assert_eq!(Stats::get(&st.closed_normally), 60, "the 60 leaving");
    assert_eq!(Stats::get(&st.no_heartbeat) + Stats::get(&st.no_pong), 0);
    assert!(
        report.contains("stage3 2.5–3.5 s, 100 → 40 connections"),
        "{report}"
    );
}

#[test]
fn publishing_over_a_websocket_publisher_connection() {
    let _one = serial();
    let dir = temp_dir("targets", "ws-publish");
    let server = PubSub::start(TOKEN);
    let file = scenario(&dir, server.port, |t| {
        let ws = t.replace(
            "publish = \"http://127.0.0.1:",
            "publish = \"ws://127.0.0.1:",
        );
        ws.replace("/api/publish\"", "/ws\"").replace(
            "method = \"POST\"\nbody = '{\"text\":\"{marker}\"}'",
            "body = '{\"op\":\"publish\",\"channel\":\"bench\",\"data\":{\"text\":\"{marker}\"}}'\n\n\
             [[target.publish.steps]]\nsend = '{\"op\":\"publisher\"}'\n\n\
             [[target.publish.steps]]\nexpect = { pointer = \"/type\", equals = \"publisher-ready\" }\n",
        )
    });
    assert!(
        std::fs::read_to_string(&file)
            .unwrap()
            .contains("publish.steps"),
        "the edit applied"
    );
    let results = dir.join("results");
    let (out, report) = run(&file, &results, Some(TOKEN));
    assert_eq!(out.status.code(), Some(0), "{report}");
    let s = summary(&newest_run(&results));
    let p = &s["phases"][0];
    let c = &p["counters"];
    assert_eq!(c["published"], 80, "{c}");
    assert_eq!(c["lost"], 0, "{c}");
    assert_eq!(p["delivered_ratio"], 1.0, "{p}");
    assert_eq!(c["errors"], serde_json::json!({}), "{c}");
    let st = &server.stats;
    assert!(
        Stats::get(&st.ws_published) >= 80,
        "published over the WebSocket"
    );
    assert_eq!(Stats::get(&st.ws_published), Stats::get(&st.published));
    assert_eq!(
        Stats::get(&st.no_pong),
        0,
        "the publisher answered the pings too"
    );
}

/// `by = "json"`: the publisher's number relayed in the event's data, the
/// time the server's own stamp (`sent_at`, Unix ms), parsed with
/// simd-json; no marker anywhere.
fn json_stamped(t: String) -> String {
    t.replace(
        "body = '{\"text\":\"{marker}\"}'",
        "body = '{\"n\":{seq},\"t\":{time}}'\n\n[target.correlation]\nby = \"json\"\n\
         seq = \"/data/n\"\ntime = \"/sent_at\"\nunit = \"ms\"\nclock = \"unix\"",
    )
}

#[test]
fn messages_found_by_json_stamps_are_timed_from_the_servers_stamp() {
    let _one = serial();
    let dir = temp_dir("targets", "json");
    let results = dir.join("results");
    let mut p50 = Vec::new();
    // The server holds each event 50 ms before it stamps and sends it.
    for delay in [Duration::ZERO, Duration::from_millis(50)] {
        let server = PubSub::start_with(TOKEN, delay);
        let file = scenario(&dir, server.port, json_stamped);
        assert!(
            std::fs::read_to_string(&file)
                .unwrap()
                .contains("by = \"json\"")
        );
        let (out, report) = run(&file, &results, Some(TOKEN));
        assert_eq!(out.status.code(), Some(0), "{report}");
        let s = summary(&newest_run(&results));
        let p = &s["phases"][0];
        let c = &p["counters"];
        assert_eq!(c["published"], 80, "{c}");
        assert_eq!(c["lost"], 0, "{c}");
        assert_eq!(c["unknown"], 0, "{c}");
        assert_eq!(p["delivered_ratio"], 1.0, "{p}");
        let lat = &p["latency"];
        assert_eq!(lat["push_latency"]["count"], c["delivered"], "{p}");
        let ms = |m: &str| lat[m]["p50"].as_f64().unwrap() / 1e6;
        p50.push((ms("push_latency"), ms("push_latency_uncorrected")));
    }
    let ((base, base_stamp), (held, held_stamp)) = (p50[0], p50[1]);
    // From the publisher's due time the hold shows in full; from the
    // server's stamp (taken after the hold) it does not.
    assert!((held - base - 50.0).abs() < 10.0, "{p50:?}");
    assert!(held_stamp < 10.0 && base_stamp < 10.0, "{p50:?}");
}

#[test]
fn a_subscriber_that_ignores_the_servers_pings_is_dropped_and_it_shows() {
    let _one = serial();
    let dir = temp_dir("targets", "no-pong");
    let server = PubSub::start(TOKEN);
    let file = scenario(&dir, server.port, |t| {
        let cut = t.find("[[target.replies]]").unwrap();
        let end = t.find("[load]").unwrap();
        format!("{}{}", &t[..cut], &t[end..])
    });
    let results = dir.join("results");
    let (out, report) = run(&file, &results, Some(TOKEN));
    assert_ne!(out.status.code(), Some(0), "{report}");
    assert!(Stats::get(&server.stats.no_pong) > 0);
    let s = summary(&newest_run(&results));
    let errors = &s["phases"][0]["counters"]["errors"];
    assert!(errors["close-4001"].as_u64().unwrap_or(0) > 0, "{errors}");
}

#[test]
fn a_wrong_or_missing_token_is_refused_and_reported() {
    let _one = serial();
    let dir = temp_dir("targets", "token");
    let server = PubSub::start(TOKEN);
    let file = scenario(&dir, server.port, |t| t);
    let results = dir.join("results");
    // Unset: refused before any connection, naming the variable only.
    let (out, report) = run(&file, &results, None);
    assert_eq!(out.status.code(), Some(2), "{report}");
    assert!(report.contains("BENCH_TOKEN is not set"), "{report}");
    assert_eq!(Stats::get(&server.stats.connections), 0);
    // Wrong: every upgrade and publish is refused, and the run says so.
    let (out, report) = run(&file, &results, Some("wrong"));
    assert_ne!(out.status.code(), Some(0), "{report}");
    assert!(Stats::get(&server.stats.unauthorized) > 0);
    assert_eq!(Stats::get(&server.stats.subscribed), 0);
    let s = summary(&newest_run(&results));
    let c = &s["phases"][0]["counters"];
    assert_eq!(c["published"], 0, "{c}");
    assert!(c["errors"]["http-401"].as_u64().unwrap_or(0) > 0, "{c}");
}

/// The Python `websockets` server of `tests/pyws/server.py`, stopped on
/// drop.
struct PyWs {
    child: std::process::Child,
    port: u16,
}

impl Drop for PyWs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const PYWS_KEY: &str = "k-123";

/// Starts it with the interpreter `WSBENCH_PY_WEBSOCKETS` names (a venv
/// with the package, which `scripts/test.sh` makes); `None`, after saying
/// SKIPPED, when there is none and it is not required.
fn start_pyws(dir: &Path) -> Option<PyWs> {
    use std::io::BufRead;
    let Some(python) = std::env::var_os("WSBENCH_PY_WEBSOCKETS") else {
        let why = "WSBENCH_PY_WEBSOCKETS is not set (scripts/test.sh makes a venv with \
                   the websockets package and sets it)";
        assert!(
            std::env::var_os("WSBENCH_REQUIRE_PY_WEBSOCKETS").is_none(),
            "the Python websockets server is required here: {why}"
        );
        eprintln!("SKIPPED the Python websockets tests: {why}");
        return None;
    };
    let mut child = Command::new(python)
        .arg(format!("{REPO}/tests/pyws/server.py"))
        .arg(PYWS_KEY)
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(dir.join("server.log")).unwrap())
        .spawn()
        .expect("the Python server starts");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .trim()
        .strip_prefix("listening on ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    Some(PyWs { child, port })
}

/// `tests/pyws/echo.toml` against `port`, with `edit` applied.
fn pyws_scenario(dir: &Path, port: u16, edit: impl Fn(String) -> String) -> PathBuf {
    let text = std::fs::read_to_string(format!("{REPO}/tests/pyws/echo.toml"))
        .unwrap()
        .replace("127.0.0.1:8765", &format!("127.0.0.1:{port}"));
    let file = dir.join("pyws.toml");
    std::fs::write(&file, edit(text)).unwrap();
    file
}

fn run_with_key(file: &Path, results: &Path, key: &str) -> (Output, String) {
    run_env(file, results, ("PYWS_KEY", Some(key)))
}

#[test]
fn echo_rpc_and_throughput_against_the_python_websockets_server() {
    let _one = serial();
    let dir = temp_dir("targets", "pyws");
    let Some(server) = start_pyws(&dir) else {
        return;
    };
    let results = dir.join("results");
    let mut bytes_per_msg = Vec::new();
    for kind in ["echo", "rpc", "throughput", "echo-deflate"] {
        let file = pyws_scenario(&dir, server.port, |t| {
            match kind {
            "rpc" => t
                .replace(
                    "kind = \"echo\"",
                    "kind = \"rpc\"\nrequest = '{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"echo\",\"params\":[\"{payload}\"]}'",
                )
                .replace(", \"payload_mismatches == 0\"", ""),
            "throughput" => t.replace("kind = \"echo\"\nrate = 20", "kind = \"throughput\"\nin_flight = 8"),
            // The websockets package accepts permessage-deflate.
            "echo-deflate" => t.replace("profile = \"custom\"", "profile = \"custom\"\npermessage_deflate = true"),
            _ => t,
        }
        });
        let (out, report) = run_with_key(&file, &results, PYWS_KEY);
        assert_eq!(out.status.code(), Some(0), "{kind}: {report}");
        let s = summary(&newest_run(&results));
        let p = &s["phases"][0];
        let c = &p["counters"];
        let get = |k: &str| c[k].as_u64().unwrap_or_else(|| panic!("{k} in {c}"));
        // Echo and rpc: 50 connections × 20/s × 3 s; every message answered.
        let least = if kind == "throughput" { 1000 } else { 2900 };
        assert!(get("published") >= least, "{kind}: {c}");
        assert_eq!(get("delivered"), get("published"), "{kind}: {c}");
        assert_eq!(get("payload_mismatches"), 0, "{kind}: {c}");
        assert_eq!(c["errors"], serde_json::json!({}), "{kind}: {c}");
        // The greetings and the notices were the server's own.
        assert!(
            get("other") >= 50 + get("published") / 10 - 50,
            "{kind}: {c}"
        );
        if kind.starts_with("echo") {
            bytes_per_msg.push(p["bytes_per_msg"].as_f64().unwrap());
        }
        let metric = match kind {
            "echo" | "echo-deflate" => "echo_rtt",
            "rpc" => "rpc_rtt",
            _ => "throughput_rtt",
        };
        let timed = p["latency"][metric]["count"].as_u64().unwrap();
        assert_eq!(timed, get("delivered"), "{kind}: {p}");
    }
    // Offered and accepted, permessage-deflate shrinks the bytes on the
    // wire (64-byte payloads, mostly one letter).
    let (plain, deflated) = (bytes_per_msg[0], bytes_per_msg[1]);
    assert!(
        deflated < plain * 0.8,
        "{deflated} B/msg with permessage-deflate, {plain} without"
    );
    // The server checks its header: a wrong key is refused, and said so.
    let file = pyws_scenario(&dir, server.port, |t| {
        t.replace("duration = \"3s\"", "duration = \"1s\"")
    });
    let (out, report) = run_with_key(&file, &results, "wrong");
    assert_ne!(out.status.code(), Some(0), "{report}");
    let s = summary(&newest_run(&results));
    let c = &s["phases"][0]["counters"];
    assert_eq!(c["connections_opened"], 0, "{c}");
    assert!(c["errors"]["http-401"].as_u64().unwrap_or(0) > 0, "{c}");
}
