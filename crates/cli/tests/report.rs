//! `wsbench report`, `compare` and `merge` on results the load generator
//! wrote, through the real binary.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{serial, serve, text, wsbench};

fn temp_dir(name: &str) -> PathBuf {
    common::temp_dir("report", name)
}

fn echo_scenario(dir: &Path, name: &str, addr: &str) -> PathBuf {
    let file = dir.join(format!("{name}.toml"));
    std::fs::write(
        &file,
        format!(
            r#"schema_version = 1
name = "{name}"

[target]
url = "ws://{addr}"

[load]
transports = ["websocket"]
connections = 5
duration = "1500ms"
warmup = "300ms"

[workload]
kind = "echo"
rate = 40
payload_size = 32
"#
        ),
    )
    .unwrap();
    file
}

/// Runs `scenario` and returns its results folder.
fn run(scenario: &Path, results: &Path) -> PathBuf {
    let out = wsbench(&[
        "run",
        scenario.to_str().unwrap(),
        "--results",
        results.to_str().unwrap(),
        "--quiet",
        "--no-calibrate",
    ]);
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let line = text(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("results: ").map(str::to_owned))
        .expect("the run names its folder");
    PathBuf::from(line)
}

/// What the Chromium render check measured on a report page (see
/// render_probe.js).
#[derive(Debug)]
struct Rendered {
    /// Charts laid out at a visible size.
    laid_out: usize,
    charts: usize,
    /// Points of data lines inside a legend box.
    covered: usize,
    /// Axes whose labels are logarithmic.
    log_axes: usize,
    /// Ends of those axes without a tick label.
    unlabelled: usize,
}

/// Loads `page` (a report's HTML) in headless Chromium with the probe of
/// render_probe.js, written next to `html`; `None` without Chromium.
fn render_in_chromium(html: &Path, page: &str) -> Option<Rendered> {
    let browser = common::chromium("the Chromium render check")?;
    let probe = html.with_file_name("report-probe.html");
    let script = format!(
        "<script>{}</script></body>",
        include_str!("render_probe.js")
    );
    std::fs::write(&probe, page.replace("</body>", &script)).unwrap();
    let dom = common::dump_dom(browser, &probe);
    let value = common::attribute(&dom, "data-rendered").unwrap_or_else(|| {
        panic!(
            "the page did not load in chromium:\n{}",
            &dom[..dom.len().min(2000)]
        )
    });
    let v: Vec<usize> = value.split('/').map(|n| n.parse().unwrap()).collect();
    Some(Rendered {
        laid_out: v[0],
        charts: v[1],
        covered: v[2],
        log_axes: v[3],
        unlabelled: v[4],
    })
}

/// `html` without its first y-axis tick label (the first right-aligned
/// text: the lowest label of the first chart's y axis).
fn without_first_y_label(html: &str) -> String {
    let at = html.find("text-anchor=\"end\"").expect("a y tick label");
    let start = html[..at].rfind("<text").unwrap();
    let end = at + html[at..].find("</text>").unwrap() + "</text>".len();
    format!("{}{}", &html[..start], &html[end..])
}

