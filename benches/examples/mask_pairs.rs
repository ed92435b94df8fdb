//! The masking targets measured a second way, for a noisy machine: the
//! kernels being compared run interleaved, in short bursts, many times over,
//! and each keeps its fastest burst. A neighbour that slows the machine for
//! seconds then slows every contender alike, and a burst it disturbs is
//! simply not the fastest; criterion's medians, taken seconds apart, move
//! by a third between runs here.
//!
//! ```sh
//! cargo run --release -p wsbench-benches --example mask_pairs [-- SECONDS]
//! ```
//!
//! SECONDS (default 4) is the time spent on each size. Prints GiB/s per
//! size and offset for the dispatched entry point,
//! `fastwebsockets::unmask` and `copy_from_slice`, then the targets of
//! benches/README.md with verdicts; exits 1 when one is missed.

use std::hint::black_box;
use std::process::ExitCode;
use std::time::Instant;

use wsbench_benches::AlignedBuf;
use wsbench_codec::mask;

const KEY: [u8; 4] = [0x12, 0x34, 0x56, 0x78];
const SIZES: [usize; 5] = [16, 125, 1024, 64 * 1024, 1024 * 1024];
const CONTENDERS: [&str; 3] = ["dispatch", "fastwebsockets", "copy_from_slice"];

/// Fastest burst of each contender at each offset, in ns per call, from
/// rounds of one burst each for `seconds`; and the number of rounds.
fn measure(size: usize, seconds: f64) -> ([[f64; 2]; 3], usize) {
    // About 20 µs of work per burst (at 50 GiB/s), at least 4 calls.
    let calls = (1_000_000 / size.max(16)).clamp(4, 50_000);
    let mut bufs = [AlignedBuf::new(size, 0), AlignedBuf::new(size, 1)];
    let src = vec![7u8; size];
    let mut best = [[f64::INFINITY; 2]; 3];
    let started = Instant::now();
    let mut rounds = 0;
    while started.elapsed().as_secs_f64() < seconds {
        rounds += 1;
        for (c, row) in best.iter_mut().enumerate() {
            for (off, cell) in row.iter_mut().enumerate() {
                let buf = &mut bufs[off];
                let t = Instant::now();
                for _ in 0..calls {
                    match c {
                        0 => mask::mask(black_box(buf.slice()), black_box(KEY), 0),
                        1 => fastwebsockets::unmask(black_box(buf.slice()), black_box(KEY)),
                        _ => buf.slice().copy_from_slice(black_box(&src)),
                    }
                }
                let ns = t.elapsed().as_nanos() as f64 / calls as f64;
                *cell = cell.min(ns);
            }
        }
    }
    (best, rounds)
}

fn gibs(size: usize, ns: f64) -> f64 {
    size as f64 / ns / 1.073_741_824
}

fn main() -> ExitCode {
    let seconds: f64 = match std::env::args().nth(1).map(|a| a.parse()) {
        None => 4.0,
        Some(Ok(s)) if s > 0.0 => s,
        Some(_) => {
            eprintln!("usage: mask_pairs [SECONDS per size, > 0]");
            return ExitCode::from(2);
        }
    };
    println!(
        "Backend {}; per contender the fastest of its interleaved bursts, {seconds} s per size; GiB/s.\n",
        mask::selected().backend()
    );
    println!(
        "| size | offset | {} | bursts each |",
        CONTENDERS.join(" | ")
    );
    println!("|---|---|---|---|---|---|");
    let mut checks: Vec<(String, f64, f64)> = Vec::new();
    for size in SIZES {
        let (best, rounds) = measure(size, seconds);
        for off in 0..2 {
            let row: Vec<String> = best
                .iter()
                .map(|contender| format!("{:.1}", gibs(size, contender[off])))
                .collect();
            println!("| {size} B | +{off} | {} | {rounds} |", row.join(" | "));
        }
        // Ratios of speeds: time of the reference over time of dispatch.
        let (d, f, copy) = (best[0], best[1], best[2]);
        if size == 16 || size == 64 * 1024 {
            for off in 0..2 {
                let need = if size == 16 { 1.2 } else { 1.4 };
                checks.push((
                    format!("{size} B +{off}: dispatch / fastwebsockets"),
                    f[off] / d[off],
                    need,
                ));
            }
        }
        if size == 1024 || size == 64 * 1024 {
            for off in 0..2 {
                checks.push((
                    format!("{size} B +{off}: dispatch / copy_from_slice"),
                    copy[off] / d[off],
                    0.9,
                ));
            }
        }
        checks.push((
            format!("{size} B: dispatch at +1 / at +0"),
            d[0] / d[1],
            0.95,
        ));
    }
    println!("\n| target | measured | required | verdict |");
    println!("|---|---|---|---|");
    let mut missed = 0;
    for (name, got, need) in &checks {
        let ok = got >= need;
        missed += usize::from(!ok);
        let verdict = if ok { "pass" } else { "**miss**" };
        println!("| mask {name} | {got:.2} | ≥ {need} | {verdict} |");
    }
    if missed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
