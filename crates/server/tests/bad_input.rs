//! Every kind of bad input gets its OSS error code and leaves stored data exactly as it was.

use time::{Duration, OffsetDateTime};

use crate::support::{etag_of, pattern, Resp, Sign, TestServer};

fn snapshot(s: &TestServer) -> Vec<String> {
    crate::support::snapshot(s, B)
}

const B: &str = "badinput";

/// A server with one object and one upload holding one part.
fn seeded() -> (TestServer, String) {
    let s = TestServer::start();
    let id = s.seed(B, 1000);
    (s, id)
}

/// Runs `bad`, checks its error, and checks the store did not change.
fn unchanged(s: &TestServer, status: u16, code: &str, bad: impl FnOnce() -> Resp) {
    let before = snapshot(s);
    let r = bad();
    r.assert_error(status, code);
    assert_eq!(snapshot(s), before, "store changed after {code}");
}

#[test]
fn malformed_and_oversized_complete_xml() {
    let (s, id) = seeded();
    for body in [
        b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>".to_vec(),
        b"not xml at all".to_vec(),
        b"<Other><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part></Other>".to_vec(),
        b"<CompleteMultipartUpload></CompleteMultipartUpload>".to_vec(),
        b"<CompleteMultipartUpload><Part><PartNumber>one</PartNumber><ETag>x</ETag></Part></CompleteMultipartUpload>".to_vec(),
        b"<!DOCTYPE x [<!ENTITY a \"aaaa\"><!ENTITY b \"&a;&a;&a;&a;\">]><CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&b;</ETag></Part></CompleteMultipartUpload>".to_vec(),
    ] {
        unchanged(&s, 400, "MalformedXML", || s.req("POST", Some(B), Some("big")).query("uploadId", &id).body(body).send());
    }
    let mut huge = b"<CompleteMultipartUpload>".to_vec();
    while huge.len() < 3 << 20 {
        huge.extend_from_slice(b"<Part><PartNumber>1</PartNumber><ETag>\"00\"</ETag></Part>");
    }
    huge.extend_from_slice(b"</CompleteMultipartUpload>");
    unchanged(&s, 400, "MalformedXML", || {
        s.req("POST", Some(B), Some("big"))
            .query("uploadId", &id)
            .body(huge)
            .send()
    });
}

#[test]
fn part_numbers_out_of_range() {
    let (s, id) = seeded();
    for n in ["0", "10001", "-1", "abc", "4294967296"] {
        unchanged(&s, 400, "InvalidArgument", || {
            s.req("PUT", Some(B), Some("big"))
                .query("partNumber", n)
                .query("uploadId", &id)
                .body(pattern(10, 0))
                .send()
        });
    }
}

#[test]
fn short_bodies_record_nothing() {
    let (s, id) = seeded();
    let before = snapshot(&s);
    let r = s
        .req("PUT", Some(B), Some("big"))
        .query("partNumber", "2")
        .query("uploadId", &id)
        .body(pattern(5000, 3))
        .send_raw(10_000, Some(5000));
    assert_ne!(r.status, 200, "a short part must not be accepted");
    let r = s
        .req("PUT", Some(B), Some("short-object"))
        .body(pattern(5000, 3))
        .send_raw(10_000, Some(5000));
    assert_ne!(r.status, 200, "a short object must not be accepted");
    // The server notices the closed connection asynchronously; give it a moment.
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(snapshot(&s), before);
}

#[test]
fn content_md5_mismatch_and_malformed() {
    let (s, id) = seeded();
    let wrong = "1B2M2Y8AsgTpgAmY7PhCfg=="; // MD5 of the empty body
    unchanged(&s, 400, "InvalidDigest", || {
        s.req("PUT", Some(B), Some("existing"))
            .header("Content-MD5", wrong)
            .body(pattern(100, 9))
            .send()
    });
    unchanged(&s, 400, "InvalidDigest", || {
        s.req("PUT", Some(B), Some("big"))
            .query("partNumber", "1")
            .query("uploadId", &id)
            .header("Content-MD5", wrong)
            .body(pattern(100, 9))
            .send()
    });
    unchanged(&s, 400, "InvalidDigest", || {
        s.req("PUT", Some(B), Some("new"))
            .header("Content-MD5", "not-base64!")
            .body(pattern(100, 9))
            .send()
    });
    // The right digest is accepted.
    use base64::Engine;
    use md5::Digest;
    let data = pattern(100, 9);
    let md5 = base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(&data));
    let r = s
        .req("PUT", Some(B), Some("new"))
        .header("Content-MD5", &md5)
        .body(data.clone())
        .send();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("etag"), Some(etag_of(&data).as_str()));
}

