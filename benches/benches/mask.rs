//! Masking throughput: every backend, the dispatched entry point, the
//! public peers (`yawc::mask::apply_mask`, `sockudo_ws::simd::apply_mask`,
//! `fastwebsockets::unmask`) and `copy_from_slice` (the memory ceiling), at
//! 16 B .. 1 MiB, with the payload aligned and one byte past alignment.

use std::hint::black_box;

use criterion::{BenchmarkId, Throughput, criterion_group, criterion_main};
use wsbench_benches::{AlignedBuf, criterion};
use wsbench_codec::mask::{self, Backend, Masker};

const KEY: [u8; 4] = [0x12, 0x34, 0x56, 0x78];
const SIZES: [usize; 5] = [16, 125, 1024, 64 * 1024, 1024 * 1024];

fn bench(c: &mut criterion::Criterion) {
    for size in SIZES {
        for offset in [0usize, 1] {
            let mut group = c.benchmark_group(format!("mask/{size}/off{offset}"));
            group.throughput(Throughput::Bytes(size as u64));
            let mut buf = AlignedBuf::new(size, offset);
            for backend in Backend::available() {
                let m = Masker::new(backend).expect("available");
                group.bench_function(BenchmarkId::from_parameter(backend.name()), |b| {
                    b.iter(|| m.mask(black_box(buf.slice()), black_box(KEY), 0))
                });
            }
            group.bench_function(BenchmarkId::from_parameter("dispatch"), |b| {
                b.iter(|| mask::mask(black_box(buf.slice()), black_box(KEY), 0))
            });
            group.bench_function(BenchmarkId::from_parameter("yawc"), |b| {
                b.iter(|| yawc::mask::apply_mask(black_box(buf.slice()), black_box(KEY)))
            });
            group.bench_function(BenchmarkId::from_parameter("sockudo-ws"), |b| {
                b.iter(|| sockudo_ws::simd::apply_mask(black_box(buf.slice()), black_box(KEY)))
            });
            group.bench_function(BenchmarkId::from_parameter("fastwebsockets"), |b| {
                b.iter(|| fastwebsockets::unmask(black_box(buf.slice()), black_box(KEY)))
            });
            let src = vec![7u8; size];
            group.bench_function(BenchmarkId::from_parameter("copy_from_slice"), |b| {
                b.iter(|| buf.slice().copy_from_slice(black_box(&src)))
            });
            let mut dst = AlignedBuf::new(size, offset);
            group.bench_function(BenchmarkId::from_parameter("dispatch_copy"), |b| {
                b.iter(|| mask::copy_mask(black_box(&src), dst.slice(), black_box(KEY), 0))
            });
            group.finish();
        }
    }
}

criterion_group! {
    name = benches;
    config = criterion();
    targets = bench
}
criterion_main!(benches);
