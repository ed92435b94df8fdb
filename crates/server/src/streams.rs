//! The push stream over HTTP: long and short polls, and Server-Sent
//! Events. A client far behind is served a page of the history at a time
//! (the hub's pages), each written under the write deadline from the
//! hub's own copy of each message: nothing copies the history per client.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wsbench_protocol::push;
use wsbench_transport::net::NetStream;

use crate::Ctx;
use crate::http::{self, Head, Piece};
use crate::shutdown::shutting_down;

/// The cursor a poll starts from: the request's, or the newest message
/// (a first poll waits for what comes next).
fn cursor_of(head: &Head, ctx: &Ctx) -> Result<u64, Vec<u8>> {
    match head.query_param("cursor") {
        None | Some("") => Ok(ctx.hub.last_seq()),
        Some(c) => c
            .parse()
            .map_err(|_| http::error_response(400, "cursor must be a whole number")),
    }
}

/// A poll's response and whether the connection stays open: one page of
/// the messages after the cursor (the client polls again from the cursor
/// the answer gives). At shutdown a held long-poll is answered at once,
/// empty, and the connection closes.
pub(crate) async fn poll(head: &Head, ctx: &Ctx) -> (Vec<Piece>, bool) {
    let cursor = match cursor_of(head, ctx) {
        Ok(c) => c,
        Err(response) => return (vec![Piece::Owned(response)], false),
    };
    let long = head.query_param("wait") != Some("0");
    let mut messages = ctx.hub.since(cursor);
    let mut shutdown = ctx.shutdown.clone();
    if messages.is_empty() && long {
        tokio::select! {
            () = ctx.hub.wait_after(cursor) => {}
            () = tokio::time::sleep(ctx.config.long_poll_timeout) => {}
            () = shutting_down(&mut shutdown) => {}
        }
        messages = ctx.hub.since(cursor);
    }
    let keep_alive = head.keep_alive && !*shutdown.borrow();
    let next = messages.last().map_or(cursor, |m| m.seq);
    let mut body = vec![Piece::Owned(push::batch_open(next))];
    for (i, m) in messages.into_iter().enumerate() {
        if i > 0 {
            body.push(Piece::Static(push::BATCH_SEP));
        }
        body.push(Piece::Message(m));
    }
    body.push(Piece::Static(push::BATCH_END));
    let len = body.iter().map(|p| p.as_bytes().len()).sum();
    let head = http::head(200, "application/json", len, keep_alive);
    body.insert(0, Piece::Owned(head));
    (body, keep_alive)
}

/// Streams the hub as Server-Sent Events, resuming after `last_event_id`
/// when the client sent one: the history page by page, then each message
/// as it is published.
pub(crate) async fn sse(stream: NetStream, last_event_id: Option<u64>, ctx: &Ctx) {
    let mut sub = match last_event_id {
        Some(id) => ctx.hub.subscribe_after(id),
        None => ctx.hub.subscribe(),
    };
    const HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\
                          Cache-Control: no-store\r\nConnection: close\r\n\r\n";
    let mut out = vec![Piece::Static(HEAD)];
    let (mut read, mut write) = tokio::io::split(stream);
    let mut shutdown = ctx.shutdown.clone();
    let mut scratch = [0u8; 64];
    let limits = &ctx.config.write;
    loop {
        if !out.is_empty() {
            if let Err(cut) = limits.write(&mut write, &out).await {
                if let Some(cut) = cut {
                    ctx.cuts.count(cut);
                }
                return;
            }
            out.clear();
        }
        tokio::select! {
            next = sub.next() => match next {
                Some(batch) => for m in batch {
                    out.push(Piece::Owned(format!("id: {}\ndata: ", m.seq).into_bytes()));
                    out.push(Piece::Message(m));
                    out.push(Piece::Static(b"\n\n"));
                },
                None => return,
            },
            // The client hung up (or sent something, which SSE ignores).
            r = read.read(&mut scratch) => if matches!(r, Ok(0) | Err(_)) { return },
            () = shutting_down(&mut shutdown) => {
                let _ = tokio::time::timeout(limits.deadline, write.shutdown()).await;
                return;
            }
        }
    }
}
