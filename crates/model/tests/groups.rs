//! Mixed populations: `[[group]]` tables parse into one scenario per
//! group (its transport, connections and workload, the run's target and
//! timing), weights share `[load] connections` exactly, thresholds name a
//! group as a prefix, and every mistake is refused where it is written.

use wsbench_model::{Scenario, Transport, WorkloadKind};

const HEAD: &str = r#"schema_version = 1
name = "mix"
thresholds = [THRESHOLDS]

[target]
builtin = true

[load]
connections = 1000
ramp_rate = 500
duration = "5s"
"#;

const GROUPS: &str = r#"
[[group]]
name = "readers"
transport = "sse"
weight = 3
workload = { kind = "push", rate = 10 }

[[group]]
name = "talkers"
transport = "websocket"
weight = 1
ramp_rate = 20
workload = { kind = "echo", rate = 2 }

[[group]]
name = "callers"
transport = "websocket"
connections = 7
workload = { kind = "echo", rate = 1, payload_size = 256 }
"#;

fn file(thresholds: &str, groups: &str) -> String {
    HEAD.replace("THRESHOLDS", thresholds) + groups
}

fn error(text: &str) -> (usize, String) {
    let e = Scenario::parse("mix.toml", text).unwrap_err();
    (e.line, format!("{e}"))
}

/// The line of the first occurrence of `needle` in `text`, from 1.
fn line_of(text: &str, needle: &str) -> usize {
    let at = text.find(needle).expect("needle");
    text[..at].lines().count() + usize::from(text[..at].ends_with('\n'))
}

#[test]
fn groups_become_scenarios_of_their_own_with_shares_that_add_up() {
    let text = file(
        r#""readers.push_latency.p99 < 50ms", "echo_rtt.p99 < 20ms", "errors == 0""#,
        GROUPS,
    );
    let s = Scenario::parse("mix.toml", &text).unwrap();
    let names: Vec<&str> = s.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["readers", "talkers", "callers"]);
    let readers = s.group("readers").unwrap();
    let talkers = s.group("talkers").unwrap();
    let callers = s.group("callers").unwrap();
    // 3:1 of the 1,000; the counted group besides.
    assert_eq!(
        (
            readers.connections,
            talkers.connections,
            callers.connections
        ),
        (750, 250, 7)
    );
    assert_eq!(s.connections, 1007);
    assert_eq!(readers.transports, [Transport::Sse]);
    assert_eq!(readers.workload, WorkloadKind::Push);
    assert_eq!(talkers.workload, WorkloadKind::Echo);
    // Its own ramp rate, else [load]'s; [load]'s timing for every group.
    assert_eq!((talkers.ramp_rate, callers.ramp_rate), (20.0, 500.0));
    assert!(s.groups.iter().all(|g| g.scenario.duration == s.duration));
    assert_eq!(callers.payload_size, 256);
    assert_eq!(s.payload_size, 256);
    assert_eq!(s.transports, [Transport::Sse, Transport::Websocket]);
    assert_eq!(s.thresholds[0].group.as_deref(), Some("readers"));
    assert_eq!(s.thresholds[1].group, None);
}

