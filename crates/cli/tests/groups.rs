//! Mixed populations through the real binary against the builtin server:
//! `[[group]]` tables run side by side in one window, each measured as a
//! phase of its own, each keeping its own rate whatever the others do,
//! in one process, over worker processes and over shards (merged group
//! by group); a threshold naming a group is checked on that group only.

mod common;

use common::{newest_run, run_quiet, serial, temp_dir, text, wsbench};

const WINDOW_S: f64 = 3.0;

/// Push readers at 50 msg/s, echo talkers at `talk` msg/s each (10 of
/// them), and 5 paced flow users (an iteration every 100 ms).
fn scenario(talk: u32, thresholds: &str) -> String {
    format!(
        "schema_version = 1\nname = \"groups\"\nthresholds = [{thresholds}]\n\
         [target]\nbuiltin = true\n\
         [load]\nconnections = 30\nramp_rate = 300\nwarmup = \"1s\"\nduration = \"3s\"\n\
         [[group]]\nname = \"readers\"\ntransport = \"websocket\"\nweight = 1\n\
         workload = {{ kind = \"push\", rate = 50 }}\n\
         [[group]]\nname = \"talkers\"\ntransport = \"websocket\"\nconnections = 10\n\
         workload = {{ kind = \"echo\", rate = {talk} }}\n\
         [[group]]\nname = \"users\"\ntransport = \"websocket\"\nconnections = 5\n\
         [group.workload]\nkind = \"flow\"\npace = \"100ms\"\n\
         [[group.workload.steps]]\nsend = '{{\"op\":\"hi\",\"n\":{{conn}}}}'\n\
         [[group.workload.steps]]\nexpect = {{ pointer = \"/op\", equals = \"hi\" }}\n\
         time = \"hi\"\n"
    )
}

/// The phase of group `name`.
fn group<'a>(s: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    s["phases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["group"] == name)
        .unwrap_or_else(|| panic!("no phase of group {name}: {s}"))
}

fn count(p: &serde_json::Value, counter: &str) -> f64 {
    p["counters"][counter].as_f64().unwrap()
}

