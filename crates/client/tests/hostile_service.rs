//! The client facing a broken or malicious service: a stand-in on loopback answers each
//! request with whatever a test scripts (endless paging, bodies that never end, a clock
//! from the far future, redirects), and the client must end with a clear error, never loop,
//! buffer without bound or panic.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::TryStreamExt;
use osspart::{Client, Config, Error, ListObjectsQuery, ListUploadsQuery, RetryPolicy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::support::credentials;

/// What the stand-in sends for one request: the raw head (status line and headers, without
/// the blank line) and a body writer.
type Script = Arc<dyn Fn(&str) -> Answer + Send + Sync>;

enum Answer {
    /// A whole response with this status, extra headers and body.
    Whole(u16, Vec<(&'static str, String)>, Vec<u8>),
    /// Headers promising `declared` bytes, then `sent` bytes of filler, then the connection
    /// stays open (the client must not wait for the rest).
    Promise { declared: u64, sent: usize },
    /// A chunked body of filler that never ends.
    Endless,
    /// An answer to HEAD: an object of `declared` bytes, no body.
    Head { declared: u64 },
}

/// A loopback HTTP/1.1 service answering every request by `script(request target)`.
struct StandIn {
    addr: std::net::SocketAddr,
    requests: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl StandIn {
    async fn start(script: impl Fn(&str) -> Answer + Send + Sync + 'static) -> StandIn {
        let script: Script = Arc::new(script);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(serve(conn, script.clone(), counter.clone()));
            }
        });
        StandIn {
            addr,
            requests,
            task,
        }
    }

    fn client(&self, bucket: &str) -> Client {
        let mut config = Config::new(
            format!("http://{}", self.addr),
            "cn-hangzhou",
            bucket,
            credentials(),
        );
        config.retry = RetryPolicy::default()
            .with_max_retries(1)
            .with_base_delay(Duration::from_millis(1))
            .with_max_delay(Duration::from_millis(5));
        config.request_timeout = Duration::from_secs(20);
        Client::new(config).unwrap()
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }
}

async fn serve(mut conn: TcpStream, script: Script, requests: Arc<AtomicUsize>) {
    let mut buf = Vec::new();
    loop {
        // Read one request head (the client sends no bodies in these tests).
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            match conn.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        buf.drain(..head_end);
        requests.fetch_add(1, Ordering::Relaxed);
        let target = head.split(' ').nth(1).unwrap_or("/").to_owned();
        let ok = match script(&target) {
            Answer::Whole(status, headers, body) => {
                let mut out = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\n", body.len());
                for (n, v) in headers {
                    out.push_str(&format!("{n}: {v}\r\n"));
                }
                out.push_str("\r\n");
                let mut bytes = out.into_bytes();
                bytes.extend_from_slice(&body);
                conn.write_all(&bytes).await.is_ok()
            }
            Answer::Promise { declared, sent } => {
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {declared}\r\n\r\n");
                let _ = conn.write_all(head.as_bytes()).await;
                let _ = conn.write_all(&vec![b'x'; sent]).await;
                // Hold the connection until the client gives up on it.
                let _ = conn.read(&mut [0u8; 1]).await;
                return;
            }
            Answer::Head { declared } => {
                let head =
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {declared}\r\nETag: \"e\"\r\n\r\n");
                conn.write_all(head.as_bytes()).await.is_ok()
            }
            Answer::Endless => {
                let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
                if conn.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = format!("{:x}\r\n{}\r\n", 1 << 20, "x".repeat(1 << 20));
                while conn.write_all(chunk.as_bytes()).await.is_ok() {}
                return;
            }
        };
        if !ok {
            return;
        }
    }
}

fn xml(status: u16, body: String) -> Answer {
    Answer::Whole(
        status,
        vec![("Content-Type", "application/xml".to_owned())],
        body.into_bytes(),
    )
}

/// The error a paginator ends with (it must end, within seconds).
async fn paging_error<T>(pages: impl futures_util::Stream<Item = osspart::Result<T>>) -> Error {
    tokio::time::timeout(Duration::from_secs(10), pages.try_collect::<Vec<_>>())
        .await
        .expect("the paginator must stop")
        .err()
        .expect("an endless listing is an error")
}

#[tokio::test]
async fn a_listing_whose_marker_never_advances_ends_with_an_error() {
    let service = StandIn::start(|_| {
        xml(
            200,
            "<?xml version=\"1.0\"?><ListBucketResult><Name>bkt1</Name><Prefix></Prefix>\
             <Marker></Marker><MaxKeys>1</MaxKeys><Delimiter></Delimiter>\
             <IsTruncated>true</IsTruncated><NextMarker>a</NextMarker>\
             <Contents><Key>a</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified>\
             <ETag>\"x\"</ETag><Type>Normal</Type><Size>1</Size>\
             <StorageClass>Standard</StorageClass></Contents></ListBucketResult>"
                .to_owned(),
        )
    })
    .await;
    let client = service.client("bkt1");
    let err = paging_error(client.list_all_objects(ListObjectsQuery::default())).await;
    assert!(matches!(err, Error::Protocol(_)), "{err:?}");
    assert!(err.to_string().contains("does not move past"), "{err}");
    assert_eq!(service.requests(), 2, "the second page gave it away");
}

