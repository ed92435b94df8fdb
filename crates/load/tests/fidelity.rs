//! The load generator measures what happens: a fixed echo delay, a server
//! stall (the coordinated-omission check), lost and repeated messages, and
//! a run that is interrupted or whose target dies still leaves results.
//! Small scale, against an in-process reference server.

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::watch;
use wsbench_load::{RunError, RunOptions, RunOutcome, run};
use wsbench_model::{PhaseSummary, Scenario, Summary};
use wsbench_server::{Faults, Server, ServerConfig};

async fn server(faults: Faults) -> Server {
    Server::start(ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        faults,
        ..ServerConfig::default()
    })
    .await
    .unwrap()
}

fn results_root(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wsbench-load-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn options(test: &str, interrupt: watch::Receiver<bool>) -> RunOptions {
    RunOptions {
        // URL targets only: no server executable is started.
        exe: PathBuf::from("/nonexistent/wsbench"),
        results_root: results_root(test),
        command: format!("test {test}"),
        progress: false,
        workers: None,
        interrupt,
        shard: None,
        calibrate: false,
        server_pid: None,
        stream: None,
        metrics: None,
    }
}

fn scenario(s: &Server, body: &str) -> Scenario {
    let text = format!(
        "schema_version = 1\nname = \"t\"\n\n[target]\nurl = \"ws://{}\"\n\n{body}",
        s.local_addr()
    );
    Scenario::parse("test.toml", &text).unwrap_or_else(|e| panic!("{e}"))
}

async fn run_ok(test: &str, s: Scenario) -> RunOutcome {
    let (_tx, rx) = watch::channel(false);
    run(s, options(test, rx))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// The tests of this file run one at a time: those that check latencies
/// would otherwise share their two cores with the others (a push delay
/// measured while another test ran in its baseline came out 1.3 ms short).
static TIMING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_echo_delay_shows_as_the_median() {
    let _one = TIMING.lock().await;
    let delay = Duration::from_millis(50);
    let srv = server(Faults {
        echo_delay: delay,
        ..Faults::default()
    })
    .await;
    let s = scenario(
        &srv,
        "[load]\ntransports = [\"websocket\"]\nconnections = 4\nduration = \"3s\"\nwarmup = \"200ms\"\n\n\
         [workload]\nkind = \"echo\"\nrate = 10\npayload_size = 64\n",
    );
    let out = run_ok("delay", s).await;
    let p = &out.summary.phases[0];
    let rtt = &p.latency["echo_rtt"];
    let p50 = ms(rtt.p50);
    assert!(
        (p50 - 50.0).abs() <= 50.0 * 0.05,
        "p50 {p50} ms for a 50 ms delay"
    );
    assert_eq!(p.counters.payload_mismatches, 0);
    assert!(p.counters.delivered >= 100, "{:?}", p.counters);
    assert!(out.dir.join("websocket-echo_rtt.hdr").exists());
    assert!(out.dir.join("run.md").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stall_shows_in_the_corrected_p99_and_not_in_the_uncorrected() {
    let _one = TIMING.lock().await;
    let srv = server(Faults {
        stall: Some((Duration::from_millis(200), Duration::from_secs(1))),
        ..Faults::default()
    })
    .await;
    let s = scenario(
        &srv,
        "[load]\ntransports = [\"websocket\"]\nconnections = 2\nduration = \"3s\"\n\n\
         [workload]\nkind = \"echo\"\nrate = 500\npayload_size = 32\n",
    );
    let out = run_ok("stall", s).await;
    let p = &out.summary.phases[0];
    let corrected = &p.latency["echo_rtt"];
    let uncorrected = &p.latency["echo_rtt_uncorrected"];
    assert!(
        ms(corrected.p99) > 100.0,
        "corrected p99 {} ms",
        ms(corrected.p99)
    );
    assert!(
        ms(uncorrected.p99) < 50.0,
        "uncorrected p99 {} ms",
        ms(uncorrected.p99)
    );
    // The stalled messages themselves are in both.
    assert!(
        ms(uncorrected.max) > 100.0,
        "uncorrected max {} ms",
        ms(uncorrected.max)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_and_repeated_messages_are_counted() {
    let _one = TIMING.lock().await;
    let srv = server(Faults {
        drop_every: 5,
        duplicate_every: 7,
        ..Faults::default()
    })
    .await;
    let s = scenario(
        &srv,
        "[load]\ntransports = [\"websocket\"]\nconnections = 3\nduration = \"2s\"\nwarmup = \"300ms\"\n\n\
         [workload]\nkind = \"push\"\nrate = 50\n",
    );
    let out = run_ok("loss", s).await;
    let p = &out.summary.phases[0];
    let c = &p.counters;
    let per_conn = c.published as f64;
    assert!(per_conn >= 80.0, "{c:?}");
    // Every fifth is missing on each of the 3 connections; every seventh
    // (not also a fifth) arrives twice.
    let lost = c.lost as f64 / 3.0;
    let dup = c.duplicated as f64 / 3.0;
    assert!(
        (lost - per_conn / 5.0).abs() <= 1.5,
        "lost {lost} of {per_conn}"
    );
    assert!(
        (dup - per_conn * 4.0 / 35.0).abs() <= 1.5,
        "dup {dup} of {per_conn}"
    );
    assert!(p.delivered_ratio < 0.85, "{}", p.delivered_ratio);
    // A threshold on it fails.
    let t = wsbench_model::Threshold::parse("lost == 0").unwrap();
    assert!(!Summary::evaluate(&out.summary.phases, &[t], None)[0].passed);
}

fn check_complete(p: &PhaseSummary) {
    let c = &p.counters;
    assert_eq!(
        (c.lost, c.duplicated, c.out_of_order),
        (0, 0, 0),
        "{}: {c:?}",
        p.transport
    );
    assert_eq!(p.errors(), 0, "{}: {:?}", p.transport, c.errors);
    assert_eq!(p.delivered_ratio, 1.0, "{}: {c:?}", p.transport);
    assert!(p.latency["push_latency"].count > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_push_transport_delivers_everything_and_counts_requests() {
    let _one = TIMING.lock().await;
    let srv = server(Faults::default()).await;
    let s = scenario(
        &srv,
        "[load]\ntransports = [\"websocket\", \"long-poll\", \"short-poll\", \"sse\"]\nconnections = 20\n\
         duration = \"1500ms\"\nwarmup = \"300ms\"\nshort_poll_interval = \"100ms\"\nsource_addresses = 2\n\n\
         [workload]\nkind = \"push\"\nrate = 40\npayload = \"json\"\npayload_size = 80\n",
    );
    let out = run_ok("all", s).await;
    let phases = &out.summary.phases;
    assert_eq!(phases.len(), 4);
    for p in phases {
        check_complete(p);
        // Every transport times its TCP connect and, apart, the rest until
        // it is subscribed.
        for m in ["connect_time", "handshake_time"] {
            assert_eq!(p.latency[m].count, 20, "{} {m}", p.transport);
        }
        assert!(p.bytes_per_msg > 0.0, "{}", p.transport);
        assert!(p.latency["json_parse"].count > 0, "{}", p.transport);
    }
    let req = |i: usize| phases[i].requests_per_msg;
    assert_eq!(req(0), 0.0, "websocket sends no requests");
    assert!(req(1) > 0.0 && req(1) <= 1.05, "long-poll: {}", req(1));
    // 10 polls a second against 40 messages a second.
    assert!(req(2) > 0.15 && req(2) < 0.5, "short poll: {}", req(2));
    assert_eq!(
        req(3),
        0.0,
        "SSE: one request per connection, before the window"
    );
    let back = Summary::read(&out.dir.join("summary.json")).unwrap();
    assert_eq!(&back, &out.summary);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_run_writes_partial_results() {
    let _one = TIMING.lock().await;
    // Every publish is held 50 ms before the server takes and answers it:
    // when the run is interrupted some are always on their way.
    let srv = server(Faults {
        push_delay: Duration::from_millis(50),
        ..Faults::default()
    })
    .await;
    let s = scenario(
        &srv,
        "[load]\ntransports = [\"websocket\", \"sse\"]\nconnections = 5\nduration = \"30s\"\n\n\
         [workload]\nkind = \"push\"\nrate = 100\n",
    );
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        tx.send_replace(true);
    });
    let started = std::time::Instant::now();
    let e = run(s, options("interrupt", rx)).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10));
    let RunError::Interrupted { dir, summary } = e else {
        panic!("expected Interrupted, got {e}");
    };
    assert!(summary.partial);
    assert_eq!(summary.phases.len(), 1, "the second phase never started");
    let c = &summary.phases[0].counters;
    assert!(c.delivered > 0);
    // The window ended where publishing did: nothing due was lost (the
    // publishes on their way were answered, and the subscribers, stopped
    // after publishing, received them), and the messages never due are
    // neither published nor failed.
    assert_eq!((c.publish_failed, c.lost), (0, 0), "{c:?}");
    assert!(c.published < 3000, "30 s at 100/s were planned: {c:?}");
    let on_disk = Summary::read(&dir.join("summary.json")).unwrap();
    assert!(on_disk.partial);
    assert!(dir.join("websocket-push_latency.hdr").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dying_target_ends_the_run_with_partial_results() {
    let _one = TIMING.lock().await;
    let srv = server(Faults::default()).await;
    let s = scenario(
        &srv,
        "[load]\ntransports = [\"websocket\"]\nconnections = 5\nduration = \"30s\"\n\n\
         [workload]\nkind = \"echo\"\nrate = 50\npayload_size = 32\n",
    );
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        srv.shutdown(Duration::from_secs(1)).await;
    });
    let (_tx, rx) = watch::channel(false);
    let e = run(s, options("dying", rx)).await.unwrap_err();
    let RunError::TargetFailed {
        dir,
        detail,
        summary,
    } = e
    else {
        panic!("expected TargetFailed, got {e}");
    };
    assert!(detail.contains("no connection"), "{detail}");
    assert!(summary.partial);
    let p = &summary.phases[0];
    assert!(p.counters.delivered > 0);
    assert_eq!(
        p.counters.errors.get("close-1001"),
        Some(&5),
        "{:?}",
        p.counters.errors
    );
    assert!(Summary::read(&dir.join("summary.json")).unwrap().partial);
}

/// The publish record of a phase, read back.
fn record(out: &RunOutcome, transport: &str) -> wsbench_model::delivery::PublishRecord {
    wsbench_model::delivery::PublishRecord::read(
        &out.dir.join(format!("{transport}-publish-0.csv")),
    )
    .unwrap()
}

/// A 20 ms push delay on every push transport. The same scenario against
/// the same server without the delay gives the path's own latency (the
/// harness and the server share this test's two cores); the delay adds
/// 20 ms to the median (at most 6 ms more), and no transport measures
/// less than the delay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_delay_shows_as_the_median_on_every_push_transport() {
    let _one = TIMING.lock().await;
    let body = "[load]\ntransports = [\"websocket\", \"long-poll\", \"short-poll\", \"sse\"]\n\
                connections = 4\nduration = \"2s\"\nwarmup = \"300ms\"\nshort_poll_interval = \"2ms\"\n\n\
                [workload]\nkind = \"push\"\nrate = 40\n";
    let mut medians = Vec::new();
    for delay in [Duration::ZERO, Duration::from_millis(20)] {
        let srv = server(Faults {
            push_delay: delay,
            ..Faults::default()
        })
        .await;
        let out = run_ok("push-delay", scenario(&srv, body)).await;
        for p in &out.summary.phases {
            check_complete(p);
            assert_eq!(
                p.latency["push_latency"].count, p.counters.delivered,
                "{}: every delivery is timed",
                p.transport
            );
        }
        medians.push(
            out.summary
                .phases
                .iter()
                .map(|p| (p.transport.clone(), ms(p.latency["push_latency"].p50)))
                .collect::<Vec<_>>(),
        );
    }
    for ((transport, base), (_, delayed)) in medians[0].iter().zip(&medians[1]) {
        let added = delayed - base;
        // No message can arrive before the delay: a measurement that
        // loses time (or misses the delay) is caught here.
        assert!(
            *delayed >= 20.0,
            "{transport}: {delayed} ms for a 20 ms delay"
        );
        // Above it the path adds its own latency, which is noisy: after
        // 20 ms idle both processes wake from an idle core, and the other
        // tests of this binary share the two cores (on this project's
        // 2-vCPU machine the added time ranged 18.3-24.3 ms over runs,
        // the undelayed median 0.5-2.5 ms). A measurement that counts the
        // delay twice is off by 20 ms. A short poll adds up to one
        // interval (2 ms) of its own, and where the polls fall against the
        // publishes differs from run to run.
        let above = if transport == "short-poll" { 9.0 } else { 6.0 };
        assert!(
            added <= 20.0 + above,
            "{transport}: p50 {delayed} ms with the delay, {base} ms without: {added} ms added"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_stops_delivering_owes_every_later_message_to_every_subscriber() {
    let _one = TIMING.lock().await;
    // The publisher starts with the phase, so about 25 messages go out
    // before the window (0.5 s at 50/s): the target delivers 30 of the
    // window's 100, then accepts and drops the rest.
    let n = 55;
    let srv = server(Faults {
        stop_delivering_after: n,
        ..Faults::default()
    })
    .await;
    let body = "[load]\ntransports = [\"websocket\", \"long-poll\", \"sse\"]\nconnections = 4\n\
                duration = \"2s\"\nwarmup = \"300ms\"\n\n[workload]\nkind = \"push\"\nrate = 50\n";
    let out = run_ok("stop-after", scenario(&srv, body)).await;
    for p in &out.summary.phases {
        let c = &p.counters;
        let rec = record(&out, &p.transport);
        let window: Vec<_> = rec
            .entries
            .iter()
            .filter(|e| e.j >= 0 && (e.j as u64) < rec.window)
            .collect();
        // Every publish was accepted, so every window message was published.
        assert_eq!(c.published, rec.window, "{}: {c:?}", p.transport);
        assert_eq!(c.publish_failed, 0);
        assert_eq!(c.owed, c.published * 4, "{}: {c:?}", p.transport);
        // The window messages the target numbered up to n reached everyone.
        let before_cut = window
            .iter()
            .filter(|e| e.seq.is_some_and(|s| s <= n))
            .count() as u64;
        if p.transport == "websocket" {
            assert!(
                before_cut > 10 && before_cut < 90,
                "the cut falls inside the window: {before_cut}"
            );
        } else {
            assert_eq!(before_cut, 0, "later phases come after the cut");
        }
        assert_eq!(c.delivered, before_cut * 4, "{}: {c:?}", p.transport);
        assert_eq!(
            c.lost,
            (c.published - before_cut) * 4,
            "{}: {c:?}",
            p.transport
        );
        assert!(p.delivered_ratio < 1.0);
        let lost = wsbench_model::Threshold::parse("lost == 0").unwrap();
        let ratio = wsbench_model::Threshold::parse("delivered_ratio >= 1.0").unwrap();
        let verdicts = Summary::evaluate(std::slice::from_ref(p), &[lost, ratio], None);
        assert!(verdicts.iter().all(|v| !v.passed), "{verdicts:?}");
    }
}

/// Throughput counts a message sent when it goes out in the window, and
/// delivered when its echo comes back: a target that dies mid-run leaves
/// messages sent and never echoed, and the ratio says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throughput_counts_sends_that_never_come_back() {
    let _one = TIMING.lock().await;
    let srv = server(Faults {
        echo_delay: Duration::from_millis(5),
        ..Faults::default()
    })
    .await;
    let s = scenario(
        &srv,
        "[load]\ntransports = [\"websocket\"]\nconnections = 3\nduration = \"30s\"\n\n\
         [workload]\nkind = \"throughput\"\nin_flight = 8\npayload_size = 32\n",
    );
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        srv.shutdown(Duration::from_millis(100)).await;
    });
    let (_tx, rx) = watch::channel(false);
    let e = run(s, options("throughput-dies", rx)).await.unwrap_err();
    let RunError::TargetFailed { summary, .. } = e else {
        panic!("expected TargetFailed, got {e}");
    };
    let p = &summary.phases[0];
    let c = &p.counters;
    assert!(c.delivered > 0, "{c:?}");
    assert!(
        c.published > c.delivered,
        "sent {} > echoed {}",
        c.published,
        c.delivered
    );
    assert!(p.delivered_ratio < 1.0, "{}", p.delivered_ratio);
}
