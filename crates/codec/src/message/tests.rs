use super::*;
use crate::close::CloseCode;
use crate::encode::{Encoder, FastMaskKeys, FrameKind};
use crate::frame::{MAX_HEADER_LEN, RSV2};
use proptest::prelude::*;

type Owned = OwnedMessage;

fn close(code: u16, reason: &str) -> Owned {
    Owned::Close(Some((CloseCode::new(code), reason.to_owned())))
}

fn server(config: impl FnOnce(&mut DecoderConfig)) -> Decoder {
    let mut c = DecoderConfig::new(Role::Server);
    config(&mut c);
    Decoder::new(c)
}

/// Feeds `pieces` one after another, as a connection would: each piece is
/// decoded until the decoder asks for more. Returns the messages and the
/// error that ended the stream, if any.
fn run(dec: &mut Decoder, pieces: &[&[u8]]) -> (Vec<Owned>, Option<ProtocolError>) {
    let mut out = Vec::new();
    for piece in pieces {
        let mut piece = piece.to_vec();
        let mut pos = 0;
        loop {
            match dec.decode(&mut piece[pos..]) {
                Ok((n, Some(m))) => {
                    out.push(m.to_owned_message());
                    pos += n;
                }
                Ok((n, None)) => {
                    assert_eq!(pos + n, piece.len(), "no message means all input consumed");
                    break;
                }
                Err(e) => return (out, Some(e)),
            }
        }
    }
    (out, None)
}

fn whole(bytes: &[u8]) -> (Vec<Owned>, Option<ProtocolError>) {
    run(&mut server(|_| {}), &[bytes])
}

/// A client-side frame writer (masked, as a server decoder expects).
struct Client(Encoder<FastMaskKeys>);

impl Client {
    fn new() -> Client {
        Client(Encoder::client(FastMaskKeys::new(0x1234)))
    }

    fn frame(&mut self, opcode: OpCode, fin: bool, payload: &[u8]) -> Vec<u8> {
        self.frame_rsv(opcode, fin, 0, payload)
    }

    fn frame_rsv(&mut self, opcode: OpCode, fin: bool, rsv: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let kind = FrameKind { opcode, fin, rsv };
        self.0.encode_to_vec(&mut out, kind, payload).unwrap();
        out
    }
}

#[test]
fn whole_frames_are_decoded_in_place_without_copying() {
    let mut c = Client::new();
    let mut bytes = c.frame(OpCode::Binary, true, &[1, 2, 3, 4, 5]);
    let range = bytes.as_ptr_range();
    let mut dec = server(|_| {});
    let (n, m) = dec.decode(&mut bytes).unwrap();
    assert_eq!(n, 11);
    let Some(Message::Binary(payload)) = m else {
        panic!("binary expected")
    };
    assert_eq!(payload, [1, 2, 3, 4, 5]);
    assert!(
        range.contains(&payload.as_ptr()),
        "payload points into the input"
    );
    assert_eq!(dec.heap_bytes(), 0);
}

#[test]
fn decodes_every_message_kind() {
    let mut c = Client::new();
    let mut close_body = vec![0x03, 0xe8];
    close_body.extend_from_slice(b"done");
    let bytes = [
        c.frame(OpCode::Text, true, "héllo".as_bytes()),
        c.frame(OpCode::Binary, true, &[0; 200]),
        c.frame(OpCode::Ping, true, b"p"),
        c.frame(OpCode::Pong, true, b""),
        c.frame(OpCode::Close, true, &close_body),
    ]
    .concat();
    let (msgs, err) = whole(&bytes);
    assert_eq!(err, None);
    assert_eq!(
        msgs,
        [
            Owned::Text("héllo".into()),
            Owned::Binary(vec![0; 200]),
            Owned::Ping(b"p".to_vec()),
            Owned::Pong(vec![]),
            close(1000, "done"),
        ]
    );
}

