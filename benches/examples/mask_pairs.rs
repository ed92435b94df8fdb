//! The masking targets measured a second way, for a noisy machine: the
//! kernels being compared run interleaved, in short bursts, many times over,
//! and each keeps its fastest burst. A neighbour that slows the machine for
//! seconds then slows every contender alike, and a burst it disturbs is
//! simply not the fastest; criterion's medians, taken seconds apart, move
//! by a third between runs here.
//!
//! ```sh
//! cargo run --release -p wsbench-benches --example mask_pairs [-- SECONDS [SIZE ...]]
//! ```
//!
//! SECONDS (default 4) is the time spent on each size; SIZEs (bytes) are
//! measured instead of the targets' sizes (16 B to 1 MiB), with no
//! verdicts but those of targets' sizes among them. Prints GiB/s per
//! size and offset for the dispatched entry point, the public peers
//! (`yawc::mask::apply_mask`, `sockudo_ws::simd::apply_mask`,
//! `fastwebsockets::unmask`), `copy_from_slice` and the in-place floor
//! (`mask::in_place_floor`: one AVX-512 load, xor and store per 64 bytes,
//! nothing around them; shown at +0 for lengths in the L1 cache that are
//! a multiple of 64, where it is the most an in-place kernel can be
//! expected to reach), then the targets of
//! benches/README.md with verdicts, and the floor's ratios beside them;
//! exits 1 when a target is missed.
//!
//! Every burst starts with one untimed call of its own contender, and each
//! round starts with a different contender: at 1 MiB the buffers and
//! `copy_from_slice`'s source do not fit in the L2 cache together, and
//! without the warm-up the contender after `copy_from_slice` would start
//! every burst from the L3 cache.

use std::hint::black_box;
use std::process::ExitCode;
use std::time::Instant;

use wsbench_benches::AlignedBuf;
use wsbench_codec::mask;

const KEY: [u8; 4] = [0x12, 0x34, 0x56, 0x78];
/// The sizes of the targets, measured when no sizes are given.
const SIZES: [usize; 5] = [16, 125, 1024, 64 * 1024, 1024 * 1024];
/// The largest size that may be asked for.
const MAX_SIZE: usize = 64 << 20;
const CONTENDERS: [&str; 6] = [
    "dispatch",
    "yawc",
    "sockudo-ws",
    "fastwebsockets",
    "copy_from_slice",
    "in-place floor",
];
/// Indices into `CONTENDERS`.
const DISPATCH: usize = 0;
const PEERS: [usize; 3] = [1, 2, 3];
const COPY: usize = 4;
const FLOOR: usize = 5;

/// Fastest burst, in ns per call, of each contender at offsets +0 and +1.
type Best = [[f64; 2]; CONTENDERS.len()];

/// Time per call, in ns, of a burst of `calls` calls of `f` on `buf`,
/// after one untimed call. One copy of this loop is compiled per contender.
#[inline(never)]
fn burst(f: impl Fn(&mut [u8]), buf: &mut AlignedBuf, calls: usize) -> f64 {
    let buf = buf.slice();
    f(black_box(&mut *buf));
    let t = Instant::now();
    for _ in 0..calls {
        f(black_box(&mut *buf));
    }
    t.elapsed().as_nanos() as f64 / calls as f64
}

/// One burst of contender `c` on `buf`; `src` is `copy_from_slice`'s source.
fn run(c: usize, buf: &mut AlignedBuf, src: &[u8], calls: usize) -> f64 {
    match c {
        0 => burst(|b| mask::mask(b, black_box(KEY), 0), buf, calls),
        1 => burst(|b| yawc::mask::apply_mask(b, black_box(KEY)), buf, calls),
        2 => burst(
            |b| sockudo_ws::simd::apply_mask(b, black_box(KEY)),
            buf,
            calls,
        ),
        3 => burst(|b| fastwebsockets::unmask(b, black_box(KEY)), buf, calls),
        COPY => burst(|b| b.copy_from_slice(black_box(src)), buf, calls),
        _ => burst(
            |b| {
                mask::in_place_floor(b, black_box(KEY));
            },
            buf,
            calls,
        ),
    }
}

/// Fastest burst of each contender at each offset from rounds of one burst
/// each for `seconds`; and the number of rounds.
fn measure(size: usize, seconds: f64) -> (Best, usize) {
    // About 20 µs of work per burst (at 50 GiB/s), at least 4 calls.
    let calls = (1_000_000 / size.max(16)).clamp(4, 50_000);
    let mut bufs = [AlignedBuf::new(size, 0), AlignedBuf::new(size, 1)];
    // `copy_from_slice` reads a source at the destination's offset.
    let mut srcs = [AlignedBuf::new(size, 0), AlignedBuf::new(size, 1)];
    let mut best = [[f64::INFINITY; 2]; CONTENDERS.len()];
    let floor = floor_applies(size);
    let started = Instant::now();
    let mut rounds = 0;
    while started.elapsed().as_secs_f64() < seconds {
        for turn in 0..CONTENDERS.len() {
            let c = (rounds + turn) % CONTENDERS.len();
            for (off, (buf, src)) in bufs.iter_mut().zip(&mut srcs).enumerate() {
                if c == FLOOR && !(floor && off == 0) {
                    continue;
                }
                let ns = run(c, buf, src.slice(), calls);
                best[c][off] = best[c][off].min(ns);
            }
        }
        rounds += 1;
    }
    (best, rounds)
}

