//! The opening handshake: a server parsing a browser-like upgrade request and
//! writing its 101, a client building its request and checking the 101.
//! `httparse` alone on the same request is the floor.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main};
use wsbench_benches::criterion;
use wsbench_codec::handshake::{ClientHandshake, ClientRequest, Request};

const REQUEST: &[u8] = b"GET /chat?room=42 HTTP/1.1\r\nHost: 127.0.0.1:9001\r\n\
    Connection: Upgrade\r\nPragma: no-cache\r\nCache-Control: no-cache\r\n\
    User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/156.0 Safari/537.36\r\n\
    Upgrade: websocket\r\nOrigin: http://127.0.0.1:9001\r\nSec-WebSocket-Version: 13\r\n\
    Accept-Encoding: gzip, deflate, br\r\nAccept-Language: en-US,en;q=0.9\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n";

fn bench(c: &mut criterion::Criterion) {
    let mut group = c.benchmark_group("handshake");
    let mut out = Vec::with_capacity(512);
    group.bench_function("server-parse-and-respond", |b| {
        b.iter(|| {
            let req = Request::parse(black_box(REQUEST))
                .expect("valid")
                .expect("complete");
            out.clear();
            req.accept().write(&mut out);
            black_box(&out);
        })
    });
    group.bench_function("httparse-only", |b| {
        b.iter(|| {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut req = httparse::Request::new(&mut headers);
            black_box(req.parse(black_box(REQUEST)).expect("valid"));
        })
    });
    let request = ClientRequest {
        host: "127.0.0.1:9001",
        path: "/chat?room=42",
        ..ClientRequest::default()
    };
    let mut response = Vec::new();
    let mut scratch = Vec::new();
    let hs = ClientHandshake::start(&request, *b"the sample nonce", &mut scratch).expect("valid");
    Request::parse(&scratch)
        .expect("valid")
        .expect("complete")
        .accept()
        .write(&mut response);
    group.bench_function("client-request-and-check", |b| {
        b.iter(|| {
            out.clear();
            let hs = ClientHandshake::start(&request, black_box(*b"the sample nonce"), &mut out)
                .expect("valid");
            black_box(hs.parse_response(black_box(&response)).expect("valid"));
        })
    });
    black_box(hs);
    group.finish();
}

criterion_group! {
    name = benches;
    config = criterion();
    targets = bench
}
criterion_main!(benches);
