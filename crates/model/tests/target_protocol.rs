//! `[target]` describing a server that is not wsbench's: profile,
//! endpoints, headers. Good descriptions parse; bad ones are refused at
//! the line and column of the value, with a hint.

use wsbench_model::scenario::{Profile, Role};
use wsbench_model::{Scenario, ScenarioError};
use wsbench_protocol::poll::{Batch, Cursor, PollDialect};

/// A push scenario against Nchan, with `target` as its `[target]` body.
fn nchan(target: &str) -> String {
    format!(
        r#"schema_version = 1
name = "n"

[target]
url = "http://127.0.0.1:8080"
profile = "nchan"
{target}

[load]
transports = ["websocket", "sse"]
connections = 10
duration = "2s"

[workload]
kind = "push"
rate = 5
"#
    )
}

const ENDPOINTS: &str = r#"[target.endpoints]
websocket = "ws://127.0.0.1:8080/sub/bench?c={conn}"
sse = "http://127.0.0.1:8080/sub/bench"
publish = "http://127.0.0.1:8080/pub/bench"
"#;

fn err(text: &str) -> ScenarioError {
    Scenario::parse("s.toml", text).expect_err("refused")
}

/// The 1-based line of the first line of `text` holding `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .expect("in the text")
        + 1
}

#[test]
fn a_foreign_target_parses_with_its_endpoints_and_headers() {
    // HOME is set wherever tests run.
    let text = format!(
        "{ENDPOINTS}\n[target.headers]\nAuthorization = \"Bearer ${{HOME}}\"\nX-Bench = \"1\"\n"
    );
    let s = Scenario::parse("s.toml", &nchan(&text)).unwrap();
    let p = &s.protocol;
    assert_eq!(p.profile, Profile::Nchan);
    assert!(!p.profile.wraps_messages());
    assert_eq!(
        p.endpoint(Role::Websocket),
        Some("ws://127.0.0.1:8080/sub/bench?c={conn}")
    );
    assert_eq!(p.endpoint(Role::LongPoll), None);
    // Templates are kept: the environment's values never reach results.
    assert_eq!(
        p.headers,
        [
            ("Authorization".to_owned(), "Bearer ${HOME}".to_owned()),
            ("X-Bench".to_owned(), "1".to_owned())
        ]
    );
}

#[test]
fn a_profile_without_defaults_needs_every_endpoint_the_run_uses() {
    let text = nchan("[target.endpoints]\nwebsocket = \"ws://127.0.0.1:8080/sub/x\"\n");
    let e = err(&text);
    assert!(e.message.contains("no default sse endpoint"), "{e}");
    assert!(
        e.hint.as_deref().unwrap().contains("sse = \"http://"),
        "{e:?}"
    );
}

