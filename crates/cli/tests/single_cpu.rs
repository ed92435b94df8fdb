//! A wsbench process allowed one CPU only (pinned with `taskset`) runs on
//! a single-threaded runtime, and still does all its work: the server
//! answers echoes, and the load generator with its builtin server delivers
//! every pushed message over WebSocket and long-poll. The echo and the
//! push load generators are one thread in all, the lag probe and the
//! publisher's clock included.

mod common;

use std::process::Command;

use common::{newest_run, quiet_run_args, serve_by, summary, temp_dir, text};

/// The first CPU this process may use.
fn first_cpu() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let list = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .expect("Cpus_allowed_list in /proc/self/status");
    list.trim().split([',', '-']).next().unwrap().to_owned()
}

/// `taskset -c CPU wsbench ARGS` (util-linux, on every Debian system).
fn pinned(cpu: &str, args: &[&str]) -> Command {
    let mut c = Command::new("taskset");
    c.args(["-c", cpu, env!("CARGO_BIN_EXE_wsbench")])
        .args(args);
    c
}

/// The number of threads of process `pid`.
fn threads(pid: u32) -> u32 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn a_process_pinned_to_one_cpu_runs_on_one_thread_and_does_its_work() {
    let cpu = first_cpu();
    let dir = temp_dir("single-cpu", "pinned");
    let server = serve_by(pinned(&cpu, &["serve", "--listen", "127.0.0.1:0"]));
    let addr = server.addr.clone();
    // The runtime is the process's only thread: no worker pool.
    assert_eq!(threads(server.child.id()), 1);

    let echo = dir.join("echo.toml");
    std::fs::write(
        &echo,
        format!(
            "schema_version = 1\nname = \"echo\"\n[target]\nurl = \"ws://{addr}\"\n[load]\n\
             transports = [\"websocket\"]\nconnections = 20\nduration = \"2s\"\nwarmup = \"0s\"\n\
             [workload]\nkind = \"throughput\"\nin_flight = 4\npayload_size = 20\n"
        ),
    )
    .unwrap();
    let push = dir.join("push.toml");
    std::fs::write(
        &push,
        "schema_version = 1\nname = \"push\"\n[target]\nbuiltin = true\n[load]\n\
         transports = [\"websocket\", \"long-poll\"]\nconnections = 50\nduration = \"2s\"\n\
         warmup = \"1s\"\n[workload]\nkind = \"push\"\nrate = 20\npayload_size = 32\n",
    )
    .unwrap();
    for file in [&echo, &push] {
        let results = dir.join("results").join(file.file_stem().unwrap());
        let child = pinned(&cpu, &quiet_run_args(file, &results))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Mid-run: the load generator's runtime is its only thread (the
        // lag probe ticks, and the publisher's clock waits, through the
        // runtime's own reactor; the builtin server is a process of its
        // own).
        std::thread::sleep(std::time::Duration::from_millis(1200));
        assert_eq!(threads(child.id()), 1, "{}", file.display());
        let out = child.wait_with_output().unwrap();
        let report = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(out.status.success(), "{}: {report}", file.display());
        let s = summary(&newest_run(&results));
        assert_eq!(s["environment"]["cpus"], 1, "{}", s["environment"]);
        for phase in s["phases"].as_array().unwrap() {
            let c = &phase["counters"];
            assert_eq!(c["errors"], serde_json::json!({}), "{c}");
            if file == &echo {
                assert!(c["received"].as_u64().unwrap() > 1_000, "{c}");
                // The probe ticked every millisecond of the 2 s window.
                let lag = &phase["latency"]["harness_lag"];
                assert!(lag["count"].as_u64().unwrap() >= 1_500, "{lag}");
            } else {
                let published = c["published"].as_u64().unwrap();
                assert!(published >= 30, "{c}");
                assert_eq!(c["delivered"].as_u64().unwrap(), published * 50, "{c}");
                assert_eq!(c["lost"], 0, "{c}");
            }
        }
    }
}
