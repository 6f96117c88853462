//! Low-level calls with typed results, paginators, error mapping and retries, and one
//! conformance suite run in every signing dialect.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use osspart::{
    Addressing, Client, Config, Error, ListObjectsQuery, ListUploadsQuery, ObjectOptions, PartEtag,
    RetryPolicy, SignatureVersion, UploadOptions,
};
use osspart_protocol::crc64;
use osspart_protocol::range::ByteRange;

use crate::support::{
    client_for, closed_endpoint, credentials, pattern, sts_credentials, FaultProxy, ProxyFaults,
    Server, SilentListener, PART,
};
use crate::upload::assert_object;

#[tokio::test]
async fn multipart_calls_return_typed_results() {
    let server = Server::start().await;
    let client = server.client("lowlevel", SignatureVersion::V4).await;
    let source = pattern(3 * PART, 31);
    client
        .put_object(
            "src/source.bin",
            Bytes::from(source.clone()),
            &ObjectOptions::default(),
        )
        .await
        .unwrap();

    // Two parts copied by range from another object, one uploaded; completed with bare ETags.
    let id = client
        .init_multipart_upload("dst.bin", &ObjectOptions::default())
        .await
        .unwrap();
    assert!(!id.is_empty());
    let c1 = client
        .upload_part_copy(
            "dst.bin",
            &id,
            1,
            "lowlevel",
            "src/source.bin",
            Some(ByteRange::FromTo(0, PART as u64 - 1)),
        )
        .await
        .unwrap();
    let c2 = client
        .upload_part_copy(
            "dst.bin",
            &id,
            2,
            "lowlevel",
            "src/source.bin",
            Some(ByteRange::FromTo(PART as u64 + 10, 2 * PART as u64 + 9)),
        )
        .await
        .unwrap();
    let tail = pattern(1234, 32);
    let p3 = client
        .upload_part("dst.bin", &id, 3, Bytes::from(tail.clone()), true)
        .await
        .unwrap();
    for out in [&c1, &c2, &p3] {
        assert!(
            out.etag.starts_with('"') && out.etag.ends_with('"'),
            "{}",
            out.etag
        );
    }
    assert_eq!(c1.crc64, Some(crc64::checksum(&source[..PART])));
    assert_eq!(p3.crc64, Some(crc64::checksum(&tail)));

    let page = client.list_parts("dst.bin", &id, None, None).await.unwrap();
    assert!(!page.is_truncated);
    let numbers: Vec<(u32, u64)> = page.parts.iter().map(|p| (p.number, p.size)).collect();
    assert_eq!(numbers, vec![(1, PART as u64), (2, PART as u64), (3, 1234)]);
    assert_eq!(
        page.parts[1].crc64,
        Some(crc64::checksum(&source[PART + 10..2 * PART + 10]))
    );
    assert_eq!(page.parts[2].etag, p3.etag);
    assert!(!page.parts[0].last_modified.is_empty());

    let bare = |etag: &str| etag.trim_matches('"').to_owned();
    let done = client
        .complete_multipart_upload(
            "dst.bin",
            &id,
            // Out of order and unquoted: the call sorts and quotes.
            &[
                PartEtag {
                    number: 3,
                    etag: bare(&p3.etag),
                },
                PartEtag {
                    number: 1,
                    etag: bare(&c1.etag),
                },
                PartEtag {
                    number: 2,
                    etag: bare(&c2.etag),
                },
            ],
        )
        .await
        .unwrap();
    assert!(done.etag.ends_with("-3\""), "{}", done.etag);
    let mut expected = source[..PART].to_vec();
    expected.extend_from_slice(&source[PART + 10..2 * PART + 10]);
    expected.extend_from_slice(&tail);
    assert_eq!(done.crc64, Some(crc64::checksum(&expected)));
    assert_object(&client, "dst.bin", &expected).await;
    // Completed: the upload is gone.
    let err = client
        .list_parts("dst.bin", &id, None, None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("NoSuchUpload"));

    // Quoted ETags, as UploadPart returned them.
    let id = client
        .init_multipart_upload("quoted.bin", &ObjectOptions::default())
        .await
        .unwrap();
    let a = client
        .upload_part(
            "quoted.bin",
            &id,
            1,
            Bytes::from(source[..PART].to_vec()),
            false,
        )
        .await
        .unwrap();
    let b = client
        .upload_part("quoted.bin", &id, 2, Bytes::from(tail.clone()), false)
        .await
        .unwrap();
    client
        .complete_multipart_upload(
            "quoted.bin",
            &id,
            &[
                PartEtag {
                    number: 1,
                    etag: a.etag.clone(),
                },
                PartEtag {
                    number: 2,
                    etag: b.etag.clone(),
                },
            ],
        )
        .await
        .unwrap();
    let mut expected = source[..PART].to_vec();
    expected.extend_from_slice(&tail);
    assert_object(&client, "quoted.bin", &expected).await;

    // complete_all takes every uploaded part.
    let id = client
        .init_multipart_upload("all.bin", &ObjectOptions::default())
        .await
        .unwrap();
    for (n, body) in [(2u32, tail.clone()), (1, source[..PART].to_vec())] {
        client
            .upload_part("all.bin", &id, n, Bytes::from(body), false)
            .await
            .unwrap();
    }
    let out = client.complete_all("all.bin", &id).await.unwrap();
    assert!(out.etag.ends_with("-2\""));
    assert_object(&client, "all.bin", &expected).await;

    // Abort: the upload and its parts are gone; a second abort says NoSuchUpload.
    let id = client
        .init_multipart_upload("aborted.bin", &ObjectOptions::default())
        .await
        .unwrap();
    client
        .upload_part("aborted.bin", &id, 1, Bytes::from_static(b"abc"), false)
        .await
        .unwrap();
    client
        .abort_multipart_upload("aborted.bin", &id)
        .await
        .unwrap();
    let err = client
        .list_parts("aborted.bin", &id, None, None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Service { status: 404, code, .. } if code == "NoSuchUpload"),
        "{err}"
    );
    assert!(!err.is_retryable());
    let err = client
        .abort_multipart_upload("aborted.bin", &id)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("NoSuchUpload"));
    // A part too small to be anything but the last one is refused at Complete.
    let id = client
        .init_multipart_upload("small.bin", &ObjectOptions::default())
        .await
        .unwrap();
    let mut parts = Vec::new();
    for n in 1..=2 {
        let out = client
            .upload_part("small.bin", &id, n, Bytes::from_static(b"tiny"), false)
            .await
            .unwrap();
        parts.push(PartEtag {
            number: n,
            etag: out.etag,
        });
    }
    let err = client
        .complete_multipart_upload("small.bin", &id, &parts)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("EntityTooSmall"), "{err}");
}

