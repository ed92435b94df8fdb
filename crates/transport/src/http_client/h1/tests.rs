//! The polling client's HTTP/1.1 connection against scripted servers on
//! loopback: framing, keep-alive, retries and request encoding.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wsbench_protocol::clock::monotonic_ns;

use crate::config::ClientOptions;
use crate::error::Error;
use crate::http_client::PollClient;

/// A server on loopback handing each accepted connection, with its index
/// from 0, to `script`; the URL to poll.
async fn server<F, Fut>(script: F) -> String
where
    F: Fn(usize, TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        for i in 0.. {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(script(i, tcp));
        }
    });
    format!("http://{addr}/poll")
}

/// The next request on `tcp`: head and body as text; `None` at its end.
async fn request(tcp: &mut TcpStream) -> Option<String> {
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(b"\r\n\r\n") {
        if tcp.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        got.push(byte[0]);
    }
    let head = String::from_utf8(got).unwrap();
    let len = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .map_or(0, |n| n.parse().unwrap());
    let mut body = vec![0; len];
    tcp.read_exact(&mut body).await.ok()?;
    Some(head + std::str::from_utf8(&body).unwrap())
}

/// Writes `pieces` one by one, 5 ms apart.
async fn trickle(tcp: &mut TcpStream, pieces: &[&[u8]]) {
    for p in pieces {
        tcp.write_all(p).await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn client(url: &str) -> PollClient {
    PollClient::connect(url, &ClientOptions::default())
        .await
        .unwrap()
}

#[tokio::test]
async fn bodies_framed_by_length_and_by_chunks_arrive_whole_across_reads() {
    let url = server(|_, mut tcp| async move {
        request(&mut tcp).await.unwrap();
        trickle(
            &mut tcp,
            &[
                b"HTTP/1.1 200 OK\r\ncontent-le",
                b"ngth: 11\r\n\r\nhello",
                b" world",
            ],
        )
        .await;
        request(&mut tcp).await.unwrap();
        trickle(
            &mut tcp,
            &[
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n4;ext=1\r\nab",
                b"cd\r\n",
                b"3\r\nefg\r\n0\r\nx-trailer: 1\r\n",
                b"\r\n",
            ],
        )
        .await;
        request(&mut tcp).await.unwrap();
        tcp.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            .await
            .unwrap();
        request(&mut tcp).await;
    })
    .await;
    let mut c = client(&url).await;
    assert_eq!(c.get("/a").await.unwrap(), Bytes::from("hello world"));
    assert_eq!(c.get("/b").await.unwrap(), Bytes::from("abcdefg"));
    // Nothing of the chunked answer (its trailer included) is left to be
    // taken for the next one.
    assert_eq!(c.get("/c").await.unwrap(), Bytes::new());
    assert_eq!((c.stats().requests, c.stats().connections), (3, 1));
}

#[tokio::test]
async fn the_read_time_is_the_read_that_completed_the_answer() {
    let written = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let at = Arc::clone(&written);
    let url = server(move |_, mut tcp| {
        let at = Arc::clone(&at);
        async move {
            request(&mut tcp).await.unwrap();
            tcp.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nab")
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
            at.store(monotonic_ns(), Ordering::SeqCst);
            tcp.write_all(b"cd").await.unwrap();
            request(&mut tcp).await;
        }
    })
    .await;
    let mut c = client(&url).await;
    c.get("/").await.unwrap();
    let last = written.load(Ordering::SeqCst);
    assert!(c.last_read_ns() >= last, "{} < {last}", c.last_read_ns());
    assert!(c.last_read_ns() - last < 40_000_000);
}

#[tokio::test]
async fn an_interim_answer_is_passed_over() {
    let url = server(|_, mut tcp| async move {
        request(&mut tcp).await.unwrap();
        tcp.write_all(
            b"HTTP/1.1 100 Continue\r\nx-interim: 1\r\n\r\nHTTP/1.1 201 Created\r\nEtag: \"v1\"\r\ncontent-length: 2\r\n\r\nok",
        )
        .await
        .unwrap();
        request(&mut tcp).await;
    })
    .await;
    let mut c = client(&url).await;
    let reply = c
        .exchange(Method::POST, "/pub", Bytes::from("m"), &[])
        .await
        .unwrap();
    assert_eq!((reply.status, &reply.body[..]), (201, &b"ok"[..]));
    assert_eq!(reply.header("etag"), Some("\"v1\""));
    // The final answer's fields alone.
    assert_eq!(reply.header("x-interim"), None);
}

#[tokio::test]
async fn a_body_to_the_end_of_the_connection_then_a_new_one() {
    let url = server(|i, mut tcp| async move {
        request(&mut tcp).await.unwrap();
        let answer = format!("HTTP/1.0 200 OK\r\n\r\nbody {i}");
        tcp.write_all(answer.as_bytes()).await.unwrap();
    })
    .await;
    let mut c = client(&url).await;
    assert_eq!(c.get("/").await.unwrap(), Bytes::from("body 0"));
    assert_eq!(c.get("/").await.unwrap(), Bytes::from("body 1"));
    assert_eq!(c.stats().connections, 2);
}

#[tokio::test]
async fn an_http_1_0_answer_keeps_the_connection_only_when_it_says_so() {
    let url = server(|i, mut tcp| async move {
        if i > 0 {
            return;
        }
        request(&mut tcp).await.unwrap();
        tcp.write_all(b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n\r\na")
            .await
            .unwrap();
        request(&mut tcp).await.unwrap();
        tcp.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nb")
            .await
            .unwrap();
        // Held open and silent: only the client's reading of the answer
        // ends it.
        tokio::time::sleep(Duration::from_secs(5)).await;
    })
    .await;
    let mut c = client(&url).await;
    assert_eq!(c.get("/").await.unwrap(), Bytes::from("a"));
    assert_eq!(c.get("/").await.unwrap(), Bytes::from("b"));
    assert_eq!(c.stats().connections, 1);
    // Without keep-alive the next request goes on a new connection, which
    // this server closes unanswered (on the old one it would wait).
    let next = tokio::time::timeout(Duration::from_secs(2), c.get("/")).await;
    assert!(next.expect("not sent on the silent connection").is_err());
    assert_eq!(c.stats().connections, 2);
}

#[tokio::test]
async fn connection_close_and_unasked_bytes_retire_the_connection() {
    let seen = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&seen);
    let url = server(move |i, mut tcp| {
        let count = Arc::clone(&count);
        async move {
            while request(&mut tcp).await.is_some() {
                count.fetch_add(1, Ordering::SeqCst);
                let answer: &[u8] = match i {
                    0 => b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 1\r\n\r\na",
                    1 => b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nbjunk",
                    _ => b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nc",
                };
                // Both first connections stay open: only the client's
                // reading of them ends them.
                tcp.write_all(answer).await.unwrap();
            }
        }
    })
    .await;
    let mut c = client(&url).await;
    assert_eq!(c.get("/").await.unwrap(), Bytes::from("a"));
    assert_eq!(c.get("/").await.unwrap(), Bytes::from("b"));
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(c.get("/").await.unwrap(), Bytes::from("c"));
    assert_eq!(c.stats().connections, 3);
    assert_eq!(seen.load(Ordering::SeqCst), 3, "one request per connection");
}

/// A server that answers the first request on each connection, then reads
/// the next and closes without answering; counts the requests it read.
async fn answers_once(seen: Arc<AtomicUsize>) -> String {
    server(move |_, mut tcp| {
        let seen = Arc::clone(&seen);
        async move {
            request(&mut tcp).await.unwrap();
            seen.fetch_add(1, Ordering::SeqCst);
            tcp.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                .await
                .unwrap();
            if request(&mut tcp).await.is_some() {
                seen.fetch_add(1, Ordering::SeqCst);
            }
        }
    })
    .await
}

#[tokio::test]
async fn a_get_the_closing_server_dropped_is_sent_again_a_post_is_not() {
    let seen = Arc::new(AtomicUsize::new(0));
    let url = answers_once(Arc::clone(&seen)).await;
    let mut c = client(&url).await;
    c.get("/").await.unwrap();
    assert_eq!(c.get("/").await.unwrap(), Bytes::from("ok"));
    assert_eq!(c.stats().connections, 2);
    assert_eq!(
        seen.load(Ordering::SeqCst),
        3,
        "the dropped GET, then again"
    );

    let seen = Arc::new(AtomicUsize::new(0));
    let url = answers_once(Arc::clone(&seen)).await;
    let mut c = client(&url).await;
    c.post("/pub", Bytes::from("1")).await.unwrap();
    let e = c.post("/pub", Bytes::from("2")).await.unwrap_err();
    assert!(matches!(e, Error::Http(_)), "{e}");
    assert_eq!(
        seen.load(Ordering::SeqCst),
        2,
        "a publish is never sent twice"
    );
}

#[tokio::test]
async fn a_kept_alive_connection_the_server_closed_is_replaced_before_the_request() {
    let seen = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&seen);
    let url = server(move |_, mut tcp| {
        let count = Arc::clone(&count);
        async move {
            request(&mut tcp).await.unwrap();
            count.fetch_add(1, Ordering::SeqCst);
            tcp.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                .await
                .unwrap();
        }
    })
    .await;
    let mut c = client(&url).await;
    c.post("/pub", Bytes::from("1")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    // Seen closed before anything is written: even a publish goes out on
    // the new connection.
    c.post("/pub", Bytes::from("2")).await.unwrap();
    assert_eq!(seen.load(Ordering::SeqCst), 2);
    assert_eq!(c.stats().connections, 2);
}

#[tokio::test]
async fn broken_answers_are_errors() {
    let answers: [&[u8]; 4] = [
        b"HTTP/1.1 2x0 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\nabc",
        b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
    ];
    for answer in answers {
        let url = server(move |_, mut tcp| async move {
            request(&mut tcp).await.unwrap();
            tcp.write_all(answer).await.unwrap();
        })
        .await;
        let mut c = client(&url).await;
        let e = c.get("/").await.unwrap_err();
        assert!(
            matches!(e, Error::Http(_)),
            "{}: {e}",
            String::from_utf8_lossy(answer)
        );
    }
}

#[tokio::test]
async fn requests_carry_host_fields_and_length_as_written() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let url = server(move |_, mut tcp| {
        let tx = tx.clone();
        async move {
            while let Some(r) = request(&mut tcp).await {
                tx.send(r).unwrap();
                tcp.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                    .await
                    .unwrap();
            }
        }
    })
    .await;
    let options = ClientOptions {
        headers: vec![
            ("authorization".into(), "Bearer t".into()),
            ("x-tag".into(), "a".into()),
        ],
        ..ClientOptions::default()
    };
    let mut c = PollClient::connect(&url, &options).await.unwrap();
    let authority = url.trim_start_matches("http://").trim_end_matches("/poll");
    c.poll(Some(7), true).await.unwrap();
    assert_eq!(
        rx.recv().await.unwrap(),
        format!(
            "GET /poll?cursor=7 HTTP/1.1\r\nhost: {authority}\r\nauthorization: Bearer t\r\nx-tag: a\r\n\r\n"
        )
    );
    // A short poll, with and without a cursor; a target with a query of
    // its own; a host field of the options' standing in for the target's.
    c.poll(Some(8), false).await.unwrap();
    c.poll(None, false).await.unwrap();
    let options_host = ClientOptions {
        headers: vec![("host".into(), "h.example".into())],
        ..ClientOptions::default()
    };
    let mut q = PollClient::connect(&format!("{url}?ch=a"), &options_host)
        .await
        .unwrap();
    q.poll(Some(3), false).await.unwrap();
    let auth = "authorization: Bearer t\r\nx-tag: a\r\n\r\n";
    for want in [
        format!("GET /poll?cursor=8&wait=0 HTTP/1.1\r\nhost: {authority}\r\n{auth}"),
        format!("GET /poll?wait=0 HTTP/1.1\r\nhost: {authority}\r\n{auth}"),
        "GET /poll?ch=a&cursor=3&wait=0 HTTP/1.1\r\nhost: h.example\r\n\r\n".to_string(),
    ] {
        assert_eq!(rx.recv().await.unwrap(), want);
    }
    let tag = [(
        HeaderName::from_static("x-tag"),
        HeaderValue::from_static("b"),
    )];
    c.send_with(Method::POST, "/pub", Bytes::new(), &tag)
        .await
        .unwrap();
    assert_eq!(
        rx.recv().await.unwrap(),
        format!(
            "POST /pub HTTP/1.1\r\nhost: {authority}\r\nauthorization: Bearer t\r\nx-tag: b\r\ncontent-length: 0\r\n\r\n"
        )
    );
    c.post("/pub", Bytes::from("{\"a\":1}")).await.unwrap();
    assert!(
        rx.recv()
            .await
            .unwrap()
            .ends_with("content-length: 7\r\n\r\n{\"a\":1}")
    );
    // Not a request target: refused before anything is sent.
    let e = c.get("/a b").await.unwrap_err();
    assert!(matches!(e, Error::Http(_)), "{e}");
    assert_eq!(c.stats().requests, 5);
}

/// A head's fields are read up to the limit (64) and one more is an
/// error; they replace the fields of the map given, when one is, and
/// framing comes from them either way; a head cut short is not complete
/// yet.
#[test]
fn a_head_has_at_most_64_fields() {
    use super::{Framing, parse_head};
    let head = |n: usize| {
        let mut h = "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n".to_owned();
        for i in 1..n {
            h += &format!("x-f{i}: v{i}\r\n");
        }
        h + "\r\n"
    };
    let full = head(64);
    for with_fields in [true, false] {
        // Fields of an earlier answer are replaced, not added to.
        let mut fields = http::HeaderMap::new();
        fields.insert("x-old", http::HeaderValue::from_static("1"));
        let map = with_fields.then_some(&mut fields);
        let (h, len) = parse_head(full.as_bytes(), &Method::GET, map)
            .unwrap()
            .unwrap();
        assert_eq!(
            (h.status, len, h.framing),
            (200, full.len(), Framing::Length(5))
        );
        assert!(h.keep_alive);
        assert_eq!(fields.len(), if with_fields { 64 } else { 1 });
        if with_fields {
            assert_eq!(fields["x-f63"], "v63");
            assert!(!fields.contains_key("x-old"));
        }
    }
    assert!(parse_head(head(65).as_bytes(), &Method::GET, None).is_err());
    let cut = &full.as_bytes()[..full.len() - 1];
    assert!(parse_head(cut, &Method::GET, None).unwrap().is_none());
}
