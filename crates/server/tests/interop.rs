//! Interoperability with public stacks: a tokio-tungstenite client against
//! our server, and our client against fastwebsockets, with text, binary,
//! fragmented messages and close codes both ways.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{
    CloseCode, Data as TData, OpCode as TOpCode,
};
use wsbench_server::{Server, ServerConfig, WsImpl};
use wsbench_transport::{ClientOptions, Data, Event, TcpWebSocket, connect};

const LIMIT: Duration = Duration::from_secs(10);

async fn server(ws_impl: WsImpl) -> Server {
    Server::start(ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ws_impl,
        ..ServerConfig::default()
    })
    .await
    .unwrap()
}

async fn tt_next(ws: &mut tokio_tungstenite::WebSocketStream<TcpStream>) -> Message {
    tokio::time::timeout(LIMIT, ws.next())
        .await
        .expect("a message in time")
        .expect("stream open")
        .expect("valid message")
}

async fn tt_client(addr: std::net::SocketAddr) -> tokio_tungstenite::WebSocketStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    tokio_tungstenite::client_async(format!("ws://{addr}/echo"), tcp)
        .await
        .unwrap()
        .0
}

#[tokio::test]
async fn tungstenite_client_against_our_server() {
    let s = server(WsImpl::Own).await;
    let mut ws = tt_client(s.local_addr()).await;

    ws.send(Message::text("héllo")).await.unwrap();
    assert_eq!(tt_next(&mut ws).await, Message::text("héllo"));
    ws.send(Message::binary(vec![0u8, 255, 7])).await.unwrap();
    assert_eq!(tt_next(&mut ws).await, Message::binary(vec![0u8, 255, 7]));

    // A text message in three fragments, with a ping between them.
    ws.send(Message::Frame(Frame::message(
        &b"frag"[..],
        TOpCode::Data(TData::Text),
        false,
    )))
    .await
    .unwrap();
    ws.send(Message::Ping(vec![1u8, 2].into())).await.unwrap();
    ws.send(Message::Frame(Frame::message(
        &b"men"[..],
        TOpCode::Data(TData::Continue),
        false,
    )))
    .await
    .unwrap();
    ws.send(Message::Frame(Frame::message(
        &b"ted"[..],
        TOpCode::Data(TData::Continue),
        true,
    )))
    .await
    .unwrap();
    let mut got = tt_next(&mut ws).await;
    if let Message::Pong(p) = &got {
        assert_eq!(&p[..], [1, 2]);
        got = tt_next(&mut ws).await;
    }
    assert_eq!(got, Message::text("fragmented"));

    ws.close(Some(CloseFrame {
        code: CloseCode::from(4000),
        reason: "client done".into(),
    }))
    .await
    .unwrap();
    match tt_next(&mut ws).await {
        Message::Close(Some(f)) => assert_eq!(u16::from(f.code), 4000),
        other => panic!("expected the close echo, got {other:?}"),
    }
}

#[tokio::test]
async fn our_server_closes_a_tungstenite_client_with_1001_at_shutdown() {
    let s = server(WsImpl::Own).await;
    let mut ws = tt_client(s.local_addr()).await;
    ws.send(Message::text("x")).await.unwrap();
    tt_next(&mut ws).await;
    let stop = tokio::spawn(s.shutdown(Duration::from_secs(5)));
    match tt_next(&mut ws).await {
        Message::Close(Some(f)) => assert_eq!(f.code, CloseCode::Away),
        other => panic!("expected close 1001, got {other:?}"),
    }
    // Let tungstenite answer the close.
    let _ = tokio::time::timeout(LIMIT, ws.next()).await;
    tokio::time::timeout(LIMIT, stop).await.unwrap().unwrap();
}

async fn next(ws: &mut TcpWebSocket) -> Event {
    tokio::time::timeout(LIMIT, ws.next_event())
        .await
        .expect("event in time")
        .expect("event before close")
}