#[tokio::test]
async fn upload_part_copy_takes_open_ranges_to_the_end() {
    let server = Server::start().await;
    let client = server.client("opencopy", SignatureVersion::V1).await;
    let source = pattern(2 * PART + 77, 5);
    client
        .put_object(
            "src",
            Bytes::from(source.clone()),
            &ObjectOptions::default(),
        )
        .await
        .unwrap();
    let id = client
        .init_multipart_upload("dst", &ObjectOptions::default())
        .await
        .unwrap();
    // oss2 sends `bytes=N-` for "from N to the end".
    let part = client
        .upload_part_copy(
            "dst",
            &id,
            1,
            "opencopy",
            "src",
            Some(ByteRange::From(PART as u64)),
        )
        .await
        .unwrap();
    assert_eq!(part.crc64, Some(crc64::checksum(&source[PART..])));
    client
        .complete_multipart_upload(
            "dst",
            &id,
            &[PartEtag {
                number: 1,
                etag: part.etag,
            }],
        )
        .await
        .unwrap();
    let (_, body) = client.get_object("dst", None).await.unwrap();
    assert_eq!(&body[..], &source[PART..]);
    // Past the end, or the suffix form OSS does not document for copies: InvalidArgument.
    for range in [ByteRange::From(source.len() as u64), ByteRange::Suffix(5)] {
        let err = client
            .upload_part_copy(
                "dst2",
                &client
                    .init_multipart_upload("dst2", &ObjectOptions::default())
                    .await
                    .unwrap(),
                1,
                "opencopy",
                "src",
                Some(range),
            )
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("InvalidArgument"), "{range:?}: {err}");
    }
}