/// Whether the in-place floor is measured at `size` (+0 only): a whole
/// number of its vectors, in the L1 cache (past it narrower vectors
/// keep the L2 cache busier, and the floor is no bound), on a CPU that
/// has it.
fn floor_applies(size: usize) -> bool {
    size.is_multiple_of(64) && size <= 32 * 1024 && mask::in_place_floor(&mut [], KEY)
}

fn gibs(size: usize, ns: f64) -> f64 {
    size as f64 / ns / 1.073_741_824
}

/// A named ratio of speeds and the least it may be.
struct Check {
    name: String,
    got: f64,
    need: f64,
}

/// The targets of benches/README.md at one size. Ratios of speeds are
/// times of the reference over times of dispatch.
fn checks(size: usize, best: &Best) -> Vec<Check> {
    let d = best[DISPATCH];
    let mut out = Vec::new();
    for off in 0..2 {
        let peer = PEERS
            .into_iter()
            .min_by(|&a, &b| best[a][off].total_cmp(&best[b][off]))
            .expect("peers");
        out.push(Check {
            name: format!(
                "{size} B +{off}: dispatch / best peer ({})",
                CONTENDERS[peer]
            ),
            got: best[peer][off] / d[off],
            need: 1.0,
        });
        if size == 1024 || size == 64 * 1024 {
            out.push(Check {
                name: format!("{size} B +{off}: dispatch / copy_from_slice"),
                got: best[COPY][off] / d[off],
                need: 0.9,
            });
        }
    }
    out.push(Check {
        name: format!("{size} B: dispatch at +1 / at +0"),
        got: d[0] / d[1],
        need: 0.95,
    });
    out
}

/// The floor against `copy_from_slice` (the most any in-place kernel
/// could reach of it) and the dispatched mask against the floor, at +0.
fn floor_ratios(size: usize, best: &Best) -> Vec<(String, f64)> {
    let floor = best[FLOOR][0];
    if !floor.is_finite() {
        return Vec::new();
    }
    vec![
        (
            format!("{size} B +0: in-place floor / copy_from_slice"),
            best[COPY][0] / floor,
        ),
        (
            format!("{size} B +0: dispatch / in-place floor"),
            floor / best[DISPATCH][0],
        ),
    ]
}

/// SECONDS (default 4) and the sizes to measure (default `SIZES`).
fn args() -> Option<(f64, Vec<usize>)> {
    let mut args = std::env::args().skip(1);
    let seconds = match args.next() {
        None => 4.0,
        Some(a) => a.parse().ok().filter(|s: &f64| *s > 0.0)?,
    };
    let sizes: Vec<usize> = args
        .map(|a| a.parse().ok().filter(|n| (1..=MAX_SIZE).contains(n)))
        .collect::<Option<_>>()?;
    Some((
        seconds,
        if sizes.is_empty() {
            SIZES.to_vec()
        } else {
            sizes
        },
    ))
}

fn main() -> ExitCode {
    let Some((seconds, sizes)) = args() else {
        eprintln!("usage: mask_pairs [SECONDS per size, > 0 [SIZE in bytes, 1 to {MAX_SIZE} ...]]");
        return ExitCode::from(2);
    };
    println!(
        "Backend {}; per contender the fastest of its interleaved bursts, {seconds} s per size; GiB/s.\n",
        mask::selected().backend()
    );
    println!(
        "| size | offset | {} | bursts each |",
        CONTENDERS.join(" | ")
    );
    println!("|---|---|{}---|", "---|".repeat(CONTENDERS.len()));
    let mut all = Vec::new();
    let mut bounds = Vec::new();
    for &size in &sizes {
        let (best, rounds) = measure(size, seconds);
        for off in 0..2 {
            let row: Vec<String> = best
                .iter()
                .map(|contender| match contender[off] {
                    ns if ns.is_finite() => format!("{:.1}", gibs(size, ns)),
                    _ => "–".to_owned(),
                })
                .collect();
            println!("| {size} B | +{off} | {} | {rounds} |", row.join(" | "));
        }
        // The targets are set at `SIZES` only.
        if SIZES.contains(&size) {
            all.extend(checks(size, &best));
        }
        bounds.extend(floor_ratios(size, &best));
    }
    println!("\n| target | measured | required | verdict |");
    println!("|---|---|---|---|");
    let mut missed = 0;
    for Check { name, got, need } in &all {
        let ok = got >= need;
        missed += usize::from(!ok);
        let verdict = if ok { "pass" } else { "**miss**" };
        println!("| mask {name} | {got:.2} | ≥ {need} | {verdict} |");
    }
    if !bounds.is_empty() {
        println!("\n| the in-place floor (no target) | ratio |");
        println!("|---|---|");
        for (name, ratio) in &bounds {
            println!("| {name} | {ratio:.2} |");
        }
    }
    if missed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