#[test]
fn unknown_upload_ids() {
    let (s, id) = seeded();
    let bogus = "0000000000000000000000000000BEEF";
    unchanged(&s, 404, "NoSuchUpload", || {
        s.req("PUT", Some(B), Some("big"))
            .query("partNumber", "1")
            .query("uploadId", bogus)
            .body(pattern(10, 0))
            .send()
    });
    unchanged(&s, 404, "NoSuchUpload", || {
        s.req("GET", Some(B), Some("big"))
            .query("uploadId", bogus)
            .send()
    });
    unchanged(&s, 404, "NoSuchUpload", || {
        s.req("DELETE", Some(B), Some("big"))
            .query("uploadId", bogus)
            .send()
    });
    let body = format!("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{}</ETag></Part></CompleteMultipartUpload>", etag_of(&pattern(200_000, 2)));
    unchanged(&s, 404, "NoSuchUpload", || {
        s.req("POST", Some(B), Some("big"))
            .query("uploadId", bogus)
            .body(body.clone())
            .send()
    });
    // A real id used with another key is unknown too.
    unchanged(&s, 404, "NoSuchUpload", || {
        s.req("GET", Some(B), Some("other-key"))
            .query("uploadId", &id)
            .send()
    });
}

#[test]
fn bad_signatures_and_clocks() {
    let (s, _id) = seeded();
    for sign in [Sign::V1, Sign::V4] {
        unchanged(&s, 403, "SignatureDoesNotMatch", || {
            s.req("PUT", Some(B), Some("existing"))
                .sign(sign)
                .secret("wrong")
                .body(pattern(10, 0))
                .send()
        });
    }
    unchanged(&s, 403, "AccessDenied", || {
        s.req("PUT", Some(B), Some("existing"))
            .sign(Sign::None)
            .body(pattern(10, 0))
            .send()
    });
    unchanged(&s, 403, "InvalidAccessKeyId", || {
        s.req("PUT", Some(B), Some("existing"))
            .sign(Sign::None)
            .header("Authorization", "OSS nobody:abc=")
            .header(
                "Date",
                &osspart_protocol::time_fmt::http_date(OffsetDateTime::now_utc()),
            )
            .body(pattern(10, 0))
            .send()
    });
    let skewed = OffsetDateTime::now_utc() - Duration::minutes(20);
    for sign in [Sign::V1, Sign::V4] {
        let before = snapshot(&s);
        let r = s
            .req("DELETE", Some(B), Some("existing"))
            .sign(sign)
            .at(skewed)
            .send();
        r.assert_error(403, "RequestTimeTooSkewed");
        assert!(r.text().contains("<ServerTime>"), "{}", r.text());
        assert_eq!(snapshot(&s), before);
    }
    // Within the allowed skew is fine.
    let r = s
        .req("GET", Some(B), Some("existing"))
        .sign(Sign::V1)
        .at(OffsetDateTime::now_utc() - Duration::minutes(10))
        .send();
    assert_eq!(r.status, 200);
}

#[test]
fn presigned_urls_expire() {
    let (s, _id) = seeded();
    let now = OffsetDateTime::now_utc();
    let r = s
        .req("GET", Some(B), Some("existing"))
        .sign(Sign::PresignV1(now.unix_timestamp() + 60))
        .send();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body, pattern(1000, 1));
    let r = s
        .req("GET", Some(B), Some("existing"))
        .sign(Sign::PresignV4(60))
        .send();
    assert_eq!(r.status, 200, "{}", r.text());
    unchanged(&s, 403, "AccessDenied", || {
        s.req("DELETE", Some(B), Some("existing"))
            .sign(Sign::PresignV1(now.unix_timestamp() - 1))
            .send()
    });
    unchanged(&s, 403, "AccessDenied", || {
        s.req("DELETE", Some(B), Some("existing"))
            .sign(Sign::PresignV4(60))
            .at(now - Duration::hours(2))
            .send()
    });
    unchanged(&s, 403, "SignatureDoesNotMatch", || {
        s.req("DELETE", Some(B), Some("existing"))
            .sign(Sign::PresignV4(60))
            .secret("wrong")
            .send()
    });
}

