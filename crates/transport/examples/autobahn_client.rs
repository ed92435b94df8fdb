//! The Autobahn TestSuite client driver: runs every case the fuzzing server
//! offers against wsbench-transport's client, echoing each message.
//!
//!     cargo run --release -p wsbench-transport --example autobahn_client -- ws://127.0.0.1:9002 [AGENT [PARALLEL]]
//!
//! PARALLEL cases (default 1) run at once, each on a connection of its
//! own, as the fuzzing client's `-p` runs the server cases. Most of the
//! cases' time is permessage-deflate (sections 12 and 13): compressing
//! and decompressing on both sides.

use wsbench_transport::{ClientOptions, Config, Data, DeflateConfig, Event, TcpWebSocket, connect};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

async fn open(url: &str) -> Result<TcpWebSocket, BoxError> {
    let options = ClientOptions {
        config: Config {
            max_frame_size: 32 << 20,
            max_message_size: 32 << 20,
            ..Config::default()
        },
        deflate: Some(DeflateConfig::default()),
        ..ClientOptions::default()
    };
    Ok(connect(url, &options).await?.socket)
}

/// Echoes until the case ends.
async fn run_case(url: &str) -> Result<(), BoxError> {
    let mut ws = open(url).await?;
    while let Some(ev) = ws.next_event().await {
        match ev {
            Event::Message(Data::Text(t)) => {
                let _ = ws.send_text(&t).await;
            }
            Event::Message(Data::Binary(b)) => {
                let _ = ws.send_binary(&b).await;
            }
            Event::Pong(_) | Event::Error(_) | Event::Close(_) => {}
        }
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    let mut args = std::env::args().skip(1);
    let base = args
        .next()
        .unwrap_or_else(|| "ws://127.0.0.1:9002".to_owned());
    let agent = args.next().unwrap_or_else(|| "wsbench".to_owned());
    let parallel: usize = match args.next() {
        Some(p) => p
            .parse()
            .map_err(|_| format!("PARALLEL: not a count: {p}"))?,
        None => 1,
    };

    let mut ws = open(&format!("{base}/getCaseCount")).await?;
    let count: u32 = match ws.next_event().await {
        Some(Event::Message(Data::Text(t))) => t.trim().parse()?,
        other => return Err(format!("expected the case count, got {other:?}").into()),
    };
    while ws.next_event().await.is_some() {}
    eprintln!("running {count} cases as agent {agent}");

    let mut running = tokio::task::JoinSet::new();
    for case in 1..=count {
        if running.len() >= parallel.max(1) {
            running.join_next().await;
        }
        let url = format!("{base}/runCase?case={case}&agent={agent}");
        running.spawn(async move {
            if let Err(e) = run_case(&url).await {
                eprintln!("case {case}: {e}");
            }
        });
    }
    while running.join_next().await.is_some() {}
    let mut ws = open(&format!("{base}/updateReports?agent={agent}")).await?;
    while ws.next_event().await.is_some() {}
    Ok(())
}
