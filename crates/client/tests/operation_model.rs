//! Both ends share one operation model: every request the client sends, as it leaves on the
//! wire (method, path, query, headers), is parsed by the protocol's parser, the one the server
//! runs, and must come back as the typed operation the client meant, with its fields.
//!
//! A recording stand-in on loopback keeps each request head and answers `200` with an empty
//! body; the client may then fail to read that answer, which does not matter here.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use osspart::{Addressing, Client, Config, ListObjectsQuery, ListUploadsQuery, ObjectOptions};
use osspart::{PartEtag, RetryPolicy};
use osspart_protocol::attributes::{Acl, TagSet};
use osspart_protocol::encoding::{decode_path, parse_query};
use osspart_protocol::operation::{self, Operation, Query, Target};
use osspart_protocol::range::ByteRange;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::support::credentials;

/// One request as it arrived: method, raw target (path and query) and headers.
#[derive(Debug, Clone)]
struct Recorded {
    method: Method,
    target: String,
    headers: HeaderMap,
}

/// A loopback service that records every request head and answers `200`, empty.
struct Recorder {
    addr: std::net::SocketAddr,
    seen: Arc<Mutex<Vec<Recorded>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Recorder {
    async fn start() -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let task = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(record(conn, log.clone()));
            }
        });
        Recorder { addr, seen, task }
    }

    fn client(&self) -> Client {
        let mut config = Config::new(
            format!("http://{}", self.addr),
            "cn-hangzhou",
            "bkt",
            credentials(),
        );
        config.addressing = Addressing::PathStyle;
        config.retry = RetryPolicy::default()
            .with_max_retries(0)
            .with_base_delay(Duration::from_millis(1))
            .with_max_delay(Duration::from_millis(1));
        config.request_timeout = Duration::from_secs(10);
        Client::new(config).unwrap()
    }

    fn take(&self) -> Vec<Recorded> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

/// Reads one request (head, then the body by Content-Length or chunked framing), records it
/// and answers `200` with no body, closing the connection.
async fn record(mut conn: TcpStream, log: Arc<Mutex<Vec<Recorded>>>) {
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 8192];
        match conn.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut words = request_line.split(' ');
    let method = Method::from_bytes(words.next().unwrap_or("GET").as_bytes()).unwrap();
    let target = words.next().unwrap_or("/").to_owned();
    let mut headers = HeaderMap::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').unwrap();
        headers.append(
            HeaderName::from_bytes(name.trim().as_bytes()).unwrap(),
            HeaderValue::from_str(value.trim()).unwrap(),
        );
    }
    let mut body = buf[head_end..].to_vec();
    let length = headers
        .get("content-length")
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    let chunked = headers.contains_key("transfer-encoding");
    loop {
        let done = match length {
            Some(n) => body.len() >= n,
            None => !chunked || body.ends_with(b"0\r\n\r\n"),
        };
        if done {
            break;
        }
        let mut chunk = [0u8; 8192];
        match conn.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    log.lock().unwrap().push(Recorded {
        method,
        target,
        headers,
    });
    let answer = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    let _ = conn.write_all(answer.as_bytes()).await;
}

/// Parses a recorded path-style request with the protocol's parser.
fn parse(r: &Recorded) -> Operation {
    let (path, query) = r.target.split_once('?').unwrap_or((&r.target, ""));
    let path = decode_path(path).unwrap();
    let path = path.strip_prefix('/').unwrap_or(&path);
    let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
    let target = Target {
        bucket: Some(bucket.to_owned()).filter(|b| !b.is_empty()),
        key: Some(key.to_owned()).filter(|k| !k.is_empty()),
    };
    let query = Query(parse_query(query).unwrap());
    operation::parse(&r.method, &target, &query, &r.headers)
        .unwrap_or_else(|e| panic!("{} {} refused: {e:?}", r.method, r.target))
}

type Call = Box<dyn Fn(Client) -> Pin<Box<dyn Future<Output = ()> + Send>>>;

/// A client call whose outcome is ignored: only the request it sends is looked at.
fn call<F, Fut, T>(f: F) -> Call
where
    F: Fn(Client) -> Fut + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    Box::new(move |c| {
        let fut = f(c);
        Box::pin(async move {
            let _ = fut.await;
        })
    })
}

/// The typed operation each call must parse into.
type Expect = fn(&Operation) -> bool;