/// Reports, exports, the HTML page in a browser, and the gate's exit
/// codes, on real runs: three and three repetitions of one configuration
/// (echo servers that hold every echo 5 ms), and three against a server
/// that holds them 15 ms (the regressed one).
#[test]
fn report_and_compare_work_on_real_runs() {
    let _one = serial();
    let dir = temp_dir("compare");
    let fast = serve(&["--echo-delay-ms", "5"]);
    let slow = serve(&["--echo-delay-ms", "15"]);
    // Interleaved, so a disturbance of the machine does not fall on one
    // side only.
    let (base_reps, again_reps, slow_reps) =
        (dir.join("base"), dir.join("again"), dir.join("slow"));
    let scenario_in = |sub: &str, addr: &str| {
        let d = dir.join(sub);
        std::fs::create_dir_all(&d).unwrap();
        echo_scenario(&d, "echo-gate", addr)
    };
    let (fast_scenario, slow_scenario) = (
        scenario_in("fast", &fast.addr),
        scenario_in("slow-server", &slow.addr),
    );
    for _ in 0..3 {
        run(&fast_scenario, &base_reps);
        run(&fast_scenario, &again_reps);
        run(&slow_scenario, &slow_reps);
    }
    let first = |root: &Path| {
        let mut runs: Vec<PathBuf> = std::fs::read_dir(root)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        runs.sort();
        runs.remove(0)
    };
    let (baseline, again, regressed) = (first(&base_reps), first(&again_reps), first(&slow_reps));

    // Every format.
    let out = wsbench(&[
        "report",
        baseline.to_str().unwrap(),
        "--format",
        "png,svg,html,csv,md,hlog",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let r = baseline.join("report");
    for chart in [
        "echo_rtt-spectrum",
        "echo_rtt-histogram",
        "connect-spectrum",
        "timeline",
        "costs",
    ] {
        let png = std::fs::read(r.join(format!("{chart}.png"))).unwrap();
        assert!(
            png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
            "{chart}.png"
        );
        let svg = std::fs::read_to_string(r.join(format!("{chart}.svg"))).unwrap();
        assert!(
            svg.contains("<svg") && svg.contains("</svg>"),
            "{chart}.svg"
        );
    }
    let spectrum = std::fs::read_to_string(r.join("echo_rtt-spectrum.svg")).unwrap();
    for label in [
        "percentile",
        "latency (ms)",
        "50%",
        "99.9%",
        "websocket",
        "websocket (uncorrected)",
    ] {
        assert!(spectrum.contains(label), "the spectrum shows {label}");
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(baseline.join("summary.json")).unwrap())
            .unwrap();
    let rtt = &summary["phases"][0]["latency"]["echo_rtt"];
    let csv = std::fs::read_to_string(r.join("summary.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 2, "{csv}");
    assert!(rows[0].starts_with("run,scenario,transport,workload,metric,count,p50_ns"));
    assert!(
        rows[1].contains(&format!(
            ",websocket,echo,echo_rtt,{},{},",
            rtt["count"], rtt["p50"]
        )),
        "{csv}"
    );
    let md = std::fs::read_to_string(r.join("summary.md")).unwrap();
    assert!(md.contains("| websocket | echo_rtt |"), "{md}");
    let hlog =
        wsbench_model::results::read_interval_log(&r.join("websocket-echo_rtt.hlog")).unwrap();
    assert_eq!(hlog.len(), 1);
    assert_eq!(hlog[0].histogram.len(), rtt["count"].as_u64().unwrap());
    let timeline =
        wsbench_model::results::read_interval_log(&r.join("websocket-timeline.hlog")).unwrap();
    assert!(timeline.len() >= 2, "one interval a second");
    let html = std::fs::read_to_string(baseline.join("report.html")).unwrap();
    for fetch in ["src=", "href=", "url(", "@import", "<script", "<link"] {
        assert!(!html.contains(fetch), "self-contained: no {fetch}");
    }
    assert_eq!(html.matches("<figure").count(), 5);
    assert!(
        html.contains("<figure id=\"connect-spectrum\">"),
        "connect and handshake times"
    );
    assert!(
        html.contains("<h3>Harness health</h3>"),
        "the verdict table"
    );
    assert!(
        html.contains("Floor: not measured"),
        "--no-calibrate is said"
    );
    if let Some(r) = render_in_chromium(&baseline.join("report.html"), &html) {
        assert_eq!(
            (r.laid_out, r.charts),
            (5, 5),
            "every chart lays out: {r:?}"
        );
        assert_eq!(r.covered, 0, "a legend box covers data points: {r:?}");
        // Echo spectrum (x and y), histogram (x), connect spectrum (x
        // and y), the timeline's p99 row (y).
        assert_eq!(r.log_axes, 6, "log axes found: {r:?}");
        assert_eq!(r.unlabelled, 0, "a log axis has an unlabelled end: {r:?}");
        // The check sees a missing end label.
        let cut = render_in_chromium(&baseline.join("report.html"), &without_first_y_label(&html));
        let cut = cut.expect("chromium ran a moment ago");
        assert_eq!((cut.log_axes, cut.unlabelled), (6, 1), "{cut:?}");
    }

    // Several runs in one chart.
    let together = dir.join("together");
    let out = wsbench(&[
        "report",
        baseline.to_str().unwrap(),
        regressed.to_str().unwrap(),
        "--out",
        together.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let svg = std::fs::read_to_string(together.join("echo_rtt-spectrum.svg")).unwrap();
    // Two runs: baseline and current, with the differences and their
    // verdicts.
    assert!(svg.contains("baseline websocket") && svg.contains("current websocket"));
    let html = std::fs::read_to_string(together.join("report.html")).unwrap();
    assert!(
        html.contains("<h2>Differences: current against baseline</h2>"),
        "{html}"
    );
    assert!(
        html.contains("<td>echo_rtt.p50</td>") || html.contains("<td>p50</td>"),
        "{html}"
    );
    // Names of one's own, one per run.
    let named = dir.join("named");
    let (b, r) = (baseline.to_str().unwrap(), regressed.to_str().unwrap());
    let n = named.to_str().unwrap();
    let args = ["report", b, r, "--out", n, "--label", "v1", "--label", "v2"];
    let out = wsbench(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let svg = std::fs::read_to_string(named.join("echo_rtt-spectrum.svg")).unwrap();
    assert!(svg.contains("v1 websocket") && svg.contains("v2 websocket"));
    let html = std::fs::read_to_string(named.join("report.html")).unwrap();
    assert!(html.contains("<h2>Differences: v2 against v1</h2>"));
    let out = wsbench(&["report", b, r, "--out", n, "--label", "v1"]);
    assert_eq!(out.status.code(), Some(2), "one --label for two runs");

    // The gate. Repetitions of one configuration: no change. Against the
    // slower server: a regression, with the interval that decided it. One
    // run a side: a latency cannot be judged (exit 3). The p99 of three
    // short runs a side moves by tens of percent on a busy shared machine
    // (+57% between identical configurations was seen): its limit is wide,
    // and the slower server is caught on the p50.
    let limits = "p50=20%,p99=150%,msg_rate=10%";
    let compare = |a: &Path, b: &Path, limits: &str| {
        wsbench(&[
            "compare",
            a.to_str().unwrap(),
            b.to_str().unwrap(),
            "--max-regression",
            limits,
        ])
    };
    let pass = compare(&base_reps, &again_reps, limits);
    let out = text(&pass.stdout);
    // Three repetitions a side: now and then all three of one side land
    // above the other's by chance, and if the harness's own lag moved with
    // them the honest answer is that the harness cannot tell (exit 3,
    // naming the harness lag). Anything else but "no change" is a false
    // claim about identical configurations.
    match pass.status.code() {
        Some(0) => assert!(out.contains("verdict: no change"), "{out}"),
        Some(3) => {
            assert!(
                out.contains("verdict: INCONCLUSIVE")
                    && out.contains("load generator's own lag (harness_lag.p99) changed"),
                "{out}"
            );
            eprintln!("identical configurations judged inconclusive (harness lag moved):\n{out}");
        }
        code => panic!(
            "identical configurations: exit {code:?}\n{out}{}",
            text(&pass.stderr)
        ),
    }
    assert!(
        out.lines()
            .all(|l| !l.ends_with("improved") && !l.ends_with("REGRESSION")),
        "{out}"
    );
    assert!(
        out.contains("echo_rtt.p50") && out.contains(" ms "),
        "{out}"
    );
    assert!(out.contains("90% percentile-bootstrap interval"), "{out}");
    let fail = compare(&base_reps, &slow_reps, limits);
    let out = text(&fail.stdout);
    assert_eq!(fail.status.code(), Some(1), "{out}{}", text(&fail.stderr));
    assert!(
        out.contains("verdict: REGRESSION in websocket echo_rtt.p50")
            && out.contains("FAIL: regression in websocket echo_rtt.p50"),
        "{out}"
    );
    let p50 = out
        .lines()
        .find(|l| l.contains("echo_rtt.p50"))
        .unwrap_or_default();
    assert!(p50.contains("[+") && p50.ends_with("REGRESSION"), "{p50}");
    let single = compare(&baseline, &again, limits);
    let out = text(&single.stdout);
    assert_eq!(single.status.code(), Some(3), "{out}");
    assert!(out.contains("verdict: INCONCLUSIVE"), "{out}");
    let md_file = dir.join("compare.md");
    let out = wsbench(&[
        "compare",
        base_reps.to_str().unwrap(),
        slow_reps.to_str().unwrap(),
        "--max-regression",
        limits,
        "--markdown",
        md_file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let md = std::fs::read_to_string(&md_file).unwrap();
    assert!(
        md.contains("**Verdict: REGRESSION in websocket echo_rtt.p50"),
        "{md}"
    );

    // A phase the harness may have shaped gets a banner in the report.
    let shaped = dir.join("shaped");
    copy_dir(&baseline, &shaped);
    let file = shaped.join("summary.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    v["phases"][0]["health"]["verdict"] = "saturated".into();
    v["phases"][0]["health"]["reasons"] = serde_json::json!(["harness lag p99 9 ms is 90%"]);
    std::fs::write(&file, v.to_string()).unwrap();
    let out = wsbench(&["report", shaped.to_str().unwrap(), "--format", "html"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let html = std::fs::read_to_string(shaped.join("report.html")).unwrap();
    assert!(
        html.contains("<p class=\"saturated\">Harness <b>saturated</b> in the websocket phase")
            && html.contains("harness lag p99 9 ms is 90%"),
        "the banner"
    );

    let other = dir.join("other");
    copy_dir(&baseline, &other);
    let file = other.join("summary.json");
    let s = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        s.replace("\"scenario\": \"echo-gate\"", "\"scenario\": \"other\""),
    )
    .unwrap();
    let bad = compare(&baseline, &other, limits);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("different scenarios"),
        "{}",
        text(&bad.stderr)
    );
    std::fs::write(
        &file,
        s.replace("\"schema_version\": 2", "\"schema_version\": 99"),
    )
    .unwrap();
    let bad = compare(&baseline, &other, limits);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("schema_version"),
        "{}",
        text(&bad.stderr)
    );
    std::fs::write(
        &file,
        s.replace("\"schema_version\": 2", "\"schema_version\": 1"),
    )
    .unwrap();
    let old = compare(&baseline, &other, limits);
    assert_eq!(old.status.code(), Some(2));
    assert!(
        text(&old.stderr).contains("older wsbench"),
        "{}",
        text(&old.stderr)
    );
    let bad = compare(&baseline, &again, "p97=5%");
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("unknown metric"));
    let bad = compare(&baseline, &again, "throughput=5%");
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("msg_rate"));
    let bad = compare(&baseline, &dir.join("nowhere"), limits);
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("nowhere"));
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// Two shards started apart on one common start time, each publishing
/// its share and timing its own messages on its own clock, merged: counts
/// add up, histograms merge exactly, and the messages published are the
/// union of what each shard saw. Incomplete or builtin-target shard runs
/// are refused with exit code 2.
#[test]
fn shards_run_apart_and_merge_exactly() {
    let _one = serial();
    let dir = temp_dir("shards");
    let target = serve(&[]);
    let file = dir.join("push.toml");
    std::fs::write(
        &file,
        format!(
            r#"schema_version = 1
name = "sharded-push"
thresholds = ["delivered_ratio >= 1.0"]

[target]
url = "ws://{}"

[load]
transports = ["websocket"]
connections = 20
duration = "1500ms"
warmup = "500ms"

[workload]
kind = "push"
rate = 20
"#,
            target.addr
        ),
    )
    .unwrap();
    let results = dir.join("results");
    let start = std::time::SystemTime::now() + Duration::from_secs(3);
    let start = format!(
        "{:.3}",
        start
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    );
    let spawn = |i: u32| {
        Command::new(env!("CARGO_BIN_EXE_wsbench"))
            .args(["run", file.to_str().unwrap(), "--quiet", "--results"])
            .arg(&results)
            .args(["--shard", &format!("{i}/2"), "--start-at", &start])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(0), spawn(1));
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    for o in [&a, &b] {
        assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    }
    let mut shards: Vec<PathBuf> = std::fs::read_dir(&results)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    shards.sort();
    assert_eq!(shards.len(), 2);
    assert!(
        shards
            .iter()
            .any(|s| s.to_string_lossy().ends_with("-shard-1-of-2"))
    );
    let read = |p: &Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(p.join("summary.json")).unwrap()).unwrap()
    };
    let parts: Vec<serde_json::Value> = shards.iter().map(|s| read(s)).collect();
    let field = |v: &serde_json::Value, k: &str| v["phases"][0]["counters"][k].as_u64().unwrap();
    assert_eq!(field(&parts[0], "connections_opened"), 10);
    assert_eq!(field(&parts[1], "connections_opened"), 10);

    let merged = dir.join("merged");
    let mut args = vec!["merge", "--out", merged.to_str().unwrap()];
    args.extend(shards.iter().map(|s| s.to_str().unwrap()));
    let out = wsbench(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let m = read(&merged);
    assert!(m["shard"].is_null());
    let sum = |k: &str| field(&parts[0], k) + field(&parts[1], k);
    assert_eq!(field(&m, "connections_opened"), 20);
    assert_eq!(field(&m, "delivered"), sum("delivered"));
    // Each shard published its share of the one schedule (1.5 s at 20/s)
    // and accounted only that share; the merge accounts every message
    // against every subscriber of both shards.
    assert_eq!(field(&parts[0], "published"), 15);
    assert_eq!(field(&m, "published"), sum("published"));
    assert_eq!(field(&m, "published"), 30);
    assert_eq!(field(&m, "owed"), 30 * 20);
    assert_eq!(field(&m, "lost"), 0);
    // Each shard publishes half the rate and times only its own messages.
    for p in &parts {
        let timed = p["phases"][0]["latency"]["push_latency"]["count"]
            .as_u64()
            .unwrap();
        let delivered = field(p, "delivered");
        assert!(timed > 0 && timed < delivered, "{timed} of {delivered}");
    }
    let count = |v: &serde_json::Value| {
        v["phases"][0]["latency"]["push_latency"]["count"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(count(&m), count(&parts[0]) + count(&parts[1]));
    let h =
        wsbench_model::results::read_histogram(&merged.join("websocket-push_latency.hdr")).unwrap();
    assert_eq!(h.len(), count(&m));
    assert!(!m["phases"][0]["timeline"].as_array().unwrap().is_empty());
    assert_eq!(
        m["thresholds"][0]["passed"], true,
        "thresholds checked on the merged result"
    );

    let out = wsbench(&[
        "merge",
        "--out",
        dir.join("half").to_str().unwrap(),
        shards[0].to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("missing"),
        "{}",
        text(&out.stderr)
    );

    let builtin = dir.join("builtin.toml");
    let s = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &builtin,
        s.replace(&format!("url = \"ws://{}\"", target.addr), "builtin = true"),
    )
    .unwrap();
    let out = wsbench(&[
        "run",
        builtin.to_str().unwrap(),
        "--shard",
        "0/2",
        "--start-at",
        "2030-01-01T00:00:00Z",
        "--results",
        dir.join("nope").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("needs a URL target"),
        "{}",
        text(&out.stderr)
    );
}
