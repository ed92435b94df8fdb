//! The write side against a socket that takes a set number of bytes.

use std::time::Duration;

use wsbench_codec::connection::Timeouts;
use wsbench_codec::{DecoderConfig, OpCode, ServerFrame};

use super::*;

/// A socket that takes up to `room` bytes, then is full (pending).
#[derive(Debug, Default)]
struct Trickle {
    taken: Vec<u8>,
    room: usize,
}

impl AsyncWrite for Trickle {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let s = self.get_mut();
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
    let timeouts = Timeouts {
        keepalive: None,
        close: Duration::from_secs(1),
    };
    let conn = Connection::open(DecoderConfig::new(Role::Server), timeouts, 0, 0);
    Shared::new(
        Trickle {
            taken: Vec::new(),
            room,
        },
        conn,
        None,
    )
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