#[tokio::test]
async fn every_request_the_client_builds_parses_into_its_operation() {
    let recorder = Recorder::start().await;
    let range = ByteRange::FromTo(0, 99);
    let table: Vec<(&str, Call, Expect)> = vec![
        (
            "InitiateMultipartUpload",
            call(|c| async move {
                let opts = ObjectOptions::default()
                    .with_meta(vec![("m".into(), "1".into())])
                    .with_forbid_overwrite(true);
                c.init_multipart_upload("dir/a b+c", &opts).await
            }),
            |op| {
                matches!(op, Operation::InitiateMultipartUpload(r)
                    if r.bucket == "bkt" && r.key == "dir/a b+c" && r.forbid_overwrite
                        && r.meta.user_meta == [("m".to_owned(), "1".to_owned())])
            },
        ),
        (
            "UploadPart",
            call(|c| async move {
                c.upload_part("k", "up-1", 7, Bytes::from_static(b"hello"), true)
                    .await
            }),
            |op| {
                matches!(op, Operation::UploadPart(r)
                    if r.key == "k" && r.upload_id == "up-1" && r.part_number == 7
                        && r.payload.content_length == Some(5)
                        && r.payload.content_md5.is_some()
                        && r.payload.malformed.is_none())
            },
        ),
        (
            "UploadPartCopy",
            call(move |c| async move {
                c.upload_part_copy("k", "up-1", 2, "src", "s/ü", Some(range))
                    .await
            }),
            |op| {
                matches!(op, Operation::UploadPartCopy(r)
                    if r.upload_id == "up-1" && r.part_number == 2
                        && r.source.bucket == "src" && r.source.key == "s/ü"
                        && r.source.range == Some(ByteRange::FromTo(0, 99)))
            },
        ),
        (
            "CompleteMultipartUpload",
            call(|c| async move {
                let parts = [PartEtag {
                    number: 1,
                    etag: "\"e\"".into(),
                }];
                c.complete_multipart_upload("k", "up-1", &parts).await
            }),
            |op| {
                matches!(op, Operation::CompleteMultipartUpload(r)
                    if r.upload_id == "up-1" && !r.complete_all
                        && r.payload.content_length.is_some_and(|n| n > 0))
            },
        ),
        (
            "CompleteMultipartUpload (all)",
            call(|c| async move { c.complete_all("k", "up-1").await }),
            |op| matches!(op, Operation::CompleteMultipartUpload(r) if r.complete_all),
        ),
        (
            "AbortMultipartUpload",
            call(|c| async move { c.abort_multipart_upload("k", "up-1").await }),
            |op| {
                matches!(op, Operation::AbortMultipartUpload { key, upload_id, .. }
                    if key == "k" && upload_id == "up-1")
            },
        ),
        (
            "ListMultipartUploads",
            call(|c| async move {
                let q = ListUploadsQuery::default()
                    .with_prefix("p/")
                    .with_max_uploads(5);
                c.list_uploads(&q).await
            }),
            |op| {
                matches!(op, Operation::ListMultipartUploads(r)
                    if r.prefix == "p/" && r.max_uploads == 5 && r.url_encoding)
            },
        ),
        (
            "ListParts",
            call(|c| async move { c.list_parts("k", "up-1", Some(3), Some(10)).await }),
            |op| {
                matches!(op, Operation::ListParts(r)
                    if r.upload_id == "up-1" && r.part_number_marker == 3 && r.max_parts == 10)
            },
        ),
        (
            "PutObject",
            call(|c| async move {
                let opts = ObjectOptions::default().with_mime("text/plain");
                c.put_object("k.txt", Bytes::from_static(b"abc"), &opts)
                    .await
            }),
            |op| {
                matches!(op, Operation::PutObject(r)
                    if r.key == "k.txt" && !r.forbid_overwrite
                        && r.meta.content_type.as_deref() == Some("text/plain")
                        && r.payload.content_length == Some(3)
                        && r.payload.content_md5.is_some())
            },
        ),
        (
            "GetObject",
            call(move |c| async move { c.get_object_if("k", Some(range), Some("\"e\"")).await }),
            |op| {
                matches!(op, Operation::GetObject(r)
                    if r.key == "k" && r.range == Some(ByteRange::FromTo(0, 99))
                        && r.conditions.if_match.as_deref() == Some("\"e\""))
            },
        ),
        (
            "HeadObject",
            call(|c| async move { c.head_object("k").await }),
            |op| matches!(op, Operation::HeadObject { key, .. } if key == "k"),
        ),
        (
            "DeleteObject",
            call(|c| async move { c.delete_object("k").await }),
            |op| matches!(op, Operation::DeleteObject { key, .. } if key == "k"),
        ),
        (
            "CopyObject",
            call(|c| async move {
                let opts = ObjectOptions::default().with_mime("a/b");
                c.copy_object("src", "s/k", "k", Some(&opts)).await
            }),
            |op| {
                matches!(op, Operation::CopyObject(r)
                    if r.key == "k" && r.source.bucket == "src" && r.source.key == "s/k"
                        && r.replace_meta.as_ref().and_then(|m| m.content_type.as_deref())
                            == Some("a/b"))
            },
        ),
        (
            "AppendObject",
            call(|c| async move {
                c.append_object("log", 10, Bytes::from_static(b"more"))
                    .await
            }),
            |op| {
                matches!(op, Operation::AppendObject(r)
                    if r.key == "log" && r.position == 10
                        && r.payload.content_length == Some(4))
            },
        ),
        (
            "PutObjectAcl",
            call(|c| async move { c.put_object_acl("k", Acl::PublicRead).await }),
            |op| {
                matches!(op, Operation::PutObjectAcl { key, acl: Acl::PublicRead, .. }
                    if key == "k")
            },
        ),
        (
            "GetObjectAcl",
            call(|c| async move { c.get_object_acl("k").await }),
            |op| matches!(op, Operation::GetObjectAcl { key, .. } if key == "k"),
        ),
        (
            "PutBucketAcl",
            call(|c| async move { c.put_bucket_acl(Acl::Private).await }),
            |op| matches!(op, Operation::PutBucketAcl { bucket, acl: Acl::Private } if bucket == "bkt"),
        ),
        (
            "GetBucketAcl",
            call(|c| async move { c.get_bucket_acl().await }),
            |op| matches!(op, Operation::GetBucketAcl { bucket } if bucket == "bkt"),
        ),
        (
            "PutObjectTagging",
            call(|c| async move {
                let tags = TagSet::new(vec![("a".into(), "1".into())]).unwrap();
                c.put_object_tagging("k", &tags).await
            }),
            |op| {
                matches!(op, Operation::PutObjectTagging { key, payload, .. }
                    if key == "k" && payload.content_length.is_some_and(|n| n > 0))
            },
        ),
        (
            "GetObjectTagging",
            call(|c| async move { c.get_object_tagging("k").await }),
            |op| matches!(op, Operation::GetObjectTagging { key, .. } if key == "k"),
        ),
        (
            "DeleteObjectTagging",
            call(|c| async move { c.delete_object_tagging("k").await }),
            |op| matches!(op, Operation::DeleteObjectTagging { key, .. } if key == "k"),
        ),
        (
            "ListObjects",
            call(|c| async move {
                let q = ListObjectsQuery::default()
                    .with_prefix("a/")
                    .with_delimiter("/")
                    .with_max_keys(7);
                c.list_objects(&q).await
            }),
            |op| {
                matches!(op, Operation::ListObjects { bucket, listing }
                    if bucket == "bkt" && listing.prefix == "a/" && listing.delimiter == "/"
                        && listing.max_keys == 7 && listing.url_encoding)
            },
        ),
        (
            "PutBucket",
            call(|c| async move { c.create_bucket().await }),
            |op| matches!(op, Operation::PutBucket { bucket, acl: None, .. } if bucket == "bkt"),
        ),
        (
            "DeleteBucket",
            call(|c| async move { c.delete_bucket().await }),
            |op| matches!(op, Operation::DeleteBucket { bucket } if bucket == "bkt"),
        ),
        (
            "ListBuckets",
            call(|c| async move { c.list_buckets().await }),
            |op| matches!(op, Operation::ListBuckets { max_keys: 1000, .. }),
        ),
    ];
    let client = recorder.client();
    for (name, send, expect) in &table {
        send(client.clone()).await;
        let seen = recorder.take();
        let first = seen
            .first()
            .unwrap_or_else(|| panic!("{name}: no request reached the service"));
        let op = parse(first);
        assert!(
            op.name() == name.split(' ').next().unwrap() && expect(&op),
            "{name}: {} {} parsed as {op:?}",
            first.method,
            first.target
        );
    }
}
