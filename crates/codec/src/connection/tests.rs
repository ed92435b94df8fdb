//! The connection fed bytes, table-driven: each case is a list of steps
//! (received bytes, an application call or a tick, at a time offset) with
//! what each must yield, the exact bytes it must queue, and the
//! `readyState` after it. No sockets, no clock.

use super::*;

const KEEPALIVE: Duration = Duration::from_secs(10);
const CLOSE: Duration = Duration::from_secs(5);
const S: u64 = 1_000_000_000;

/// A frame as the peer of a server sends it (masked).
fn from_client(opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    Encoder::client(FastMaskKeys::new(99))
        .encode_to_vec(&mut out, FrameKind::whole(opcode), payload)
        .unwrap();
    out
}

/// A frame as a server writes it (unmasked).
fn from_server(opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    Encoder::server()
        .encode_to_vec(&mut out, FrameKind::whole(opcode), payload)
        .unwrap();
    out
}

fn close_body(code: u16, reason: &str) -> Vec<u8> {
    let mut body = code.to_be_bytes().to_vec();
    body.extend_from_slice(reason.as_bytes());
    body
}

/// One step's input.
enum In {
    Bytes(Vec<u8>),
    Send(&'static str),
    Close(u16, &'static str),
    Tick,
}

/// What the step yields.
#[derive(Debug, PartialEq, Eq)]
enum Out {
    Nothing,
    Text(String),
    Pong(Vec<u8>),
    PingAnswered,
    Dropped,
    PeerClosed(PeerClosed),
    Violation(ProtocolError),
    Refused(SendError),
    Expired(Option<Expired>),
}

fn step(c: &mut Connection, input: &In, now: u64) -> Out {
    match input {
        In::Bytes(bytes) => {
            let mut bytes = bytes.clone();
            match c.receive(&mut bytes, now) {
                Err(e) => Out::Violation(e),
                Ok((_, None)) => Out::Nothing,
                Ok((n, Some(incoming))) => {
                    let out = match incoming {
                        Incoming::Message(Message::Text(t)) => Out::Text(t.to_owned()),
                        Incoming::Message(Message::Pong(p)) => Out::Pong(p.to_vec()),
                        Incoming::Message(m) => panic!("unexpected {m:?}"),
                        Incoming::PingAnswered => Out::PingAnswered,
                        Incoming::Dropped => Out::Dropped,
                        Incoming::PeerClosed(pc) => Out::PeerClosed(pc),
                    };
                    assert_eq!(n, bytes.len(), "one frame per step");
                    out
                }
            }
        }
        In::Send(text) => match c.send(FrameKind::whole(OpCode::Text), text.as_bytes()) {
            Ok(_) => Out::Nothing,
            Err(e) => Out::Refused(e),
        },
        In::Close(code, reason) => match c.close(CloseCode::new(*code), reason, now) {
            Ok(()) => Out::Nothing,
            Err(e) => Out::Refused(e),
        },
        In::Tick => Out::Expired(c.on_timeout(now)),
    }
}

/// Runs `steps` (seconds after the start, input, answer, bytes queued by
/// the step, readyState after) on a server opened at the start.
fn run(name: &str, keepalive: bool, steps: &[(u64, In, Out, Vec<u8>, ReadyState)]) {
    let t0 = 3 * S;
    let timeouts = Timeouts {
        keepalive: keepalive.then_some(KEEPALIVE),
        close: CLOSE,
    };
    let mut c = Connection::open(DecoderConfig::new(Role::Server), timeouts, 0, t0);
    let mut written = Vec::new();
    for (i, (at, input, want, queued, state)) in steps.iter().enumerate() {
        let got = step(&mut c, input, t0 + at * S);
        assert_eq!(&got, want, "{name}, step {i} (at {at} s)");
        c.take_outgoing(&mut written);
        assert_eq!(&written, queued, "{name}, step {i}: bytes queued");
        assert_eq!(c.ready_state(), *state, "{name}, step {i}: readyState");
    }
}

fn peer_closed(reply: Option<Option<u16>>, code: u16, reason: &str) -> Out {
    Out::PeerClosed(PeerClosed {
        reply: reply.map(|r| r.map(CloseCode::new)),
        then: AfterClose::Shutdown,
        event: CloseEvent {
            code,
            reason: reason.to_owned(),
            was_clean: true,
        },
    })
}

use ReadyState::{Closed as CLOSED, Closing as CLOSING, Open as OPEN};

#[test]
fn messages_pings_and_the_peers_close() {
    run(
        "peer closes",
        false,
        &[
            (
                0,
                In::Bytes(from_client(OpCode::Text, b"hi")),
                Out::Text("hi".into()),
                vec![],
                OPEN,
            ),
            (
                0,
                In::Bytes(from_client(OpCode::Ping, b"p1")),
                Out::PingAnswered,
                from_server(OpCode::Pong, b"p1"),
                OPEN,
            ),
            (
                0,
                In::Bytes(from_client(OpCode::Pong, b"q")),
                Out::Pong(b"q".to_vec()),
                vec![],
                OPEN,
            ),
            (
                1,
                In::Bytes(from_client(OpCode::Close, &close_body(4001, "bye"))),
                peer_closed(Some(Some(4001)), 4001, "bye"),
                from_server(OpCode::Close, &close_body(4001, "bye")),
                CLOSING,
            ),
            (
                1,
                In::Send("late"),
                Out::Refused(SendError::NotOpen(CLOSING)),
                vec![],
                CLOSING,
            ),
        ],
    );
    // A close frame without a code is answered with an empty one.
    run(
        "peer closes without a code",
        false,
        &[(
            0,
            In::Bytes(from_client(OpCode::Close, b"")),
            peer_closed(Some(None), 1005, ""),
            from_server(OpCode::Close, b""),
            CLOSING,
        )],
    );
}

#[test]
fn we_close_first() {
    run(
        "we close",
        false,
        &[
            (
                0,
                In::Send("a"),
                Out::Nothing,
                from_server(OpCode::Text, b"a"),
                OPEN,
            ),
            (
                0,
                In::Close(1000, "done"),
                Out::Nothing,
                from_server(OpCode::Close, &close_body(1000, "done")),
                CLOSING,
            ),
            // Once is enough.
            (0, In::Close(1000, ""), Out::Nothing, vec![], CLOSING),
            // Data and pings after our close frame are dropped, unanswered.
            (
                1,
                In::Bytes(from_client(OpCode::Text, b"x")),
                Out::Dropped,
                vec![],
                CLOSING,
            ),
            (
                1,
                In::Bytes(from_client(OpCode::Ping, b"x")),
                Out::Dropped,
                vec![],
                CLOSING,
            ),
            // The peer's answer is not answered again.
            (
                2,
                In::Bytes(from_client(OpCode::Close, &close_body(1000, ""))),
                peer_closed(None, 1000, ""),
                vec![],
                CLOSING,
            ),
        ],
    );
    let long = "r".repeat(124).leak();
    run(
        "refused closes",
        false,
        &[
            (
                0,
                In::Close(1005, ""),
                Out::Refused(SendError::Encode(EncodeError::Close(
                    CloseBodyError::InvalidCode(1005),
                ))),
                vec![],
                OPEN,
            ),
            (
                0,
                In::Close(1000, long),
                Out::Refused(SendError::Encode(EncodeError::Close(
                    CloseBodyError::ReasonTooLong(124),
                ))),
                vec![],
                OPEN,
            ),
        ],
    );
}

#[test]
fn violations_queue_the_close_code_they_name() {
    // A server must get masked frames: 1002.
    run(
        "unmasked",
        false,
        &[(
            0,
            In::Bytes(from_server(OpCode::Text, b"hi")),
            Out::Violation(ProtocolError::UnmaskedClientFrame),
            from_server(OpCode::Close, &close_body(1002, "")),
            CLOSED,
        )],
    );
    // Text that is not UTF-8: 1007.
    run(
        "bad UTF-8",
        false,
        &[(
            0,
            In::Bytes(from_client(OpCode::Text, &[0xff, 0xfe])),
            Out::Violation(ProtocolError::InvalidUtf8),
            from_server(OpCode::Close, &close_body(1007, "")),
            CLOSED,
        )],
    );
}

#[test]
fn keepalive_pings_after_silence_then_fails() {
    let ping = from_server(OpCode::Ping, b"keepalive");
    run(
        "keepalive",
        true,
        &[
            (9, In::Tick, Out::Expired(None), vec![], OPEN),
            (
                10,
                In::Tick,
                Out::Expired(Some(Expired::SendPing)),
                ping.clone(),
                OPEN,
            ),
            // Bytes arrive: the silence counts from them.
            (
                12,
                In::Bytes(from_client(OpCode::Pong, b"keepalive")),
                Out::Pong(b"keepalive".to_vec()),
                vec![],
                OPEN,
            ),
            (21, In::Tick, Out::Expired(None), vec![], OPEN),
            (
                22,
                In::Tick,
                Out::Expired(Some(Expired::SendPing)),
                ping,
                OPEN,
            ),
            (
                32,
                In::Tick,
                Out::Expired(Some(Expired::KeepaliveFailed)),
                vec![],
                OPEN,
            ),
        ],
    );
}

#[test]
fn frames_split_across_reads_are_assembled() {
    let mut c = Connection::open(
        DecoderConfig::new(Role::Server),
        Timeouts {
            keepalive: None,
            close: CLOSE,
        },
        0,
        0,
    );
    let mut bytes = from_client(OpCode::Ping, b"abc");
    bytes.extend(from_client(OpCode::Text, b"hello"));
    let (a, b) = bytes.split_at_mut(4);
    assert_eq!(c.receive(a, 1).unwrap(), (4, None));
    let (n, got) = c.receive(b, 2).unwrap();
    assert_eq!(got, Some(Incoming::PingAnswered));
    let rest = &mut b[n..];
    let len = rest.len();
    let (m, got) = c.receive(rest, 2).unwrap();
    assert_eq!(
        (m, got),
        (len, Some(Incoming::Message(Message::Text("hello"))))
    );
    let mut out = Vec::new();
    c.take_outgoing(&mut out);
    assert_eq!(out, from_server(OpCode::Pong, b"abc"));
}

/// A client and a server connection, bytes carried between them by hand:
/// the client's frames are masked and the server reads them; the whole
/// closing handshake completes clean on both sides.
#[test]
fn a_client_and_a_server_close_cleanly() {
    let timeouts = Timeouts {
        keepalive: None,
        close: CLOSE,
    };
    let mut client = Connection::open(DecoderConfig::new(Role::Client), timeouts, 7, 0);
    let mut server = Connection::open(DecoderConfig::new(Role::Server), timeouts, 0, 0);
    let mut wire = Vec::new();
    client
        .send(FrameKind::whole(OpCode::Text), b"hello")
        .unwrap();
    client.close(CloseCode::NORMAL, "bye", 1).unwrap();
    client.take_outgoing(&mut wire);
    assert_ne!(&wire[2..7], b"hello", "a client masks");
    let (n, got) = server.receive(&mut wire, 2).unwrap();
    assert_eq!(got, Some(Incoming::Message(Message::Text("hello"))));
    let Some(Incoming::PeerClosed(pc)) = server.receive(&mut wire[n..], 2).unwrap().1 else {
        panic!("the server sees the close frame");
    };
    assert_eq!((pc.event.code, pc.event.reason.as_str()), (1000, "bye"));
    assert_eq!(pc.then, AfterClose::Shutdown);
    server.take_outgoing(&mut wire);
    let Some(Incoming::PeerClosed(pc)) = client.receive(&mut wire, 3).unwrap().1 else {
        panic!("the client sees the answer");
    };
    assert_eq!(pc.reply, None, "the client's close frame went first");
    assert_eq!(
        (pc.event.code, pc.event.reason.as_str()),
        (1000, "bye"),
        "the server's answer echoes the code and the reason"
    );
    assert_eq!(pc.then, AfterClose::AwaitEof(CLOSE));
    assert!(pc.event.was_clean);
    assert_eq!(client.pending(), 0);
    assert_eq!(client.next_timeout(), None, "the close deadline is over");
}

/// A frame encoded once goes out byte for byte on every server connection
/// while open, as `send` would frame it; a client refuses it (it must mask
/// with its own key), and nothing is queued after our close.
#[test]
fn a_frame_encoded_once_is_queued_as_is_by_servers_only() {
    let timeouts = Timeouts {
        keepalive: None,
        close: CLOSE,
    };
    let frame = ServerFrame::new(OpCode::Text, b"{\"seq\":1}").unwrap();
    assert_eq!(frame.payload(), b"{\"seq\":1}");
    let mut framed = Connection::open(DecoderConfig::new(Role::Server), timeouts, 0, 0);
    framed
        .send(FrameKind::whole(OpCode::Text), b"{\"seq\":1}")
        .unwrap();
    let mut want = Vec::new();
    framed.take_outgoing(&mut want);
    for _ in 0..2 {
        let mut server = Connection::open(DecoderConfig::new(Role::Server), timeouts, 0, 0);
        assert_eq!(server.send_frame(&frame), Ok(want.len()));
        let mut got = Vec::new();
        server.take_outgoing(&mut got);
        assert_eq!(got, want);
        server.close(CloseCode::NORMAL, "", 1).unwrap();
        assert_eq!(server.send_frame(&frame), Err(SendError::NotOpen(CLOSING)));
    }
    let mut client = Connection::open(DecoderConfig::new(Role::Client), timeouts, 7, 0);
    assert_eq!(
        client.send_frame(&frame),
        Err(SendError::Encode(EncodeError::ServerFrameFromClient))
    );
    assert_eq!(client.pending(), 0);
}