#[test]
fn mistakes_are_refused_where_they_are_written() {
    let bad = |groups: &str, needle: &str, says: &str| {
        let text = file(r#""errors == 0""#, groups);
        let (line, msg) = error(&text);
        assert_eq!(line, line_of(&text, needle), "{msg}");
        assert!(msg.contains(says), "{msg}");
    };
    let both = GROUPS.replace("connections = 7", "connections = 7\nweight = 2");
    bad(&both, "weight = 2", "not both");
    let neither = GROUPS.replace("connections = 7\n", "");
    bad(
        &neither,
        "[[group]]\nname = \"callers\"",
        "connections = N, weight = W or stages",
    );
    let twice = GROUPS.replace("\"callers\"", "\"talkers\"");
    bad(
        &twice,
        "name = \"talkers\"\ntransport = \"websocket\"\nconnections",
        "named twice",
    );
    let transport_name = GROUPS.replace("\"callers\"", "\"sse\"");
    bad(
        &transport_name,
        "name = \"sse\"",
        "transport, stage or metric",
    );
    let second_push = GROUPS.replace(
        "workload = { kind = \"echo\", rate = 1, payload_size = 256 }",
        "workload = { kind = \"push\", rate = 1 }",
    );
    bad(
        &second_push,
        "workload = { kind = \"push\", rate = 1 }",
        "one push stream",
    );
    let echo_over_sse = GROUPS.replace(
        "transport = \"websocket\"\nweight = 1",
        "transport = \"long-poll\"\nweight = 1",
    );
    bad(&echo_over_sse, "\"long-poll\"", "WebSocket only");
    let no_share = GROUPS.replace("weight = 1\n", "weight = 0.0001\n");
    bad(&no_share, "[[group]]\nname = \"talkers\"", "no connection");

    let with_workload = file(
        r#""errors == 0""#,
        "[workload]\nkind = \"push\"\nrate = 1\n",
    ) + GROUPS;
    let (line, msg) = error(&with_workload);
    assert_eq!(line, line_of(&with_workload, "kind = \"push\"\nrate = 1"));
    assert!(msg.contains("no [workload] of its own"), "{msg}");
    let with_stages = file(r#""errors == 0""#, "").replace(
        "duration = \"5s\"\n",
        "stages = [{ duration = \"5s\", target = 10 }]\n",
    ) + GROUPS;
    let (line, msg) = error(&with_stages);
    assert_eq!(line, line_of(&with_stages, "stages ="));
    assert!(msg.contains("each group has its own stages"), "{msg}");
}

#[test]
fn thresholds_name_a_group_that_produces_the_metric() {
    let refused = |t: &str, says: &str| {
        let text = file(&format!("{t:?}"), GROUPS);
        let (line, msg) = error(&text);
        assert_eq!(line, 3, "{msg}");
        assert!(msg.contains(says), "{t}: {msg}");
    };
    refused("writers.echo_rtt.p99 < 5ms", "no group \"writers\"");
    refused(
        "talkers.push_latency.p99 < 5ms",
        "does not produce push_latency",
    );
    refused("rpc_rtt.p99 < 5ms", "no group produces it");
    refused("server_cpu_us_per_msg < 50", "the whole server's");
    // Without groups, a prefix that is not a transport is refused.
    let plain = "schema_version = 1\nname = \"p\"\nthresholds = [\"writers.echo_rtt.p99 < 5ms\"]\n\
                 [target]\nbuiltin = true\n[load]\ntransports = [\"websocket\"]\n\
                 connections = 1\nduration = \"1s\"\n[workload]\nkind = \"echo\"\nrate = 1\n";
    let (line, msg) = error(plain);
    assert_eq!(line, 3);
    assert!(msg.contains("this scenario has none"), "{msg}");
}

/// `flow.NAME` thresholds name a timed expect of the flow, over the
/// window; a group prefix reaches a flow group's timers.
#[test]
fn flow_timer_thresholds_name_a_timed_expect() {
    let flow = |thresholds: &str| {
        format!(
            "schema_version = 1\nname = \"f\"\nthresholds = [{thresholds}]\n\
             [target]\nbuiltin = true\n[load]\nconnections = 4\nduration = \"1s\"\n\
             [[group]]\nname = \"chatters\"\ntransport = \"websocket\"\nweight = 1\n\
             [group.workload]\nkind = \"flow\"\n\
             [[group.workload.steps]]\nsend = 'hi'\n\
             [[group.workload.steps]]\nexpect = {{ contains = \"hi\" }}\ntime = \"say\"\n\
             [[group]]\nname = \"talkers\"\ntransport = \"websocket\"\nconnections = 2\n\
             workload = {{ kind = \"echo\", rate = 1 }}\n"
        )
    };
    for ok in [
        "\"flow.say.p99 < 50ms\"",
        "\"chatters.flow.say_uncorrected.max < 1s\"",
    ] {
        Scenario::parse("f.toml", &flow(ok)).unwrap();
    }
    for (t, says) in [
        (
            "\"flow.said.p99 < 50ms\"",
            "no timed expect is named \"said\"",
        ),
        (
            "\"talkers.flow.say.p99 < 50ms\"",
            "no timed expect is named \"say\"",
        ),
    ] {
        let (line, msg) = error(&flow(t));
        assert_eq!(line, 3, "{msg}");
        assert!(msg.contains(says), "{t}: {msg}");
    }
}

/// A group may follow a stage profile of its own (counts or arrival
/// rates) in the run's window; the others hold theirs.
#[test]
fn a_group_follows_its_own_stages_in_the_runs_window() {
    let staged = |stages: &str, extra: &str| {
        format!(
            "schema_version = 1\nname = \"s\"\n\
             [target]\nbuiltin = true\n[load]\nconnections = 4\nwarmup = \"1s\"\nduration = \"3s\"\n\
             reconnect = {{}}\n\
             [[group]]\nname = \"steady\"\ntransport = \"websocket\"\nweight = 1\n\
             workload = {{ kind = \"echo\", rate = 1 }}\n\
             [[group]]\nname = \"waves\"\ntransport = \"websocket\"\n{extra}\
             stages = {stages}\n\
             workload = {{ kind = \"echo\", rate = 1 }}\n"
        )
    };
    let up_down = "[{ duration = \"2s\", target = 30 }, { duration = \"2s\", target = 10 }]";
    let s = Scenario::parse("s.toml", &staged(up_down, "")).unwrap();
    let waves = s.group("waves").unwrap();
    assert_eq!((waves.connections, waves.stages.len()), (30, 2));
    assert_eq!(waves.duration, s.group("steady").unwrap().duration);
    assert_eq!(s.connections, 34);
    let arrivals = "[{ duration = \"4s\", arrivals = 10 }]";
    let s = Scenario::parse("s.toml", &staged(arrivals, "")).unwrap();
    assert_eq!(s.group("waves").unwrap().connections, 20);

    for (stages, extra, says) in [
        (
            "[{ duration = \"3s\", target = 30 }]",
            "",
            "this group's stages last 3s, the run 4s",
        ),
        (
            up_down,
            "connections = 5\n",
            "takes its connections from them",
        ),
        (up_down, "ramp_rate = 5\n", "cannot be set with stages"),
        (
            "[{ duration = \"4s\", target = 3, restart = \"1s\" }]",
            "",
            "cannot restart the server",
        ),
    ] {
        let text = staged(stages, extra);
        let e = Scenario::parse("s.toml", &text).unwrap_err();
        assert!(e.message.contains(says), "{stages} {extra}: {e}");
    }
}
