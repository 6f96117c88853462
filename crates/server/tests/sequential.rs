//! Sequential multipart uploads (`?sequential` on initiate): parts arrive in ascending order,
//! each continuing the MD5 of the ones before, and the completed object carries the MD5 of its
//! whole body as Content-MD5.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use md5::{Digest, Md5};

use crate::support::{between_all, pattern, snapshot, TestServer};

const B: &str = "seq";

fn initiate_sequential(s: &TestServer, key: &str) -> String {
    let r = s
        .req("POST", Some(B), Some(key))
        .query("uploads", "")
        .query("sequential", "")
        .send();
    assert_eq!(r.status, 200, "{}", r.text());
    between_all(&r.text(), "<UploadId>", "</UploadId>").remove(0)
}

fn put_part(s: &TestServer, key: &str, id: &str, n: u32, body: &[u8]) -> crate::support::Resp {
    s.req("PUT", Some(B), Some(key))
        .query("partNumber", &n.to_string())
        .query("uploadId", id)
        .body(body.to_vec())
        .send()
}

fn complete(s: &TestServer, key: &str, id: &str, parts: &[(u32, &[u8])]) -> crate::support::Resp {
    let mut xml = String::from("<CompleteMultipartUpload>");
    for (n, body) in parts {
        xml.push_str(&format!(
            "<Part><PartNumber>{n}</PartNumber><ETag>{}</ETag></Part>",
            crate::support::etag_of(body)
        ));
    }
    xml.push_str("</CompleteMultipartUpload>");
    s.req("POST", Some(B), Some(key))
        .query("uploadId", id)
        .body(xml)
        .send()
}

fn md5_b64(parts: &[&[u8]]) -> String {
    let mut h = Md5::new();
    for p in parts {
        h.update(p);
    }
    STANDARD.encode(h.finalize())
}

#[test]
fn a_sequential_upload_gets_the_whole_object_md5() {
    let s = TestServer::start();
    s.create_bucket(B);
    let id = initiate_sequential(&s, "obj");
    // Large parts go to files, the small last one stays inline: the chain spans both.
    let (p1, p2, p3) = (pattern(150_000, 1), pattern(120_000, 2), pattern(33, 3));
    for (n, p) in [(1, &p1), (2, &p2), (3, &p3)] {
        let r = put_part(&s, "obj", &id, n, p);
        assert_eq!(r.status, 200, "part {n}: {}", r.text());
    }
    // Retrying the newest part is allowed and keeps the chain right.
    let p3 = pattern(40, 4);
    assert_eq!(put_part(&s, "obj", &id, 3, &p3).status, 200);
    let r = complete(&s, "obj", &id, &[(1, &p1), (2, &p2), (3, &p3)]);
    assert_eq!(r.status, 200, "{}", r.text());

    let want = md5_b64(&[&p1, &p2, &p3]);
    for method in ["HEAD", "GET"] {
        let r = s.req(method, Some(B), Some("obj")).send();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-md5"), Some(want.as_str()), "{method}");
        assert_eq!(r.header("x-oss-object-type"), Some("Multipart"));
    }
    let body = s.req("GET", Some(B), Some("obj")).send().body;
    assert_eq!(body, [p1, p2, p3].concat());

    // An ordinary upload has no whole-object MD5, and a sequential one completed with a part
    // left out has none either (the chain stops describing the object).
    let plain = s.initiate(B, "plain");
    assert_eq!(put_part(&s, "plain", &plain, 1, b"x").status, 200);
    assert_eq!(complete(&s, "plain", &plain, &[(1, b"x")]).status, 200);
    let r = s.req("HEAD", Some(B), Some("plain")).send();
    assert_eq!(r.header("content-md5"), None);

    let id = initiate_sequential(&s, "gap");
    let (q1, q2) = (pattern(110_000, 5), pattern(10, 6));
    assert_eq!(put_part(&s, "gap", &id, 1, &q1).status, 200);
    assert_eq!(put_part(&s, "gap", &id, 2, &q2).status, 200);
    assert_eq!(complete(&s, "gap", &id, &[(2, &q2)]).status, 200);
    let r = s.req("HEAD", Some(B), Some("gap")).send();
    assert_eq!(r.header("content-md5"), None);
    let id = initiate_sequential(&s, "prefix");
    assert_eq!(put_part(&s, "prefix", &id, 1, &q1).status, 200);
    assert_eq!(put_part(&s, "prefix", &id, 2, &q2).status, 200);
    assert_eq!(complete(&s, "prefix", &id, &[(1, &q1)]).status, 200);
    let r = s.req("HEAD", Some(B), Some("prefix")).send();
    assert_eq!(r.header("content-md5"), Some(md5_b64(&[&q1]).as_str()));
}

