//! Arbitrary bytes as an upgrade request and as a server's response: parsing
//! may fail, never panic; whatever parses is self-consistent, and every
//! refusal can be answered.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wsbench_codec::handshake::{ClientHandshake, ClientRequest, Request};

fuzz_target!(|data: &[u8]| {
    match Request::parse(data) {
        Ok(Some(req)) => {
            assert!(req.head_len <= data.len());
            let mut out = Vec::new();
            req.accept().write(&mut out);
            assert!(out.starts_with(b"HTTP/1.1 101 "));
        }
        Ok(None) => {}
        Err(e) => {
            let mut out = Vec::new();
            e.write_response(&mut out);
            assert!(matches!(e.status(), 400 | 426 | 431));
        }
    }

    let mut request = Vec::new();
    let hs = ClientHandshake::start(
        &ClientRequest {
            host: "127.0.0.1:9001",
            path: "/",
            protocols: &["chat"],
            ..Default::default()
        },
        *b"0123456789abcdef",
        &mut request,
    )
    .expect("valid request");
    if let Ok(Some(resp)) = hs.parse_response(data) {
        assert!(resp.head_len <= data.len());
        assert!(resp.protocol.is_none_or(|p| p == "chat"));
    }
});