#[test]
fn control_frames_interleave_with_a_fragmented_message() {
    let mut c = Client::new();
    let bytes = [
        c.frame(OpCode::Text, false, b"frag"),
        c.frame(OpCode::Ping, true, b"ping"),
        c.frame(OpCode::Continuation, false, b"men"),
        c.frame(OpCode::Pong, true, b"pong"),
        c.frame(OpCode::Continuation, true, b"ted"),
        c.frame(OpCode::Close, true, b""),
    ]
    .concat();
    let (msgs, err) = whole(&bytes);
    assert_eq!(err, None);
    assert_eq!(
        msgs,
        [
            Owned::Ping(b"ping".to_vec()),
            Owned::Pong(b"pong".to_vec()),
            Owned::Text("fragmented".into()),
            Owned::Close(None),
        ]
    );
}

#[test]
fn fragmentation_rules_are_enforced() {
    let mut c = Client::new();
    let lone = c.frame(OpCode::Continuation, true, b"x");
    assert_eq!(whole(&lone).1, Some(ProtocolError::UnexpectedContinuation));
    let nested = [
        c.frame(OpCode::Text, false, b"a"),
        c.frame(OpCode::Binary, true, b"b"),
    ]
    .concat();
    assert_eq!(whole(&nested).1, Some(ProtocolError::ExpectedContinuation));
}

#[test]
fn hand_built_invalid_frames_get_the_right_close_code() {
    // (bytes, error) with masked headers built by hand.
    let masked = |b0: u8, len: u8, payload: &[u8]| {
        let mut v = vec![b0, 0x80 | len, 0, 0, 0, 0];
        v.extend_from_slice(payload);
        v
    };
    let cases: Vec<(Vec<u8>, ProtocolError, u16)> = vec![
        (
            masked(0x09, 0, b""),
            ProtocolError::FragmentedControlFrame,
            1002,
        ),
        (masked(0x83, 0, b""), ProtocolError::ReservedOpcode(3), 1002),
        (
            masked(0xc2, 0, b""),
            ProtocolError::ReservedBits { bits: RSV1 },
            1002,
        ),
        (
            masked(0xa2, 0, b""),
            ProtocolError::ReservedBits { bits: RSV2 },
            1002,
        ),
        (vec![0x82, 0x00], ProtocolError::UnmaskedClientFrame, 1002),
        (
            masked(0x81, 2, &[0xc3, 0x28]),
            ProtocolError::InvalidUtf8,
            1007,
        ),
        (
            masked(0x88, 1, &[3]),
            ProtocolError::CloseBodyTooShort,
            1002,
        ),
        (
            masked(0x88, 2, &[0x03, 0xee]),
            ProtocolError::InvalidCloseCode(1006),
            1002,
        ),
        (
            masked(0x88, 3, &[0x03, 0xe8, 0xff]),
            ProtocolError::InvalidCloseReason,
            1007,
        ),
    ];
    for (bytes, expected, code) in cases {
        let (_, err) = whole(&bytes);
        assert_eq!(err.as_ref(), Some(&expected), "{bytes:x?}");
        assert_eq!(expected.close_code().as_u16(), code);
        // The same outcome one byte at a time.
        let pieces: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(run(&mut server(|_| {}), &pieces).1, Some(expected));
    }
}

#[test]
fn invalid_utf8_fails_on_the_fragment_that_contains_it() {
    // Autobahn 6.4.1: the message continues after the bad fragment, but the
    // decoder fails as soon as the bad fragment arrives.
    let mut c = Client::new();
    let first = c.frame(OpCode::Text, false, "κόσμε".as_bytes());
    let bad = c.frame(OpCode::Continuation, false, &[0xf4, 0x90, 0x80, 0x80]);
    let mut dec = server(|_| {});
    assert_eq!(run(&mut dec, &[&first]), (vec![], None));
    assert_eq!(run(&mut dec, &[&bad]).1, Some(ProtocolError::InvalidUtf8));
    // And within a frame: the first bytes of a frame's payload are enough.
    let mut dec = server(|_| {});
    let frame = c.frame(OpCode::Text, true, &[b'a', 0xf4, 0x90, b'b', b'c', b'd']);
    let (head, _) = frame.split_at(2 + 4 + 3);
    assert_eq!(run(&mut dec, &[head]).1, Some(ProtocolError::InvalidUtf8));
}

