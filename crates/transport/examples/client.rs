//! A one-shot WebSocket client: sends each argument as a text message and
//! prints what comes back; with no message arguments, prints the first
//! `--count` messages (for `/push`).
//!
//!     cargo run --release -p wsbench-transport --example client -- ws://127.0.0.1:9001/echo hello world
//!     cargo run --release -p wsbench-transport --example client -- ws://127.0.0.1:9001/push --count 3
//!     cargo run --release -p wsbench-transport --example client -- wss://localhost:9001/echo hi --cacert cert.pem

use std::time::Duration;

use wsbench_transport::{ClientOptions, Data, Event, connect, tls};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .ok_or("usage: client URL [MESSAGE ...] [--count N] [--cacert PEM]")?;
    let mut messages = Vec::new();
    let mut count = None;
    let mut options = ClientOptions::default();
    while let Some(a) = args.next() {
        if a == "--cacert" {
            let pem = args.next().ok_or("--cacert needs a PEM file")?;
            options.tls = Some(tls::client_config_from_pem(pem.as_ref())?);
        } else if a == "--count" {
            count = Some(
                args.next()
                    .ok_or("--count needs a number")?
                    .parse::<usize>()?,
            );
        } else {
            messages.push(a);
        }
    }
    let expect = count.unwrap_or(messages.len());
    let c = connect(&url, &options).await?;
    let mut ws = c.socket;
    eprintln!(
        "open: connect {:?}, handshake {:?}",
        c.connect_time, c.handshake_time
    );
    for m in &messages {
        ws.send_text(m).await?;
    }
    let mut seen = 0;
    while seen < expect {
        match tokio::time::timeout(Duration::from_secs(30), ws.next_event()).await? {
            Some(Event::Message(Data::Text(t))) => println!("{t}"),
            Some(Event::Message(Data::Binary(b))) => println!("<{} binary bytes>", b.len()),
            Some(Event::Close(c)) => {
                eprintln!("closed by the server: {c:?}");
                return Ok(());
            }
            Some(Event::Error(e)) => return Err(e.into()),
            Some(Event::Pong(_)) => continue,
            None => return Ok(()),
        }
        seen += 1;
    }
    ws.close(1000, "").await?;
    while let Some(ev) = ws.next_event().await {
        if let Event::Close(c) = ev {
            eprintln!("closed: {c:?}");
        }
    }
    Ok(())
}
