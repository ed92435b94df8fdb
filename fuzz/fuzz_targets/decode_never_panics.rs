//! Arbitrary bytes into both decoders, for both roles, with small and large
//! limits: they may fail, never panic, and a failure is sticky.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wsbench_codec::frame::RSV1;
use wsbench_codec::{Decoder, DecoderConfig, FrameDecoder, FrameEvent, Role};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let mut config = DecoderConfig::new(if flags & 1 == 0 {
        Role::Server
    } else {
        Role::Client
    });
    if flags & 2 != 0 {
        config.max_frame_size = 200;
        config.max_message_size = 300;
        config.retain_capacity = 64;
    }
    if flags & 4 != 0 {
        config.allowed_rsv = RSV1;
    }
    let mut input = rest.to_vec();
    let mut dec = Decoder::new(config);
    let mut pos = 0;
    loop {
        match dec.decode(&mut input[pos..]) {
            Ok((n, Some(_))) => pos += n,
            Ok((n, None)) => {
                assert_eq!(pos + n, input.len());
                break;
            }
            Err(e) => {
                let _ = e.close_code();
                assert_eq!(dec.decode(&mut []).unwrap_err(), e, "errors are sticky");
                break;
            }
        }
    }

    let mut input = rest.to_vec();
    let rules = wsbench_codec::FrameRules {
        role: config.role,
        allowed_rsv: config.allowed_rsv,
        max_frame_size: config.max_frame_size,
    };
    let mut frames = FrameDecoder::new(rules);
    let mut pos = 0;
    while let Ok((n, Some(ev))) = frames.decode(&mut input[pos..]) {
        if let FrameEvent::Payload(p) = ev {
            let _ = p.unmask();
        }
        pos += n;
    }
});
