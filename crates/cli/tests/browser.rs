//! The reference server as a browser sees it: real Chromium's WebSocket
//! API against `wsbench serve`.

mod common;

/// The page: echo one message, close with 4001 "seed done", and record
/// the close event. An image from a long-poll holds the page's load
/// event (and so the DOM dump) until the close handler publishes.
fn page(addr: &str) -> String {
    format!(
        r#"<html><body><img src="http://{addr}/poll"><script>
const ws = new WebSocket("ws://{addr}/echo");
ws.onopen = () => ws.send("hi");
ws.onmessage = (m) => {{ document.body.setAttribute("data-echo", m.data); ws.close(4001, "seed done"); }};
ws.onclose = (e) => {{
  document.body.setAttribute("data-close", e.code + "|" + e.reason + "|" + e.wasClean);
  fetch("http://{addr}/publish", {{method: "POST", mode: "no-cors", body: "done"}});
}};
</script></body></html>"#
    )
}

#[test]
fn chromium_sees_its_close_code_and_reason_come_back() {
    let Some(browser) = common::chromium("the Chromium close-handshake check") else {
        return;
    };
    let server = common::serve(&[]);
    let dir = common::temp_dir("browser", "close");
    let html = dir.join("close.html");
    std::fs::write(&html, page(&server.addr)).unwrap();
    let dom = common::dump_dom(browser, &html);
    assert_eq!(common::attribute(&dom, "data-echo"), Some("hi"), "{dom}");
    assert_eq!(
        common::attribute(&dom, "data-close"),
        Some("4001|seed done|true"),
        "the close event in Chromium: code|reason|wasClean"
    );
}