#[test]
fn size_limits_fail_with_1009_before_the_payload_arrives() {
    let mut c = Client::new();
    let mut dec = server(|cfg| {
        cfg.max_frame_size = 100;
        cfg.max_message_size = 150;
    });
    let big = c.frame(OpCode::Binary, true, &[0; 101]);
    let err = run(&mut dec, &[&big[..8]]).1.unwrap();
    assert_eq!(err, ProtocolError::FrameTooLarge { len: 101, max: 100 });
    assert_eq!(err.close_code(), CloseCode::MESSAGE_TOO_BIG);

    let mut dec = server(|cfg| {
        cfg.max_frame_size = 100;
        cfg.max_message_size = 150;
    });
    let parts = [
        c.frame(OpCode::Binary, false, &[0; 100]),
        c.frame(OpCode::Continuation, true, &[0; 51]),
    ]
    .concat();
    let err = run(&mut dec, &[&parts]).1.unwrap();
    assert_eq!(err, ProtocolError::MessageTooLarge { len: 151, max: 150 });
    assert_eq!(err.close_code().as_u16(), 1009);
}

#[test]
fn errors_are_sticky_and_close_ends_the_stream() {
    let mut c = Client::new();
    let mut dec = server(|_| {});
    let mut bad = vec![0x82, 0x00];
    assert!(dec.decode(&mut bad).is_err());
    assert_eq!(
        dec.decode(&mut []).unwrap_err(),
        ProtocolError::UnmaskedClientFrame
    );

    let bytes = [
        c.frame(OpCode::Close, true, b""),
        c.frame(OpCode::Text, true, b"late"),
    ]
    .concat();
    let (msgs, err) = whole(&bytes);
    assert_eq!(msgs, [Owned::Close(None)]);
    assert_eq!(err, Some(ProtocolError::DataAfterClose));
}

#[test]
fn compressed_messages_pass_through_when_rsv1_is_negotiated() {
    let mut c = Client::new();
    let bytes = [
        c.frame_rsv(OpCode::Text, false, RSV1, &[0xff, 0xfe]),
        c.frame(OpCode::Continuation, true, &[0xfd]),
    ]
    .concat();
    assert_eq!(
        whole(&bytes).1,
        Some(ProtocolError::ReservedBits { bits: RSV1 })
    );
    let mut dec = server(|cfg| cfg.allowed_rsv = RSV1);
    let (msgs, err) = run(&mut dec, &[&bytes]);
    assert_eq!(err, None);
    assert_eq!(
        msgs,
        [Owned::Compressed {
            text: true,
            payload: vec![0xff, 0xfe, 0xfd]
        }]
    );
    // RSV1 on a continuation frame is an error even when negotiated.
    let bad = [
        c.frame_rsv(OpCode::Binary, false, RSV1, b"a"),
        c.frame_rsv(OpCode::Continuation, true, RSV1, b"b"),
    ]
    .concat();
    let mut dec = server(|cfg| cfg.allowed_rsv = RSV1);
    assert_eq!(
        run(&mut dec, &[&bad]).1,
        Some(ProtocolError::ReservedBits { bits: RSV1 })
    );
}

