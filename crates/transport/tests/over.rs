//! `WebSocket::over`: a client and a server over an in-memory pipe, the
//! handshake done elsewhere.

use std::time::Duration;

use tokio::io::{DuplexStream, ReadHalf, WriteHalf, duplex, split};
use wsbench_transport::{Config, Data, Event, Role, WebSocket};

type PipeSocket = WebSocket<ReadHalf<DuplexStream>, WriteHalf<DuplexStream>>;

const LIMIT: Duration = Duration::from_secs(10);

/// A client and a server over the two ends of one pipe; `leftover` is
/// handed to the server as bytes read past its handshake.
fn pair(leftover: &[u8]) -> (PipeSocket, PipeSocket) {
    let (a, b) = duplex(64 << 10);
    let (ar, aw) = split(a);
    let (br, bw) = split(b);
    let client = WebSocket::over(ar, aw, Role::Client, Config::default(), &[]);
    let server = WebSocket::over(br, bw, Role::Server, Config::default(), leftover);
    (client, server)
}

async fn next(ws: &mut PipeSocket) -> Event {
    tokio::time::timeout(LIMIT, ws.next_event())
        .await
        .expect("event in time")
        .expect("an event before close")
}

/// Echoes every message until the connection closes; the events seen.
async fn echo(mut server: PipeSocket) -> Vec<Event> {
    let mut seen = Vec::new();
    while let Some(ev) = server.next_event().await {
        if let Event::Message(m) = &ev {
            let _ = match m {
                Data::Text(t) => server.send_text(t).await,
                Data::Binary(b) => server.send_binary(b).await,
            };
        }
        seen.push(ev);
    }
    seen
}

#[tokio::test]
async fn client_and_server_over_a_pipe_echo_and_close_cleanly() {
    let (mut client, server) = pair(&[]);
    let server = tokio::spawn(echo(server));
    client.send_text("héllo").await.unwrap();
    client.send_binary(&[0, 1, 2, 255]).await.unwrap();
    assert!(matches!(next(&mut client).await, Event::Message(Data::Text(t)) if t == "héllo"));
    assert!(
        matches!(next(&mut client).await, Event::Message(Data::Binary(b)) if b == [0, 1, 2, 255])
    );
    client.close(1000, "done").await.unwrap();
    let Event::Close(close) = next(&mut client).await else {
        panic!("expected the close event");
    };
    assert!(close.was_clean, "{close:?}");
    assert_eq!(close.code, 1000);
    let seen = tokio::time::timeout(LIMIT, server).await.unwrap().unwrap();
    assert!(matches!(seen.last(), Some(Event::Close(c)) if c.was_clean && c.code == 1000));
}

#[tokio::test]
async fn the_leftover_bytes_are_the_first_frames_the_server_reads() {
    // A masked text frame, "hi", key 1 2 3 4: what a client sent right
    // behind its handshake request.
    let key = [1u8, 2, 3, 4];
    let frame = [0x81, 0x82, 1, 2, 3, 4, b'h' ^ key[0], b'i' ^ key[1]];
    let (mut client, server) = pair(&frame);
    let server = tokio::spawn(echo(server));
    assert!(matches!(next(&mut client).await, Event::Message(Data::Text(t)) if t == "hi"));
    client.close(1000, "").await.unwrap();
    assert!(matches!(next(&mut client).await, Event::Close(c) if c.was_clean));
    tokio::time::timeout(LIMIT, server).await.unwrap().unwrap();
}