#[test]
fn a_foreign_target_is_polled_in_the_dialect_it_describes() {
    let polled = nchan(ENDPOINTS).replace("\"sse\"]", "\"long-poll\"]");
    // Without its endpoint, refused like any other role.
    let e = err(&polled);
    assert!(e.message.contains("no default long-poll endpoint"), "{e}");
    let with = |poll: &str| {
        polled.replace(
            "[target.endpoints]\n",
            &format!(
                "{poll}\n[target.endpoints]\nlong-poll = \"http://127.0.0.1:8080/sub/bench\"\n"
            ),
        )
    };
    // The nchan profile's default: etag, one message per answer.
    let s = Scenario::parse("s.toml", &with("")).unwrap();
    assert_eq!(s.protocol.poll, PollDialect::default());
    assert_eq!(s.protocol.poll.cursor, Cursor::Etag);
    let s = Scenario::parse(
        "s.toml",
        &with("[target.poll]\ncursor = \"query\"\nparam = \"after\"\ncursor_at = \"/next\"\nmessages = \"/items\"\nnothing_new = [204]\n"),
    )
    .unwrap();
    let d = &s.protocol.poll;
    assert_eq!(
        (d.cursor.clone(), d.param.as_str(), d.cursor_at.as_str()),
        (Cursor::Query, "after", "/next")
    );
    assert_eq!(d.batch, Batch::Array("/items".into()));
    assert_eq!(d.nothing_new, [204]);
    let lines = Scenario::parse(
        "s.toml",
        &with("[target.poll]\ncursor = \"none\"\nmessages = \"lines\"\n"),
    )
    .unwrap();
    assert_eq!(lines.protocol.poll.batch, Batch::Lines);

    for (poll, needle, message) in [
        ("cursor = \"offset\"", "\"offset\"", "unknown variant"),
        (
            "param = \"p\"",
            "param",
            "applies to cursor = \"query\" only",
        ),
        (
            "cursor = \"query\"\nparam = \"a b\"",
            "\"a b\"",
            "not a query parameter name",
        ),
        (
            "cursor = \"query\"\ncursor_at = \"next\"",
            "\"next\"",
            "not a JSON pointer",
        ),
        ("messages = \"items\"", "\"items\"", "not a JSON pointer"),
        ("nothing_new = [304, 200]", "[304", "200 cannot mean"),
    ] {
        let text = with(&format!("[target.poll]\n{poll}\n"));
        let e = err(&text);
        assert!(e.message.contains(message), "{poll}: {e}");
        assert_eq!(e.line, line_of(&text, needle), "{poll}: {e}");
    }
    let e = err(&with("[target.poll]\nmessages = \"items\"\n"));
    assert!(e.hint.unwrap().contains("\"lines\""));
}

#[test]
fn the_wsbench_profile_keeps_its_own_polling_dialect() {
    let text = nchan("[target.poll]\ncursor = \"etag\"\n").replace("profile = \"nchan\"\n", "");
    let e = err(&text);
    assert!(e.message.contains("polls in its own dialect"), "{e}");
    assert_eq!(e.line, line_of(&text, "[target.poll]"), "{e}");
}

#[test]
fn bad_endpoints_are_refused_where_they_are_written() {
    let cases = [
        (
            "sse = \"ws://127.0.0.1:8080/sub\"",
            "endpoint sse: the scheme must be http or https",
        ),
        (
            "websocket = \"ws://10.1.2.3/sub\"",
            "endpoint websocket: 10.1.2.3 is not a loopback address",
        ),
        (
            "websocket = \"ws://127.0.0.1/sub/{channel}\"",
            "{channel} is not a template variable",
        ),
        (
            "publish = \"http://127.0.0.1/pub?k=${WSBENCH_TEST_SURELY_UNSET}\"",
            "environment variable WSBENCH_TEST_SURELY_UNSET is not set",
        ),
    ];
    for (line, message) in cases {
        let text = nchan(
            &ENDPOINTS.replace(
                ENDPOINTS
                    .lines()
                    .find(|l| l.starts_with(line.split(' ').next().unwrap()))
                    .unwrap(),
                line,
            ),
        );
        let e = err(&text);
        assert!(e.message.contains(message), "{line}: {e}");
        assert_eq!(e.line, line_of(&text, line), "{line}: {e}");
        assert!(e.column > 1, "{line}: points at the value: {e}");
    }
    // An unknown role is a typo.
    let text = nchan(&format!("{ENDPOINTS}pubish = \"http://127.0.0.1/p\"\n"));
    let e = err(&text);
    assert!(e.message.contains("pubish"), "{e}");
    assert_eq!(e.line, line_of(&text, "pubish"));
}

#[test]
fn header_values_from_the_environment_must_exist_and_are_not_shown() {
    let text = nchan(&format!(
        "{ENDPOINTS}\n[target.headers]\nAuthorization = \"Bearer ${{WSBENCH_TEST_SURELY_UNSET}}\"\n"
    ));
    let e = err(&text);
    assert!(
        e.message
            .contains("header Authorization: environment variable"),
        "{e}"
    );
    assert_eq!(e.line, line_of(&text, "Authorization"));
}