#[test]
fn the_message_buffer_is_reused_and_released_past_the_retained_capacity() {
    let mut c = Client::new();
    let mut dec = server(|cfg| cfg.retain_capacity = 4096);
    let small = [
        c.frame(OpCode::Binary, false, &[1; 1000]),
        c.frame(OpCode::Continuation, true, &[2; 1000]),
    ]
    .concat();
    run(&mut dec, &[&small]);
    let held = dec.heap_bytes();
    assert!(held >= 2000);
    for _ in 0..10 {
        let (msgs, _) = run(&mut dec, &[&small]);
        assert_eq!(msgs.len(), 1);
        assert_eq!(dec.heap_bytes(), held, "steady state allocates nothing new");
    }
    let mut big = [
        c.frame(OpCode::Binary, false, &[1; 10_000]),
        c.frame(OpCode::Continuation, true, &[]),
    ]
    .concat();
    let (n, m) = dec.decode(&mut big).unwrap();
    assert_eq!(
        (n, m.map(|m| m.to_owned_message())),
        (big.len(), Some(Owned::Binary(vec![1; 10_000])))
    );
    assert!(dec.heap_bytes() > 4096);
    // Released at the start of the next call, once the message is done with.
    assert_eq!(dec.decode(&mut []).unwrap(), (0, None));
    assert_eq!(dec.heap_bytes(), 0);
}

#[test]
fn a_client_decoder_rejects_masked_frames_and_reads_unmasked_ones() {
    let mut dec = Decoder::new(DecoderConfig::new(Role::Client));
    let mut srv = Encoder::server();
    let mut bytes = Vec::new();
    srv.encode_to_vec(&mut bytes, FrameKind::whole(OpCode::Text), b"hi")
        .unwrap();
    assert_eq!(run(&mut dec, &[&bytes]).0, [Owned::Text("hi".into())]);
    let masked = Client::new().frame(OpCode::Text, true, b"hi");
    assert_eq!(
        run(&mut dec, &[&masked]).1,
        Some(ProtocolError::MaskedServerFrame)
    );
}

/// One item of a generated stream.
#[derive(Clone, Debug)]
enum Item {
    /// A data message split into fragments, with control frames after some.
    Message {
        text: bool,
        fragments: Vec<Vec<u8>>,
        pings: Vec<Option<Vec<u8>>>,
    },
    Ping(Vec<u8>),
    Close(u16, String),
    /// Arbitrary bytes (almost always a protocol error).
    Junk(Vec<u8>),
}

fn item() -> impl Strategy<Value = Item> {
    let payload = || proptest::collection::vec(any::<u8>(), 0..300);
    let text_bytes = || {
        prop_oneof![
            "\\PC{0,60}".prop_map(String::into_bytes),
            proptest::collection::vec(any::<u8>(), 0..8),
        ]
    };
    prop_oneof![
        8 => (any::<bool>(), 1usize..5)
            .prop_flat_map(move |(text, n)| {
                let frag = if text { text_bytes().boxed() } else { payload().boxed() };
                (
                    Just(text),
                    proptest::collection::vec(frag, n),
                    proptest::collection::vec(
                        proptest::option::weighted(0.3, proptest::collection::vec(any::<u8>(), 0..125)),
                        n,
                    ),
                )
            })
            .prop_map(|(text, fragments, pings)| Item::Message { text, fragments, pings }),
        2 => proptest::collection::vec(any::<u8>(), 0..125).prop_map(Item::Ping),
        1 => (prop_oneof![Just(1000u16), Just(4000), Just(1005), any::<u16>()], "\\PC{0,20}")
            .prop_map(|(c, r)| Item::Close(c, r)),
        1 => proptest::collection::vec(any::<u8>(), 1..20).prop_map(Item::Junk),
    ]
}

