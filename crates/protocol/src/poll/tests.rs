use super::*;

fn answer<'a>(status: u16, etag: Option<&'a str>, body: &'a [u8]) -> Answer<'a> {
    Answer {
        status,
        etag,
        last_modified: etag.map(|_| "Wed, 02 Dec 2026 14:28:12 GMT"),
        body,
    }
}

#[test]
fn etag_polls_send_back_what_the_last_answer_named() {
    let d = PollDialect::default();
    let mut s = PollState::default();
    assert!(s.headers(&d).is_empty(), "the first poll has no cursor");
    assert!(!s.placed(&d));
    let got = s.on_answer(&d, &answer(200, Some("0"), b"hello1")).unwrap();
    assert_eq!(got, ["hello1"]);
    assert!(s.placed(&d));
    assert_eq!(
        s.headers(&d),
        [
            ("if-none-match", "0".to_owned()),
            (
                "if-modified-since",
                "Wed, 02 Dec 2026 14:28:12 GMT".to_owned()
            )
        ]
    );
    assert_eq!(s.path(&d, "/sub/x"), "/sub/x", "the path is unchanged");
    // A timeout's 304 is not an error and keeps the cursor.
    assert!(s.on_answer(&d, &answer(304, None, b"")).unwrap().is_empty());
    assert_eq!(s.headers(&d)[0], ("if-none-match", "0".to_owned()));
    assert_eq!(
        s.on_answer(&d, &answer(404, None, b"")),
        Err(PollError::Status(404))
    );
}

#[test]
fn query_polls_carry_the_cursor_read_at_the_pointer() {
    let d = PollDialect {
        cursor: Cursor::Query,
        param: "after".into(),
        cursor_at: "/next".into(),
        batch: Batch::Array("/items".into()),
        nothing_new: vec![204],
    };
    let mut s = PollState::default();
    assert_eq!(s.path(&d, "/poll?room=1"), "/poll?room=1");
    let body = br#"{"next":"a b/7","items":["one",{"m":"two"}]}"#;
    let got = s.on_answer(&d, &answer(200, None, body)).unwrap();
    assert_eq!(got, ["one", r#"{"m":"two"}"#]);
    assert_eq!(s.path(&d, "/poll?room=1"), "/poll?room=1&after=a%20b%2F7");
    assert!(s.headers(&d).is_empty());
    let got = s.on_answer(&d, &answer(200, None, br#"{"next":8,"items":[]}"#));
    assert!(got.unwrap().is_empty());
    assert_eq!(s.path(&d, "/poll"), "/poll?after=8");
    assert!(matches!(
        s.on_answer(&d, &answer(200, None, br#"{"items":[]}"#)),
        Err(PollError::Body(_))
    ));
    assert!(matches!(
        s.on_answer(&d, &answer(200, None, b"not json")),
        Err(PollError::Body(_))
    ));
}

#[test]
fn lines_and_no_cursor() {
    let d = PollDialect {
        cursor: Cursor::None,
        batch: Batch::Lines,
        ..PollDialect::default()
    };
    let mut s = PollState::default();
    assert!(!s.placed(&d));
    let got = s
        .on_answer(&d, &answer(200, Some("9"), b"a\n\nb\r\n"))
        .unwrap();
    assert_eq!(got, ["a", "b"]);
    assert!(s.placed(&d), "placed at the first answer");
    assert!(s.headers(&d).is_empty(), "no cursor is sent back");
}
