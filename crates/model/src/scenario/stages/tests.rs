//! Stage profiles as written: counts, arrival rates, storms, and where
//! each mistake is reported.

use crate::Scenario;
use std::time::Duration;

fn parse(load: &str) -> Result<Scenario, crate::scenario::ScenarioError> {
    let text = format!(
        "schema_version = 1\nname = \"x\"\n[target]\nbuiltin = true\n[load]\n\
         transports = [\"websocket\"]\n{load}\n[workload]\nkind = \"push\"\nrate = 5\n"
    );
    Scenario::parse("s.toml", &text)
}

#[test]
fn stages_give_the_connections_and_the_window() {
    let s = parse(
        "warmup = \"1s\"\nstages = [{ duration = \"2s\", target = 40 }, \
         { duration = \"3s\", target = 40 }, { duration = \"1s\", target = 0 }]",
    )
    .unwrap();
    assert_eq!(s.connections, 40);
    assert_eq!(s.duration, Duration::from_secs(5));
    assert_eq!(s.stages.len(), 3);
    assert_eq!(s.stages[1].target, 40);
    assert_eq!(s.stages[0].rate, None);
    let s = parse("stages = [{ duration = \"1s\", target = 3, rate = 50 }]").unwrap();
    assert_eq!(s.stages[0].rate, Some(50.0));
    let s = parse("reconnect = {}\nstages = [{ duration = \"1s\", target = 3, drop = \"30%\" }]")
        .unwrap();
    assert_eq!((s.stages[0].drop, s.stages[0].restart), (Some(0.3), None));
    // As an array of tables, too.
    let s = parse("[[load.stages]]\nduration = \"1s\"\ntarget = 3\n").unwrap();
    assert_eq!((s.connections, s.duration), (3, Duration::from_secs(1)));
}

#[test]
fn a_threshold_on_a_stage_needs_the_stage_and_the_main_latency() {
    let with = |t: &str, load: &str| {
        let text = format!(
            "schema_version = 1\nname = \"x\"\nthresholds = [\"{t}\"]\n[target]\nbuiltin = true\n\
             [load]\ntransports = [\"websocket\"]\n{load}\n[workload]\nkind = \"push\"\nrate = 5\n"
        );
        Scenario::parse("s.toml", &text)
    };
    let two = "stages = [{ duration = \"1s\", target = 3 }, { duration = \"1s\", target = 0 }]";
    assert!(with("stage2.push_latency.p99 < 1s", two).is_ok());
    for (t, load, says) in [
        ("stage3.push_latency.p99 < 1s", two, "has 2 stages"),
        (
            "stage1.push_latency.p99 < 1s",
            "connections = 1\nduration = \"1s\"",
            "no stages",
        ),
        (
            "stage1.publish_lag.p99 < 1s",
            two,
            "per stage, push_latency is kept",
        ),
        ("stage1.errors == 0", two, "per stage, push_latency is kept"),
    ] {
        let e = with(t, load).unwrap_err();
        assert!(e.message.contains(says), "{t}: {e}");
        assert_eq!((e.line, e.column), (3, 16), "{t}: {e}");
    }
}

#[test]
fn arrival_stages_open_their_rate_and_count_every_arrival() {
    let s = parse(
        "warmup = \"1s\"\nstages = [{ duration = \"2s\", arrivals = 100 }, \
         { duration = \"2s\", arrivals = 100 }, { duration = \"2s\", arrivals = 0 }]",
    )
    .unwrap();
    assert_eq!(s.connections, 400);
    assert_eq!(s.duration, Duration::from_secs(5));
    assert_eq!(
        s.stages.iter().map(|st| st.arrivals).collect::<Vec<_>>(),
        [Some(100.0), Some(100.0), Some(0.0)]
    );
    for (load, col, says) in [
        (
            "stages = [{ duration = \"1s\", target = 3, arrivals = 5 }]",
            53,
            "not both",
        ),
        ("stages = [{ duration = \"1s\" }]", 24, "needs target = N"),
        (
            "stages = [{ duration = \"1s\", arrivals = 5 }, { duration = \"1s\", target = 5 }]",
            74,
            "all counts (target) or all arrival rates",
        ),
        (
            "stages = [{ duration = \"1s\", arrivals = -5 }]",
            41,
            "out of range",
        ),
        (
            "stages = [{ duration = \"1s\", arrivals = 0 }]",
            10,
            "no stage opens a connection",
        ),
    ] {
        let e = parse(load).unwrap_err();
        assert!(e.message.contains(says), "{load}: {e}");
        assert_eq!((e.line, e.column), (7, col), "{load}: {e}");
    }
}

#[test]
fn bad_stages_are_refused_where_they_are_written() {
    for (load, line, col, says) in [
        (
            "connections = 5\nstages = [{ duration = \"1s\", target = 3 }]",
            7,
            15,
            "connections cannot be set with stages",
        ),
        ("stages = []", 7, 10, "no stages"),
        (
            "stages = [{ duration = \"0s\", target = 3 }]",
            7,
            24,
            "more than 0",
        ),
        (
            "stages = [{ duration = \"1s\", target = 0 }]",
            7,
            10,
            "no stage opens a connection",
        ),
        (
            "stages = [{ duration = \"1s\", target = 2000000 }]",
            7,
            39,
            "out of range",
        ),
        (
            "warmup = \"3s\"\nstages = [{ duration = \"1s\", target = 3 }]",
            7,
            10,
            "leaves nothing",
        ),
        (
            "stages = [{ duration = \"1s\", goal = 3 }]",
            7,
            30,
            "unknown field",
        ),
        ("duration = \"1s\"", 5, 1, "[load] has no connections"),
        (
            "stages = [{ duration = \"1s\", target = 3, restart = \"500ms\" }]",
            7,
            52,
            "needs connections that reconnect",
        ),
        (
            "reconnect = {}\nstages = [{ duration = \"1s\", target = 3, restart = \"1s\" }]",
            8,
            52,
            "less than the stage",
        ),
        (
            "stages = [{ duration = \"1s\", target = 3, drop = \"10%\" }]",
            7,
            49,
            "needs connections that reconnect",
        ),
        (
            "reconnect = {}\nstages = [{ duration = \"1s\", target = 3, drop = \"0.3\" }]",
            8,
            49,
            "not a share",
        ),
        (
            "reconnect = {}\nstages = [{ duration = \"1s\", target = 3, drop = \"120%\" }]",
            8,
            49,
            "not a share",
        ),
        (
            "stages = [{ duration = \"1s\", target = 3, rate = -1 }]",
            7,
            49,
            "out of range",
        ),
    ] {
        let e = parse(load).unwrap_err();
        assert!(e.message.contains(says), "{load}: {e}");
        assert_eq!((e.line, e.column), (line, col), "{load}: {e}");
        assert!(e.hint.is_some() || says == "unknown field", "{load}: {e}");
    }
}