#[test]
fn parts_out_of_order_are_refused_and_change_nothing() {
    let s = TestServer::start();
    s.create_bucket(B);
    let id = initiate_sequential(&s, "obj");
    let before = snapshot(&s, B);
    // Part 2 before part 1, and a first part numbered 3.
    for n in [2, 3] {
        put_part(&s, "obj", &id, n, b"early").assert_error(400, "InvalidArgument");
    }
    assert_eq!(snapshot(&s, B), before);
    let (p1, p2) = (pattern(110_000, 1), pattern(110_000, 2));
    assert_eq!(put_part(&s, "obj", &id, 1, &p1).status, 200);
    assert_eq!(put_part(&s, "obj", &id, 2, &p2).status, 200);
    let before = snapshot(&s, B);
    // A gap, and an earlier part replaced once a later one exists.
    put_part(&s, "obj", &id, 4, b"gap").assert_error(400, "InvalidArgument");
    put_part(&s, "obj", &id, 1, b"rewrite").assert_error(400, "InvalidArgument");
    // UploadPartCopy follows the same order.
    assert_eq!(
        s.req("PUT", Some(B), Some("src")).body("abc").send().status,
        200
    );
    let r = s
        .req("PUT", Some(B), Some("obj"))
        .query("partNumber", "5")
        .query("uploadId", &id)
        .header("x-oss-copy-source", &format!("/{B}/src"))
        .send();
    r.assert_error(400, "InvalidArgument");
    assert_eq!(s.req("DELETE", Some(B), Some("src")).send().status, 204);
    assert_eq!(snapshot(&s, B), before);

    // A copied part continues the chain like an uploaded one.
    assert_eq!(
        s.req("PUT", Some(B), Some("src")).body("abc").send().status,
        200
    );
    let r = s
        .req("PUT", Some(B), Some("obj"))
        .query("partNumber", "3")
        .query("uploadId", &id)
        .header("x-oss-copy-source", &format!("/{B}/src"))
        .send();
    assert_eq!(r.status, 200, "{}", r.text());
    let r = complete(&s, "obj", &id, &[(1, &p1), (2, &p2), (3, b"abc")]);
    assert_eq!(r.status, 200, "{}", r.text());
    let r = s.req("HEAD", Some(B), Some("obj")).send();
    let want = md5_b64(&[&p1, &p2, b"abc"]);
    assert_eq!(r.header("content-md5"), Some(want.as_str()));
}

#[test]
fn the_chain_survives_a_restart() {
    let s = TestServer::start();
    s.create_bucket(B);
    let id = initiate_sequential(&s, "obj");
    let p1 = pattern(130_000, 9);
    assert_eq!(put_part(&s, "obj", &id, 1, &p1).status, 200);
    let (dir, keep) = s.stop();
    let s = TestServer::start_on(&dir);
    put_part(&s, "obj", &id, 3, b"x").assert_error(400, "InvalidArgument");
    assert_eq!(put_part(&s, "obj", &id, 2, b"tail").status, 200);
    assert_eq!(
        complete(&s, "obj", &id, &[(1, &p1), (2, b"tail")]).status,
        200
    );
    let r = s.req("GET", Some(B), Some("obj")).send();
    let want = md5_b64(&[&p1, b"tail"]);
    assert_eq!(r.header("content-md5"), Some(want.as_str()));
    drop(s);
    drop(keep);
}
