//! Records the git revision and the compiler version for results' run.md.

use std::process::Command;

fn output(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn main() {
    let rev = output("git", &["describe", "--always", "--dirty", "--abbrev=12"]);
    println!("cargo:rustc-env=WSBENCH_GIT_REV={rev}");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    println!(
        "cargo:rustc-env=WSBENCH_RUSTC={}",
        output(&rustc, &["--version"])
    );
    for path in ["../../.git/HEAD", "../../.git/index"] {
        println!("cargo:rerun-if-changed={path}");
    }
}
