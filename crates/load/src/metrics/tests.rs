//! The endpoint's text and its HTTP answer.

use super::*;

#[tokio::test]
async fn every_family_is_served_and_a_done_phase_reads_its_summary() {
    let m = Metrics::serve("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let mut h = wsbench_model::results::latency_histogram();
    for v in [1_000_000u64, 2_000_000, 40_000_000] {
        h.record(v).unwrap();
    }
    let mut p = PhaseSummary {
        transport: "sse".into(),
        group: Some("readers".into()),
        workload: "push".into(),
        ..PhaseSummary::default()
    };
    p.counters.received = 1234;
    p.counters.connections_opened = 7;
    p.counters.errors.insert("reset".into(), 2);
    p.latency
        .insert("push_latency".into(), LatencyStats::of(&h, "x"));
    p.latency
        .insert("harness_lag".into(), LatencyStats::of(&h, "y"));
    m.done(&p);
    let text = m.render();
    for f in FAMILIES {
        assert!(text.contains(&format!("# TYPE {f} ")), "{f}: {text}");
    }
    let labels = "{phase=\"readers\",transport=\"sse\",group=\"readers\"";
    for line in [
        format!("wsbench_messages_received_total{labels}}} 1234"),
        format!("wsbench_connections_opened_total{labels}}} 7"),
        format!("wsbench_errors_total{labels},kind=\"reset\"}} 2"),
        format!(
            "wsbench_latency_seconds{labels},metric=\"push_latency\",quantile=\"0.99\"}} {}",
            LatencyStats::of(&h, "").p99 as f64 / 1e9
        ),
        format!("wsbench_latency_seconds_count{labels},metric=\"push_latency\"}} 3"),
    ] {
        assert!(text.lines().any(|l| l == line), "{line}: {text}");
    }
    assert!(text.ends_with("# EOF\n"));
    // Over HTTP, with the OpenMetrics content type.
    let mut s = tokio::net::TcpStream::connect(m.addr()).await.unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut got = String::new();
    s.read_to_string(&mut got).await.unwrap();
    assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
    assert!(got.contains("application/openmetrics-text"), "{got}");
    assert!(got.ends_with(&text), "{got}");
}
