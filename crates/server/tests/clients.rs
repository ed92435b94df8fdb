//! The transport's HTTP baseline clients (long-poll, short poll, SSE) and
//! TLS (`wss://`, `https://`) against the reference server.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wsbench_protocol::push::{PollBatch, PushMessage};
use wsbench_server::{Server, ServerConfig};
use wsbench_transport::http_client::{PollClient, SseClient};
use wsbench_transport::net::ByteCounters;
use wsbench_transport::{ClientOptions, Data, Error, Event, connect, tls};

mod common;
use common::{LIMIT, server};

fn seqs(body: &[u8]) -> (u64, Vec<u64>) {
    let batch = PollBatch::parse(body).unwrap();
    (batch.cursor, batch.messages.iter().map(|m| m.seq).collect())
}

#[tokio::test]
async fn long_poll_client_waits_for_data_on_one_kept_alive_connection() {
    let s = server(ServerConfig::default()).await;
    let counters = Arc::new(ByteCounters::default());
    let options = ClientOptions {
        counters: Some(Arc::clone(&counters)),
        ..ClientOptions::default()
    };
    let mut c = PollClient::connect(&format!("http://{}", s.local_addr()), &options)
        .await
        .unwrap();
    let hub = Arc::clone(s.hub());
    let publisher = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        hub.publish("one");
    });
    let started = Instant::now();
    let body = tokio::time::timeout(LIMIT, c.poll(None, true))
        .await
        .unwrap()
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(80),
        "held until data"
    );
    assert_eq!(seqs(&body), (1, vec![1]));
    publisher.await.unwrap();
    s.hub().publish("two");
    s.hub().publish("three");
    let body = c.poll(Some(1), true).await.unwrap();
    assert_eq!(seqs(&body), (3, vec![2, 3]));
    let batch = PollBatch::parse(&body).unwrap();
    assert_eq!(batch.messages[1].payload, "three");
    let stats = c.stats();
    assert_eq!((stats.requests, stats.connections), (2, 1));
    // Both requests and both responses crossed the counted socket.
    assert!(counters.written() > 2 * 40, "{}", counters.written());
    assert!(counters.read() as usize > body.len(), "{}", counters.read());
}

#[tokio::test]
async fn short_poll_answers_at_once_even_when_empty() {
    let s = server(ServerConfig::default()).await;
    s.hub().publish("a");
    let mut c = PollClient::connect(
        &format!("http://{}/poll", s.local_addr()),
        &Default::default(),
    )
    .await
    .unwrap();
    let body = tokio::time::timeout(Duration::from_secs(2), c.poll(Some(0), false))
        .await
        .expect("a short poll does not wait")
        .unwrap();
    assert_eq!(seqs(&body), (1, vec![1]));
    let body = tokio::time::timeout(Duration::from_secs(2), c.poll(Some(1), false))
        .await
        .expect("a short poll does not wait")
        .unwrap();
    assert_eq!(seqs(&body), (1, vec![]));
    assert_eq!(c.stats().connections, 1);
}

#[tokio::test]
async fn poll_client_reports_http_errors_and_reconnects_after_the_server_closes() {
    let s = server(ServerConfig::default()).await;
    let url = format!("http://{}/poll", s.local_addr());
    let mut c = PollClient::connect(&url, &Default::default())
        .await
        .unwrap();
    // A bad cursor is a 400, and the server closes the connection after it.
    let e = c.get("/poll?cursor=x").await.unwrap_err();
    assert!(matches!(e, Error::HttpStatus(400)), "{e}");
    let e = c.get("/nowhere").await.unwrap_err();
    assert!(matches!(e, Error::HttpStatus(404)), "{e}");
    s.hub().publish("after");
    let body = c.poll(Some(0), false).await.unwrap();
    assert_eq!(seqs(&body), (1, vec![1]));
    assert_eq!(
        c.stats().connections,
        3,
        "one per refused request, then one"
    );
}

#[tokio::test]
async fn poll_client_refuses_other_schemes_and_reports_refused_connections() {
    let e = PollClient::connect("ws://127.0.0.1:1/poll", &Default::default())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("http://"), "{e}");
    // Nothing listens on port 1.
    let e = PollClient::connect("http://127.0.0.1:1/poll", &Default::default())
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::Io(ref io) if io.kind() == std::io::ErrorKind::ConnectionRefused),
        "{e}"
    );
}

#[tokio::test]
async fn sse_client_receives_the_stream_and_resumes_after_an_id() {
    let s = server(ServerConfig::default()).await;
    let url = format!("http://{}", s.local_addr());
    let mut c = SseClient::connect(&url, None, &Default::default())
        .await
        .unwrap();
    for p in ["a", "b", "c"] {
        s.hub().publish(p);
    }
    let mut got = Vec::new();
    for _ in 0..3 {
        let e = tokio::time::timeout(LIMIT, c.next_event())
            .await
            .unwrap()
            .unwrap()
            .expect("an event");
        let m = PushMessage::parse(e.data.as_bytes()).unwrap();
        assert_eq!(e.last_event_id, Some(m.seq.to_string()));
        got.push((m.seq, m.payload.into_owned()));
    }
    assert_eq!(got, [(1, "a".into()), (2, "b".into()), (3, "c".into())]);
    drop(c);
    let mut c = SseClient::connect(&url, Some("1"), &Default::default())
        .await
        .unwrap();
    let e = tokio::time::timeout(LIMIT, c.next_event())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(PushMessage::parse(e.data.as_bytes()).unwrap().seq, 2);
}

