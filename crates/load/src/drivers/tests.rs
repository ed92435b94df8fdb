//! The drivers' judgement of pushed messages, and their size.

use super::*;

fn size<F: Future>(_: &F) -> usize {
    std::mem::size_of::<F>()
}

fn push_ctx() -> PhaseCtx {
    let text = "schema_version = 1\nname = \"x\"\n[target]\nbuiltin = true\n[load]\n\
                transports = [\"websocket\"]\nconnections = 1\nduration = \"1s\"\n\
                [workload]\nkind = \"push\"\nrate = 10\n";
    PhaseCtx {
        scenario: Arc::new(Scenario::parse("x", text).unwrap()),
        transport: Transport::Websocket,
        rec: Arc::new(Recorder::new(Metric::PushLatency)),
        origin: Origin {
            authority: String::new(),
            tls: false,
            shard: 0,
        },
        options: ClientOptions::default(),
        stop: Stop::new(),
        push: Some(PushCtx {
            grid: Grid::new(1_000_000_000, Duration::from_secs(1), 10.0, 1),
            run: 7,
            phase: 0,
            clock: (0, 1),
        }),
        lives: None,
        send_rate: None,
    }
}

/// Only this run's publisher's messages count; one that would have
/// arrived before it was sent, or that names another run or phase, is
/// unknown (and counted, not timed).
#[test]
fn messages_the_publisher_did_not_send_are_unknown() {
    let ctx = push_ctx();
    let mut r = Receipts::default();
    r.subscribed(1);
    let body = |run, phase, j, lag_ns| {
        Marker {
            run,
            phase,
            j,
            lag_ns,
        }
        .body(PayloadKind::Text, 64)
    };
    // Message 2 is due at 1.2 s; sent 1 ms late, received at 1.205 s.
    ctx.on_payload(&mut r, &body(7, 0, 2, 1_000_000), None, 1_205_000_000);
    // Received before it was sent; another run; another phase; no marker.
    ctx.on_payload(&mut r, &body(7, 0, 3, 0), None, 1_205_000_000);
    ctx.on_payload(&mut r, &body(8, 0, 1, 0), None, 1_205_000_000);
    ctx.on_payload(&mut r, &body(7, 1, 1, 0), None, 1_205_000_000);
    ctx.on_payload(&mut r, "hello", None, 1_205_000_000);
    // Before the window (warm-up) and after it: neither delivered nor
    // unknown.
    ctx.on_payload(&mut r, &body(7, 0, -1, 0), None, 1_205_000_000);
    ctx.on_payload(&mut r, &body(7, 0, 10, 0), None, 2_100_000_000);
    let c = &ctx.rec.counts;
    assert_eq!(Counts::get(&c.delivered), 1);
    assert_eq!(Counts::get(&c.unknown), 4);
    assert_eq!(ctx.rec.errors().get("unknown-message"), Some(&4));
    let h = ctx.rec.histograms();
    assert_eq!(h[&Metric::PushLatency].len(), 1);
    let corrected = h[&Metric::PushLatency].max();
    let uncorrected = h[&Metric::PushLatencyUncorrected].max();
    assert!(corrected.abs_diff(5_000_000) < 5_000, "{corrected}");
    assert!(uncorrected.abs_diff(4_000_000) < 5_000, "{uncorrected}");
}

/// Another server's own messages (no marker at all) are `other`, not
/// errors; a marker of another run is still unknown.
#[test]
fn a_foreign_targets_own_messages_are_other() {
    let mut ctx = push_ctx();
    let mut s = (*ctx.scenario).clone();
    s.protocol.profile = wsbench_model::scenario::Profile::Nchan;
    ctx.scenario = Arc::new(s);
    let mut r = Receipts::default();
    r.subscribed(1);
    ctx.on_payload(&mut r, r#"{"type":"welcome"}"#, None, 1_205_000_000);
    ctx.on_payload(&mut r, "~wsb.broken", None, 1_205_000_000);
    let stale = Marker {
        run: 8,
        phase: 0,
        j: 1,
        lag_ns: 0,
    }
    .body(PayloadKind::Text, 64);
    ctx.on_payload(&mut r, &stale, None, 1_205_000_000);
    let c = &ctx.rec.counts;
    assert_eq!(Counts::get(&c.other), 2);
    assert_eq!(Counts::get(&c.unknown), 1);
    assert_eq!(ctx.rec.errors().get("unknown-message"), Some(&1));
    assert_eq!(ctx.rec.errors().len(), 1, "{:?}", ctx.rec.errors());
}

/// Memory per connection is what a load generator is judged on: the
/// task of a connection must hold its own driver's state only, and no
/// handshake state once open.
#[test]
fn connection_tasks_stay_small() {
    let text = "schema_version = 1\nname = \"x\"\n[target]\nbuiltin = true\n[load]\n\
                transports = [\"websocket\"]\nconnections = 1\nduration = \"1s\"\n\
                [workload]\nkind = \"connect\"\n";
    let ctx = Arc::new(PhaseCtx {
        scenario: Arc::new(Scenario::parse("x", text).unwrap()),
        transport: Transport::Websocket,
        rec: Arc::new(Recorder::new(Metric::HandshakeTime)),
        origin: Origin {
            authority: String::new(),
            tls: false,
            shard: 0,
        },
        options: ClientOptions::default(),
        stop: Stop::new(),
        push: None,
        lives: None,
        send_rate: None,
    });
    assert!(size(&connection(Arc::clone(&ctx), 0)) <= 64);
    assert!(size(&ws::open(&ctx, 0, Role::Echo)) <= 512);
    // A held connection's task is one allocation: tokio's task cell
    // (about 100 bytes of header and trailer around the future, rounded
    // up to 128-byte lines). At most 400 bytes of future keep the cell
    // at 512.
    let held = size(&hold(Arc::clone(&ctx), 0));
    assert!(held <= 400, "hold: {held} bytes, over 400");
    // So is a WebSocket push subscriber's, with its message loop inline
    // (no read future kept while it waits): at most 408 bytes keep the
    // cell at 512.
    let subscriber = size(&ws::push(Arc::clone(&ctx), 0));
    assert!(
        subscriber <= 408,
        "subscriber: {subscriber} bytes, over 408"
    );
    // WebSocket drivers hold thousands of idle connections. A long-poller
    // keeps its opening and its waits after a failure boxed apart: its
    // state is what each poll touches (3,456 bytes with them inline).
    for (name, n, limit) in [
        // A subscriber holds no opening state (boxed apart), and waits
        // for its end with one small future all its life.
        ("PhaseCtx::ends", std::mem::size_of_val(&ctx.ends(0, 0)), 72),
        ("ws::hold", size(&ws::hold(&ctx, 0)), 400),
        (
            "roundtrip::round_trips",
            size(&roundtrip::round_trips(&ctx, 0)),
            1024,
        ),
        ("http::poll", size(&http::poll(&ctx, 0, true)), 2560),
        ("http::sse", size(&http::sse(&ctx, 0)), 2048),
    ] {
        assert!(n <= limit, "{name}: {n} bytes, over {limit}");
    }
}
