//! `summary.json` matches the committed JSON Schema
//! (`results/schema/summary-v2.schema.json`), both ways: every field the
//! code writes is described, and every field the schema requires is
//! written. A small validator for the keywords the schema uses.

use serde_json::{Value, json};
use wsbench_model::health::Health;
use wsbench_model::results::{
    Counters, Environment, Floor, LatencyStats, OpenSample, PhaseSummary, Recovery, Schedule,
    ShardInfo, StageSpan, StopReason, Summary, ThresholdResult, TimelinePoint,
};

fn schema() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../results/schema/summary-v2.schema.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_u64() || v.is_i64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        other => panic!("schema type {other} not handled"),
    }
}

fn check(root: &Value, s: &Value, v: &Value, at: &str) {
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let name = r.strip_prefix("#/$defs/").expect("local refs only");
        return check(root, &root["$defs"][name], v, at);
    }
    // `anyOf` here is a schema or null.
    if let Some(Value::Array(alts)) = s.get("anyOf") {
        let is_null = |a: &Value| a.get("type") == Some(&json!("null"));
        if v.is_null() {
            return assert!(alts.iter().any(is_null), "{at}: null is not allowed");
        }
        let other = alts.iter().find(|a| !is_null(a)).expect("a schema");
        return check(root, other, v, at);
    }
    match s.get("type") {
        Some(Value::String(t)) => assert!(type_ok(t, v), "{at}: {v} is not {t}"),
        Some(Value::Array(ts)) => {
            assert!(
                ts.iter().any(|t| type_ok(t.as_str().unwrap(), v)),
                "{at}: {v} is none of {ts:?}"
            )
        }
        _ => {}
    }
    if let Some(c) = s.get("const") {
        assert_eq!(c, v, "{at}");
    }
    if let (Some(p), Some(text)) = (s.get("pattern").and_then(Value::as_str), v.as_str()) {
        let re = regex::Regex::new(p).expect("a pattern the regex crate reads");
        assert!(re.is_match(text), "{at}: {text:?} does not match {p}");
    }
    if let Some(Value::Array(allowed)) = s.get("enum") {
        assert!(allowed.contains(v), "{at}: {v} not in {allowed:?}");
    }
    if let (Some(min), Some(n)) = (s.get("minimum").and_then(Value::as_f64), v.as_f64()) {
        assert!(n >= min, "{at}: {v} < {min}");
    }
    if let Value::Object(map) = v {
        for req in s
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            assert!(
                map.contains_key(req.as_str().unwrap()),
                "{at}: missing {req}"
            );
        }
        let props = s.get("properties").and_then(Value::as_object);
        for (k, val) in map {
            if let Some(names) = s.get("propertyNames") {
                check(
                    root,
                    names,
                    &Value::String(k.clone()),
                    &format!("{at}.{k} (name)"),
                );
            }
            match (props.and_then(|p| p.get(k)), s.get("additionalProperties")) {
                (Some(ps), _) => check(root, ps, val, &format!("{at}.{k}")),
                (None, Some(Value::Bool(false))) => panic!("{at}: {k} is not in the schema"),
                (None, Some(extra @ Value::Object(_))) => {
                    check(root, extra, val, &format!("{at}.{k}"))
                }
                (None, _) => {}
            }
        }
    }
    if let (Value::Array(items), Some(item_schema)) = (v, s.get("items")) {
        for (i, item) in items.iter().enumerate() {
            check(root, item_schema, item, &format!("{at}[{i}]"));
        }
    }
}