#[test]
fn the_builtin_server_speaks_only_its_own_profile() {
    let text = nchan(ENDPOINTS).replace("url = \"http://127.0.0.1:8080\"", "builtin = true");
    let e = err(&text);
    assert!(
        e.message
            .contains("builtin server speaks the wsbench profile"),
        "{e}"
    );
    // A URL with a path names the path the wsbench profile cannot use,
    // and says where other paths go.
    let text = nchan("")
        .replace("profile = \"nchan\"", "")
        .replace("8080\"", "8080/ws\"");
    let e = err(&text);
    assert!(e.hint.unwrap().contains("[target.endpoints]"));
}

/// A WebSocket target that wants a subscribe message, heartbeats and
/// pongs, and a publish body of its own.
const SCRIPTED: &str = r#"[target.endpoints]
websocket = "ws://127.0.0.1:8080/ws"
sse = "http://127.0.0.1:8080/sse"
publish = "http://127.0.0.1:8080/api/publish"

[target.publish]
method = "put"
body = '{"text":"{marker}","from":{shard}}'

[[target.steps]]
send = '{"op":"subscribe","channel":"bench","conn":{conn}}'

[[target.steps]]
expect = { pointer = "/type", equals = "subscribed" }
timeout = "2s"

[[target.steps]]
expect = { regex = '^\{"ready":\d+\}$' }

[[target.periodic]]
every = "25s"
send = '{"op":"heartbeat"}'

[[target.replies]]
when = { contains = "ping" }
send = 'pong'
binary = true
"#;

