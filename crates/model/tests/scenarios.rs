//! Scenario files: every shipped one validates, and bad ones are refused
//! with the file, line, column and a hint.

use std::time::Duration;

use wsbench_model::{PayloadKind, PushClock, Scenario, Target, Transport, WorkloadKind};

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
            push_clock: PushClock::Server,
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
    assert!(
        matches!(
            remote(""),
            Ok(Target::Url {
                push_clock: PushClock::Publisher,
                ..
            })
        ),
        "a remote target is timed on the publisher's clock by default"
    );
    assert!(matches!(
        remote("\npush_clock = \"server\""),
        Ok(Target::Url {
            push_clock: PushClock::Server,
            ..
        })
    ));
    let e = remote("\npush_clock = \"atomic\"").unwrap_err();
    assert!(e.to_string().contains("s.toml:"), "{e}");
    let e = err(&GOOD.replace(
        "builtin = true",
        "builtin = true\npush_clock = \"publisher\"",
    ));
    assert!(e.message.contains("url targets only"), "{e}");
    let e = err(&GOOD.replace("builtin = true", "url = \"ws://127.0.0.1:9001/push\""));
    assert!(e.message.contains("path"), "{e}");
    let e = err(&GOOD.replace("rate = 5\n", ""));
    assert!(e.message.contains("needs a rate"), "{e}");
}
