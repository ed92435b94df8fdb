//! Tests of result files, merging and threshold evaluation.

use std::fs;
use std::path::Path;

use super::*;
use crate::delivery::{Ledger, Outcome, PublishEntry, PublishRecord};

#[test]
fn histograms_round_trip_through_files_and_merge_exactly() {
    let dir = std::env::temp_dir().join(format!("wsbench-model-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let mut a = latency_histogram();
    let mut b = latency_histogram();
    for v in 1..=1000u64 {
        a.record(v * 1000).unwrap();
        b.record(v * 7919).unwrap();
    }
    write_histogram(&a, &dir.join("a.hdr")).unwrap();
    write_histogram(&b, &dir.join("b.hdr")).unwrap();
    let mut merged = read_histogram(&dir.join("a.hdr")).unwrap();
    merged
        .add(read_histogram(&dir.join("b.hdr")).unwrap())
        .unwrap();
    let mut direct = a.clone();
    direct.add(&b).unwrap();
    assert_eq!(merged, direct);
    assert_eq!(merged.len(), 2000);
    fs::remove_dir_all(&dir).unwrap();
}

/// A push part whose 3 connections owed every message of a 4-message
/// window, and got `got` of each.
fn part(dir: &Path, transport: &str, got: &[u64; 4], values: &[u64]) -> PhasePart {
    fs::create_dir_all(dir).unwrap();
    let mut h = latency_histogram();
    values.iter().for_each(|&v| h.record(v).unwrap());
    write_histogram(&h, &dir.join("push_latency.hdr")).unwrap();
    let base = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
    let intervals = [
        Interval {
            start_s: 0.0,
            duration_s: 1.0,
            histogram: latency_histogram(),
        },
        Interval {
            start_s: 1.0,
            duration_s: 1.01,
            histogram: h.clone(),
        },
    ];
    write_interval_log(&dir.join("t.hlog"), base, transport, &intervals).unwrap();
    let mut phase = PhaseSummary {
        transport: transport.into(),
        workload: "push".into(),
        measured_s: 1.0,
        ledger: Some("l.json".into()),
        timeline: vec![
            TimelinePoint {
                t_s: 1.0,
                open: 5,
                ..TimelinePoint::default()
            },
            TimelinePoint {
                t_s: 2.01,
                msg_rate: 100.0,
                open: 5,
                errors: 1,
                ..TimelinePoint::default()
            },
        ],
        timeline_log: Some("t.hlog".into()),
        ..PhaseSummary::default()
    };
    Ledger::new(&[3; 4], got)
        .write(&dir.join("l.json"))
        .unwrap();
    phase.counters.delivered = values.len() as u64;
    phase.counters.received = values.len() as u64;
    phase.latency.insert(
        "push_latency".into(),
        LatencyStats::of(&h, "push_latency.hdr"),
    );
    PhasePart {
        phase,
        ..PhasePart::default()
    }
}

#[test]
fn interval_logs_round_trip_and_parts_merge_second_by_second() {
    let root = std::env::temp_dir().join(format!("wsbench-merge-{}", std::process::id()));
    let (a, b) = (root.join("a"), root.join("b"));
    let parts = [
        (
            a.clone(),
            part(&a, "websocket", &[3, 3, 3, 2], &[1_000, 2_000]),
        ),
        (
            b.clone(),
            part(&b, "websocket", &[3, 3, 0, 3], &[3_000, 4_000, 50_000]),
        ),
    ];
    // The coordinator published messages 0, 1 and 3; message 2 failed.
    let record = PublishRecord {
        index: 0,
        publishers: 1,
        window: 4,
        due_until: None,
        entries: (0..4)
            .map(|j| PublishEntry {
                j,
                seq: Some(j as u64 + 1),
                intended_ns: 0,
                sent_ns: Some(0),
                done_ns: Some(1),
                outcome: if j == 2 { Outcome::Failed } else { Outcome::Ok },
                error: None,
            })
            .collect(),
    };
    fs::create_dir_all(&root).unwrap();
    let rec_path = root.join(files::publish_record("websocket", 0));
    record.write(&rec_path).unwrap();
    let back = read_interval_log(&a.join("t.hlog")).unwrap();
    assert_eq!(back.len(), 2);
    assert_eq!(back[1].histogram.len(), 2);
    assert!((back[1].start_s - 1.0).abs() < 1e-3 && (back[1].duration_s - 1.01).abs() < 1e-3);

    let m = merge_part_dirs(&parts, &root, "websocket", &[rec_path], None).unwrap();
    // Messages 0, 1 and 3, owed to 6 connections each; message 3 reached
    // 5 of them.
    assert_eq!((m.counters.published, m.counters.publish_failed), (3, 1));
    assert_eq!((m.counters.owed, m.counters.lost), (18, 1));
    assert!((m.delivered_ratio - 17.0 / 18.0).abs() < 1e-12);
    assert_eq!(m.counters.delivered, 5);
    assert!(root.join(files::ledger("websocket")).exists());
    assert_eq!(m.publish_records, ["websocket-publish-0.csv"]);
    assert_eq!(m.latency["push_latency"].count, 5);
    assert_eq!(
        m.latency["push_latency"].max,
        latency_histogram().highest_equivalent(50_000)
    );
    assert!(root.join("websocket-push_latency.hdr").exists());
    assert_eq!(m.timeline.len(), 2);
    assert_eq!((m.timeline[1].open, m.timeline[1].errors), (10, 2));
    assert!((m.timeline[1].msg_rate - 200.0).abs() < 1e-9);
    let merged_log = read_interval_log(&root.join("websocket-timeline.hlog")).unwrap();
    assert_eq!(merged_log[1].histogram.len(), 5);
    assert_eq!(
        m.timeline[1].p50,
        merged_log[1].histogram.value_at_quantile(0.5)
    );
    assert_eq!(m.timeline[0].p99, 0, "an empty second has no percentile");
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn thresholds_evaluate_per_phase() {
    let mut h = latency_histogram();
    for v in [1_000_000u64, 2_000_000, 9_000_000] {
        h.record(v).unwrap();
    }
    let mut p = PhaseSummary {
        transport: "websocket".into(),
        ..PhaseSummary::default()
    };
    p.latency
        .insert("push_latency".into(), LatencyStats::of(&h, "x.hdr"));
    p.counters.errors.insert("reset".into(), 2);
    let mut q = p.clone();
    q.transport = "sse".into();
    q.counters.errors.clear();
    let ts = [
        Threshold::parse("push_latency.p50 < 5ms").unwrap(),
        Threshold::parse("errors == 0").unwrap(),
        Threshold::parse("sse.echo_rtt.p99 < 1ms").unwrap(),
    ];
    let r = Summary::evaluate(&[p, q], &ts, None);
    let verdicts: Vec<(&str, &str, bool)> = r
        .iter()
        .map(|r| (r.threshold.as_str(), r.transport.as_str(), r.passed))
        .collect();
    assert_eq!(
        verdicts,
        [
            ("push_latency.p50 < 5ms", "websocket", true),
            ("push_latency.p50 < 5ms", "sse", true),
            ("errors == 0", "websocket", false),
            ("errors == 0", "sse", true),
            ("sse.echo_rtt.p99 < 1ms", "sse", false),
        ]
    );
    assert_eq!(r[4].value, None, "a missing metric fails");
}

#[test]
fn a_flow_timer_threshold_reads_that_timer_and_a_group_its_group() {
    let timed = |values: &[u64]| {
        let mut h = latency_histogram();
        values.iter().for_each(|&v| h.record(v).unwrap());
        LatencyStats::of(&h, "x.hdr")
    };
    let mut p = PhaseSummary {
        transport: "websocket".into(),
        workload: "flow".into(),
        group: Some("chatters".into()),
        ..PhaseSummary::default()
    };
    p.latency
        .insert("flow_time".into(), timed(&[1_000, 90_000_000]));
    p.latency.insert("flow.say".into(), timed(&[1_000, 2_000]));
    let mut q = p.clone();
    q.group = Some("readers".into());
    q.workload = "push".into();
    q.latency.clear();
    let ts = [
        Threshold::parse("flow.say.max < 1ms").unwrap(),
        Threshold::parse("flow_time.max < 1ms").unwrap(),
        Threshold::parse("readers.errors == 0").unwrap(),
    ];
    let r = Summary::evaluate(&[p, q], &ts, None);
    let verdicts: Vec<(&str, &str, bool)> = r
        .iter()
        .map(|r| (r.threshold.as_str(), r.transport.as_str(), r.passed))
        .collect();
    // A push group produces no flow timer: only the chatters are checked.
    assert_eq!(
        verdicts,
        [
            ("flow.say.max < 1ms", "chatters", true),
            ("flow_time.max < 1ms", "chatters", false),
            ("readers.errors == 0", "readers", true),
        ]
    );
    assert_eq!(r[0].value, Some(2_000.0), "flow.say's own max");
    assert!(r[1].value > Some(89e6), "flow_time's max: {:?}", r[1].value);
}

#[test]
fn any_percentile_is_read_from_the_histogram_file() {
    let dir = std::env::temp_dir().join(format!("wsbench-pct-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let mut h = latency_histogram();
    for v in 1..=10_000u64 {
        h.record(v * 1_000).unwrap();
    }
    write_histogram(&h, &dir.join("x.hdr")).unwrap();
    let mut p = PhaseSummary {
        transport: "websocket".into(),
        ..PhaseSummary::default()
    };
    p.latency
        .insert("push_latency".into(), LatencyStats::of(&h, "x.hdr"));
    let ts = [
        Threshold::parse("push_latency.p95 < 9ms").unwrap(),
        Threshold::parse("push_latency.p99.99 < 9.99ms").unwrap(),
        Threshold::parse("push_latency.p99.99 <= 10.1ms").unwrap(),
    ];
    let r = Summary::evaluate(std::slice::from_ref(&p), &ts, Some(&dir));
    let p95 = h.value_at_quantile(0.95) as f64;
    assert_eq!(r[0].value, Some(p95));
    assert!((p95 - 9.5e6).abs() < 0.01e6, "{p95}");
    assert!(!r[0].passed);
    assert_eq!(r[1].value, Some(h.value_at_quantile(0.9999) as f64));
    assert!(!r[1].passed && r[2].passed, "{r:?}");
    // Without the folder the value is missing, and the check fails.
    assert_eq!(Summary::evaluate(&[p], &ts[..1], None)[0].value, None);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn rates_divide_by_what_arrived_in_the_same_window_and_losses_cannot_hide() {
    let mut p = PhaseSummary {
        workload: "push".into(),
        measured_s: 2.0,
        ..PhaseSummary::default()
    };
    let c = &mut p.counters;
    // 100 messages arrived while the window was open, with the bytes and
    // requests of that interval; 120 window messages arrived in all (some
    // during the drain), 30 of those not owed (before a subscribe point).
    (c.received, c.bytes_sent, c.bytes_received, c.http_requests) = (100, 1_000, 9_000, 50);
    (c.delivered, c.owed, c.lost) = (120, 100, 10);
    p.derive_rates();
    assert_eq!(p.msg_rate, 50.0);
    assert_eq!(p.bytes_per_msg, 100.0);
    assert_eq!(p.requests_per_msg, 0.5);
    assert_eq!(
        p.delivered_ratio, 0.9,
        "extra deliveries do not hide 10 lost"
    );
    p.workload = "throughput".into();
    (p.counters.published, p.counters.delivered) = (200, 150);
    p.derive_rates();
    assert_eq!(p.delivered_ratio, 0.75, "sent in the window, echoed or not");
}

fn samples(points: &[(f64, u64)]) -> Vec<OpenSample> {
    points
        .iter()
        .map(|&(t_s, open)| OpenSample { t_s, open })
        .collect()
}

#[test]
fn an_open_trace_keeps_changes_with_the_sample_before_each() {
    let mut t = OpenTrace::default();
    for (i, open) in [0, 0, 0, 50, 100, 100, 100, 100, 60, 60]
        .into_iter()
        .enumerate()
    {
        t.record(i as f64 / 10.0, open);
    }
    // The ramp from 0.2 s to 0.4 s and the drop between 0.7 s and 0.8 s are
    // drawn where they happened, not spread over the flat stretches.
    assert_eq!(
        t.finish(),
        samples(&[
            (0.0, 0),
            (0.2, 0),
            (0.3, 50),
            (0.4, 100),
            (0.7, 100),
            (0.8, 60),
            (0.9, 60),
        ])
    );
}

#[test]
fn open_traces_of_processes_add_up_as_step_functions() {
    let a = samples(&[(0.0, 0), (0.1, 10), (0.5, 10)]);
    let b = samples(&[(0.05, 0), (0.15, 20), (0.5, 20)]);
    assert_eq!(
        OpenTrace::sum(&[&a, &b]),
        samples(&[(0.0, 0), (0.05, 0), (0.1, 10), (0.15, 30), (0.5, 30),])
    );
}