fn encode_items(items: &[Item]) -> Vec<u8> {
    let mut c = Client::new();
    let mut out = Vec::new();
    for it in items {
        match it {
            Item::Message {
                text,
                fragments,
                pings,
            } => {
                let last = fragments.len() - 1;
                for (i, f) in fragments.iter().enumerate() {
                    let opcode = match (i, text) {
                        (0, true) => OpCode::Text,
                        (0, false) => OpCode::Binary,
                        _ => OpCode::Continuation,
                    };
                    out.extend(c.frame(opcode, i == last, f));
                    if let Some(p) = &pings[i] {
                        out.extend(c.frame(OpCode::Ping, true, p));
                    }
                }
            }
            Item::Ping(p) => out.extend(c.frame(OpCode::Ping, true, p)),
            Item::Close(code, reason) => {
                let mut body = code.to_be_bytes().to_vec();
                body.extend_from_slice(reason.as_bytes());
                out.extend(c.frame(OpCode::Close, true, &body));
            }
            Item::Junk(j) => out.extend_from_slice(j),
        }
    }
    out
}

fn split_at_cuts<'a>(bytes: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = cuts.iter().map(|&c| c % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    let mut pieces = Vec::new();
    let mut last = 0;
    for c in cuts {
        pieces.push(&bytes[last..c]);
        last = c;
    }
    pieces.push(&bytes[last..]);
    pieces
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Decoding in pieces gives exactly what decoding whole gives: the same
    /// messages, then the same error (or none).
    #[test]
    fn decoding_in_pieces_equals_decoding_whole(
        items in proptest::collection::vec(item(), 1..8),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        let bytes = encode_items(&items);
        let expected = whole(&bytes);
        let pieces = split_at_cuts(&bytes, &cuts);
        prop_assert_eq!(run(&mut server(|_| {}), &pieces), expected.clone());
        let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
        prop_assert_eq!(run(&mut server(|_| {}), &bytewise), expected);
    }

    /// Valid streams decode to exactly the messages that were sent.
    #[test]
    fn valid_streams_round_trip(
        items in proptest::collection::vec(item(), 1..6),
        cuts in proptest::collection::vec(any::<usize>(), 0..6),
    ) {
        let valid: Vec<Item> = items
            .into_iter()
            .filter(|it| match it {
                Item::Message { text, fragments, .. } => {
                    !text || std::str::from_utf8(&fragments.concat()).is_ok()
                }
                Item::Ping(_) => true,
                _ => false,
            })
            .collect();
        let mut expected = Vec::new();
        for it in &valid {
            match it {
                Item::Message { text, fragments, pings } => {
                    // Pings sent between fragments arrive before the message,
                    // one sent after the final fragment after it.
                    let (last_ping, early) = pings.split_last().unwrap();
                    expected.extend(early.iter().flatten().map(|p| Owned::Ping(p.clone())));
                    let data = fragments.concat();
                    expected.push(if *text {
                        Owned::Text(String::from_utf8(data).unwrap())
                    } else {
                        Owned::Binary(data)
                    });
                    expected.extend(last_ping.iter().map(|p| Owned::Ping(p.clone())));
                }
                Item::Ping(p) => expected.push(Owned::Ping(p.clone())),
                _ => unreachable!(),
            }
        }
        let bytes = encode_items(&valid);
        let pieces = split_at_cuts(&bytes, &cuts);
        prop_assert_eq!(run(&mut server(|_| {}), &pieces), (expected, None));
    }
}

#[test]
fn a_header_split_across_calls_is_kept_inside_the_decoder() {
    let mut c = Client::new();
    let bytes = c.frame(OpCode::Binary, true, &[7; 70_000]);
    assert_eq!(&bytes[..2], [0x82, 0x80 | 127]);
    let mut dec = server(|_| {});
    for cut in 1..MAX_HEADER_LEN {
        let mut head = bytes[..cut].to_vec();
        let mut dec2 = server(|_| {});
        assert_eq!(dec2.decode(&mut head).unwrap(), (cut, None));
    }
    let (msgs, err) = run(&mut dec, &[&bytes[..5], &bytes[5..9], &bytes[9..]]);
    assert_eq!(err, None);
    assert_eq!(msgs, [Owned::Binary(vec![7; 70_000])]);
}