fn full_summary() -> Summary {
    let mut phase = PhaseSummary {
        transport: "long-poll".into(),
        group: Some("readers".into()),
        window_start: Some("2026-12-03T15:00:00.000Z".into()),
        window_at_s: Some(1.5),
        workload: "push".into(),
        measured_s: 10.0,
        counters: Counters {
            connections_attempted: 3,
            connections_opened: 3,
            errors: [("reset".to_owned(), 1)].into(),
            reconnects: 2,
            lost_in_gaps: 1,
            ..Counters::default()
        },
        msg_rate: 5.5,
        delivered_ratio: 1.0,
        server_cpu_us_per_msg: Some(12.5),
        client_rss_per_conn: Some(1500.0),
        health: Some(Health::judge(
            Some(10),
            Some(1_000),
            wsbench_model::health::Cpu {
                client_share: 0.5,
                server_share: Some(0.2),
                steal_share: Some(0.01),
                cores: 2,
            },
        )),
        schedule: Some(Schedule {
            rate: 10.0,
            window: 100,
            publishers: 1,
        }),
        ledger: Some("long-poll-ledger.json".into()),
        publish_records: vec!["long-poll-publish-0.csv".into()],
        timeline: vec![TimelinePoint {
            t_s: 1.0,
            msg_rate: 10.0,
            open: 3,
            opened: 4,
            errors: 0,
            p50: 1_000,
            p99: 2_000,
        }],
        open_trace: vec![
            OpenSample { t_s: 0.1, open: 0 },
            OpenSample { t_s: 0.2, open: 3 },
        ],
        timeline_log: Some("long-poll-timeline.hlog".into()),
        gap_ledger: Some("long-poll-gap-ledger.json".into()),
        stages: vec![StageSpan {
            name: "stage1".into(),
            start_s: 0.0,
            end_s: 2.0,
            from: 0,
            target: 3,
            arrivals_from: Some(0.0),
            arrivals: Some(5.0),
            rate: Some(20.0),
            samples: 2,
            worst_gap: Some(1),
            main_latency: Some(LatencyStats {
                count: 1,
                file: "long-poll-stage1-push_latency.hdr".into(),
                ..LatencyStats::default()
            }),
        }],
        recovery: Some(Recovery {
            reconnected: 2,
            gave_up: 1,
            still_away: 0,
            back_95_s: None,
            back_100_s: Some(1.5),
        }),
        ..PhaseSummary::default()
    };
    let timers = [true, false].map(|c| wsbench_model::metric::flow_timer("say_2", c));
    for name in wsbench_model::metric::ALL
        .iter()
        .filter(|d| d.kind == wsbench_model::metric::Kind::Latency)
        .map(|d| d.name)
        .chain(timers.iter().map(String::as_str))
    {
        phase.latency.insert(
            name.into(),
            LatencyStats {
                count: 1,
                mean: 1.5,
                file: format!("{name}.hdr"),
                ..LatencyStats::default()
            },
        );
    }
    Summary {
        schema_version: 2,
        scenario: "s".into(),
        command: "wsbench run s.toml".into(),
        started_at: "2026-01-01T00:00:00Z".into(),
        partial: true,
        stop_reason: Some(StopReason::TargetFailed),
        stop_detail: Some("gone".into()),
        environment: Environment {
            wsbench: "0.1.0".into(),
            git_rev: Some("abc".into()),
            cpus: 2,
            simd_backend: "avx2".into(),
            workers: 1,
            ..Environment::default()
        },
        phases: vec![phase],
        thresholds: vec![ThresholdResult {
            threshold: "errors == 0".into(),
            transport: "long-poll".into(),
            value: Some(1.0),
            passed: false,
        }],
        shard: Some(ShardInfo {
            index: 1,
            count: 2,
            start_at: "2026-01-01T00:00:00Z".into(),
        }),
        floor: Some(Floor {
            duration_s: 1.0,
            echo_rtt: LatencyStats::default(),
            harness_lag_p99_ns: Some(20_000),
        }),
    }
}

#[test]
fn a_summary_with_every_field_set_matches_the_schema() {
    let root = schema();
    let v = serde_json::to_value(full_summary()).unwrap();
    check(&root, &root, &v, "summary");
}

#[test]
fn the_checker_catches_drift() {
    let root = schema();
    let mut v = serde_json::to_value(full_summary()).unwrap();
    v["surprise"] = json!(1);
    let caught = std::panic::catch_unwind(|| check(&root, &root, &v, "summary"));
    assert!(caught.is_err(), "an undescribed field is refused");
    let mut v = serde_json::to_value(full_summary()).unwrap();
    v["phases"][0]["counters"]
        .as_object_mut()
        .unwrap()
        .remove("lost");
    let caught = std::panic::catch_unwind(|| check(&root, &root, &v, "summary"));
    assert!(caught.is_err(), "a missing required field is refused");
}