#[tokio::test]
async fn sse_client_sees_the_end_of_the_stream_at_shutdown() {
    let s = server(ServerConfig::default()).await;
    let mut c = SseClient::connect(
        &format!("http://{}/events", s.local_addr()),
        None,
        &Default::default(),
    )
    .await
    .unwrap();
    s.shutdown(Duration::from_secs(1)).await;
    let end = tokio::time::timeout(LIMIT, c.next_event()).await.unwrap();
    assert!(matches!(end, Ok(None)), "{end:?}");
}

async fn tls_server() -> (Server, tls::SelfSigned) {
    let cert = tls::self_signed(&["localhost", "127.0.0.1"]).unwrap();
    let s = server(ServerConfig {
        tls: Some(Arc::clone(&cert.server)),
        ..ServerConfig::default()
    })
    .await;
    (s, cert)
}

#[tokio::test]
async fn wss_echo_https_poll_and_sse_over_tls() {
    let (s, cert) = tls_server().await;
    let port = s.local_addr().port();
    let options = ClientOptions {
        tls: Some(tls::client_config_trusting(std::slice::from_ref(&cert.cert)).unwrap()),
        ..ClientOptions::default()
    };
    for host in ["localhost", "127.0.0.1"] {
        let mut ws = connect(&format!("wss://{host}:{port}/echo"), &options)
            .await
            .unwrap()
            .socket;
        ws.send_text("over tls").await.unwrap();
        let ev = tokio::time::timeout(LIMIT, ws.next_event()).await.unwrap();
        assert!(
            matches!(ev, Some(Event::Message(Data::Text(ref t))) if t == "over tls"),
            "{ev:?}"
        );
        ws.close(1000, "").await.unwrap();
        let ev = tokio::time::timeout(LIMIT, ws.next_event()).await.unwrap();
        assert!(
            matches!(ev, Some(Event::Close(ref c)) if c.was_clean),
            "{ev:?}"
        );
    }
    let mut sse = SseClient::connect(&format!("https://localhost:{port}"), None, &options)
        .await
        .unwrap();
    let mut poll = PollClient::connect(&format!("https://localhost:{port}/poll"), &options)
        .await
        .unwrap();
    s.hub().publish("secret");
    let body = poll.poll(Some(0), true).await.unwrap();
    assert_eq!(seqs(&body), (1, vec![1]));
    let e = tokio::time::timeout(LIMIT, sse.next_event())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        PushMessage::parse(e.data.as_bytes()).unwrap().payload,
        "secret"
    );
}

#[tokio::test]
async fn tls_clients_refuse_an_untrusted_certificate_unless_told_not_to_check() {
    let (s, _) = tls_server().await;
    let url = format!("wss://localhost:{}/echo", s.local_addr().port());
    let other = tls::self_signed(&["localhost"]).unwrap();
    let trusting_other = ClientOptions {
        tls: Some(tls::client_config_trusting(&[other.cert]).unwrap()),
        ..ClientOptions::default()
    };
    let e = connect(&url, &trusting_other).await.unwrap_err();
    assert!(
        matches!(e, Error::Tls(ref m) if m.contains("certificate")),
        "{e}"
    );
    let insecure = ClientOptions {
        tls: Some(tls::client_config_insecure()),
        ..ClientOptions::default()
    };
    let mut ws = connect(&url, &insecure).await.unwrap().socket;
    ws.send_binary(b"ok").await.unwrap();
    let ev = tokio::time::timeout(LIMIT, ws.next_event()).await.unwrap();
    assert!(
        matches!(ev, Some(Event::Message(Data::Binary(ref b))) if b == b"ok"),
        "{ev:?}"
    );
    // A plain client on the TLS port fails its handshake; the server keeps
    // serving.
    let plain = format!("ws://127.0.0.1:{}/echo", s.local_addr().port());
    assert!(connect(&plain, &Default::default()).await.is_err());
    assert!(connect(&url, &insecure).await.is_ok());
}

#[tokio::test]
async fn tls_configs_from_pem_files_and_clear_errors_for_bad_ones() {
    let dir = std::env::temp_dir().join(format!("wsbench-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cert = rcgen_pem(&dir);
    let server = tls::server_config_from_pem(&cert.0, &cert.1).unwrap();
    let s = server_with(server).await;
    let client = tls::client_config_from_pem(&cert.0).unwrap();
    let options = ClientOptions {
        tls: Some(client),
        ..ClientOptions::default()
    };
    let url = format!("wss://localhost:{}/", s.local_addr().port());
    assert!(connect(&url, &options).await.is_ok());

    let missing = dir.join("missing.pem");
    let e = tls::server_config_from_pem(&missing, &cert.1).unwrap_err();
    assert!(e.to_string().contains("missing.pem"), "{e}");
    let e = tls::server_config_from_pem(&cert.1, &cert.1).unwrap_err();
    assert!(e.to_string().contains("no CERTIFICATE"), "{e}");
    let e = tls::server_config_from_pem(&cert.0, &cert.0).unwrap_err();
    assert!(e.to_string().contains("private key"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

async fn server_with(tls: Arc<tls::rustls::ServerConfig>) -> Server {
    server(ServerConfig {
        tls: Some(tls),
        ..ServerConfig::default()
    })
    .await
}

/// Writes a certificate and key as PEM files, as an operator would have.
fn rcgen_pem(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let signed = tls::self_signed(&["localhost"]).unwrap();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, signed.cert_pem).unwrap();
    std::fs::write(&key, signed.key_pem).unwrap();
    (cert, key)
}