#[tokio::test]
async fn list_parts_pages_over_more_than_a_thousand_parts() {
    let server = Server::start().await;
    let client = server.client("manyparts", SignatureVersion::V4).await;
    let id = client
        .init_multipart_upload("many.bin", &ObjectOptions::default())
        .await
        .unwrap();
    let results: Vec<_> = futures_util::stream::iter(1..=1005u32)
        .map(|n| {
            let client = client.clone();
            let id = id.clone();
            async move {
                client
                    .upload_part("many.bin", &id, n, Bytes::from(vec![n as u8; 1]), false)
                    .await
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(results.iter().all(Result::is_ok));

    let first = client
        .list_parts("many.bin", &id, None, None)
        .await
        .unwrap();
    assert_eq!(
        first.parts.len(),
        1000,
        "the service default page is 1000 parts"
    );
    assert!(first.is_truncated);
    assert_eq!(first.next_part_number_marker, 1000);
    let rest = client
        .list_parts("many.bin", &id, Some(first.next_part_number_marker), None)
        .await
        .unwrap();
    assert_eq!(rest.parts.len(), 5);
    assert!(!rest.is_truncated);
    assert_eq!(rest.parts[0].number, 1001);

    let page = client
        .list_parts("many.bin", &id, Some(10), Some(7))
        .await
        .unwrap();
    let numbers: Vec<u32> = page.parts.iter().map(|p| p.number).collect();
    assert_eq!(numbers, (11..=17).collect::<Vec<_>>());
    assert_eq!(page.next_part_number_marker, 17);

    let before = server.count("ListParts");
    let all: Vec<_> = client
        .list_all_parts("many.bin", &id)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all.len(), 1005);
    assert!(all
        .iter()
        .enumerate()
        .all(|(i, p)| p.number == i as u32 + 1 && p.size == 1));
    assert_eq!(
        server.count("ListParts") - before,
        2,
        "the paginator asks for 2 pages"
    );
    client
        .abort_multipart_upload("many.bin", &id)
        .await
        .unwrap();
}

#[tokio::test]
async fn list_uploads_pages_with_markers() {
    let server = Server::start().await;
    let client = server.client("uploads", SignatureVersion::V4).await;
    let keys = ["a/1", "a/2", "a/2", "b", "c/x/y", "d", "d"];
    let mut ids = Vec::new();
    for k in keys {
        let id = client
            .init_multipart_upload(k, &ObjectOptions::default())
            .await
            .unwrap();
        ids.push((k.to_owned(), id));
    }
    let page = client
        .list_uploads(&ListUploadsQuery::default().with_max_uploads(2))
        .await
        .unwrap();
    assert_eq!(page.uploads.len(), 2);
    assert!(page.is_truncated);
    assert_eq!(page.next_key_marker, page.uploads[1].key);
    assert_eq!(page.next_upload_id_marker, page.uploads[1].upload_id);
    assert!(!page.uploads[0].initiated.is_empty());
    // The second upload of "a/2" continues from the markers.
    let next = client
        .list_uploads(
            &ListUploadsQuery::default()
                .with_max_uploads(2)
                .with_key_marker(page.next_key_marker.clone())
                .with_upload_id_marker(page.next_upload_id_marker.clone()),
        )
        .await
        .unwrap();
    assert_eq!(next.uploads[0].key, "a/2");
    assert_ne!(next.uploads[0].upload_id, page.uploads[1].upload_id);

    let all: Vec<_> = client
        .list_all_uploads(ListUploadsQuery::default().with_max_uploads(2))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all.len(), 7);
    let mut listed: Vec<(String, String)> = all
        .iter()
        .map(|u| (u.key.clone(), u.upload_id.clone()))
        .collect();
    let keys_in_order: Vec<&str> = listed.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys_in_order, keys);
    listed.sort();
    ids.sort();
    assert_eq!(listed, ids);

    let rolled = client
        .list_uploads(&ListUploadsQuery::default().with_delimiter("/"))
        .await
        .unwrap();
    assert_eq!(
        rolled.common_prefixes,
        vec!["a/".to_owned(), "c/".to_owned()]
    );
    assert_eq!(rolled.uploads.len(), 3, "b and the two uploads of d");
    let only_a = client
        .list_uploads(&ListUploadsQuery::default().with_prefix("a/"))
        .await
        .unwrap();
    assert_eq!(only_a.uploads.len(), 3);
}

