//! Scenario files: every shipped one validates, and bad ones are refused
//! with the file, line, column and a hint.

use std::time::Duration;

use wsbench_model::{PayloadKind, Scenario, Target, Transport, WorkloadKind};

const GOOD: &str = r#"schema_version = 1
name = "t"
thresholds = ["push_latency.p99 < 5ms"]

[target]
builtin = true

[load]
transports = ["websocket", "sse"]
connections = 10
duration = "2s"
warmup = "500ms"
source_addresses = 3

[workload]
kind = "push"
rate = 5
payload = "json"
"#;

fn err(text: &str) -> wsbench_model::ScenarioError {
    Scenario::parse("s.toml", text).expect_err("refused")
}

#[test]
fn a_good_scenario_parses_with_defaults() {
    let s = Scenario::parse("s.toml", GOOD).unwrap();
    assert_eq!(s.target, Target::Builtin { workers: 0 });
    assert_eq!(s.transports, [Transport::Websocket, Transport::Sse]);
    assert_eq!((s.connections, s.ramp_rate), (10, 1000.0));
    assert_eq!(
        (s.duration, s.warmup),
        (Duration::from_secs(2), Duration::from_millis(500))
    );
    assert_eq!(s.source_addresses.len(), 3);
    assert_eq!(s.source_addresses[2].to_string(), "127.0.0.3");
    assert_eq!(
        (s.workload, s.rate, s.payload, s.payload_size),
        (WorkloadKind::Push, 5.0, PayloadKind::Json, 64)
    );
    assert_eq!(s.thresholds.len(), 1);
}

#[test]
fn every_shipped_scenario_validates() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scenarios");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
            n += 1;
        }
    }
    assert!(n >= 6, "the six scenarios ship: found {n}");
}

#[test]
fn unknown_keys_name_the_place_and_suggest_the_key() {
    let e = err(&GOOD.replace("connections = 10", "conections = 10"));
    assert_eq!((e.line, e.column), (10, 1), "{e}");
    assert!(e.message.contains("conections"), "{e}");
    assert_eq!(
        e.hint.as_deref(),
        Some("did you mean `connections`?"),
        "{e}"
    );
    let shown = e.to_string();
    assert!(shown.starts_with("s.toml:10:1: "), "{shown}");
}

#[test]
fn wrong_types_and_unknown_values_name_the_place() {
    let e = err(&GOOD.replace("connections = 10", "connections = \"ten\""));
    assert_eq!(e.line, 10, "{e}");
    assert!(e.message.contains("expected u64"), "{e}");
    let e = err(&GOOD.replace("\"sse\"", "\"carrier-pigeon\""));
    assert_eq!((e.line, e.column), (9, 28), "{e}");
    assert!(e.message.contains("carrier-pigeon"), "{e}");
    let e = err(&GOOD.replace("kind = \"push\"", "kind = \"pull\""));
    assert_eq!(e.line, 16, "{e}");
}

#[test]
fn impossible_values_are_refused_with_hints() {
    let cases = [
        ("connections = 10", "connections = 0", 10, "out of range"),
        (
            "duration = \"2s\"",
            "duration = \"2 parsecs\"",
            11,
            "not a duration",
        ),
        ("duration = \"2s\"", "duration = \"0s\"", 11, "more than 0"),
        ("rate = 5", "rate = -1", 17, "positive"),
        (
            "schema_version = 1",
            "schema_version = 2",
            1,
            "not supported",
        ),
        (
            "source_addresses = 3",
            "source_addresses = 0",
            13,
            "between 1 and 254",
        ),
        (
            "\"push_latency.p99 < 5ms\"",
            "\"push_latency.p99 < 5\"",
            3,
            "time unit",
        ),
        ("name = \"t\"", "name = \"a b\"", 2, "results folder"),
    ];
    for (from, to, line, words) in cases {
        let e = err(&GOOD.replace(from, to));
        assert_eq!(e.line, line, "{to}: {e}");
        assert!(e.message.contains(words), "{to}: {e}");
    }
    // The threshold error points into the string.
    let e = err(&GOOD.replace("\"push_latency.p99 < 5ms\"", "\"push_latncy.p99 < 5ms\""));
    assert_eq!((e.line, e.column), (3, 16), "{e}");
    assert_eq!(e.hint.as_deref(), Some("did you mean push_latency?"));
}

