//! The write side against a socket that takes a set number of bytes.

use std::pin::Pin;
use std::time::Duration;

use wsbench_codec::connection::Timeouts;
use wsbench_codec::{DecoderConfig, OpCode, ServerFrame};

use super::*;

/// A socket that takes up to `room` bytes, then is full (pending).
#[derive(Debug, Default)]
struct Trickle {
    taken: Vec<u8>,
    room: usize,
    broken: bool,
}

impl AsyncWrite for Trickle {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let s = self.get_mut();
        if s.broken {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let n = buf.len().min(s.room);
        if n == 0 {
            return Poll::Pending;
        }
        s.taken.extend_from_slice(&buf[..n]);
        s.room -= n;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

fn server(room: usize) -> Shared<Trickle> {
    open(Role::Server, room)
}

fn open(role: Role, room: usize) -> Shared<Trickle> {
    let timeouts = Timeouts {
        keepalive: None,
        close: Duration::from_secs(1),
    };
    let conn = Connection::open(DecoderConfig::new(role), timeouts, 7, 0);
    let io = Trickle {
        room,
        ..Trickle::default()
    };
    Shared::new(io, conn, None)
}

fn taken(s: &Shared<Trickle>) -> Vec<u8> {
    s.try_with_io(|io| io.taken.clone()).unwrap()
}

fn room(s: &Shared<Trickle>, room: usize) {
    s.sink.try_lock().unwrap().io.room = room;
}

fn text(body: &[u8]) -> ServerFrame {
    ServerFrame::new(OpCode::Text, body).unwrap()
}

#[tokio::test]
async fn a_frame_the_socket_takes_in_part_is_finished_by_the_next_flush() {
    let s = server(10);
    let one = text(&[b'a'; 100]);
    let two = text(&[b'b'; 100]);
    assert!(!s.send_frame_now(&one).unwrap());
    assert_eq!(taken(&s), one.as_bytes()[..10]);
    // 8 of the 100 payload bytes went out after the 2-byte header.
    assert_eq!(s.buffered_amount(), 92);
    // Bytes are in flight: the next frame queues behind them, whole.
    assert!(!s.send_frame_now(&two).unwrap());
    assert_eq!(s.buffered_amount(), 192);
    room(&s, usize::MAX);
    s.flush().await.unwrap();
    assert_eq!(taken(&s), [one.as_bytes(), two.as_bytes()].concat());
    assert_eq!(s.buffered_amount(), 0);
    // Nothing queued and room: straight through, nothing counted.
    assert!(s.send_frame_now(&one).unwrap());
    assert_eq!(s.buffered_amount(), 0);
    assert_eq!(
        taken(&s).len(),
        2 * one.as_bytes().len() + two.as_bytes().len()
    );
}

#[tokio::test]
async fn a_frame_sent_now_goes_behind_what_is_queued() {
    let s = server(0);
    s.queue(OpCode::Text, b"first").unwrap();
    let second = text(b"second");
    assert!(!s.send_frame_now(&second).unwrap());
    assert_eq!(s.buffered_amount(), 11);
    room(&s, usize::MAX);
    s.flush().await.unwrap();
    let first = text(b"first");
    assert_eq!(taken(&s), [first.as_bytes(), second.as_bytes()].concat());
    assert_eq!(s.buffered_amount(), 0);
}

#[tokio::test]
async fn a_full_socket_takes_nothing_and_the_whole_frame_waits() {
    let s = server(0);
    let one = text(&[b'a'; 300]);
    assert!(!s.send_frame_now(&one).unwrap());
    assert_eq!(s.buffered_amount(), 300);
    assert!(taken(&s).is_empty());
    room(&s, usize::MAX);
    s.flush().await.unwrap();
    assert_eq!(taken(&s), one.as_bytes());
    assert_eq!(s.buffered_amount(), 0);
}

#[tokio::test]
async fn a_closing_connection_refuses_a_frame() {
    let s = server(usize::MAX);
    s.close(CloseCode::new(1000), "").unwrap();
    assert!(matches!(
        s.send_frame_now(&text(b"late")),
        Err(Error::NotOpen(_))
    ));
}

#[tokio::test]
async fn a_message_the_socket_takes_in_part_is_finished_by_the_next_flush() {
    let s = server(10);
    assert!(!s.send_now(OpCode::Binary, &[b'a'; 100]).unwrap());
    let one = ServerFrame::new(OpCode::Binary, &[b'a'; 100]).unwrap();
    assert_eq!(taken(&s), one.as_bytes()[..10]);
    assert_eq!(s.buffered_amount(), 92);
    // Bytes are in flight: the next message queues behind them.
    assert!(!s.send_now(OpCode::Text, b"two").unwrap());
    assert_eq!(s.buffered_amount(), 95);
    room(&s, usize::MAX);
    s.flush().await.unwrap();
    let two = text(b"two");
    assert_eq!(taken(&s), [one.as_bytes(), two.as_bytes()].concat());
    assert_eq!(s.buffered_amount(), 0);
    // Nothing queued and room: straight through, nothing counted.
    assert!(s.send_now(OpCode::Text, b"two").unwrap());
    assert_eq!(s.buffered_amount(), 0);
    assert_eq!(
        taken(&s),
        [one.as_bytes(), two.as_bytes(), two.as_bytes()].concat()
    );
}

#[tokio::test]
async fn a_message_sent_now_goes_behind_a_reply_the_connection_queued() {
    let s = server(usize::MAX);
    // A ping from the client: the connection queues the pong itself.
    let mut ping = [0x89, 0x82, 0, 0, 0, 0, b'h', b'i'];
    let used = s.with_connection(|c| c.receive(&mut ping, 0).map(|(n, _)| n));
    assert_eq!(used.unwrap(), ping.len());
    assert!(s.with_connection(|c| c.pending()) > 0, "no pong queued");
    assert!(s.send_now(OpCode::Text, b"after").unwrap());
    let pong = ServerFrame::new(OpCode::Pong, b"hi").unwrap();
    assert_eq!(
        taken(&s),
        [pong.as_bytes(), text(b"after").as_bytes()].concat()
    );
    assert_eq!(s.buffered_amount(), 0);
}

#[tokio::test]
async fn a_full_socket_takes_nothing_and_the_whole_message_waits() {
    let s = server(0);
    assert!(!s.send_now(OpCode::Text, &[b'a'; 300]).unwrap());
    assert_eq!(s.buffered_amount(), 300);
    assert!(taken(&s).is_empty());
    room(&s, usize::MAX);
    s.flush().await.unwrap();
    assert_eq!(taken(&s), text(&[b'a'; 300]).as_bytes());
    assert_eq!(s.buffered_amount(), 0);
}

#[tokio::test]
async fn a_client_message_sent_now_is_masked_and_counted_like_a_queued_one() {
    let direct = open(Role::Client, 9);
    let queued = open(Role::Client, 9);
    assert!(!direct.send_now(OpCode::Text, b"masked!").unwrap());
    queued.queue(OpCode::Text, b"masked!").unwrap();
    // 2 header bytes, the 4-byte key, then 3 of 7 payload bytes.
    assert_eq!(direct.buffered_amount(), 4);
    room(&direct, usize::MAX);
    room(&queued, usize::MAX);
    direct.flush().await.unwrap();
    queued.flush().await.unwrap();
    // The same seed, the same key: the same bytes either way.
    assert_eq!(taken(&direct), taken(&queued));
    assert_eq!(taken(&direct).len(), 2 + 4 + 7);
    assert_eq!(taken(&direct)[1], 0x80 | 7);
    assert_eq!(direct.buffered_amount(), 0);
}

#[tokio::test]
async fn a_failed_socket_sends_nothing_and_leaves_nothing_in_flight() {
    let s = server(usize::MAX);
    s.sink.try_lock().unwrap().io.broken = true;
    assert!(matches!(
        s.send_now(OpCode::Text, b"lost"),
        Err(Error::Io(_))
    ));
    assert_eq!(s.buffered_amount(), 0);
    s.sink.try_lock().unwrap().io.broken = false;
    // The failed message left no bytes behind: the next goes out alone.
    assert!(s.send_now(OpCode::Text, b"next").unwrap());
    assert_eq!(taken(&s), text(b"next").as_bytes());
}

#[tokio::test]
async fn a_closing_connection_refuses_a_message() {
    let s = server(usize::MAX);
    s.close(CloseCode::new(1000), "").unwrap();
    assert!(matches!(
        s.send_now(OpCode::Text, b"late"),
        Err(Error::NotOpen(_))
    ));
}