#[tokio::test]
async fn object_calls_put_get_head_delete_list() {
    let server = Server::start().await;
    let client = server.client("objects", SignatureVersion::V4).await;
    let data = pattern(1000, 41);
    let options = ObjectOptions::default().with_meta(vec![("k".into(), "v".into())]);
    let put = client
        .put_object("dir/o.txt", Bytes::from(data.clone()), &options)
        .await
        .unwrap();
    assert_eq!(put.crc64, Some(crc64::checksum(&data)));
    assert!(put.etag.starts_with('"'));

    let info = client.head_object("dir/o.txt").await.unwrap();
    assert_eq!(info.size, 1000);
    assert_eq!(info.etag, put.etag);
    assert_eq!(info.object_type, "Normal");
    assert!(!info.is_multipart_etag());
    assert_eq!(info.content_type.as_deref(), Some("text/plain"));
    assert_eq!(info.meta, vec![("k".into(), "v".into())]);
    assert!(info.last_modified.is_some());

    let (info, body) = client
        .get_object("dir/o.txt", Some(ByteRange::FromTo(10, 19)))
        .await
        .unwrap();
    assert_eq!(&body[..], &data[10..20]);
    assert_eq!(info.size, 1000, "the total size comes from Content-Range");
    let (_, body) = client
        .get_object("dir/o.txt", Some(ByteRange::Suffix(5)))
        .await
        .unwrap();
    assert_eq!(&body[..], &data[995..]);

    // forbid_overwrite refuses to replace it.
    let err = client
        .put_object(
            "dir/o.txt",
            Bytes::from_static(b"x"),
            &ObjectOptions::default().with_forbid_overwrite(true),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("FileAlreadyExists"), "{err}");

    for k in ["dir/p.txt", "dir/sub/q.txt", "top.txt", "z z.txt"] {
        client
            .put_object(k, Bytes::from_static(b"x"), &ObjectOptions::default())
            .await
            .unwrap();
    }
    let page = client
        .list_objects(
            &ListObjectsQuery::default()
                .with_prefix("dir/")
                .with_delimiter("/"),
        )
        .await
        .unwrap();
    let keys: Vec<&str> = page.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["dir/o.txt", "dir/p.txt"]);
    assert_eq!(page.common_prefixes, ["dir/sub/"]);
    assert_eq!(page.objects[0].size, 1000);
    assert_eq!(page.objects[0].etag, put.etag);

    let page = client
        .list_objects(&ListObjectsQuery::default().with_max_keys(2))
        .await
        .unwrap();
    assert!(page.is_truncated);
    assert_eq!(page.next_marker.as_deref(), Some("dir/p.txt"));
    let all: Vec<String> = client
        .list_all_objects(ListObjectsQuery::default().with_max_keys(2))
        .map_ok(|o| o.key)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        all,
        [
            "dir/o.txt",
            "dir/p.txt",
            "dir/sub/q.txt",
            "top.txt",
            "z z.txt"
        ]
    );

    client.delete_object("dir/o.txt").await.unwrap();
    client.delete_object("dir/o.txt").await.unwrap();
    let err = client.head_object("dir/o.txt").await.unwrap_err();
    assert!(
        matches!(&err, Error::Service { status: 404, code, .. } if code == "NoSuchKey"),
        "{err}"
    );
    assert!(client.object_exists("dir/o.txt").await.unwrap().is_none());
    let err = client.get_object("dir/o.txt", None).await.unwrap_err();
    match &err {
        Error::Service {
            code, request_id, ..
        } => {
            assert_eq!(code, "NoSuchKey");
            assert!(!request_id.is_empty());
        }
        e => panic!("{e:?}"),
    }
    assert!(client
        .list_buckets()
        .await
        .unwrap()
        .contains(&"objects".to_owned()));
}

