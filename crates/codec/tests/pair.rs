//! A client and a server built from the public API, talking through an
//! in-memory byte pipe: handshake, messages both ways (whole, fragmented,
//! interleaved with pings, delivered in awkward pieces), then the closing
//! handshake.

use wsbench_codec::handshake::{ClientHandshake, ClientRequest, Request, Response};
use wsbench_codec::{
    CloseCode, Decoder, DecoderConfig, Encoder, FastMaskKeys, FrameKind, MaskKeySource, Message,
    OpCode, OwnedMessage, ProtocolError, Role,
};

/// One endpoint: its decoder, its encoder, and the bytes it has received but
/// not decoded yet.
struct End<K> {
    decoder: Decoder,
    encoder: Encoder<K>,
    inbox: Vec<u8>,
}

impl<K: MaskKeySource> End<K> {
    /// Delivers `bytes` in pieces of `piece` bytes and returns what decodes.
    fn receive(&mut self, bytes: &[u8], piece: usize) -> Result<Vec<OwnedMessage>, ProtocolError> {
        let mut out = Vec::new();
        for chunk in bytes.chunks(piece.max(1)) {
            self.inbox.extend_from_slice(chunk);
            let mut pos = 0;
            loop {
                let (n, m) = self.decoder.decode(&mut self.inbox[pos..])?;
                pos += n;
                match m {
                    Some(m) => out.push(m.to_owned_message()),
                    None => break,
                }
            }
            assert_eq!(pos, self.inbox.len());
            self.inbox.clear();
        }
        Ok(out)
    }

    fn send(&mut self, opcode: OpCode, fin: bool, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let kind = FrameKind {
            opcode,
            fin,
            rsv: 0,
        };
        self.encoder.encode_to_vec(&mut out, kind, payload).unwrap();
        out
    }
}

fn connect() -> (End<FastMaskKeys>, End<wsbench_codec::encode::NoMasking>) {
    // Client writes the request.
    let mut request = Vec::new();
    let hs = ClientHandshake::start(
        &ClientRequest {
            host: "127.0.0.1:9001",
            path: "/echo",
            protocols: &["wsbench.v1", "chat"],
            ..ClientRequest::default()
        },
        *b"0123456789abcdef",
        &mut request,
    )
    .unwrap();
    // Server reads it, a byte at a time, and answers.
    let mut req = None;
    for end in 1..=request.len() {
        req = Request::parse(&request[..end]).unwrap();
        assert_eq!(req.is_some(), end == request.len());
    }
    let req = req.unwrap();
    assert_eq!(req.path, "/echo");
    let protocol = req.select_protocol(&["chat"]);
    let mut response = Vec::new();
    Response {
        protocol,
        ..req.accept()
    }
    .write(&mut response);
    // Client checks the answer.
    let accepted = hs.parse_response(&response).unwrap().unwrap();
    assert_eq!(accepted.protocol, Some("chat"));
    assert_eq!(accepted.head_len, response.len());

    let client = End {
        decoder: Decoder::new(DecoderConfig::new(Role::Client)),
        encoder: Encoder::client(FastMaskKeys::new(99)),
        inbox: Vec::new(),
    };
    let server = End {
        decoder: Decoder::new(DecoderConfig::new(Role::Server)),
        encoder: Encoder::server(),
        inbox: Vec::new(),
    };
    (client, server)
}

#[test]
fn messages_flow_both_ways_in_any_piece_size() {
    for piece in [1, 2, 5, 64, 4096] {
        let (mut client, mut server) = connect();
        let text = "héllo wörld, ".repeat(50);
        let wire = [
            client.send(OpCode::Text, true, text.as_bytes()),
            client.send(OpCode::Binary, false, &[1, 2, 3]),
            client.send(OpCode::Ping, true, b"are you there"),
            client.send(OpCode::Continuation, true, &[4, 5]),
        ]
        .concat();
        let got = server.receive(&wire, piece).unwrap();
        assert_eq!(
            got,
            [
                OwnedMessage::Text(text.clone()),
                OwnedMessage::Ping(b"are you there".to_vec()),
                OwnedMessage::Binary(vec![1, 2, 3, 4, 5]),
            ],
            "piece {piece}"
        );

        // The server echoes and answers the ping.
        let reply = [
            server.send(OpCode::Pong, true, b"are you there"),
            server.send(OpCode::Text, true, text.as_bytes()),
        ]
        .concat();
        let got = client.receive(&reply, piece).unwrap();
        assert_eq!(
            got,
            [
                OwnedMessage::Pong(b"are you there".to_vec()),
                OwnedMessage::Text(text)
            ]
        );
    }
}

#[test]
fn closing_handshake_and_violations_map_to_close_codes() {
    let (mut client, mut server) = connect();
    let mut close = Vec::new();
    client
        .encoder
        .encode_close(&mut close, CloseCode::GOING_AWAY, "done")
        .unwrap();
    let got = server.receive(&close, 3).unwrap();
    assert_eq!(
        got,
        [OwnedMessage::Close(Some((
            CloseCode::GOING_AWAY,
            "done".into()
        )))]
    );
    assert!(server.decoder.is_closed());

    // A server frame that is masked is a protocol error for the client.
    let (mut client, _) = connect();
    let masked = Encoder::client(FastMaskKeys::new(1));
    let mut bytes = Vec::new();
    let mut masked = masked;
    masked
        .encode_to_vec(&mut bytes, FrameKind::whole(OpCode::Text), b"x")
        .unwrap();
    let err = client.receive(&bytes, 1).unwrap_err();
    assert_eq!(err, ProtocolError::MaskedServerFrame);
    assert_eq!(err.close_code(), CloseCode::PROTOCOL_ERROR);

    // Bad UTF-8 from the client: 1007.
    let (mut client, mut server) = connect();
    let bad = client.send(OpCode::Text, true, &[0xed, 0xa0, 0x80]);
    let err = server.receive(&bad, 100).unwrap_err();
    assert_eq!(err.close_code(), CloseCode::INVALID_PAYLOAD);
}

#[test]
fn zero_copy_payloads_point_into_the_read_buffer() {
    let (mut client, _) = connect();
    let mut wire = client.send(OpCode::Binary, true, &[9; 100]);
    let range = wire.as_ptr_range();
    let mut dec = Decoder::new(DecoderConfig::new(Role::Server));
    let (n, m) = dec.decode(&mut wire).unwrap();
    assert_eq!(n, 106);
    match m {
        Some(Message::Binary(p)) => {
            assert_eq!(p, [9; 100]);
            assert!(range.contains(&p.as_ptr()));
        }
        other => panic!("expected binary, got {other:?}"),
    }
}
