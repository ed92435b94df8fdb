//! Frame encoding into a reused buffer: client (masked) and server frames,
//! against tungstenite and fastwebsockets on their own public paths.

use std::hint::black_box;

use criterion::{BenchmarkId, Throughput, criterion_group, criterion_main};
use wsbench_benches::criterion;
use wsbench_codec::{Encoder, FastMaskKeys, FrameKind, OpCode};

const KEY: [u8; 4] = [0x12, 0x34, 0x56, 0x78];

fn bench(c: &mut criterion::Criterion) {
    for len in [16usize, 125, 1024, 64 * 1024] {
        let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let bytes = tungstenite::Bytes::from(payload.clone());
        let mut out: Vec<u8> = Vec::with_capacity(len + 14);
        let mut group = c.benchmark_group(format!("encode/{len}B"));
        group.throughput(Throughput::Bytes(len as u64));
        let kind = FrameKind::whole(OpCode::Binary);

        let mut client = Encoder::client(FastMaskKeys::new(1));
        group.bench_function(BenchmarkId::from_parameter("wsbench-client"), |b| {
            b.iter(|| {
                out.clear();
                client
                    .encode_to_vec(&mut out, kind, black_box(&payload))
                    .expect("valid");
                black_box(&out);
            })
        });
        let mut server = Encoder::server();
        group.bench_function(BenchmarkId::from_parameter("wsbench-server"), |b| {
            b.iter(|| {
                out.clear();
                server
                    .encode_to_vec(&mut out, kind, black_box(&payload))
                    .expect("valid");
                black_box(&out);
            })
        });

        use tungstenite::protocol::frame::{Frame, coding::Data, coding::OpCode as TOp};
        group.bench_function(BenchmarkId::from_parameter("tungstenite-client"), |b| {
            b.iter(|| {
                out.clear();
                let mut frame = Frame::message(bytes.clone(), TOp::Data(Data::Binary), true);
                frame.header_mut().mask = Some(black_box(KEY));
                frame.format(&mut out).expect("valid");
                black_box(&out);
            })
        });
        group.bench_function(BenchmarkId::from_parameter("tungstenite-server"), |b| {
            b.iter(|| {
                out.clear();
                let frame = Frame::message(bytes.clone(), TOp::Data(Data::Binary), true);
                frame.format(&mut out).expect("valid");
                black_box(&out);
            })
        });

        use fastwebsockets::{Frame as FFrame, OpCode as FOp, Payload};
        let mut scratch = payload.clone();
        group.bench_function(BenchmarkId::from_parameter("fastwebsockets-client"), |b| {
            b.iter(|| {
                // fastwebsockets masks the payload in place, then copies it.
                let payload = Payload::BorrowedMut(black_box(&mut scratch[..]));
                let mut frame = FFrame::new(true, FOp::Binary, Some(KEY), payload);
                frame.mask();
                black_box(frame.write(&mut out));
            })
        });
        group.bench_function(BenchmarkId::from_parameter("fastwebsockets-server"), |b| {
            b.iter(|| {
                let payload = Payload::Borrowed(black_box(&payload[..]));
                let mut frame = FFrame::new(true, FOp::Binary, None, payload);
                black_box(frame.write(&mut out));
            })
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = criterion();
    targets = bench
}
criterion_main!(benches);
