//! The gate's limits: which metrics it knows, by the names thresholds
//! use, and how much worsening each may show.

use std::collections::BTreeMap;

use wsbench_model::metric::{self, Kind, Metric};

/// The limits used when none are given.
pub const DEFAULT_LIMITS: &str = "p50=10%,p99=10%,msg_rate=5%,delivered_ratio=1%";

/// Statistics of the main latency the table shows, as a threshold names
/// them.
pub(super) const LATENCY_STATS: [&str; 5] = ["p50", "p90", "p99", "p99.9", "max"];
/// Other metrics the table shows.
pub(super) const SCALARS: [Metric; 7] = [
    Metric::MsgRate,
    Metric::DeliveredRatio,
    Metric::Errors,
    Metric::Lost,
    Metric::BytesPerMsg,
    Metric::RequestsPerMsg,
    Metric::ServerCpuUsPerMsg,
];

/// Whether a row's metric is better when larger (`name` as the row
/// names it).
pub(super) fn higher_is_better(name: &str) -> bool {
    matches!(
        Metric::named(name),
        Some(Metric::MsgRate | Metric::DeliveredRatio)
    )
}

/// Allowed worsening per metric, as a fraction (0.10 for 10%): by full
/// name (`push_latency.p99`, `msg_rate`) or by a statistic of the main
/// latency (`p99`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Limits(pub BTreeMap<String, f64>);

impl Limits {
    /// Parses `p99=10%,msg_rate=5%` (a bare number is a percentage too).
    pub fn parse(text: &str) -> Result<Limits, String> {
        let mut out = BTreeMap::new();
        for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (name, value) = item
                .split_once('=')
                .ok_or_else(|| format!("`{item}`: expected METRIC=PERCENT, e.g. p99=10%"))?;
            let name = name.trim();
            check_name(name)?;
            let v = value.trim().trim_end_matches('%');
            let pct: f64 = v
                .parse()
                .ok()
                .filter(|p: &f64| p.is_finite() && *p >= 0.0)
                .ok_or_else(|| format!("`{item}`: `{value}` is not a percentage ≥ 0"))?;
            out.insert(name.to_owned(), pct / 100.0);
        }
        if out.is_empty() {
            return Err("no limits given".into());
        }
        Ok(Limits(out))
    }

    pub(super) fn of(&self, row: &str, main: &str) -> Option<f64> {
        let bare = row.strip_prefix(main).and_then(|s| s.strip_prefix('.'));
        self.0
            .get(row)
            .or_else(|| bare.and_then(|b| self.0.get(b)))
            .copied()
    }
}

/// Whether `name` is a metric the gate knows, with a hint if not.
fn check_name(name: &str) -> Result<(), String> {
    let renamed = match name {
        "throughput" => Some(Metric::MsgRate.name()),
        "p999" => Some("p99.9"),
        "server_cpu" => Some(Metric::ServerCpuUsPerMsg.name()),
        _ => None,
    };
    if let Some(new) = renamed {
        return Err(format!("`{name}`: unknown metric; it is called `{new}`"));
    }
    let scalar = |n: &str| SCALARS.iter().any(|m| m.name() == n);
    if LATENCY_STATS.contains(&name) || scalar(name) {
        return Ok(());
    }
    let (m, stat) = name.split_once('.').unwrap_or((name, ""));
    match metric::find(m) {
        Some(d) if d.kind == Kind::Latency && LATENCY_STATS.contains(&stat) => Ok(()),
        Some(_) if stat.is_empty() && scalar(m) => Ok(()),
        _ => Err(format!(
            "`{name}`: unknown metric; known: {}, {}, and LATENCY.STAT (e.g. push_latency.p99)",
            LATENCY_STATS.join(", "),
            SCALARS.map(Metric::name).join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse_with_threshold_names_and_clear_errors() {
        let l = Limits::parse("p99=10%, msg_rate=5, push_latency.p99.9=20%").unwrap();
        assert_eq!(l.0["p99"], 0.10);
        assert_eq!(l.0["msg_rate"], 0.05);
        assert_eq!(l.of("push_latency.p99", "push_latency"), Some(0.10));
        assert_eq!(l.of("push_latency.p99.9", "push_latency"), Some(0.20));
        assert_eq!(l.of("echo_rtt.p50", "echo_rtt"), None);
        assert!(
            Limits::parse("throughput=5%")
                .unwrap_err()
                .contains("msg_rate")
        );
        assert!(Limits::parse("p999=5%").unwrap_err().contains("p99.9"));
        assert!(
            Limits::parse("p98=1%")
                .unwrap_err()
                .contains("unknown metric")
        );
        assert!(Limits::parse("p99").unwrap_err().contains("METRIC=PERCENT"));
        assert!(Limits::parse("p99=-3%").unwrap_err().contains("percentage"));
        assert!(Limits::parse(DEFAULT_LIMITS).is_ok());
    }
}