#[tokio::test]
async fn timeouts_and_connect_failures_are_typed() {
    let silent = SilentListener::start().await;
    let mut config = Config::new(silent.endpoint(), "cn-hangzhou", "bkt", credentials());
    config.request_timeout = Duration::from_millis(200);
    config.retry = RetryPolicy::none();
    let client = Client::new(config).unwrap();
    let started = Instant::now();
    let err = client.head_object("k").await.unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(err.is_retryable());
    assert!(matches!(&err, Error::Timeout { after, .. } if *after == Duration::from_millis(200)));
    assert!(started.elapsed() < Duration::from_secs(5));

    let mut config = Config::new(closed_endpoint().await, "cn-hangzhou", "bkt", credentials());
    config.retry = RetryPolicy::none();
    let err = Client::new(config)
        .unwrap()
        .head_object("k")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Transport { message, .. } if message.contains("cannot connect")),
        "{err:?}"
    );
    // The reqwest error is kept as the source, not flattened into the message.
    let source = std::error::Error::source(&err).expect("a transport error keeps its cause");
    assert!(source.is::<reqwest::Error>(), "{source:?}");
    assert!(err.is_retryable());
    assert!(!err.is_timeout());
}

fn is_put_object(r: &crate::support::SeenRequest) -> bool {
    r.method == "PUT" && !r.target.contains('?') && r.target.matches('/').count() > 1
}

#[tokio::test]
async fn service_unavailable_is_retried_then_given_up() {
    let server = Server::start().await;
    let proxy = FaultProxy::start(server.addr()).await.unwrap();
    let mut config = server.config("retry503");
    config.endpoint = proxy.endpoint();
    config.retry = RetryPolicy::default()
        .with_max_retries(2)
        .with_base_delay(Duration::from_millis(10))
        .with_max_delay(Duration::from_millis(50));
    let client = client_for(config).await;

    // Two 503s, then the real server: the call succeeds on the third attempt.
    proxy.fail(is_put_object, 2, 503, "ServiceUnavailable");
    client
        .put_object("k", Bytes::from_static(b"hello"), &ObjectOptions::default())
        .await
        .unwrap();
    assert_eq!(proxy.faults_served(), 2);
    assert_eq!(server.count("PutObject"), 1);
    let (_, body) = client.get_object("k", None).await.unwrap();
    assert_eq!(&body[..], b"hello");

    // Three 503s exceed two retries: the error is the service's, classified retryable.
    proxy.fail(is_put_object, 3, 503, "ServiceUnavailable");
    let err = client
        .put_object("k2", Bytes::from_static(b"x"), &ObjectOptions::default())
        .await
        .unwrap_err();
    match &err {
        Error::Service {
            status,
            code,
            request_id,
            ..
        } => {
            assert_eq!(
                (*status, code.as_str(), request_id.starts_with("FAULTPROXY")),
                (503, "ServiceUnavailable", true)
            );
        }
        e => panic!("{e:?}"),
    }
    assert!(err.is_retryable());
    assert_eq!(proxy.faults_served(), 5);
    assert_eq!(server.count("PutObject"), 1);

    // SlowDown is throttling: retried too. A 403 is not.
    proxy.fail(is_put_object, 1, 503, "SlowDown");
    client
        .put_object("k3", Bytes::from_static(b"x"), &ObjectOptions::default())
        .await
        .unwrap();
    proxy.fail(is_put_object, 1, 403, "AccessDenied");
    let err = client
        .put_object("k4", Bytes::from_static(b"x"), &ObjectOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AccessDenied"));
    assert!(!err.is_retryable());
    assert_eq!(server.count("PutObject"), 2);
}

/// The same calls in every dialect: put, get, list, a managed multipart upload, delete.
async fn conformance(client: &Client, label: &str) {
    let data = pattern(2 * PART + 3, label.len());
    client
        .put_object(
            "conf/put.bin",
            Bytes::from(data.clone()),
            &ObjectOptions::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("{label}: put: {e}"));
    assert_object(client, "conf/put.bin", &data).await;
    let options = UploadOptions::default().with_part_size(PART as u64);
    let out = client
        .multipart_upload("conf/multi bin+é.bin", Bytes::from(data.clone()), options)
        .await
        .unwrap_or_else(|e| panic!("{label}: multipart: {e}"));
    assert_eq!(out.parts_sent, 3);
    assert_object(client, "conf/multi bin+é.bin", &data).await;
    let keys: Vec<String> = client
        .list_all_objects(ListObjectsQuery::default().with_prefix("conf/"))
        .map_ok(|o| o.key)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(keys, ["conf/multi bin+é.bin", "conf/put.bin"], "{label}");
    // A presigned GET works without the SDK.
    let url = client.presign(
        reqwest::Method::GET,
        "conf/put.bin",
        Duration::from_secs(60),
    );
    let body = reqwest::get(&url).await.unwrap();
    assert_eq!(body.status(), 200, "{label}: presigned {url}");
    assert_eq!(&body.bytes().await.unwrap()[..], &data[..]);
    for k in keys {
        client.delete_object(&k).await.unwrap();
    }
    client
        .delete_bucket()
        .await
        .unwrap_or_else(|e| panic!("{label}: {e}"));
}

#[tokio::test]
async fn v1_v4_sts_and_path_style_all_work() {
    let server = Server::start().await;
    let port = server.addr().port();
    for sig in [SignatureVersion::V4, SignatureVersion::V1] {
        for (name, creds) in [("static", credentials()), ("sts", sts_credentials())] {
            let bucket = format!("conf-{name}-{sig:?}").to_ascii_lowercase();
            let mut config = Config::new(server.endpoint(), "oss-cn-hangzhou", &bucket, creds);
            config.signature = sig;
            conformance(&client_for(config).await, &bucket).await;
        }
        // Explicit path-style addressing on a host name.
        let bucket = format!("conf-path-{sig:?}").to_ascii_lowercase();
        let mut config = Config::new(
            format!("http://localhost:{port}"),
            "cn-hangzhou",
            &bucket,
            credentials(),
        );
        config.signature = sig;
        config.addressing = Addressing::PathStyle;
        conformance(&client_for(config).await, &bucket).await;
    }

    // What the server must refuse: an STS key without its token, a wrong secret.
    for sig in [SignatureVersion::V4, SignatureVersion::V1] {
        let mut no_token = sts_credentials();
        no_token.security_token = None;
        let mut config = Config::new(server.endpoint(), "cn-hangzhou", "any", no_token);
        config.signature = sig;
        let err = Client::new(config)
            .unwrap()
            .create_bucket()
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("InvalidAccessKeyId"), "{err}");
        let mut wrong = credentials();
        wrong.access_key_secret = "not-the-secret".into();
        let mut config = Config::new(server.endpoint(), "cn-hangzhou", "any", wrong);
        config.signature = sig;
        let err = Client::new(config)
            .unwrap()
            .create_bucket()
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Service { status: 403, code, .. } if code == "SignatureDoesNotMatch"),
            "{err}"
        );
        assert!(!err.is_retryable());
    }
}

