//! The load generator's HTTP side: V4-signed OSS requests over kept-alive hyper 1 HTTP/1.1
//! connections, one request at a time per connection, bodies sent as `Full<Bytes>`.
//!
//! Kept deliberately lean (no pool, no retries, no body hashing) so the client costs as
//! little CPU as possible next to the server it measures.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use anyhow::{bail, ensure, Context};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper::{HeaderMap, Request, StatusCode};
use hyper_util::rt::TokioIo;
use osspart_protocol::encoding::{encode_component, encode_path};
use osspart_protocol::sign::{v4, Credentials, RequestParts, UNSIGNED_PAYLOAD};
use osspart_protocol::xml::multipart::{
    CompleteMultipartUpload, CompletePart, InitiateMultipartUploadResult,
};
use osspart_protocol::{crc64, xml};
use time::OffsetDateTime;
use tokio::net::TcpStream;

/// Where requests go and who signs them.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Server address.
    pub addr: SocketAddr,
    /// Key pair the requests are signed with.
    pub credentials: Credentials,
    /// Region named in the V4 scope.
    pub region: String,
}

/// One OSS request before signing. `bucket`/`key` are decoded; the query is decoded and in
/// the order it will be sent.
#[derive(Debug, Clone)]
pub struct OssRequest {
    /// HTTP method.
    pub method: &'static str,
    /// Bucket, path-style.
    pub bucket: String,
    /// Object key, if the request names one.
    pub key: Option<String>,
    /// Query parameters; an empty value is sent as a bare name (`?uploads`).
    pub query: Vec<(String, String)>,
    /// Body, sent whole with a Content-Length.
    pub body: Bytes,
}

/// What came back.
#[derive(Debug)]
pub struct OssResponse {
    /// Status code.
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

impl OssResponse {
    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Fails unless the status is 200, quoting the body (an OSS error document).
    pub fn expect_ok(self, what: &str) -> anyhow::Result<OssResponse> {
        if self.status != StatusCode::OK {
            bail!(
                "{what}: HTTP {} {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            );
        }
        Ok(self)
    }
}

/// One kept-alive connection to the server.
pub struct Connection {
    endpoint: Arc<Endpoint>,
    sender: http1::SendRequest<Full<Bytes>>,
    host: String,
}

impl Connection {
    /// Connects and starts the connection's I/O task on the current runtime.
    pub async fn open(endpoint: Arc<Endpoint>) -> anyhow::Result<Connection> {
        let stream = TcpStream::connect(endpoint.addr)
            .await
            .with_context(|| format!("cannot connect to {}", endpoint.addr))?;
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                eprintln!("connection error: {e}");
            }
        });
        let host = endpoint.addr.to_string();
        Ok(Connection {
            endpoint,
            sender,
            host,
        })
    }

    /// Signs `req` (V4, `UNSIGNED-PAYLOAD`) and sends it.
    pub async fn send(&mut self, req: OssRequest) -> anyhow::Result<OssResponse> {
        let http_req = self.build(req)?;
        self.sender.ready().await?;
        let resp = self.sender.send_request(http_req).await?;
        let (head, body) = resp.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok(OssResponse {
            status: head.status,
            headers: head.headers,
            body,
        })
    }

    fn build(&self, req: OssRequest) -> anyhow::Result<Request<Full<Bytes>>> {
        let unsigned = [(
            "x-oss-content-sha256".to_owned(),
            UNSIGNED_PAYLOAD.to_owned(),
        )];
        let parts = RequestParts {
            method: req.method,
            bucket: Some(&req.bucket),
            key: req.key.as_deref(),
            query: &req.query,
            headers: &unsigned,
        };
        let signed = v4::sign_headers(
            &parts,
            &self.endpoint.credentials,
            &self.endpoint.region,
            OffsetDateTime::now_utc(),
            &[],
        );

        let mut target = format!("/{}/", req.bucket);
        if let Some(key) = &req.key {
            target.push_str(&encode_path(key));
        }
        for (i, (name, value)) in req.query.iter().enumerate() {
            target.push(if i == 0 { '?' } else { '&' });
            target.push_str(&encode_component(name));
            if !value.is_empty() {
                target.push('=');
                target.push_str(&encode_component(value));
            }
        }
        let mut builder = Request::builder()
            .method(req.method)
            .uri(target)
            .header(hyper::header::HOST, &self.host)
            .header(hyper::header::CONTENT_LENGTH, req.body.len());
        // `signed` carries x-oss-date, x-oss-content-sha256 and Authorization.
        for (name, value) in &signed {
            builder = builder.header(name.as_str(), value.as_str());
        }
        Ok(builder.body(Full::new(req.body))?)
    }
}

/// Opens `n` connections.
pub async fn open_connections(
    endpoint: &Arc<Endpoint>,
    n: usize,
) -> anyhow::Result<Vec<Connection>> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(Connection::open(endpoint.clone()).await?);
    }
    Ok(out)
}

/// Creates a bucket.
pub async fn create_bucket(conn: &mut Connection, bucket: &str) -> anyhow::Result<()> {
    conn.send(OssRequest {
        method: "PUT",
        bucket: bucket.into(),
        key: None,
        query: Vec::new(),
        body: Bytes::new(),
    })
    .await?
    .expect_ok("PutBucket")?;
    Ok(())
}

