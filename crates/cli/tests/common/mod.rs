//! Helpers the CLI test files share: the real binary, a `wsbench serve`
//! child, scratch folders, signals, one-at-a-time runs.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};

/// Timing-sensitive tests of one test file hold this while they run, so
/// the tests the harness runs in parallel do not disturb their figures.
static SERIAL: Mutex<()> = Mutex::new(());

pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs `wsbench ARGS` to completion.
pub fn wsbench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wsbench"))
        .args(args)
        .output()
        .expect("the wsbench binary runs")
}

/// `wsbench ARGS`, started.
pub fn spawn(args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_wsbench"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the wsbench binary starts")
}

/// Bytes as text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// An empty scratch folder for test `name` of suite `suite`.
pub fn temp_dir(suite: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wsbench-{suite}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A `wsbench serve` child, killed on drop.
pub struct Serve {
    pub child: std::process::Child,
    pub addr: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        signal(self.child.id(), rustix::process::Signal::CONT);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `wsbench serve --listen 127.0.0.1:0 ARGS` and waits for its
/// address.
pub fn serve(args: &[&str]) -> Serve {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_wsbench"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(args)
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
    Serve { child, addr }
}

/// Sends `sig` to process `pid`.
pub fn signal(pid: u32, sig: rustix::process::Signal) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
        let _ = rustix::process::kill_process(pid, sig);
    }
}

/// Stops process `pid` for `how_long` (SIGSTOP, then SIGCONT): a frozen
/// process, as a stalled VM or a stop-the-world pause freezes it.
pub fn freeze(pid: u32, how_long: std::time::Duration) {
    signal(pid, rustix::process::Signal::STOP);
    std::thread::sleep(how_long);
    signal(pid, rustix::process::Signal::CONT);
}

/// The newest results folder under `root`.
pub fn newest_run(root: &std::path::Path) -> PathBuf {
    let mut runs: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("summary.json").exists())
        .collect();
    runs.sort();
    runs.pop().expect("a results folder")
}

/// `summary.json` of a results folder, as JSON.
pub fn summary(run: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap()
}
