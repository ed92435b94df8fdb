//! Push measured on a server nobody here wrote: nginx with the Nchan
//! module, started on a free loopback port with `tests/nchan/nginx.conf`,
//! driven by `scenarios/nchan-push-compare.toml` (WebSocket, long-poll and
//! SSE subscribers on one channel, published over Nchan's HTTP publisher).
//!
//! `scripts/test.sh` installs nginx-light and libnginx-mod-nchan and sets
//! `WSBENCH_REQUIRE_NCHAN=1`, so a missing component fails the test there;
//! elsewhere the test says SKIPPED and why.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{newest_run, serial, summary, temp_dir, text, wsbench};

const NGINX: &str = "/usr/sbin/nginx";
const MODULE: &str = "/usr/lib/nginx/modules/ngx_nchan_module.so";
const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// nginx with Nchan, stopped on drop.
struct Nchan {
    child: Child,
    port: u16,
}

impl Drop for Nchan {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts nginx with Nchan in `dir` on a free port; `None` (after saying
/// SKIPPED) when it is not installed and not required.
fn start_nchan(dir: &Path) -> Option<Nchan> {
    let missing = [NGINX, MODULE].into_iter().find(|p| !Path::new(p).exists());
    if let Some(path) = missing {
        let why = format!(
            "{path} is missing (Debian packages nginx-light and libnginx-mod-nchan; \
             scripts/test.sh installs them)"
        );
        assert!(
            std::env::var_os("WSBENCH_REQUIRE_NCHAN").is_none(),
            "nchan is required here: {why}"
        );
        eprintln!("SKIPPED the nchan test: {why}");
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf = std::fs::read_to_string(format!("{REPO}/tests/nchan/nginx.conf"))
        .unwrap()
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"));
    std::fs::create_dir_all(dir.join("tmp")).unwrap();
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let log = std::fs::File::create(dir.join("nginx.log")).unwrap();
    let child = Command::new(NGINX)
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("nginx starts");
    let nchan = Nchan { child, port };
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nginx did not listen: {}",
            std::fs::read_to_string(dir.join("nginx.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(nchan)
}

/// The shipped scenario against `port`, with `edit` applied.
fn scenario(dir: &Path, port: u16, edit: impl Fn(String) -> String) -> PathBuf {
    let text = std::fs::read_to_string(format!("{REPO}/scenarios/nchan-push-compare.toml"))
        .unwrap()
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"));
    let file = dir.join("nchan-push-compare.toml");
    std::fs::write(&file, edit(text)).unwrap();
    file
}

#[test]
fn nchan_push_delivers_every_message_over_websocket_and_sse() {
    let _one = serial();
    let dir = temp_dir("nchan", "compare");
    let Some(nchan) = start_nchan(&dir) else {
        return;
    };
    let file = scenario(&dir, nchan.port, |t| t);
    let results = dir.join("results");
    let out = wsbench(&[
        "run",
        file.to_str().unwrap(),
        "--quiet",
        "--results",
        results.to_str().unwrap(),
    ]);
    let report = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{report}");
    let s = summary(&newest_run(&results));
    let phases = s["phases"].as_array().unwrap();
    assert_eq!(phases.len(), 3, "{report}");
    for (p, transport) in phases.iter().zip(["websocket", "long-poll", "sse"]) {
        assert_eq!(p["transport"], transport);
        let c = &p["counters"];
        let get = |k: &str| c[k].as_u64().unwrap_or_else(|| panic!("{k} in {c}"));
        // 5 s at 20 msg/s.
        assert_eq!(get("published"), 100, "{transport}: {c}");
        assert_eq!(get("publish_failed"), 0, "{transport}: {c}");
        assert_eq!(get("lost"), 0, "{transport}: {c}");
        assert!(get("owed") >= 100 * 200, "{transport}: {c}");
        assert_eq!(p["delivered_ratio"], 1.0, "{transport}: {p}");
        assert_eq!(get("unknown"), 0, "{transport}: {c}");
        // Every delivered message was timed.
        let timed = p["latency"]["push_latency"]["count"].as_u64().unwrap();
        assert_eq!(timed, get("delivered"), "{transport}: {p}");
        if transport == "long-poll" {
            // One answer per message: the Etag cursor fetches each message
            // once, and nothing is polled for in vain.
            let per = p["requests_per_msg"].as_f64().unwrap();
            assert!(
                (0.995..=1.005).contains(&per),
                "requests per message {per}: {p}"
            );
        }
    }
}

#[test]
fn nchan_stopped_mid_window_shows_the_loss() {
    let _one = serial();
    let dir = temp_dir("nchan", "dies");
    let Some(mut nchan) = start_nchan(&dir) else {
        return;
    };
    let file = scenario(&dir, nchan.port, |t| {
        t.replace(
            "transports = [\"websocket\", \"long-poll\", \"sse\"]",
            "transports = [\"websocket\"]",
        )
    });
    let results = dir.join("results");
    let run = Command::new(env!("CARGO_BIN_EXE_wsbench"))
        .args(["run", file.to_str().unwrap(), "--quiet", "--results"])
        .arg(&results)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The window opens after the ramp and the 1 s warm-up, and lasts 5 s.
    std::thread::sleep(Duration::from_millis(3500));
    let _ = nchan.child.kill();
    let _ = nchan.child.wait();
    let out = run.wait_with_output().unwrap();
    let report = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_ne!(
        out.status.code(),
        Some(0),
        "a run that lost messages fails: {report}"
    );
    let s = summary(&newest_run(&results));
    let c = &s["phases"][0]["counters"];
    let get = |k: &str| c[k].as_u64().unwrap_or_else(|| panic!("{k} in {c}"));
    // What was published before nginx died was owed; what was not
    // delivered is lost, and the publishes after it failed.
    assert!(get("published") > 0, "{c}");
    assert!(get("publish_failed") > 0 || get("lost") > 0, "{c}");
    let ratio = s["phases"][0]["delivered_ratio"].as_f64().unwrap_or(1.0);
    assert!(ratio < 1.0 || get("publish_failed") > 0, "{c}");
}