#[test]
fn combinations_that_make_no_sense_are_refused() {
    let e = err(&GOOD.replace(
        "kind = \"push\"\nrate = 5\npayload = \"json\"",
        "kind = \"echo\"\nrate = 5",
    ));
    assert!(e.message.contains("WebSocket only"), "{e}");
    let e = err(&GOOD.replace(
        "builtin = true",
        "builtin = true\nurl = \"ws://127.0.0.1:9001\"",
    ));
    assert!(e.message.contains("not both"), "{e}");
    let e = err(&GOOD.replace("builtin = true", "url = \"ws://10.1.2.3:9001\""));
    assert!(e.message.contains("not a loopback"), "{e}");
    assert!(e.hint.unwrap().contains("allow_remote"));
    let s = Scenario::parse(
        "s.toml",
        &GOOD.replace(
            "builtin = true",
            "url = \"wss://localhost:9443\"\ninsecure_tls = true",
        ),
    )
    .unwrap();
    assert_eq!(
        s.target,
        Target::Url {
            authority: "localhost:9443".into(),
            tls: true,
            insecure_tls: true,
        }
    );
    let remote = |extra: &str| {
        Scenario::parse(
            "s.toml",
            &GOOD.replace(
                "builtin = true",
                &format!("url = \"ws://10.1.2.3:9001\"\nallow_remote = true{extra}"),
            ),
        )
        .map(|s| s.target)
    };
    assert!(remote("").is_ok());
    // Every run publishes and times on its own clock: "publisher" is what
    // it does anyway, anything else is refused with the reason.
    assert!(remote("\npush_clock = \"publisher\"").is_ok());
    let e = remote("\npush_clock = \"server\"").unwrap_err();
    assert!(e.to_string().contains("s.toml:"), "{e}");
    assert!(e.hint.unwrap().contains("its own clock"));
    let e = err(&GOOD.replace("builtin = true", "url = \"ws://127.0.0.1:9001/push\""));
    assert!(e.message.contains("path"), "{e}");
    let e = err(&GOOD.replace("rate = 5\n", ""));
    assert!(e.message.contains("needs a rate"), "{e}");
}

#[test]
fn thresholds_that_could_never_see_a_value_are_refused_before_the_run() {
    // A transport the run does not have.
    let e = err(&GOOD.replace("push_latency.p99 < 5ms", "long-poll.push_latency.p99 < 1us"));
    assert_eq!((e.line, e.column), (3, 16), "{e}");
    assert!(
        e.message.contains("long-poll transport is not in this run"),
        "{e}"
    );
    assert!(
        e.hint
            .as_deref()
            .unwrap()
            .contains("\"websocket\", \"sse\""),
        "{e}"
    );
    // A metric the workload does not produce.
    let e = err(&GOOD.replace("push_latency.p99 < 5ms", "echo_rtt.p95 < 50ms"));
    assert!(
        e.message
            .contains("push workload does not produce echo_rtt"),
        "{e}"
    );
    assert!(e.hint.as_deref().unwrap().contains("push_latency"), "{e}");
    let e = err(&GOOD.replace("push_latency.p99 < 5ms", "payload_mismatches == 0"));
    assert!(e.message.contains("payload_mismatches"), "{e}");
    // Server CPU is read only from the builtin server.
    let url = GOOD.replace("builtin = true", "url = \"ws://127.0.0.1:9001\"");
    let e = err(&url.replace("push_latency.p99 < 5ms", "server_cpu_us_per_msg < 10"));
    assert!(e.message.contains("builtin target only"), "{e}");
    // JSON parse times need JSON payloads.
    let e = err(&GOOD
        .replace("payload = \"json\"\n", "")
        .replace("push_latency.p99 < 5ms", "json_parse.p99 < 1ms"));
    assert!(e.message.contains("payload = \"json\""), "{e}");
    // Any percentile, and the metrics a push phase has, are accepted.
    for ok in [
        "push_latency.p95 < 50ms",
        "sse.push_latency.p99.99 < 1s",
        "push_latency_uncorrected.max < 1s",
        "publish_lag.p99 < 5ms",
        "harness_lag.p99 < 1ms",
        "lost == 0",
        "publish_failed == 0",
        "unknown == 0",
        "delivered_ratio >= 1.0",
        "json_parse.p50 < 1ms",
        "server_cpu_us_per_msg < 100",
    ] {
        Scenario::parse("s.toml", &GOOD.replace("push_latency.p99 < 5ms", ok))
            .unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
}
