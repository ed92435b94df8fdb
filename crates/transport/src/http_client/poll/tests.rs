//! The poll client's requests and answers against scripted servers on
//! loopback: a poll's request rewritten from the last one, and its body
//! lent from the connection's buffer.

use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use crate::config::ClientOptions;
use crate::http_client::PollClient;
use crate::http_client::h1::tests::{request, server};

/// A server answering each request with the next of `answers` (then
/// closing the connection), sending every request it read to the channel.
async fn scripted(answers: &'static [&'static [u8]]) -> (String, mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let url = server(move |_, mut tcp| {
        let tx = tx.clone();
        async move {
            for answer in answers {
                let Some(r) = request(&mut tcp).await else {
                    return;
                };
                tx.send(r).unwrap();
                tcp.write_all(answer).await.unwrap();
            }
        }
    })
    .await;
    (url, rx)
}

const EMPTY: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";

#[tokio::test]
async fn each_poll_asks_for_its_own_cursor_and_wait() {
    let (url, mut rx) = scripted(&[EMPTY; 7]).await;
    let mut c = PollClient::connect(&url, &ClientOptions::default())
        .await
        .unwrap();
    // Same digit count (rewritten in place), more digits, a publish in
    // between, a short poll, then a long one again.
    for cursor in [8, 9, 10] {
        c.poll(Some(cursor), true).await.unwrap();
    }
    c.post("/pub", Bytes::from("m")).await.unwrap();
    c.poll(Some(11), true).await.unwrap();
    c.poll(Some(12), false).await.unwrap();
    c.poll(Some(13), true).await.unwrap();
    let lines: Vec<String> = std::iter::from_fn(|| rx.try_recv().ok())
        .map(|r| r.lines().next().unwrap().to_owned())
        .collect();
    assert_eq!(
        lines,
        [
            "GET /poll?cursor=8 HTTP/1.1",
            "GET /poll?cursor=9 HTTP/1.1",
            "GET /poll?cursor=10 HTTP/1.1",
            "POST /pub HTTP/1.1",
            "GET /poll?cursor=11 HTTP/1.1",
            "GET /poll?cursor=12&wait=0 HTTP/1.1",
            "GET /poll?cursor=13 HTTP/1.1",
        ]
    );
}

#[tokio::test]
async fn a_lent_body_is_the_answers_alone_and_outlives_a_closed_connection() {
    // The first connection answers three polls, the last with
    // `connection: close`; the next poll goes on a second one.
    let url = server(|i, mut tcp| async move {
        let answers: &[&[u8]] = match i {
            0 => &[
                b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfirst",
                b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nsecond",
                b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 4\r\n\r\nlast",
            ],
            _ => &[b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nnew"],
        };
        for answer in answers {
            request(&mut tcp).await.unwrap();
            tcp.write_all(answer).await.unwrap();
        }
        // Held open: only the client's reading of the last answer ends it.
        request(&mut tcp).await;
    })
    .await;
    let mut c = PollClient::connect(&url, &ClientOptions::default())
        .await
        .unwrap();
    let mut bodies = Vec::new();
    for cursor in 1..=4 {
        let answer = c.poll(Some(cursor), true).await.unwrap();
        assert!(answer.read_ns > 0);
        bodies.push(String::from_utf8(answer.body.to_vec()).unwrap());
    }
    // Each body its answer's alone: one left in the buffer would have
    // been read as the next answer's head.
    assert_eq!(bodies, ["first", "second", "last", "new"]);
    assert_eq!(c.stats().connections, 2);
}
