//! The real binary, as a user runs it.

use std::process::Command;

fn wsbench(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_wsbench"))
        .args(args)
        .output()
        .expect("the wsbench binary runs")
}

#[test]
fn info_names_the_selected_masking_backend() {
    let out = wsbench(&["info"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let selected = wsbench_codec::mask::selected().backend().name();
    assert!(
        text.contains(&format!("mask backend: {selected}\n")),
        "{text}"
    );
}

#[test]
fn run_says_the_load_generator_is_not_there_yet_with_its_own_exit_code() {
    let out = wsbench(&["run", "scenarios/quickstart.toml"]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("not yet"), "{err}");
}

#[test]
fn unknown_commands_are_usage_errors() {
    let out = wsbench(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}

/// `wsbench serve` on a free port: echo works, and SIGTERM closes the
/// WebSocket client with 1001 before the process exits 0.
#[test]
fn serve_echoes_and_shuts_down_cleanly_on_sigterm() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let mut child = Command::new(env!("CARGO_BIN_EXE_wsbench"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("wsbench serve starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();

    let rt = tokio::runtime::Runtime::new().unwrap();
    let close = rt.block_on(async {
        use wsbench_transport::{ClientOptions, Data, Event, connect};
        let mut ws = connect(&format!("ws://{addr}/echo"), &ClientOptions::default())
            .await
            .unwrap()
            .socket;
        ws.send_text("hi").await.unwrap();
        let ev = ws.next_event().await.unwrap();
        assert!(matches!(ev, Event::Message(Data::Text(t)) if t == "hi"));
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        loop {
            match tokio::time::timeout(std::time::Duration::from_secs(10), ws.next_event()).await {
                Ok(Some(Event::Close(c))) => break c,
                Ok(Some(_)) => continue,
                other => panic!("expected a close event, got {other:?}"),
            }
        }
    });
    assert_eq!((close.code, close.was_clean), (1001, true));
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}
