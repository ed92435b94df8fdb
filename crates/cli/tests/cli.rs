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
