//! The connection state machine, table-driven: each case is a list of
//! steps (an input at a time offset) and what each must answer, with the
//! `readyState` after it. No sockets, no clock: time is an offset from
//! the case's start.

use super::*;
use crate::close::CloseFrame;

const KEEPALIVE: Duration = Duration::from_secs(10);
const CLOSE: Duration = Duration::from_secs(5);

/// One input.
#[derive(Clone, Copy, Debug)]
enum In {
    Read,
    Text,
    Ping,
    Pong,
    PeerClose(Option<(u16, &'static str)>),
    Close(u16),
    Fail(u16),
    Closed,
    Tick,
}

/// What the step must answer.
#[derive(Debug, PartialEq, Eq)]
enum Out {
    Nothing,
    Received(Received),
    Close(Result<bool, CloseRefused>),
    Fail(Option<CloseCode>),
    Expired(Option<Expired>),
}

use In::*;
use ReadyState::{Closed as CLOSED, Closing as CLOSING, Open as OPEN};

fn peer_closed(reply: Option<Option<u16>>, then: AfterClose, code: u16, reason: &str) -> Out {
    Out::Received(Received::PeerClosed(PeerClosed {
        reply: reply.map(|r| r.map(CloseCode::new)),
        then,
        event: CloseEvent {
            code,
            reason: reason.to_owned(),
            was_clean: true,
        },
    }))
}

fn step(c: &mut Machine, input: In, now: u64) -> Out {
    match input {
        Read => {
            c.on_read(now);
            Out::Nothing
        }
        Text => Out::Received(c.on_message(&Message::Text("hi"))),
        Ping => Out::Received(c.on_message(&Message::Ping(b"p"))),
        Pong => Out::Received(c.on_message(&Message::Pong(b"p"))),
        PeerClose(frame) => {
            let frame = frame.map(|(code, reason)| CloseFrame {
                code: CloseCode::new(code),
                reason,
            });
            Out::Received(c.on_message(&Message::Close(frame)))
        }
        Close(code) => Out::Close(c.close(CloseCode::new(code), now)),
        Fail(code) => Out::Fail(c.fail(CloseCode::new(code))),
        Closed => {
            c.closed();
            Out::Nothing
        }
        Tick => Out::Expired(c.on_timeout(now)),
    }
}

/// Runs `steps` (seconds after the start, input, answer, readyState after)
/// on a connection of `role` opened at the start.
fn run(name: &str, role: Role, keepalive: bool, steps: &[(u64, In, Out, ReadyState)]) {
    // Any origin: the caller's clock.
    let t0 = 7_000_000_000;
    let timeouts = Timeouts {
        keepalive: keepalive.then_some(KEEPALIVE),
        close: CLOSE,
    };
    let mut c = Machine::open(role, timeouts, t0);
    assert_eq!(c.ready_state(), OPEN, "{name}");
    for (i, (at, input, want, state)) in steps.iter().enumerate() {
        let got = step(&mut c, *input, t0 + at * 1_000_000_000);
        assert_eq!(&got, want, "{name}, step {i} ({input:?} at {at} s)");
        assert_eq!(c.ready_state(), *state, "{name}, step {i}: readyState");
    }
}

#[test]
fn closing_handshakes() {
    // The peer closes a server: echo its code, close TCP at once.
    run(
        "peer closes a server",
        Role::Server,
        false,
        &[
            (0, Text, Out::Received(Received::Deliver), OPEN),
            (
                1,
                PeerClose(Some((1000, "bye"))),
                peer_closed(Some(Some(1000)), AfterClose::Shutdown, 1000, "bye"),
                CLOSING,
            ),
            (1, Closed, Out::Nothing, CLOSED),
        ],
    );
    // The peer closes a client without a code: answer with an empty close
    // frame, report 1005.
    let mut c = Machine::open(
        Role::Client,
        Timeouts {
            keepalive: None,
            close: CLOSE,
        },
        0,
    );
    assert_eq!(
        c.on_message(&Message::Close(None)),
        Received::PeerClosed(PeerClosed {
            reply: Some(None),
            // A client waits for the server to close TCP, at most the
            // close timeout.
            then: AfterClose::AwaitEof(CLOSE),
            event: CloseEvent {
                code: 1005,
                reason: String::new(),
                was_clean: true,
            },
        })
    );
    // We close first: the peer's answer is not answered again; data after
    // our close frame is dropped, and pings are not answered.
    run(
        "we close first",
        Role::Server,
        false,
        &[
            (0, Close(4000), Out::Close(Ok(true)), CLOSING),
            (0, Close(1000), Out::Close(Ok(false)), CLOSING),
            (1, Text, Out::Received(Received::Drop), CLOSING),
            (1, Ping, Out::Received(Received::Drop), CLOSING),
            (1, Pong, Out::Received(Received::Deliver), CLOSING),
            (
                2,
                PeerClose(Some((4000, ""))),
                peer_closed(None, AfterClose::Shutdown, 4000, ""),
                CLOSING,
            ),
            (2, Closed, Out::Nothing, CLOSED),
            (
                3,
                Close(1000),
                Out::Close(Err(CloseRefused::Closed)),
                CLOSED,
            ),
        ],
    );
    // Codes that may not be sent are refused and change nothing.
    run(
        "invalid close codes",
        Role::Client,
        false,
        &[
            (
                0,
                Close(1005),
                Out::Close(Err(CloseRefused::InvalidCode(CloseCode::new(1005)))),
                OPEN,
            ),
            (
                0,
                Close(999),
                Out::Close(Err(CloseRefused::InvalidCode(CloseCode::new(999)))),
                OPEN,
            ),
            (0, Close(3000), Out::Close(Ok(true)), CLOSING),
        ],
    );
}

#[test]
fn pings_are_answered_while_open() {
    run(
        "pings",
        Role::Client,
        false,
        &[
            (0, Ping, Out::Received(Received::Pong), OPEN),
            (0, Pong, Out::Received(Received::Deliver), OPEN),
            (0, Text, Out::Received(Received::Deliver), OPEN),
        ],
    );
}

#[test]
fn keepalive_pings_after_silence_and_fails_with_1008() {
    run(
        "keepalive",
        Role::Client,
        true,
        &[
            (5, Tick, Out::Expired(None), OPEN),
            // Ten seconds of silence: a ping.
            (10, Tick, Out::Expired(Some(Expired::SendPing)), OPEN),
            // A byte arrives: the count starts again from it.
            (12, Read, Out::Nothing, OPEN),
            (21, Tick, Out::Expired(None), OPEN),
            (22, Tick, Out::Expired(Some(Expired::SendPing)), OPEN),
            // Nothing since the ping: the connection fails with 1008.
            (31, Tick, Out::Expired(None), OPEN),
            (32, Tick, Out::Expired(Some(Expired::KeepaliveFailed)), OPEN),
            (
                32,
                Fail(1008),
                Out::Fail(Some(CloseCode::POLICY_VIOLATION)),
                CLOSED,
            ),
            (100, Tick, Out::Expired(None), CLOSED),
        ],
    );
    // Without keepalive, silence is never a deadline.
    let c = Machine::open(
        Role::Server,
        Timeouts {
            keepalive: None,
            close: CLOSE,
        },
        0,
    );
    assert_eq!(c.next_timeout(), None);
}

#[test]
fn an_unanswered_close_times_out() {
    run(
        "close timeout",
        Role::Client,
        true,
        &[
            (1, Close(1000), Out::Close(Ok(true)), CLOSING),
            // The close deadline replaces the keepalive.
            (5, Tick, Out::Expired(None), CLOSING),
            (
                6,
                Tick,
                Out::Expired(Some(Expired::CloseUnanswered)),
                CLOSING,
            ),
            (6, Closed, Out::Nothing, CLOSED),
        ],
    );
}

#[test]
fn failures_send_a_close_frame_only_when_they_may() {
    run(
        "protocol error",
        Role::Server,
        false,
        &[(
            0,
            Fail(1002),
            Out::Fail(Some(CloseCode::PROTOCOL_ERROR)),
            CLOSED,
        )],
    );
    // An I/O error (1006) has no close frame.
    run(
        "I/O error",
        Role::Server,
        false,
        &[(0, Fail(1006), Out::Fail(None), CLOSED)],
    );
    // After our close frame, none is sent again.
    run(
        "error while closing",
        Role::Client,
        false,
        &[
            (0, Close(1000), Out::Close(Ok(true)), CLOSING),
            (0, Fail(1002), Out::Fail(None), CLOSED),
        ],
    );
}

#[test]
fn sending_needs_an_open_connection() {
    let now = 0;
    let mut c = Machine::open(
        Role::Client,
        Timeouts {
            keepalive: None,
            close: CLOSE,
        },
        now,
    );
    assert_eq!(c.check_send(), Ok(()));
    assert_eq!(c.close(CloseCode::NORMAL, now), Ok(true));
    assert_eq!(c.check_send(), Err(ReadyState::Closing));
    c.closed();
    assert_eq!(c.check_send(), Err(ReadyState::Closed));
    assert_eq!(ReadyState::Closing.to_string(), "CLOSING");
}

#[test]
fn the_state_machine_costs_at_most_32_bytes() {
    // Every open connection holds one.
    assert!(size_of::<Machine>() <= 32, "{}", size_of::<Machine>());
}
