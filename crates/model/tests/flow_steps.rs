//! Connection steps that capture a value from a message into a variable
//! later templates use, and steps that sleep (fixed or a drawn think
//! time): they parse, and bad ones are refused where they are written.

use std::time::Duration;

use wsbench_model::Scenario;
use wsbench_protocol::steps::{Step, Think};

/// A push scenario against a custom WebSocket target with `steps`.
fn with_steps(steps: &str) -> String {
    format!(
        r#"schema_version = 1
name = "f"

[target]
url = "http://127.0.0.1:8080"
profile = "custom"

[target.endpoints]
websocket = "ws://127.0.0.1:8080/ws"
publish = "http://127.0.0.1:8080/api/publish"

{steps}
[load]
transports = ["websocket"]
connections = 10
duration = "2s"

[workload]
kind = "push"
rate = 5
"#
    )
}

const FLOW: &str = r#"[[target.steps]]
expect = { pointer = "/type", equals = "welcome" }
capture = { pointer = "/session", as = "session" }

[[target.steps]]
sleep = { uniform = ["100ms", "200ms"] }

[[target.steps]]
send = '{"op":"subscribe","session":"{session}","conn":{conn}}'

[[target.steps]]
sleep = "50ms"

[[target.steps]]
sleep = { exponential = "2s" }

[[target.steps]]
sleep = { normal = ["1s", "250ms"] }
"#;

#[test]
fn captures_and_sleeps_parse() {
    let s = Scenario::parse("s.toml", &with_steps(FLOW)).unwrap();
    let steps = &s.protocol.script.on_open;
    assert_eq!(steps.len(), 6);
    match &steps[0] {
        Step::Expect {
            capture: Some(k), ..
        } => assert_eq!(
            (k.pointer.as_str(), k.name.as_str()),
            ("/session", "session")
        ),
        other => panic!("{other:?}"),
    }
    let ms = Duration::from_millis;
    assert_eq!(steps[1], Step::Sleep(Think::Uniform(ms(100), ms(200))));
    assert!(matches!(&steps[2], Step::Send(s) if s.template.contains("{session}")));
    assert_eq!(steps[3], Step::Sleep(Think::Fixed(ms(50))));
    assert_eq!(steps[4], Step::Sleep(Think::Exponential(ms(2000))));
    assert_eq!(
        steps[5],
        Step::Sleep(Think::Normal {
            mean: ms(1000),
            stddev: ms(250)
        })
    );
}

#[test]
fn bad_captures_and_sleeps_are_refused_where_they_are_written() {
    let cases = [
        // A variable used before it is captured.
        (
            "[[target.steps]]\nsend = '{\"s\":\"{session}\"}'\n\n[[target.steps]]\n\
             expect = { contains = \"welcome\" }\ncapture = { pointer = \"/session\", as = \"session\" }\n",
            "send = '{\"s\":\"{session}\"}'",
            "{session} is not a template variable",
        ),
        (
            "[[target.steps]]\nexpect = { contains = \"w\" }\ncapture = { pointer = \"session\", as = \"s\" }\n",
            "capture = { pointer = \"session\", as = \"s\" }",
            "is not a JSON pointer",
        ),
        (
            "[[target.steps]]\nexpect = { contains = \"w\" }\ncapture = { pointer = \"/s\", as = \"conn\" }\n",
            "capture = { pointer = \"/s\", as = \"conn\" }",
            "cannot name a captured variable",
        ),
        (
            "[[target.steps]]\nsend = \"x\"\ncapture = { pointer = \"/s\", as = \"s\" }\n",
            "capture = { pointer = \"/s\", as = \"s\" }",
            "capture applies to an expect step",
        ),
        (
            "[[target.steps]]\nsleep = \"soon\"\n",
            "sleep = \"soon\"",
            "is not a duration",
        ),
        (
            "[[target.steps]]\nsleep = { poisson = \"1s\" }\n",
            "sleep = { poisson = \"1s\" }",
            "is not a distribution",
        ),
        (
            "[[target.steps]]\nsleep = { uniform = [\"2s\", \"1s\"] }\n",
            "sleep = { uniform = [\"2s\", \"1s\"] }",
            "is empty",
        ),
        (
            "[[target.steps]]\nsleep = { normal = \"1s\" }\n",
            "sleep = { normal = \"1s\" }",
            "not a pair of durations",
        ),
        (
            "[[target.steps]]\nsleep = \"2h\"\n",
            "sleep = \"2h\"",
            "over an hour",
        ),
        (
            "[[target.steps]]\nsleep = \"1s\"\nsend = \"x\"\n",
            "[[target.steps]]",
            "either sends, expects, sleeps or (in a flow) closes",
        ),
    ];
    for (steps, line, says) in cases {
        let text = with_steps(steps);
        let e = Scenario::parse("s.toml", &text).expect_err(steps);
        assert!(e.message.contains(says), "{steps}: {e}");
        let want = text.lines().position(|l| l == line).unwrap() + 1;
        assert_eq!(e.line, want, "{steps}: {e}");
        assert!(e.hint.is_some() || says.contains("applies"), "{steps}: {e}");
    }
}