#[test]
fn steps_periodic_sends_replies_and_the_publish_body_parse() {
    use std::time::Duration;
    use wsbench_protocol::steps::{Pattern, Step};
    let text = nchan(SCRIPTED).replace("profile = \"nchan\"", "profile = \"custom\"");
    let s = Scenario::parse("s.toml", &text).unwrap();
    let p = &s.protocol;
    assert_eq!(p.profile, Profile::Custom);
    assert_eq!(p.publish.method, http::Method::PUT);
    assert_eq!(
        p.publish.body.as_deref(),
        Some(r#"{"text":"{marker}","from":{shard}}"#)
    );
    let script = &p.script;
    assert_eq!(script.on_open.len(), 3);
    assert!(
        matches!(&script.on_open[0], Step::Send(s) if s.template.contains("{conn}") && !s.binary)
    );
    match &script.on_open[1] {
        Step::Expect {
            pattern, timeout, ..
        } => {
            assert_eq!(*timeout, Duration::from_secs(2));
            assert!(pattern.matches(r#"{"type":"subscribed"}"#));
        }
        other => panic!("{other:?}"),
    }
    match &script.on_open[2] {
        Step::Expect {
            pattern, timeout, ..
        } => {
            assert_eq!(*timeout, Duration::from_secs(5), "the default");
            assert!(matches!(pattern, Pattern::Regex(_)));
            assert!(pattern.matches(r#"{"ready":12}"#));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(script.periodic[0].every, Duration::from_secs(25));
    assert!(script.replies[0].send.binary);
    assert_eq!(script.reply_to("a ping").unwrap().template, "pong");
}

#[test]
fn bad_steps_and_publish_bodies_are_refused_where_they_are_written() {
    let base = nchan(SCRIPTED);
    let cases = [
        (
            "timeout = \"2s\"",
            "timeout = \"soon\"",
            "is not a duration",
        ),
        (
            "expect = { regex = '^\\{\"ready\":\\d+\\}$' }",
            "expect = { regex = '(' }",
            "regex \"(\"",
        ),
        (
            "expect = { pointer = \"/type\", equals = \"subscribed\" }",
            "expect = { pointer = \"type\", equals = \"subscribed\" }",
            "is not a JSON pointer",
        ),
        (
            "expect = { pointer = \"/type\", equals = \"subscribed\" }",
            "expect = { pointer = \"/type\" }",
            "exactly one form",
        ),
        (
            "send = '{\"op\":\"heartbeat\"}'",
            "send = '{\"op\":\"{beat}\"}'",
            "{beat} is not a template variable",
        ),
        ("every = \"25s\"", "every = \"1ms\"", "at least 10ms"),
        ("method = \"put\"", "method = \"GET\"", "cannot publish"),
        (
            "body = '{\"text\":\"{marker}\",\"from\":{shard}}'",
            "body = '{\"text\":\"hello\"}'",
            "carries no {marker} or {payload}",
        ),
        (
            "body = '{\"text\":\"{marker}\",\"from\":{shard}}'",
            "body = '{\"text\":\"{marker}\",\"t\":\"${WSBENCH_UNSET_FOR_TEST}\"}'",
            "WSBENCH_UNSET_FOR_TEST is not set",
        ),
    ];
    for (from, to, message) in cases {
        assert!(base.contains(from), "{from}");
        let text = base.replacen(from, to, 1);
        let e = err(&text);
        assert!(e.message.contains(message), "{to}: {e}");
        let want = text.lines().position(|l| l == to).unwrap() + 1;
        assert_eq!(e.line, want, "{to}: {e}");
    }
    // A step that neither sends nor expects.
    let text = base.replacen(
        "timeout = \"2s\"\n",
        "timeout = \"2s\"\n\n[[target.steps]]\nbinary = true\n",
        1,
    );
    let e = err(&text);
    assert!(
        e.message
            .contains("either sends, expects, sleeps or (in a flow) closes"),
        "{e}"
    );
}

#[test]
fn the_builtin_server_takes_no_steps() {
    let text = "schema_version = 1\nname = \"b\"\n[target]\nbuiltin = true\n\n[[target.steps]]\nsend = \"hi\"\n\n[load]\ntransports = [\"websocket\"]\nconnections = 1\nduration = \"1s\"\n[workload]\nkind = \"push\"\nrate = 1\n";
    let e = err(text);
    assert!(e.message.contains("needs no steps"), "{e}");
    assert_eq!(e.line, 6, "{e}");
}

fn rpc(workload: &str) -> String {
    format!(
        r#"schema_version = 1
name = "r"

[target]
url = "http://127.0.0.1:8765"
profile = "custom"

[target.endpoints]
echo = "ws://127.0.0.1:8765/ws"

[load]
transports = ["websocket"]
connections = 10
duration = "2s"

[workload]
{workload}
"#
    )
}

#[test]
fn the_rpc_workload_needs_a_request_with_its_id() {
    use std::time::Duration;
    use wsbench_model::WorkloadKind;
    let ok = rpc(
        "kind = \"rpc\"\nrate = 5\nrequest = '{\"id\":{id},\"p\":\"{payload}\",\"c\":{conn}}'\nreply_id = \"/result/id\"\ntimeout = \"2s\"",
    );
    let s = Scenario::parse("s.toml", &ok).unwrap();
    assert_eq!(s.workload, WorkloadKind::Rpc);
    let r = s.rpc.unwrap();
    assert_eq!(r.reply_id, "/result/id");
    assert!(r.request.contains("{id}"));
    assert_eq!(s.reply_timeout, Duration::from_secs(2));
    let default = Scenario::parse(
        "s.toml",
        &rpc("kind = \"rpc\"\nrate = 5\nrequest = '{\"id\":{id}}'"),
    )
    .unwrap();
    assert_eq!(default.rpc.unwrap().reply_id, "/id");
    assert_eq!(default.reply_timeout, Duration::from_secs(5));
    for (workload, message) in [
        ("kind = \"rpc\"\nrate = 5", "needs a request template"),
        (
            "kind = \"rpc\"\nrate = 5\nrequest = '{\"n\":1}'",
            "carries no {id}",
        ),
        (
            "kind = \"rpc\"\nrate = 5\nrequest = '{\"id\":{id},\"x\":{nope}}'",
            "{nope} is not a template variable",
        ),
        (
            "kind = \"rpc\"\nrate = 5\nrequest = '{\"id\":{id}}'\nreply_id = \"id\"",
            "is not a JSON pointer",
        ),
        ("kind = \"rpc\"\nrequest = '{\"id\":{id}}'", "needs a rate"),
        (
            "kind = \"echo\"\nrate = 5\nrequest = '{\"id\":{id}}'",
            "apply to kind = \"rpc\"",
        ),
        (
            "kind = \"throughput\"\ntimeout = \"1s\"",
            "timeout applies to the echo and rpc",
        ),
        (
            "kind = \"rpc\"\nrate = 5\nrequest = '{\"id\":{id}}'\ntimeout = \"0s\"",
            "more than 0",
        ),
    ] {
        let e = err(&rpc(workload));
        assert!(e.message.contains(message), "{workload}: {e}");
        assert!(e.line >= 15, "{workload}: {e}");
    }
}

#[test]
fn a_websocket_publish_endpoint_takes_steps_not_a_method() {
    let ws = nchan(SCRIPTED).replace(
        "publish = \"http://127.0.0.1:8080/api/publish\"",
        "publish = \"ws://127.0.0.1:8080/ws\"",
    );
    // With its method: refused where the method is.
    let e = err(&ws);
    assert!(e.message.contains("takes messages, not a method"), "{e}");
    assert_eq!(e.line, line_of(&ws, "method = \"put\""), "{e}");
    let ok = ws.replace("method = \"put\"\n", "")
        + "\n[[target.publish.steps]]\nsend = '{\"op\":\"publisher\"}'\n";
    let s = Scenario::parse("s.toml", &ok).unwrap();
    assert_eq!(s.protocol.publish.steps.len(), 1);
    // Steps on an HTTP publish endpoint: refused.
    let http = nchan(SCRIPTED) + "\n[[target.publish.steps]]\nsend = 'x'\n";
    let e = err(&http);
    assert!(
        e.message.contains("apply to a WebSocket publish endpoint"),
        "{e}"
    );
}

#[test]
fn json_correlation_needs_its_pointers_and_a_body_with_seq_and_time() {
    use wsbench_protocol::correlation::{Clock, Correlation, Unit};
    let base = nchan(SCRIPTED).replace(
        "body = '{\"text\":\"{marker}\",\"from\":{shard}}'",
        "body = '{\"n\":{seq},\"t\":{time}}'",
    );
    let with = |corr: &str| format!("{base}\n[target.correlation]\n{corr}\n");
    let s = Scenario::parse(
        "s.toml",
        &with("by = \"json\"\nseq = \"/data/n\"\ntime = \"/t\"\nunit = \"us\""),
    )
    .unwrap();
    match &s.protocol.correlation {
        Correlation::Json(j) => {
            assert_eq!((j.seq.as_str(), j.time.as_str()), ("/data/n", "/t"));
            assert_eq!(
                (j.unit, j.clock),
                (Unit::Us, Clock::Unix),
                "clock defaults to unix"
            );
        }
        other => panic!("{other:?}"),
    }
    for (corr, message) in [
        ("by = \"json\"\ntime = \"/t\"", "needs seq"),
        (
            "by = \"json\"\nseq = \"n\"\ntime = \"/t\"",
            "is not a JSON pointer",
        ),
        ("by = \"xml\"", "is not a correlation"),
        ("by = \"marker\"\nseq = \"/n\"", "apply to by = \"json\""),
        (
            "by = \"json\"\nseq = \"/n\"\ntime = \"/t\"\nunit = \"h\"",
            "unknown variant",
        ),
    ] {
        let e = err(&with(corr));
        assert!(e.message.contains(message), "{corr}: {e}");
    }
    // The marker's body has no {seq} and {time}: refused under json.
    let marker_body =
        nchan(SCRIPTED) + "\n[target.correlation]\nby = \"json\"\nseq = \"/n\"\ntime = \"/t\"\n";
    let e = err(&marker_body);
    assert!(e.message.contains("no {seq} or no {time}"), "{e}");
    // And the wsbench profile has its own.
    let own =
        with("by = \"json\"\nseq = \"/n\"\ntime = \"/t\"").replace("profile = \"nchan\"\n", "");
    let e = err(&own);
    assert!(e.message.contains("carry their own numbers"), "{e}");
}