#[tokio::test]
async fn our_client_against_fastwebsockets_and_tungstenite_echo() {
    for stack in [WsImpl::FastWebSockets, WsImpl::TokioTungstenite] {
        let s = server(stack).await;
        let url = format!("ws://{}/echo", s.local_addr());
        let mut ws = connect(&url, &ClientOptions::default())
            .await
            .unwrap()
            .socket;
        ws.send_text("héllo").await.unwrap();
        ws.send_binary(&vec![9u8; 70_000]).await.unwrap();
        assert!(
            matches!(next(&mut ws).await, Event::Message(Data::Text(t)) if t == "héllo"),
            "{stack:?}"
        );
        assert!(
            matches!(next(&mut ws).await, Event::Message(Data::Binary(b)) if b == vec![9u8; 70_000]),
            "{stack:?}"
        );
        ws.close(4001, "bye").await.unwrap();
        let Event::Close(c) = next(&mut ws).await else {
            panic!("{stack:?}: expected close")
        };
        assert_eq!((c.code, c.was_clean), (4001, true), "{stack:?}");
    }
}

/// A fastwebsockets server (upgrade answered by hand) that sends a
/// fragmented text message, a binary message, then closes with 4002.
#[tokio::test]
async fn our_client_reassembles_fastwebsockets_fragments_and_sees_its_close() {
    use fastwebsockets::{Frame as FFrame, OpCode as FOpCode, Payload};
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", l.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let (mut tcp, _) = l.accept().await.unwrap();
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            tcp.read_exact(&mut b).await.unwrap();
            head.push(b[0]);
        }
        let req = wsbench_codec::handshake::Request::parse(&head)
            .unwrap()
            .unwrap();
        let mut out = Vec::new();
        req.accept().write(&mut out);
        tcp.write_all(&out).await.unwrap();
        let mut ws = fastwebsockets::WebSocket::after_handshake(tcp, fastwebsockets::Role::Server);
        ws.set_auto_close(true);
        for (fin, op, data) in [
            (false, FOpCode::Text, &b"hel"[..]),
            (false, FOpCode::Continuation, b"l"),
            (true, FOpCode::Continuation, b"o"),
            (true, FOpCode::Binary, &[1, 2, 3]),
        ] {
            ws.write_frame(FFrame::new(fin, op, None, Payload::Borrowed(data)))
                .await
                .unwrap();
        }
        ws.write_frame(FFrame::close(4002, b"server done"))
            .await
            .unwrap();
        // Read the client's close answer.
        let frame = ws.read_frame().await.unwrap();
        (frame.opcode == FOpCode::Close, frame.payload.to_vec())
    });
    let mut ws = connect(&url, &ClientOptions::default())
        .await
        .unwrap()
        .socket;
    assert!(matches!(next(&mut ws).await, Event::Message(Data::Text(t)) if t == "hello"));
    assert!(matches!(next(&mut ws).await, Event::Message(Data::Binary(b)) if b == [1, 2, 3]));
    let Event::Close(c) = next(&mut ws).await else {
        panic!("expected close")
    };
    assert_eq!((c.code, c.reason.as_str()), (4002, "server done"));
    let (was_close, payload) = tokio::time::timeout(LIMIT, server).await.unwrap().unwrap();
    assert!(was_close);
    assert_eq!(
        payload[..2],
        4002u16.to_be_bytes(),
        "the close code is echoed"
    );
}

#[tokio::test]
async fn push_and_shutdown_work_on_every_server_stack() {
    for stack in [
        WsImpl::Own,
        WsImpl::FastWebSockets,
        WsImpl::TokioTungstenite,
    ] {
        let s = server(stack).await;
        let url = format!("ws://{}/push", s.local_addr());
        let mut ws = connect(&url, &ClientOptions::default())
            .await
            .unwrap()
            .socket;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let m = s.hub().publish("p");
        let Event::Message(Data::Text(t)) = next(&mut ws).await else {
            panic!("{stack:?}: expected a pushed message")
        };
        assert!(
            t.starts_with(&format!("{{\"seq\":{},", m.seq)),
            "{stack:?}: {t}"
        );
        let stop = tokio::spawn(s.shutdown(Duration::from_secs(2)));
        let Event::Close(c) = next(&mut ws).await else {
            panic!("{stack:?}: expected close")
        };
        assert_eq!(c.code, 1001, "{stack:?}");
        tokio::time::timeout(LIMIT, stop).await.unwrap().unwrap();
    }
}
