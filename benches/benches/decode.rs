//! Small-frame decode rate: 1,000 masked binary frames of 16 B or 125 B back
//! to back in one buffer, decoded by a server. Every contender gets the same
//! bytes and pays for moving them into its read buffer once per iteration
//! (tungstenite and fastwebsockets read them from an in-memory stream).

use std::hint::black_box;
use std::io::Cursor;

use criterion::{BatchSize, BenchmarkId, Throughput, criterion_group, criterion_main};
use wsbench_benches::{criterion, masked_frames};
use wsbench_codec::{
    Decoder, DecoderConfig, FrameDecoder, FrameEvent, FrameRules, Message, OpCode, Role,
};

const COUNT: usize = 1000;

fn bench(c: &mut criterion::Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    for len in [16usize, 125] {
        let input = masked_frames(OpCode::Binary, len, COUNT);
        let mut group = c.benchmark_group(format!("decode/{len}B"));
        group.throughput(Throughput::Elements(COUNT as u64));

        let mut read_buf = vec![0u8; input.len()];
        let mut dec = Decoder::new(DecoderConfig::new(Role::Server));
        group.bench_function(BenchmarkId::from_parameter("wsbench"), |b| {
            b.iter(|| {
                read_buf.copy_from_slice(&input);
                let mut pos = 0;
                let mut seen = 0;
                while pos < read_buf.len() {
                    let (n, m) = dec.decode(&mut read_buf[pos..]).expect("valid");
                    if let Some(Message::Binary(p)) = m {
                        black_box(p);
                        seen += 1;
                    }
                    pos += n;
                }
                assert_eq!(seen, COUNT);
            })
        });

        let rules = FrameRules {
            role: Role::Server,
            allowed_rsv: 0,
            max_frame_size: 1 << 24,
        };
        let mut frames = FrameDecoder::new(rules);
        group.bench_function(BenchmarkId::from_parameter("wsbench-frames"), |b| {
            b.iter(|| {
                read_buf.copy_from_slice(&input);
                let mut pos = 0;
                while pos < read_buf.len() {
                    let (n, ev) = frames.decode(&mut read_buf[pos..]).expect("valid");
                    if let Some(FrameEvent::Payload(p)) = ev {
                        black_box(p.unmask());
                    }
                    pos += n;
                }
            })
        });

        group.bench_function(BenchmarkId::from_parameter("tungstenite"), |b| {
            b.iter_batched(
                || {
                    tungstenite::WebSocket::from_raw_socket(
                        Cursor::new(input.clone()),
                        tungstenite::protocol::Role::Server,
                        None,
                    )
                },
                |mut ws| {
                    for _ in 0..COUNT {
                        black_box(ws.read().expect("valid"));
                    }
                },
                BatchSize::SmallInput,
            )
        });

        group.bench_function(BenchmarkId::from_parameter("tungstenite-frames"), |b| {
            b.iter_batched(
                || tungstenite::protocol::frame::FrameSocket::new(Cursor::new(input.clone())),
                |mut socket| {
                    for _ in 0..COUNT {
                        black_box(socket.read(None).expect("valid"));
                    }
                },
                BatchSize::SmallInput,
            )
        });

        group.bench_function(BenchmarkId::from_parameter("fastwebsockets"), |b| {
            b.iter_batched(
                || {
                    let stream = tokio::io::join(&input[..], tokio::io::sink());
                    let mut ws = fastwebsockets::WebSocket::after_handshake(
                        stream,
                        fastwebsockets::Role::Server,
                    );
                    ws.set_auto_close(false);
                    ws.set_auto_pong(false);
                    ws
                },
                |mut ws| {
                    rt.block_on(async {
                        for _ in 0..COUNT {
                            let frame = ws.read_frame().await.expect("valid");
                            black_box(&frame.payload[..]);
                        }
                    })
                },
                BatchSize::SmallInput,
            )
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
