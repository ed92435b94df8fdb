//! The shipped Grafana dashboard (`deploy/grafana/wsbench-dashboard.json`)
//! is JSON Grafana can import, and every metric its queries name is one
//! the live endpoint serves; every family the endpoint serves is charted.

use wsbench_load::metrics::FAMILIES;

#[test]
fn the_dashboard_queries_only_what_the_endpoint_serves() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/grafana/wsbench-dashboard.json"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let dash: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(dash["title"].is_string() && dash["uid"].is_string());
    let panels = dash["panels"].as_array().unwrap();
    assert!(!panels.is_empty());
    let mut used = Vec::new();
    for p in panels {
        assert!(
            p["title"].is_string() && p["gridPos"]["w"].is_number(),
            "{p}"
        );
        for t in p["targets"].as_array().unwrap() {
            let expr = t["expr"].as_str().unwrap();
            let names = expr
                .split(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
                .filter(|w| w.starts_with("wsbench_"));
            for name in names {
                let family = ["_total", "_sum", "_count"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s))
                    .unwrap_or(name);
                assert!(FAMILIES.contains(&family), "{expr}: {name} is not served");
                used.push(family.to_owned());
            }
        }
    }
    for f in FAMILIES {
        assert!(used.iter().any(|u| u == f), "{f} is served but not charted");
    }
}