/// The groups' windows opened within 50 ms of each other (their ramps
/// and warm-ups differ: each started so that they would).
fn windows_open_together(s: &serde_json::Value) {
    let starts: Vec<std::time::SystemTime> = s["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| humantime::parse_rfc3339(p["window_start"].as_str().unwrap()).unwrap())
        .collect();
    let (lo, hi) = (starts.iter().min().unwrap(), starts.iter().max().unwrap());
    let apart = hi.duration_since(*lo).unwrap();
    assert!(apart.as_millis() <= 50, "windows {apart:?} apart: {s}");
}

/// Within 5% of `want`.
fn near(got: f64, want: f64) -> bool {
    (got - want).abs() <= want * 0.05
}

/// Each group keeps its rate: the readers' publisher 50/s, each talker
/// `talk`/s, each flow user 10 iterations/s, all in one window; raising
/// the talkers' rate fivefold leaves the readers' and users' counts as
/// they were, and each group has its own latency and files.
fn each_group_keeps_its_rate(extra: &[&str], name: &str) {
    let dir = temp_dir("groups", name);
    let mut seen = Vec::new();
    for talk in [10, 50] {
        let file = dir.join(format!("talk-{talk}.toml"));
        std::fs::write(&file, scenario(talk, "\"errors == 0\"")).unwrap();
        let (report, s) = run_quiet(&file, &dir.join("results"), extra);
        assert_eq!(s["phases"].as_array().unwrap().len(), 3, "{s}");
        let (readers, talkers, users) = (
            group(&s, "readers"),
            group(&s, "talkers"),
            group(&s, "users"),
        );
        for p in [readers, talkers, users] {
            assert_eq!(p["counters"]["errors"], serde_json::json!({}), "{p}");
            assert_eq!(p["transport"], "websocket");
        }
        // Readers (the one weighted group: all 30 of [load]): every
        // message of the window to each.
        let published = count(readers, "published");
        assert!(near(published, 50.0 * WINDOW_S), "readers {published}");
        assert_eq!(count(readers, "owed"), published * 30.0, "{readers}");
        assert_eq!(count(readers, "lost"), 0.0, "{readers}");
        // Talkers: 10 connections at `talk`/s each.
        let sent = count(talkers, "published");
        let want = 10.0 * f64::from(talk) * WINDOW_S;
        assert!(near(sent, want), "talkers sent {sent}, want {want}");
        assert_eq!(count(talkers, "delivered"), sent, "{talkers}");
        // Users: 5 flows, an iteration every 100 ms.
        let timed = users["latency"]["flow.hi"]["count"].as_f64().unwrap();
        assert!(near(timed, 5.0 * 10.0 * WINDOW_S), "users timed {timed}");
        // Each group's own latency, and no other's.
        assert!(readers["latency"]["push_latency"]["count"].as_u64() > Some(0));
        assert!(readers["latency"].get("echo_rtt").is_none(), "{readers}");
        assert!(talkers["latency"]["echo_rtt"]["count"].as_u64() > Some(0));
        assert!(
            talkers["latency"].get("push_latency").is_none(),
            "{talkers}"
        );
        let run = newest_run(&dir.join("results"));
        for f in [
            "readers-push_latency.hdr",
            "talkers-echo_rtt.hdr",
            "users-flow.hi.hdr",
        ] {
            assert!(run.join(f).exists(), "{f}");
        }
        assert!(report.contains("all 3 groups at once"), "{report}");
        windows_open_together(&s);
        seen.push((published, timed));
    }
    // Five times the talkers' traffic did not move the other groups.
    let (a, b) = (seen[0], seen[1]);
    assert!(near(b.0, a.0) && near(b.1, a.1), "{seen:?}");
}

#[test]
fn groups_keep_their_own_rates_side_by_side() {
    let _one = serial();
    each_group_keeps_its_rate(&[], "one-process");
}

#[test]
fn groups_keep_their_own_rates_over_worker_processes() {
    let _one = serial();
    each_group_keeps_its_rate(&["--workers", "2"], "workers");
}

/// A threshold naming a group is checked on that group alone; one
/// naming none on every group producing its metric.
#[test]
fn a_group_threshold_is_checked_on_its_group() {
    let _one = serial();
    let dir = temp_dir("groups", "thresholds");
    let file = dir.join("t.toml");
    std::fs::write(
        &file,
        scenario(
            10,
            "\"talkers.echo_rtt.p50 < 1ns\", \"readers.delivered_ratio >= 1.0\", \"echo_rtt.max < 10s\", \
             \"users.flow.hi.max < 10s\"",
        ),
    )
    .unwrap();
    let results = dir.join("results");
    let out = wsbench(&common::quiet_run_args(&file, &results));
    let report = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{report}");
    let s = common::summary(&newest_run(&results));
    let users = group(&s, "users");
    let timer_max = users["latency"]["flow.hi"]["max"].as_f64();
    assert_eq!(s["thresholds"][3]["value"].as_f64(), timer_max, "{s}");
    let verdicts: Vec<(&str, &str, bool)> = s["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["threshold"].as_str().unwrap(),
                t["transport"].as_str().unwrap(),
                t["passed"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        verdicts,
        [
            ("talkers.echo_rtt.p50 < 1ns", "talkers", false),
            ("readers.delivered_ratio >= 1.0", "readers", true),
            ("echo_rtt.max < 10s", "talkers", true),
            ("users.flow.hi.max < 10s", "users", true),
        ],
        "{report}"
    );
}

/// A group may follow its own stage profile next to a steady group: the
/// staged group's open connections follow its profile second by second,
/// the steady group keeps its rate, in one process and over workers.
#[test]
fn a_staged_group_follows_its_profile_next_to_a_steady_one() {
    let _one = serial();
    let dir = temp_dir("groups", "staged");
    let file = dir.join("staged.toml");
    std::fs::write(
        &file,
        "schema_version = 1\nname = \"staged\"\n[target]\nbuiltin = true\n\
         [load]\nconnections = 20\nramp_rate = 10\nwarmup = \"1s\"\nduration = \"3s\"\n\
         [[group]]\nname = \"steady\"\ntransport = \"websocket\"\nweight = 1\n\
         workload = { kind = \"echo\", rate = 10 }\n\
         [[group]]\nname = \"waves\"\ntransport = \"websocket\"\n\
         stages = [{ duration = \"1s\", target = 40 }, { duration = \"2s\", target = 40 }, \
         { duration = \"1s\", target = 10 }]\n\
         workload = { kind = \"echo\", rate = 5 }\n",
    )
    .unwrap();
    for (extra, name) in [(&[][..], "one"), (&["--workers", "2"][..], "two")] {
        let (_, s) = run_quiet(&file, &dir.join(name), extra);
        let (steady, waves) = (group(&s, "steady"), group(&s, "waves"));
        for p in [steady, waves] {
            assert_eq!(p["counters"]["errors"], serde_json::json!({}), "{p}");
        }
        let sent = count(steady, "published");
        assert!(near(sent, 20.0 * 10.0 * WINDOW_S), "steady sent {sent}");
        let stages = waves["stages"].as_array().unwrap();
        assert_eq!(stages.len(), 3, "{waves}");
        for st in stages {
            // Within 2 connections (5% of 40) of the profile, allowing
            // the handshake's lag on the ramp.
            assert!(st["worst_gap"].as_u64().unwrap() <= 3, "{name}: {st}");
        }
        assert_eq!(count(waves, "connections_peak"), 40.0, "{waves}");
        windows_open_together(&s);
    }
}

/// Two shards of a mixed population against one server: each runs its
/// share of every group on the one schedule, and the merge gives each
/// group its whole count (20 readers owed every message of both shards'
/// publishers, 6 talkers at 10/s).
#[test]
fn shards_take_their_share_of_every_group_and_merge_by_group() {
    let _one = serial();
    let dir = temp_dir("groups", "shards");
    let target = common::serve(&[]);
    let file = dir.join("mix.toml");
    std::fs::write(
        &file,
        format!(
            "schema_version = 1\nname = \"shmix\"\n[target]\nurl = \"ws://{}\"\n\
             [load]\nconnections = 20\nramp_rate = 100\nwarmup = \"1s\"\nduration = \"2s\"\n\
             [[group]]\nname = \"readers\"\ntransport = \"websocket\"\nweight = 1\n\
             workload = {{ kind = \"push\", rate = 20 }}\n\
             [[group]]\nname = \"talkers\"\ntransport = \"websocket\"\nconnections = 6\n\
             workload = {{ kind = \"echo\", rate = 10 }}\n",
            target.addr
        ),
    )
    .unwrap();
    let results = dir.join("results");
    let start = std::time::SystemTime::now() + std::time::Duration::from_secs(3);
    let start = start
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let start = format!("{start:.3}");
    let shard = |i: u32| {
        let (f, r) = (file.to_str().unwrap(), results.to_str().unwrap());
        let s = format!("{i}/2");
        common::spawn(&[
            "run",
            f,
            "--quiet",
            "--results",
            r,
            "--shard",
            &s,
            "--start-at",
            &start,
        ])
    };
    let (a, b) = (shard(0), shard(1));
    for o in [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()] {
        assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    }
    let mut shards: Vec<String> = std::fs::read_dir(&results)
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    shards.sort();
    for s in &shards {
        let part = common::summary(std::path::Path::new(s));
        assert_eq!(count(group(&part, "readers"), "connections_opened"), 10.0);
        assert_eq!(count(group(&part, "talkers"), "connections_opened"), 3.0);
    }
    let merged = dir.join("merged");
    let mut args = vec!["merge", "--out", merged.to_str().unwrap()];
    args.extend(shards.iter().map(String::as_str));
    let out = wsbench(&args);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let m = common::summary(&merged);
    let (readers, talkers) = (group(&m, "readers"), group(&m, "talkers"));
    assert_eq!(count(readers, "connections_opened"), 20.0);
    assert_eq!(
        count(readers, "published"),
        40.0,
        "2 s at 20/s over both shards"
    );
    assert_eq!(count(readers, "owed"), 40.0 * 20.0);
    assert_eq!(count(readers, "lost"), 0.0);
    assert_eq!(count(talkers, "connections_opened"), 6.0);
    assert!(
        near(count(talkers, "published"), 6.0 * 10.0 * 2.0),
        "{talkers}"
    );
    assert_eq!(count(talkers, "delivered"), count(talkers, "published"));
}