#[tokio::test]
async fn abort_whose_answer_was_lost_still_succeeds() {
    use osspart_testkit::{Cut, Fault, FaultRule, Phase};
    let server = Server::start().await;
    let proxy = FaultProxy::start(server.addr()).await.unwrap();
    let mut config = server.config("abortlost");
    config.endpoint = proxy.endpoint();
    config.retry = RetryPolicy::default()
        .with_max_retries(2)
        .with_base_delay(Duration::from_millis(10))
        .with_max_delay(Duration::from_millis(50));
    let client = client_for(config).await;
    let id = client
        .init_multipart_upload("k", &ObjectOptions::default())
        .await
        .unwrap();
    // The server aborts the upload, but its answer is cut off on the way back.
    proxy.add(
        FaultRule::new(Fault::Reset {
            phase: Phase::Response,
            after: Cut::AfterBytes(5),
        })
        .when(|r| r.method == "DELETE")
        .times(1),
    );
    client.abort_multipart_upload("k", &id).await.unwrap();
    assert_eq!(server.count("AbortMultipartUpload"), 1);
    let err = client.list_parts("k", &id, None, None).await.unwrap_err();
    assert_eq!(err.code(), Some("NoSuchUpload"));
    // A plain abort of an unknown upload is still an error.
    let err = client.abort_multipart_upload("k", &id).await.unwrap_err();
    assert_eq!(err.code(), Some("NoSuchUpload"));
}

