//! AppendObject: position checks, the next position and chained CRC-64 on every answer, the
//! Appendable type in HEAD, GET and listings, and attributes taken from the first append.

use osspart_protocol::crc64;

use crate::support::{between_all, pattern, snapshot, Resp, TestServer};

const B: &str = "appends";

fn append(s: &TestServer, key: &str, position: u64, body: &[u8]) -> Resp {
    s.req("POST", Some(B), Some(key))
        .query("append", "")
        .query("position", &position.to_string())
        .body(body.to_vec())
        .send()
}

#[test]
fn appends_build_one_object_and_report_where_the_next_one_goes() {
    let s = TestServer::start();
    s.create_bucket(B);
    // Small (inline) and large (file) bodies mixed, and an empty one.
    let pieces = [
        pattern(10, 1),
        pattern(200_000, 2),
        Vec::new(),
        pattern(70_000, 3),
        b"tail".to_vec(),
    ];
    let mut whole = Vec::new();
    for (i, piece) in pieces.iter().enumerate() {
        let r = if i == 0 {
            s.req("POST", Some(B), Some("log"))
                .query("append", "")
                .query("position", "0")
                .header("content-type", "text/plain")
                .header("x-oss-meta-origin", "first")
                .header("x-oss-storage-class", "IA")
                .header("x-oss-tagging", "a=1&b=2")
                .header("x-oss-server-side-encryption", "AES256")
                .body(piece.clone())
                .send()
        } else {
            s.req("POST", Some(B), Some("log"))
                .query("append", "")
                .query("position", &whole.len().to_string())
                .header("content-type", "application/json")
                .header("x-oss-meta-origin", "later")
                .body(piece.clone())
                .send()
        };
        whole.extend_from_slice(piece);
        assert_eq!(r.status, 200, "append {i}: {}", r.text());
        let next = whole.len().to_string();
        let crc = crc64::checksum(&whole).to_string();
        assert_eq!(r.header("x-oss-next-append-position"), Some(next.as_str()));
        assert_eq!(r.header("x-oss-hash-crc64ecma"), Some(crc.as_str()));
        assert_eq!(r.header("x-oss-server-side-encryption"), Some("AES256"));
    }

    let r = s.req("GET", Some(B), Some("log")).send();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, whole);
    let crc = crc64::checksum(&whole).to_string();
    let len = whole.len().to_string();
    for r in [r, s.req("HEAD", Some(B), Some("log")).send()] {
        assert_eq!(r.header("x-oss-object-type"), Some("Appendable"));
        assert_eq!(r.header("x-oss-next-append-position"), Some(len.as_str()));
        assert_eq!(r.header("x-oss-hash-crc64ecma"), Some(crc.as_str()));
        // The first append's attributes, not the later ones'.
        assert_eq!(r.header("content-type"), Some("text/plain"));
        assert_eq!(r.header("x-oss-meta-origin"), Some("first"));
        assert_eq!(r.header("x-oss-storage-class"), Some("IA"));
        assert_eq!(r.header("x-oss-tagging-count"), Some("2"));
    }
    let r = s
        .req("GET", Some(B), Some("log"))
        .header("range", "bytes=5-200014")
        .send();
    assert_eq!(r.status, 206);
    assert_eq!(r.body, whole[5..200_015]);
    let listing = s.req("GET", Some(B), None).send().text();
    assert_eq!(between_all(&listing, "<Type>", "</Type>"), ["Appendable"]);
    assert_eq!(between_all(&listing, "<Size>", "</Size>"), [len]);

    // Deleting it releases every segment; a new log starts at 0 again.
    assert_eq!(s.req("DELETE", Some(B), Some("log")).send().status, 204);
    assert_eq!(append(&s, "log", 0, b"again").status, 200);
    assert_eq!(s.req("GET", Some(B), Some("log")).send().body, b"again");
}

