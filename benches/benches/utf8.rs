//! UTF-8 validation of text payloads: the streaming validator fed whole and
//! in 1,000-byte pieces (splitting characters), against simdutf8 and std on
//! the whole text.

use std::hint::black_box;

use criterion::{BenchmarkId, Throughput, criterion_group, criterion_main};
use wsbench_benches::{criterion, text};
use wsbench_codec::Utf8Validator;

fn bench(c: &mut criterion::Criterion) {
    for (kind, mixed) in [("ascii", false), ("mixed", true)] {
        for len in [1024usize, 64 * 1024] {
            let t = text(len, mixed);
            let bytes = t.as_bytes();
            let mut group = c.benchmark_group(format!("utf8/{kind}/{len}B"));
            group.throughput(Throughput::Bytes(bytes.len() as u64));
            let mut v = Utf8Validator::new();
            group.bench_function(BenchmarkId::from_parameter("wsbench-whole"), |b| {
                b.iter(|| {
                    v.feed(black_box(bytes)).expect("valid");
                    v.finish().expect("valid");
                })
            });
            group.bench_function(BenchmarkId::from_parameter("wsbench-pieces-1000"), |b| {
                b.iter(|| {
                    for piece in black_box(bytes).chunks(1000) {
                        v.feed(piece).expect("valid");
                    }
                    v.finish().expect("valid");
                })
            });
            group.bench_function(BenchmarkId::from_parameter("simdutf8-whole"), |b| {
                b.iter(|| {
                    simdutf8::basic::from_utf8(black_box(bytes))
                        .expect("valid")
                        .len()
                })
            });
            group.bench_function(BenchmarkId::from_parameter("std-whole"), |b| {
                b.iter(|| std::str::from_utf8(black_box(bytes)).expect("valid").len())
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
