//! `report.html`: one self-contained page (inline SVG charts, tables, the
//! scenario and the environment), no script and nothing fetched from the
//! network.

use std::fmt::Write as _;

use wsbench_model::health::Verdict;

use crate::charts::Chart;
use crate::data::{Run, fmt_ns, main_metric, threshold_value};

/// Escapes text for HTML.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif;margin:24px auto;max-width:1100px;color:#222}\
h1{font-size:26px}h2{font-size:20px;margin-top:32px;border-bottom:1px solid #ddd}\
table{border-collapse:collapse;margin:8px 0;font-size:14px}th,td{border:1px solid #ccc;padding:4px 8px}\
th{background:#f3f3f3;white-space:nowrap}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\
.scroll{overflow-x:auto;max-width:100%}\
.fail{color:#b00;font-weight:bold}.pass{color:#070}.partial{background:#fff3cd;padding:8px;border:1px solid #e0c060}\
.saturated{background:#f8d7da;padding:8px;border:1px solid #d08080}.suspect{background:#fff3cd;padding:8px;border:1px solid #e0c060}\
figure{margin:16px 0}figure svg{max-width:100%;height:auto}pre{background:#f7f7f7;padding:10px;overflow-x:auto;font-size:13px}";

/// The differences of `current` from `baseline` with the verdicts
/// `wsbench compare` gives them (default limits; one run a side, so
/// latencies are shown, not judged), or why they cannot be compared.
fn differences(baseline: &Run, current: &Run) -> String {
    use crate::compare::{DEFAULT_LIMITS, Limits, Side, compare};
    let side = |r: &Run| Side {
        label: r.label.clone(),
        runs: vec![r.clone()],
    };
    let mut h = format!(
        "<h2>Differences: {} against {}</h2>\n",
        escape(&current.label),
        escape(&baseline.label)
    );
    let limits = Limits::parse(DEFAULT_LIMITS).unwrap_or_default();
    match compare(&side(baseline), &side(current), &limits) {
        Ok(c) => {
            h.push_str("<div class=\"scroll\"><table><tr><th>phase</th><th>metric</th><th>baseline</th><th>current</th><th>change</th><th>90% interval</th><th>limit</th><th>verdict</th></tr>\n");
            for r in &c.rows {
                let cells = r.cells();
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>{}</td>",
                    escape(&cells[0]),
                    escape(&cells[1])
                );
                for v in &cells[2..] {
                    let _ = write!(h, "<td class=\"n\">{}</td>", escape(v));
                }
                let _ = writeln!(h, "<td>{}</td></tr>", escape(r.verdict_name()));
            }
            let _ = writeln!(h, "</table></div>\n<p>{}</p>", escape(&c.rule));
        }
        Err(e) => {
            let _ = writeln!(h, "<p>Not compared: {}</p>", escape(&e.to_string()));
        }
    }
    h
}

/// The page for `runs` with `charts` (each with its SVG drawing) inline.
pub fn page(runs: &[Run], charts: &[(&Chart, String)]) -> String {
    let mut h = String::new();
    let title = match runs {
        [one] => format!("wsbench: {} ({})", one.summary.scenario, one.label),
        _ => format!("wsbench: {} runs compared", runs.len()),
    };
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body>\n<h1>{}</h1>\n",
        escape(&title),
        escape(&title)
    );
    for run in runs {
        let s = &run.summary;
        if runs.len() > 1 {
            let _ = writeln!(h, "<h2>{}</h2>", escape(&run.label));
        }
        let _ = writeln!(
            h,
            "<p>Scenario <b>{}</b>, started {} UTC. Command: <code>{}</code></p>",
            escape(&s.scenario),
            escape(&s.started_at),
            escape(&s.command)
        );
        if s.partial {
            let _ = writeln!(
                h,
                "<p class=\"partial\">Partial run: {}</p>",
                escape(s.stop_detail.as_deref().unwrap_or("stopped early"))
            );
        }
        h.push_str(&banners(run));
        h.push_str("<div class=\"scroll\"><table><tr><th>transport</th><th>metric</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th><th>delivered</th><th>ratio</th><th>lost</th><th>msg/s</th><th>bytes/msg</th><th>req/msg</th><th>errors</th><th>server µs/msg</th><th>published</th><th>client CPU s</th><th>client B/conn</th></tr>\n");
        for p in &s.phases {
            let metric = main_metric(p);
            let l = p.latency.get(metric.name()).cloned().unwrap_or_default();
            let cell = |ns: u64| format!("<td class=\"n\">{}</td>", escape(&fmt_ns(ns as f64)));
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{metric}</td>{}{}{}{}{}<td class=\"n\">{}</td><td class=\"n\">{:.4}</td><td class=\"n\">{}</td><td class=\"n\">{:.0}</td><td class=\"n\">{:.0}</td><td class=\"n\">{:.3}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{:.2}</td><td class=\"n\">{}</td></tr>",
                escape(&p.label()),
                cell(l.p50),
                cell(l.p90),
                cell(l.p99),
                cell(l.p999),
                cell(l.max),
                p.counters.delivered,
                p.delivered_ratio,
                p.counters.lost,
                p.msg_rate,
                p.bytes_per_msg,
                p.requests_per_msg,
                p.errors(),
                p.server_cpu_us_per_msg
                    .map_or_else(|| "–".to_owned(), |v| format!("{v:.2}")),
                p.counters.published,
                p.client_cpu_s,
                p.client_rss_per_conn
                    .map_or_else(|| "–".to_owned(), |v| format!("{v:.0}"))
            );
        }
        h.push_str("</table></div>\n");
        h.push_str(&health(run));
        let errors: Vec<String> = s
            .phases
            .iter()
            .flat_map(|p| {
                p.counters
                    .errors
                    .iter()
                    .map(move |(k, v)| format!("{}: {k} × {v}", p.label()))
            })
            .collect();
        if !errors.is_empty() {
            let _ = writeln!(h, "<p>Errors: {}</p>", escape(&errors.join("; ")));
        }
        if !s.thresholds.is_empty() {
            h.push_str("<div class=\"scroll\"><table><tr><th>threshold</th><th>transport</th><th>value</th><th>verdict</th></tr>\n");
            for t in &s.thresholds {
                let value = threshold_value(t);
                let (class, verdict) = if t.passed {
                    ("pass", "pass")
                } else {
                    ("fail", "FAIL")
                };
                let _ = writeln!(
                    h,
                    "<tr><td><code>{}</code></td><td>{}</td><td class=\"n\">{}</td><td class=\"{class}\">{verdict}</td></tr>",
                    escape(&t.threshold),
                    escape(&t.transport),
                    escape(&value)
                );
            }
            h.push_str("</table></div>\n");
        }
    }
    if let [first, .., last] = runs {
        h.push_str(&differences(first, last));
    }
    h.push_str("<h2>Charts</h2>\n");
    for (chart, svg) in charts {
        let body = svg.find("<svg").map_or(svg.as_str(), |at| &svg[at..]);
        let _ = writeln!(
            h,
            "<figure id=\"{}\">{body}<figcaption>{}</figcaption></figure>",
            escape(&chart.name),
            escape(&chart.title)
        );
    }
    for run in runs {
        let e = &run.summary.environment;
        let _ = writeln!(
            h,
            "<h2>Environment{}</h2>",
            if runs.len() > 1 {
                format!(": {}", escape(&run.label))
            } else {
                String::new()
            }
        );
        h.push_str("<div class=\"scroll\"><table>");
        let unknown = || "unknown".to_owned();
        for (k, v) in [
            ("wsbench", e.wsbench.clone()),
            ("git rev", e.git_rev.clone().unwrap_or_else(unknown)),
            ("rustc", e.rustc.clone().unwrap_or_else(unknown)),
            (
                "CPU",
                format!(
                    "{} ({} logical)",
                    e.cpu.clone().unwrap_or_else(unknown),
                    e.cpus
                ),
            ),
            ("kernel", e.kernel.clone().unwrap_or_else(unknown)),
            ("SIMD backend", e.simd_backend.clone()),
            ("load generator processes", e.workers.to_string()),
        ] {
            let _ = write!(h, "<tr><th>{k}</th><td>{}</td></tr>", escape(&v));
        }
        h.push_str("</table></div>\n");
        if let Some(text) = &run.scenario_text {
            let _ = writeln!(h, "<h2>Scenario</h2>\n<pre>{}</pre>", escape(text));
        }
    }
    h.push_str("</body></html>\n");
    h
}

/// A banner for every phase whose figures the harness may have shaped.
fn banners(run: &Run) -> String {
    let mut h = String::new();
    for p in &run.summary.phases {
        let Some(health) = p.health.as_ref().filter(|h| h.verdict != Verdict::Ok) else {
            continue;
        };
        let name = health.verdict.name();
        let _ = writeln!(
            h,
            "<p class=\"{name}\">Harness <b>{name}</b> in the {} phase: its latencies may be \
             the load generator's rather than the target's. {}</p>",
            escape(&p.label()),
            escape(&health.reasons.join("; "))
        );
    }
    h
}

/// The harness floor and each phase's verdict with what it was judged on.
fn health(run: &Run) -> String {
    let s = &run.summary;
    let mut h = String::from("<h3>Harness health</h3>\n");
    match &s.floor {
        Some(f) => {
            let _ = writeln!(
                h,
                "<p>Floor: a loopback echo in the load generator's own process for {:.1} s \
                 before the first phase: p50 {}, p99 {}, p99.9 {}; harness lag p99 {}. No \
                 latency below it can be told apart from the harness.</p>",
                f.duration_s,
                fmt_ns(f.echo_rtt.p50 as f64),
                fmt_ns(f.echo_rtt.p99 as f64),
                fmt_ns(f.echo_rtt.p999 as f64),
                f.harness_lag_p99_ns
                    .map_or_else(|| "not measured".to_owned(), |v| fmt_ns(v as f64))
            );
        }
        None => h.push_str("<p>Floor: not measured (<code>--no-calibrate</code>).</p>\n"),
    }
    h.push_str("<div class=\"scroll\"><table><tr><th>transport</th><th>verdict</th><th>harness lag p99</th><th>main p50</th><th>load generator CPU</th><th>server CPU</th><th>publishes failed</th><th>unknown messages</th></tr>\n");
    for p in &s.phases {
        let Some(v) = &p.health else { continue };
        let ns = |x: Option<u64>| x.map_or_else(|| "–".to_owned(), |x| fmt_ns(x as f64));
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td class=\"{}\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{:.0}%</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            escape(&p.label()),
            if v.verdict == Verdict::Ok {
                "pass"
            } else {
                "fail"
            },
            v.verdict.name(),
            ns(v.harness_lag_p99_ns),
            ns(v.main_p50_ns),
            v.client_cpu_share * 100.0,
            v.server_cpu_share
                .map_or_else(|| "–".to_owned(), |x| format!("{:.0}%", x * 100.0)),
            p.counters.publish_failed,
            p.counters.unknown
        );
    }
    h.push_str("</table></div>\n");
    h
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_markup() {
        assert_eq!(
            super::escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
