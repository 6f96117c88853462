//! The two spellings of a path-style bucket resource: `/<bucket>/` (the spec, the official
//! SDKs) and `/<bucket>` (Apache OpenDAL's OSS service, whose bucket requests have no trailing
//! slash). Both sign a path-style bucket-level request; object requests and virtual-hosted
//! requests keep one spelling.

use osspart_protocol::sign::{self, Auth, BucketResource, RequestParts};
use osspart_protocol::time_fmt;
use time::OffsetDateTime;

use crate::support::{send_bytes, Resp, TestServer, KEY_ID, SECRET};

const B: &str = "paths";

/// Sends a V1-signed request with the given Host, target path and resource spelling.
fn send_signed(
    s: &TestServer,
    host: &str,
    path: &str,
    bucket: &str,
    key: Option<&str>,
    form: BucketResource,
) -> Resp {
    let date = time_fmt::http_date(OffsetDateTime::now_utc());
    let headers = vec![("date".to_owned(), date.clone())];
    let query = vec![("list-type".to_owned(), "2".to_owned())];
    let parts = RequestParts {
        method: "GET",
        bucket: Some(bucket),
        key,
        query: &query,
        headers: &headers,
    };
    let auth = Auth::V1Header {
        access_key_id: KEY_ID.to_owned(),
        signature: String::new(),
    };
    let signature = auth.expected_as(&parts, SECRET, form).signature;
    let request = format!(
        "GET {path}?list-type=2 HTTP/1.1\r\nHost: {host}\r\nDate: {date}\r\n\
         Authorization: OSS {KEY_ID}:{signature}\r\nConnection: close\r\n\r\n"
    );
    send_bytes(s.addr, request.as_bytes(), false)
}

#[test]
fn a_path_style_bucket_request_may_be_signed_without_the_trailing_slash() {
    let s = TestServer::start();
    s.create_bucket(B);
    assert_eq!(
        s.req("PUT", Some(B), Some("k")).body("v").send().status,
        200
    );
    let host = s.addr.to_string();
    for (path, form) in [
        ("/paths", BucketResource::Bare),
        ("/paths", BucketResource::Slash),
        ("/paths/", BucketResource::Bare),
        ("/paths/", BucketResource::Slash),
    ] {
        let r = send_signed(&s, &host, path, B, None, form);
        assert_eq!(r.status, 200, "{path} {form:?}: {}", r.text());
        assert!(r.text().contains("<Key>k</Key>"));
    }

    // Virtual-hosted bucket requests keep the one spelling the spec gives them.
    let vhost = format!("paths.localhost:{}", s.addr.port());
    let r = send_signed(&s, &vhost, "/", B, None, BucketResource::Slash);
    assert_eq!(r.status, 200, "{}", r.text());
    let r = send_signed(&s, &vhost, "/", B, None, BucketResource::Bare);
    r.assert_error(403, "SignatureDoesNotMatch");

    // An object key is never read as a bucket resource of either spelling: the request for
    // `/paths/k` signed as `/paths` (a bucket) does not match.
    let date = time_fmt::http_date(OffsetDateTime::now_utc());
    let headers = vec![("date".to_owned(), date.clone())];
    let bucket_parts = RequestParts {
        method: "GET",
        bucket: Some(B),
        key: None,
        query: &[],
        headers: &headers,
    };
    let auth = Auth::V1Header {
        access_key_id: KEY_ID.to_owned(),
        signature: String::new(),
    };
    let signature = auth
        .expected_as(&bucket_parts, SECRET, BucketResource::Bare)
        .signature;
    let request = format!(
        "GET /paths/k HTTP/1.1\r\nHost: {host}\r\nDate: {date}\r\n\
         Authorization: OSS {KEY_ID}:{signature}\r\nConnection: close\r\n\r\n"
    );
    send_bytes(s.addr, request.as_bytes(), false).assert_error(403, "SignatureDoesNotMatch");
    // And a wrong secret stays wrong under both spellings.
    let parts = RequestParts {
        method: "GET",
        bucket: Some(B),
        key: None,
        query: &[],
        headers: &headers,
    };
    for form in [BucketResource::Slash, BucketResource::Bare] {
        let signature = auth.expected_as(&parts, "wrong", form).signature;
        let request = format!(
            "GET /paths HTTP/1.1\r\nHost: {host}\r\nDate: {date}\r\n\
             Authorization: OSS {KEY_ID}:{signature}\r\nConnection: close\r\n\r\n"
        );
        send_bytes(s.addr, request.as_bytes(), false).assert_error(403, "SignatureDoesNotMatch");
    }
}

#[test]
fn v4_signatures_take_the_bare_bucket_uri_too() {
    let s = TestServer::start();
    s.create_bucket(B);
    let now = OffsetDateTime::now_utc();
    let x_oss_date = time_fmt::v4_date(now);
    let headers = vec![
        ("x-oss-date".to_owned(), x_oss_date.clone()),
        (
            "x-oss-content-sha256".to_owned(),
            "UNSIGNED-PAYLOAD".to_owned(),
        ),
    ];
    let parts = RequestParts {
        method: "GET",
        bucket: Some(B),
        key: None,
        query: &[],
        headers: &headers,
    };
    let credential = sign::Credential {
        access_key_id: KEY_ID.to_owned(),
        date: x_oss_date[..8].to_owned(),
        region: "cn-hangzhou".to_owned(),
        product: "oss".to_owned(),
    };
    let auth = Auth::V4Header {
        credential: credential.clone(),
        additional_headers: Vec::new(),
        signature: String::new(),
    };
    let signature = auth
        .expected_as(&parts, SECRET, BucketResource::Bare)
        .signature;
    let request = format!(
        "GET /paths HTTP/1.1\r\nHost: {}\r\nx-oss-date: {x_oss_date}\r\n\
         x-oss-content-sha256: UNSIGNED-PAYLOAD\r\nAuthorization: OSS4-HMAC-SHA256 \
         Credential={KEY_ID}/{}/cn-hangzhou/oss/aliyun_v4_request,Signature={signature}\r\n\
         Connection: close\r\n\r\n",
        s.addr, credential.date
    );
    let r = send_bytes(s.addr, request.as_bytes(), false);
    assert_eq!(r.status, 200, "{}", r.text());
}