#[tokio::test]
async fn get_object_acl_reports_what_the_object_was_written_with() {
    let server = Server::start().await;
    for sig in [SignatureVersion::V1, SignatureVersion::V4] {
        let client = server.client("acls", sig).await;
        let public = ObjectOptions::default()
            .with_headers(vec![("x-oss-object-acl".into(), "public-read".into())]);
        client
            .put_object("public", Bytes::from_static(b"p"), &public)
            .await
            .unwrap();
        client
            .put_object("plain", Bytes::from_static(b"q"), &ObjectOptions::default())
            .await
            .unwrap();
        assert_eq!(
            client.get_object_acl("public").await.unwrap(),
            "public-read"
        );
        assert_eq!(client.get_object_acl("plain").await.unwrap(), "default");
        let err = client.get_object_acl("missing").await.unwrap_err();
        assert_eq!(err.code(), Some("NoSuchKey"), "{err}");
    }
}

#[tokio::test]
async fn acls_and_tags_round_trip_in_both_dialects() {
    use osspart_protocol::attributes::{Acl, TagSet};
    let server = Server::start().await;
    for sig in [SignatureVersion::V1, SignatureVersion::V4] {
        let bucket = format!("attrs-{sig:?}").to_ascii_lowercase();
        let client = server.client(&bucket, sig).await;
        assert_eq!(client.get_bucket_acl().await.unwrap(), Acl::Private);
        client.put_bucket_acl(Acl::PublicRead).await.unwrap();
        assert_eq!(client.get_bucket_acl().await.unwrap(), Acl::PublicRead);
        let err = client.put_bucket_acl(Acl::Default).await.unwrap_err();
        assert_eq!(err.code(), Some("InvalidArgument"), "{err}");
        client.put_bucket_acl(Acl::Private).await.unwrap();

        client
            .put_object("k", Bytes::from_static(b"v"), &ObjectOptions::default())
            .await
            .unwrap();
        client
            .put_object_acl("k", Acl::PublicReadWrite)
            .await
            .unwrap();
        assert_eq!(
            client.get_object_acl("k").await.unwrap(),
            "public-read-write"
        );
        client.put_object_acl("k", Acl::Default).await.unwrap();
        assert_eq!(client.get_object_acl("k").await.unwrap(), "default");
        let err = client
            .put_object_acl("missing", Acl::Private)
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("NoSuchKey"), "{err}");

        assert!(client.get_object_tagging("k").await.unwrap().is_empty());
        let tags = TagSet::new(vec![
            ("team".into(), "storage".into()),
            ("note".into(), "a b+c=d:/".into()),
        ])
        .unwrap();
        client.put_object_tagging("k", &tags).await.unwrap();
        let got = client.get_object_tagging("k").await.unwrap();
        let mut got_pairs = got.tags().to_vec();
        let mut want = tags.tags().to_vec();
        got_pairs.sort();
        want.sort();
        assert_eq!(got_pairs, want);
        let head = client.head_object("k").await.unwrap();
        assert_eq!(
            head.response.header("x-oss-tagging-count"),
            Some("2"),
            "{sig:?}"
        );
        client.delete_object_tagging("k").await.unwrap();
        assert!(client.get_object_tagging("k").await.unwrap().is_empty());
        let err = client.get_object_tagging("missing").await.unwrap_err();
        assert_eq!(err.code(), Some("NoSuchKey"), "{err}");
    }
}

#[tokio::test]
async fn appends_return_the_next_position() {
    let server = Server::start().await;
    for sig in [SignatureVersion::V1, SignatureVersion::V4] {
        let bucket = format!("appends-{sig:?}").to_ascii_lowercase();
        let client = server.client(&bucket, sig).await;
        let (a, b) = (pattern(3000, 1), pattern(PART + 7, 2));
        let next = client
            .append_object("log", 0, Bytes::from(a.clone()))
            .await
            .unwrap();
        assert_eq!(next, 3000);
        let next = client
            .append_object("log", next, Bytes::from(b.clone()))
            .await
            .unwrap();
        assert_eq!(next, (3000 + PART + 7) as u64);
        let whole = [a, b].concat();
        let (info, body) = client.get_object("log", None).await.unwrap();
        assert_eq!(&body[..], &whole[..]);
        assert_eq!(info.crc64, Some(crc64::checksum(&whole)));

        let err = client
            .append_object("log", 5, Bytes::from_static(b"x"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("PositionNotEqualToLength"), "{err}");
        client
            .put_object("plain", Bytes::from_static(b"n"), &ObjectOptions::default())
            .await
            .unwrap();
        let err = client
            .append_object("plain", 1, Bytes::from_static(b"x"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("ObjectNotAppendable"), "{err}");
    }
}