/// A flow scenario against the builtin echo server with `workload`'s
/// extra lines and `steps`.
fn flow(workload: &str, steps: &str) -> String {
    format!(
        "schema_version = 1\nname = \"f\"\n[target]\nbuiltin = true\n[load]\n\
         transports = [\"websocket\"]\nconnections = 4\nduration = \"2s\"\n\
         [workload]\nkind = \"flow\"\n{workload}\n{steps}"
    )
}

const TIMED: &str = "[[workload.steps]]\nsend = '{\"n\":{conn}}'\n\n[[workload.steps]]\n\
                     expect = { contains = \"n\" }\ntime = \"echo\"\n\n[[workload.steps]]\n\
                     sleep = { exponential = \"100ms\" }\n";

#[test]
fn a_flow_parses_with_its_timers_repeat_and_pace() {
    let s = Scenario::parse("s.toml", &flow("repeat = 3\npace = \"200ms\"", TIMED)).unwrap();
    let f = s.flow.as_ref().unwrap();
    assert_eq!(f.steps.len(), 3);
    assert_eq!(f.timers, [None, Some("echo".to_owned()), None]);
    assert_eq!(f.timed_sends(), [true, false, false]);
    assert_eq!(f.timer_names(), ["echo"]);
    assert_eq!(
        (f.repeat, f.pace),
        (Some(3), Some(Duration::from_millis(200)))
    );
    let s = Scenario::parse("s.toml", &flow("", TIMED)).unwrap();
    let f = s.flow.unwrap();
    assert_eq!((f.repeat, f.pace), (None, None), "until the end, unpaced");
    let closing =
        format!("{TIMED}[[workload.steps]]\nclose = {{ code = 4000, reason = \"bye\" }}\n");
    let s = Scenario::parse("s.toml", &flow("", &closing)).unwrap();
    assert_eq!(
        s.flow.unwrap().steps[3],
        Step::Close {
            code: 4000,
            reason: "bye".into()
        }
    );
    let s = Scenario::parse(
        "s.toml",
        &flow("", &format!("{TIMED}[[workload.steps]]\nclose = {{}}\n")),
    )
    .unwrap();
    assert_eq!(
        s.flow.unwrap().steps[3],
        Step::Close {
            code: 1000,
            reason: "flow".into()
        }
    );
}

#[test]
fn bad_flows_are_refused_where_they_are_written() {
    let untimed = TIMED.replace("time = \"echo\"\n", "");
    let cases = [
        (flow("", ""), "kind = \"flow\"", "needs its steps"),
        (flow("", &untimed), "kind = \"flow\"", "it has none"),
        (flow("repeat = 0", TIMED), "repeat = 0", "at least 1"),
        (flow("pace = \"0s\"", TIMED), "pace = \"0s\"", "more than 0"),
        (
            flow("", &TIMED.replace("time = \"echo\"", "time = \"Echo!\"")),
            "time = \"Echo!\"",
            "cannot name a timer",
        ),
        (
            flow(
                "",
                "[[workload.steps]]\nexpect = { contains = \"n\" }\ntime = \"t\"\n",
            ),
            "time = \"t\"",
            "needs a send before it",
        ),
        (
            flow(
                "",
                &format!(
                    "{TIMED}\n[[workload.steps]]\nexpect = {{ contains = \"m\" }}\ntime = \"second\"\n"
                ),
            ),
            "time = \"second\"",
            "timed already",
        ),
        (
            flow("", "[[workload.steps]]\nsend = \"x\"\ntime = \"t\"\n"),
            "time = \"t\"",
            "applies to an expect step",
        ),
        (
            flow("", TIMED).replace("kind = \"flow\"", "kind = \"push\"\nrate = 1"),
            "[[workload.steps]]",
            "has no flow",
        ),
        (
            with_steps("[[target.steps]]\nexpect = { contains = \"w\" }\ntime = \"t\"\n"),
            "time = \"t\"",
            "applies to an expect step of a flow",
        ),
        (
            with_steps("[[target.steps]]\nclose = {}\n"),
            "close = {}",
            "close ends a flow's connection",
        ),
        (
            flow(
                "",
                &format!("{TIMED}[[workload.steps]]\nclose = {{ code = 1006 }}\n"),
            ),
            "close = { code = 1006 }",
            "not one a client sends",
        ),
    ];
    for (text, line, says) in cases {
        let e = Scenario::parse("s.toml", &text).expect_err(line);
        assert!(e.message.contains(says), "{line}: {e}");
        let want = text.lines().position(|l| l.starts_with(line)).unwrap() + 1;
        assert_eq!(e.line, want, "{line}: {e}");
    }
    // A close with something else in its step: refused at that step.
    let text = flow(
        "",
        &format!("{TIMED}[[workload.steps]]\nclose = {{}}\nsend = \"x\"\n"),
    );
    let e = Scenario::parse("s.toml", &text).unwrap_err();
    assert!(e.message.contains("only closes"), "{e}");
    let close_at = text.lines().position(|l| l == "close = {}").unwrap() + 1;
    assert_eq!(e.line, close_at - 1, "its [[workload.steps]] line: {e}");
}
