//! Helpers the CLI test files share: the real binary, a `wsbench serve`
//! child, scratch folders, signals, one-at-a-time runs, headless Chromium.

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

/// `wsbench run FILE --quiet --no-calibrate --results RESULTS ARGS` to
/// completion, which must succeed: its stdout and stderr together, and
/// its `summary.json`.
pub fn run_quiet(
    file: &std::path::Path,
    results: &std::path::Path,
    args: &[&str],
) -> (String, serde_json::Value) {
    let mut all = quiet_run_args(file, results);
    all.extend_from_slice(args);
    let out = wsbench(&all);
    let report = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{}: {report}", file.display());
    (report, summary(&newest_run(results)))
}

/// `run FILE --quiet --no-calibrate --results RESULTS`.
pub fn quiet_run_args<'a>(file: &'a std::path::Path, results: &'a std::path::Path) -> Vec<&'a str> {
    vec![
        "run",
        file.to_str().unwrap(),
        "--quiet",
        "--no-calibrate",
        "--results",
        results.to_str().unwrap(),
    ]
}

/// `wsbench run FILE` started quietly, without the floor, into `results`.
pub fn spawn_run(file: &std::path::Path, results: &std::path::Path) -> std::process::Child {
    spawn(&quiet_run_args(file, results))
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
    let mut command = Command::new(env!("CARGO_BIN_EXE_wsbench"));
    command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(args);
    serve_by(command)
}

/// Starts `command`, a `wsbench serve --listen 127.0.0.1:0` (perhaps run
/// through another program that execs it), and waits for its address.
pub fn serve_by(mut command: Command) -> Serve {
    use std::io::{BufRead, BufReader};
    let mut child = command
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

/// The Chromium on this machine; `None` (said loudly) when there is none,
/// which fails the test when `WSBENCH_REQUIRE_CHROMIUM` is set.
pub fn chromium(check: &str) -> Option<&'static str> {
    let browser = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        });
    if browser.is_none() {
        assert!(
            std::env::var_os("WSBENCH_REQUIRE_CHROMIUM").is_none(),
            "WSBENCH_REQUIRE_CHROMIUM is set but no chromium is installed"
        );
        eprintln!("SKIPPED {check}: no chromium on this machine");
    }
    browser
}

/// Loads `page` in headless Chromium and returns the DOM once the page
/// has loaded (its load event waits for every image and script).
pub fn dump_dom(browser: &str, page: &std::path::Path) -> String {
    use std::time::{Duration, Instant};
    let profile = page.with_file_name("chromium-profile");
    let dom_file = page.with_file_name("dom.html");
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            &format!("--user-data-dir={}", profile.display()),
            "--dump-dom",
        ])
        .arg(format!("file://{}", page.display()))
        // A file, not a pipe: the DOM may be larger than a pipe's buffer.
        .stdout(std::fs::File::create(&dom_file).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    let deadline = Instant::now() + Duration::from_secs(90);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish in 90 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    std::fs::read_to_string(&dom_file).unwrap()
}

/// The value of attribute `name` in `dom`.
pub fn attribute<'d>(dom: &'d str, name: &str) -> Option<&'d str> {
    let key = format!("{name}=\"");
    let at = dom.find(&key)? + key.len();
    let rest = &dom[at..];
    Some(&rest[..rest.find('"')?])
}