#[test]
fn wrong_positions_and_other_object_types_are_refused() {
    let s = TestServer::start();
    s.create_bucket(B);
    assert_eq!(append(&s, "log", 0, b"12345").status, 200);
    let r = s.req("PUT", Some(B), Some("normal")).body("x").send();
    assert_eq!(r.status, 200);
    let before = snapshot(&s, B);

    for position in [0, 4, 6, u64::MAX] {
        let r = append(&s, "log", position, b"more");
        r.assert_error(409, "PositionNotEqualToLength");
        assert_eq!(r.header("x-oss-next-append-position"), Some("5"));
    }
    let r = append(&s, "new", 3, b"x");
    r.assert_error(409, "PositionNotEqualToLength");
    assert_eq!(r.header("x-oss-next-append-position"), Some("0"));
    append(&s, "normal", 0, b"x").assert_error(409, "ObjectNotAppendable");
    append(&s, "normal", 1, b"x").assert_error(409, "ObjectNotAppendable");
    // A body that does not match its Content-MD5 appends nothing.
    let r = s
        .req("POST", Some(B), Some("log"))
        .query("append", "")
        .query("position", "5")
        .header("content-md5", "1B2M2Y8AsgTpgAmY7PhCfg==")
        .body("not empty")
        .send();
    r.assert_error(400, "InvalidDigest");
    // A position that is missing or not a number.
    for q in [
        None,
        Some(""),
        Some("-1"),
        Some("+5"),
        Some("5x"),
        Some("99999999999999999999"),
    ] {
        let mut r = s.req("POST", Some(B), Some("log")).query("append", "");
        if let Some(q) = q {
            r = r.query("position", q);
        }
        r.body("x").send().assert_error(400, "InvalidArgument");
    }
    // `append` anywhere but a POST to an object names nothing this server does.
    let r = s
        .req("PUT", Some(B), Some("log"))
        .query("append", "")
        .send();
    r.assert_error(501, "NotImplemented");
    let r = s.req("PUT", Some("fresh"), None).query("append", "").send();
    r.assert_error(501, "NotImplemented");
    assert_eq!(snapshot(&s, B), before);

    // Overwriting an appendable object with PutObject makes it Normal.
    assert_eq!(
        s.req("PUT", Some(B), Some("log")).body("n").send().status,
        200
    );
    append(&s, "log", 1, b"x").assert_error(409, "ObjectNotAppendable");
}

#[test]
fn concurrent_appends_at_one_position_let_exactly_one_through() {
    let s = TestServer::start();
    s.create_bucket(B);
    assert_eq!(append(&s, "log", 0, b"start").status, 200);
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let s = &s;
                scope.spawn(move || append(s, "log", 5, &pattern(1000, i)).status)
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(statuses.iter().filter(|&&c| c == 200).count(), 1);
    assert_eq!(statuses.iter().filter(|&&c| c == 409).count(), 7);
    let r = s.req("HEAD", Some(B), Some("log")).send();
    assert_eq!(r.header("content-length"), Some("1005"));
    let body = s.req("GET", Some(B), Some("log")).send().body;
    let crc = crc64::checksum(&body).to_string();
    assert_eq!(r.header("x-oss-hash-crc64ecma"), Some(crc.as_str()));
}

#[test]
fn an_appendable_object_survives_a_restart_and_keeps_growing() {
    let s = TestServer::start();
    s.create_bucket(B);
    let (a, b) = (pattern(100_000, 7), pattern(30, 8));
    assert_eq!(append(&s, "log", 0, &a).status, 200);
    let (dir, keep) = s.stop();
    let s = TestServer::start_on(&dir);
    let r = append(&s, "log", a.len() as u64, &b);
    assert_eq!(r.status, 200, "{}", r.text());
    let whole = [a, b].concat();
    assert_eq!(s.req("GET", Some(B), Some("log")).send().body, whole);
    drop(s);
    drop(keep);
}