#[test]
fn odd_keys_are_plain_values() {
    let s = TestServer::start();
    s.create_bucket(B);
    let long = "k".repeat(1023);
    let keys = [
        "..",
        "a/../b",
        "x//y//",
        "a/./b/",
        "./.",
        "ü/文件 +%.txt",
        "a?b#c&d=e",
        long.as_str(),
    ];
    for (i, key) in keys.iter().enumerate() {
        let data = pattern(100 + i, i);
        let r = s.req("PUT", Some(B), Some(key)).body(data.clone()).send();
        assert_eq!(r.status, 200, "put {key:?}: {}", r.text());
        let r = s.req("GET", Some(B), Some(key)).send();
        assert_eq!(r.status, 200, "get {key:?}");
        assert_eq!(r.body, data, "{key:?}");
    }
    let listing = s
        .req("GET", Some(B), None)
        .query("encoding-type", "url")
        .send()
        .text();
    for key in keys {
        let encoded = osspart_protocol::encoding::encode_component(key);
        assert!(
            listing.contains(&format!("<Key>{encoded}</Key>")),
            "{key:?} missing from listing"
        );
    }
    let too_long = "k".repeat(1024);
    s.req("PUT", Some(B), Some(&too_long))
        .body(pattern(10, 0))
        .send()
        .assert_error(400, "InvalidObjectName");
    // OSS refuses names that start with a slash.
    s.req("PUT", Some(B), Some("/lead"))
        .body(pattern(10, 0))
        .send()
        .assert_error(400, "InvalidObjectName");
    // No key became a path: the data dir holds only the store's own entries.
    let mut names: Vec<String> = std::fs::read_dir(&s.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(
        names.iter().all(|n| [
            "LOCK",
            "blobs",
            "meta.db",
            "meta.db-shm",
            "meta.db-wal",
            "osspart-store",
            "tmp"
        ]
        .contains(&n.as_str())),
        "{names:?}"
    );
}

#[test]
fn data_survives_a_restart() {
    let s = TestServer::start();
    s.create_bucket(B);
    let small = pattern(5000, 4);
    assert_eq!(
        s.req("PUT", Some(B), Some("small"))
            .body(small.clone())
            .send()
            .status,
        200
    );
    // A completed multipart object and an upload still in progress.
    let id = s.initiate(B, "done");
    let p1 = pattern(150_000, 5);
    let p2 = pattern(7, 6);
    let mut xml = String::from("<CompleteMultipartUpload>");
    for (n, p) in [(1, &p1), (2, &p2)] {
        let r = s
            .req("PUT", Some(B), Some("done"))
            .query("partNumber", &n.to_string())
            .query("uploadId", &id)
            .body(p.clone())
            .send();
        assert_eq!(r.status, 200);
        xml.push_str(&format!(
            "<Part><PartNumber>{n}</PartNumber><ETag>{}</ETag></Part>",
            r.header("etag").unwrap()
        ));
    }
    xml.push_str("</CompleteMultipartUpload>");
    let done = s
        .req("POST", Some(B), Some("done"))
        .query("uploadId", &id)
        .body(xml)
        .send();
    assert_eq!(done.status, 200, "{}", done.text());
    let crc = done.header("x-oss-hash-crc64ecma").unwrap().to_owned();
    let pending = s.initiate(B, "pending");
    let r = s
        .req("PUT", Some(B), Some("pending"))
        .query("partNumber", "3")
        .query("uploadId", &pending)
        .body(p1.clone())
        .send();
    let pending_etag = r.header("etag").unwrap().to_owned();

    let (dir, guard) = s.stop();
    let s = TestServer::start_on(&dir);
    assert_eq!(s.req("GET", Some(B), Some("small")).send().body, small);
    let r = s.req("GET", Some(B), Some("done")).send();
    assert_eq!(r.body, [p1.clone(), p2].concat());
    assert_eq!(r.header("x-oss-hash-crc64ecma"), Some(crc.as_str()));
    assert_eq!(r.header("x-oss-object-type"), Some("Multipart"));
    let parts = s
        .req("GET", Some(B), Some("pending"))
        .query("uploadId", &pending)
        .send()
        .text();
    assert!(
        parts.contains("<PartNumber>3</PartNumber>") && parts.contains(&pending_etag),
        "{parts}"
    );
    drop(s);
    drop(guard);
}

#[test]
fn delete_multiple_keeps_key_whitespace() {
    let s = TestServer::start();
    s.create_bucket(B);
    for key in ["a", " a "] {
        assert_eq!(
            s.req("PUT", Some(B), Some(key))
                .body(pattern(10, 1))
                .send()
                .status,
            200
        );
    }
    let body = "<Delete><Quiet>false</Quiet><Object><Key> a </Key></Object></Delete>";
    let r = s
        .req("POST", Some(B), None)
        .query("delete", "")
        .body(body)
        .send();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(s.req("HEAD", Some(B), Some(" a ")).send().status, 404);
    assert_eq!(
        s.req("HEAD", Some(B), Some("a")).send().status,
        200,
        "the unpadded key must survive"
    );
}

/// `serve --data DIR` on a directory holding someone else's files refuses to start and leaves
/// every file where it was (start-up recovery would otherwise have emptied `DIR/tmp/`).
#[test]
fn serve_refuses_a_directory_that_is_not_a_store() {
    use osspart_server::store::StoreError;
    use osspart_server::{RunningServer, ServerConfig, StartError};

    let dir = tempfile::tempdir().unwrap();
    let user_files = ["tmp/k/f", "blobs/ab/x", "meta.db"];
    for f in user_files {
        let path = dir.path().join(f);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"user data").unwrap();
    }
    let config = ServerConfig::new(dir.path(), "127.0.0.1:0".parse().unwrap());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let err = match rt.block_on(RunningServer::start(config)) {
        Ok(_) => panic!("a server started on a directory that is not a store"),
        Err(e) => e,
    };
    assert!(
        matches!(err, StartError::Store(StoreError::NotAStore { .. })),
        "{err:?}"
    );
    let mut message = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(e) = source {
        message.push_str(&format!(": {e}"));
        source = e.source();
    }
    assert!(
        message.contains("not an osspart data directory"),
        "{message}"
    );
    for f in user_files {
        assert_eq!(
            std::fs::read(dir.path().join(f)).unwrap(),
            b"user data",
            "{f}"
        );
    }
    let mut entries: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    entries.sort();
    assert_eq!(entries, ["blobs", "meta.db", "tmp"]);
}