/// Starts a multipart upload and returns its upload id.
pub async fn initiate(conn: &mut Connection, bucket: &str, key: &str) -> anyhow::Result<String> {
    let resp = conn
        .send(OssRequest {
            method: "POST",
            bucket: bucket.into(),
            key: Some(key.into()),
            query: vec![("uploads".into(), String::new())],
            body: Bytes::new(),
        })
        .await?
        .expect_ok("InitiateMultipartUpload")?;
    let result: InitiateMultipartUploadResult = xml::from_xml(&resp.body)?;
    Ok(result.upload_id)
}

/// An uploaded part as the server acknowledged it.
#[derive(Debug, Clone)]
pub struct UploadedPart {
    /// Part number.
    pub number: u32,
    /// ETag from the response, quoted.
    pub etag: String,
    /// `x-oss-hash-crc64ecma` from the response.
    pub crc64: u64,
}

/// The multipart upload a batch of parts goes to.
#[derive(Debug, Clone)]
pub struct UploadTarget {
    /// Bucket.
    pub bucket: String,
    /// Object key.
    pub key: String,
    /// Upload id from [`initiate`].
    pub upload_id: String,
}

/// Uploads parts `1..=count` over `conns` (one request in flight per connection), taking
/// each part's body from `body_of`. Checks every answer is 200 with an ETag and a CRC-64
/// equal to `crc_of(number)`. Returns the connections, for reuse, and the parts in number
/// order.
pub async fn upload_parts(
    conns: Vec<Connection>,
    target: &UploadTarget,
    count: u32,
    body_of: Arc<dyn Fn(u32) -> Bytes + Send + Sync>,
    crc_of: Arc<dyn Fn(u32) -> u64 + Send + Sync>,
) -> anyhow::Result<(Vec<Connection>, Vec<UploadedPart>)> {
    let next = Arc::new(AtomicU32::new(1));
    let mut tasks = Vec::with_capacity(conns.len());
    for conn in conns {
        let (next, target, body_of, crc_of) = (
            next.clone(),
            target.clone(),
            body_of.clone(),
            crc_of.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut conn = conn;
            let mut done = Vec::new();
            loop {
                let number = next.fetch_add(1, Ordering::Relaxed);
                if number > count {
                    return Ok::<_, anyhow::Error>((conn, done));
                }
                let resp = conn
                    .send(OssRequest {
                        method: "PUT",
                        bucket: target.bucket.clone(),
                        key: Some(target.key.clone()),
                        query: vec![
                            ("partNumber".into(), number.to_string()),
                            ("uploadId".into(), target.upload_id.clone()),
                        ],
                        body: body_of(number),
                    })
                    .await?
                    .expect_ok("UploadPart")?;
                let etag = resp
                    .header("etag")
                    .with_context(|| format!("UploadPart {number}: no ETag"))?
                    .to_owned();
                let crc = resp
                    .header("x-oss-hash-crc64ecma")
                    .and_then(crc64::parse)
                    .with_context(|| format!("UploadPart {number}: no CRC-64"))?;
                ensure!(
                    crc == crc_of(number),
                    "UploadPart {number}: server CRC-64 {crc} differs from the local one"
                );
                done.push(UploadedPart {
                    number,
                    etag,
                    crc64: crc,
                });
            }
        }));
    }
    let mut parts = Vec::with_capacity(count as usize);
    let mut returned = Vec::with_capacity(tasks.len());
    for task in tasks {
        let (conn, done) = task.await??;
        returned.push(conn);
        parts.extend(done);
    }
    parts.sort_by_key(|p| p.number);
    Ok((returned, parts))
}

/// A prepared CompleteMultipartUpload listing `parts` in order (built ahead of timing).
pub fn complete_request(target: &UploadTarget, parts: &[UploadedPart]) -> OssRequest {
    let doc = CompleteMultipartUpload {
        parts: parts
            .iter()
            .map(|p| CompletePart {
                part_number: p.number,
                etag: osspart_protocol::etag::unquote(&p.etag).to_owned(),
            })
            .collect(),
    };
    OssRequest {
        method: "POST",
        bucket: target.bucket.clone(),
        key: Some(target.key.clone()),
        query: vec![("uploadId".into(), target.upload_id.clone())],
        body: Bytes::from(xml::to_xml(&doc)),
    }
}

/// What CompleteMultipartUpload answered.
#[derive(Debug)]
pub struct Completed {
    /// The object's ETag (`"<HEX>-<N>"`).
    pub etag: String,
    /// The object's CRC-64 from `x-oss-hash-crc64ecma`.
    pub crc64: u64,
}

/// Reads a CompleteMultipartUpload answer.
pub fn completed(resp: OssResponse) -> anyhow::Result<Completed> {
    let resp = resp.expect_ok("CompleteMultipartUpload")?;
    let crc64 = resp
        .header("x-oss-hash-crc64ecma")
        .and_then(crc64::parse)
        .context("CompleteMultipartUpload: no x-oss-hash-crc64ecma")?;
    let etag = resp
        .header("etag")
        .context("CompleteMultipartUpload: no ETag")?
        .to_owned();
    Ok(Completed { etag, crc64 })
}