#[tokio::test]
async fn an_upload_listing_that_repeats_a_page_ends_with_an_error() {
    let service = StandIn::start(|_| {
        xml(
            200,
            "<?xml version=\"1.0\"?><ListMultipartUploadsResult><Bucket>bkt1</Bucket>\
             <KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker>\
             <NextKeyMarker>k</NextKeyMarker><NextUploadIdMarker>U1</NextUploadIdMarker>\
             <Delimiter></Delimiter><Prefix></Prefix><MaxUploads>1</MaxUploads>\
             <IsTruncated>true</IsTruncated><Upload><Key>k</Key><UploadId>U1</UploadId>\
             <Initiated>2026-01-01T00:00:00.000Z</Initiated></Upload>\
             </ListMultipartUploadsResult>"
                .to_owned(),
        )
    })
    .await;
    let client = service.client("bkt1");
    let err = paging_error(client.list_all_uploads(ListUploadsQuery::default())).await;
    assert!(matches!(err, Error::Protocol(_)), "{err:?}");
    assert!(service.requests() <= 3, "{}", service.requests());
}

#[tokio::test]
async fn an_answer_longer_than_any_listing_is_refused_not_buffered() {
    // Declared: refused on the headers, before a byte of the body is awaited.
    let service = StandIn::start(|_| Answer::Promise {
        declared: 8 << 30,
        sent: 1000,
    })
    .await;
    let client = service.client("bkt1");
    let err = tokio::time::timeout(
        Duration::from_secs(10),
        client.list_objects(&ListObjectsQuery::default()),
    )
    .await
    .expect("refused at once")
    .unwrap_err();
    assert!(matches!(err, Error::Protocol(_)), "{err:?}");
    assert!(err.to_string().contains("longer than"), "{err}");

    // Undeclared (chunked, endless): refused once the bound is passed.
    let service = StandIn::start(|_| Answer::Endless).await;
    let client = service.client("bkt1");
    let err = tokio::time::timeout(
        Duration::from_secs(15),
        client.list_objects(&ListObjectsQuery::default()),
    )
    .await
    .expect("refused after the bound")
    .unwrap_err();
    assert!(matches!(err, Error::Protocol(_)), "{err:?}");
    assert_eq!(service.requests(), 1, "a hostile answer is not retried");
}

#[tokio::test]
async fn a_head_answer_declares_the_object_length_not_a_body() {
    let service = StandIn::start(|_| Answer::Head { declared: 8 << 30 }).await;
    let info = service.client("bkt1").head_object("big").await.unwrap();
    assert_eq!(info.size, 8 << 30);
}

#[tokio::test]
async fn a_server_clock_from_the_far_future_is_not_adopted() {
    let service = StandIn::start(|_| {
        xml(
            403,
            "<?xml version=\"1.0\"?><Error><Code>RequestTimeTooSkewed</Code>\
             <Message>skewed</Message><RequestId>R</RequestId><HostId>h</HostId>\
             <ServerTime>9999-12-31T23:59:59.000Z</ServerTime></Error>"
                .to_owned(),
        )
    })
    .await;
    let client = service.client("bkt1");
    for _ in 0..2 {
        let err = client
            .list_objects(&ListObjectsQuery::default())
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("RequestTimeTooSkewed"), "{err:?}");
    }
    // Neither the answer nor the next request re-signed with a far-off clock.
    assert_eq!(service.requests(), 2);
    let url = client.presign(osspart::Method::GET, "k", Duration::from_secs(60));
    let year = time::OffsetDateTime::now_utc().year();
    assert!(url.contains(&format!("x-oss-date={year}")), "{url}");
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let elsewhere = StandIn::start(|_| xml(200, String::new())).await;
    let location = format!("http://{}/stolen", elsewhere.addr);
    let service = StandIn::start(move |_| {
        Answer::Whole(302, vec![("Location", location.clone())], Vec::new())
    })
    .await;
    let client = service.client("bkt1");
    let err = client.head_object("k").await.unwrap_err();
    assert!(matches!(err, Error::Service { status: 302, .. }), "{err:?}");
    assert_eq!(
        elsewhere.requests(),
        0,
        "no request, and no key, went elsewhere"
    );
}

#[tokio::test]
async fn a_bucket_name_that_would_change_the_host_is_refused_before_sending() {
    let service = StandIn::start(|_| xml(200, String::new())).await;
    for bucket in ["evil.example/", "a/b", "UPPER", "x"] {
        let err = service.client(bucket).head_object("k").await.unwrap_err();
        assert!(
            matches!(err, Error::InvalidArgument(_)),
            "{bucket}: {err:?}"
        );
    }
    assert_eq!(service.requests(), 0);
}
