//! Test support: an in-process server on a free loopback port over a temporary data dir, and a
//! small blocking HTTP/1.1 client that signs with the protocol crate and can also send
//! deliberately broken requests (short bodies, bad headers).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use osspart_protocol::encoding::{encode_path, encode_query};
use osspart_protocol::sign::{v1, v4, Credentials, RequestParts};
use osspart_server::{RunningServer, ServerConfig};
use time::OffsetDateTime;

/// AccessKeyId the test servers accept.
pub const KEY_ID: &str = "test-id";
/// Its secret.
pub const SECRET: &str = "test-secret";

/// A server running on its own runtime thread.
pub struct TestServer {
    pub addr: SocketAddr,
    pub dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    /// A server on a fresh temporary data dir.
    pub fn start() -> TestServer {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_owned();
        let mut s = TestServer::start_on(&dir);
        s._tmp = Some(tmp);
        s
    }

    /// A server on a fresh temporary data dir, with `configure` applied to its configuration
    /// (after the default test credentials are added).
    pub fn start_with(configure: impl FnOnce(&mut ServerConfig) + Send + 'static) -> TestServer {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_owned();
        let mut s = TestServer::start_configured(&dir, configure);
        s._tmp = Some(tmp);
        s
    }

    /// A server on `dir` (which may hold data from an earlier server).
    pub fn start_on(dir: &Path) -> TestServer {
        TestServer::start_configured(dir, |_| {})
    }

    fn start_configured(
        dir: &Path,
        configure: impl FnOnce(&mut ServerConfig) + Send + 'static,
    ) -> TestServer {
        let mut config = ServerConfig::new(dir, "127.0.0.1:0".parse().unwrap());
        config.credentials.push(Credentials {
            access_key_id: KEY_ID.into(),
            access_key_secret: SECRET.into(),
            security_token: None,
        });
        configure(&mut config);
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let server = RunningServer::start(config).await.unwrap();
                addr_tx.send(server.local_addr()).unwrap();
                let _ = stop_rx.await;
                server.shutdown().await;
            });
        });
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("server did not start");
        TestServer {
            addr,
            dir: dir.to_owned(),
            _tmp: None,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// Stops the server and returns its data dir (kept alive by the returned guard).
    pub fn stop(mut self) -> (PathBuf, Option<tempfile::TempDir>) {
        self.halt();
        (self.dir.clone(), self._tmp.take())
    }

    fn halt(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// A request builder for this server.
    pub fn req(&self, method: &str, bucket: Option<&str>, key: Option<&str>) -> Req {
        Req {
            addr: self.addr,
            method: method.into(),
            bucket: bucket.map(Into::into),
            key: key.map(Into::into),
            query: Vec::new(),
            headers: Vec::new(),
            body: Vec::new(),
            sign: Sign::V4,
            key_id: KEY_ID.into(),
            secret: SECRET.into(),
            token: None,
            now: None,
        }
    }

    /// InitiateMultipartUpload of `key`; returns the upload id.
    pub fn initiate(&self, bucket: &str, key: &str) -> String {
        let r = self
            .req("POST", Some(bucket), Some(key))
            .query("uploads", "")
            .send();
        assert_eq!(r.status, 200, "initiate {key}: {}", r.text());
        between_all(&r.text(), "<UploadId>", "</UploadId>").remove(0)
    }

    /// Fills `bucket` (created here) with object `existing` (`existing_len` bytes) and upload
    /// `big` holding one 200,000-byte part; returns that upload's id.
    pub fn seed(&self, bucket: &str, existing_len: usize) -> String {
        self.create_bucket(bucket);
        let r = self
            .req("PUT", Some(bucket), Some("existing"))
            .body(pattern(existing_len, 1))
            .send();
        assert_eq!(r.status, 200);
        let id = self.initiate(bucket, "big");
        let r = self
            .req("PUT", Some(bucket), Some("big"))
            .query("partNumber", "1")
            .query("uploadId", &id)
            .body(pattern(200_000, 2))
            .send();
        assert_eq!(r.status, 200);
        id
    }

    /// Creates a bucket, asserting success.
    pub fn create_bucket(&self, bucket: &str) {
        let r = self.req("PUT", Some(bucket), None).send();
        assert_eq!(r.status, 200, "create bucket {bucket}: {}", r.text());
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.halt();
    }
}

/// How a request is signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sign {
    None,
    V1,
    V4,
    /// V1 presigned URL valid until the given unix time.
    PresignV1(i64),
    /// V4 presigned URL valid for the given seconds from the signing time.
    PresignV4(i64),
}

/// A request under construction.
pub struct Req {
    addr: SocketAddr,
    method: String,
    bucket: Option<String>,
    key: Option<String>,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    sign: Sign,
    key_id: String,
    secret: String,
    token: Option<String>,
    now: Option<OffsetDateTime>,
}

/// A signed request as it goes on the wire, open to tampering before it is sent.
#[derive(Debug, Clone)]
pub struct Wire {
    pub addr: SocketAddr,
    pub method: String,
    /// Request target: path and query, already encoded.
    pub target: String,
    /// Headers besides `Host`, `Content-Length` and `Connection`, which [`Wire::to_bytes`] adds.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Wire {
    /// Removes every header of this name.
    pub fn without(mut self, name: &str) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self
    }

    /// Replaces the value of every header of this name (adds it when absent).
    pub fn set(mut self, name: &str, value: &str) -> Self {
        let mut found = false;
        for (n, v) in &mut self.headers {
            if n.eq_ignore_ascii_case(name) {
                *v = value.to_owned();
                found = true;
            }
        }
        if !found {
            self.headers.push((name.to_owned(), value.to_owned()));
        }
        self
    }

    /// Adds one more header line, keeping any of the same name.
    pub fn add(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The value of the first header of this name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The whole request: request line, `Host`, `Content-Length` (of the body), `Connection:
    /// close`, the headers, and the body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut head = format!(
            "{} {} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.method,
            self.target,
            self.addr,
            self.body.len()
        );
        for (n, v) in &self.headers {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        out.extend_from_slice(&self.body);
        out
    }

    /// Sends the request and reads the answer.
    pub fn send(&self) -> Resp {
        send_bytes(self.addr, &self.to_bytes(), self.method == "HEAD")
    }
}

/// Writes `bytes` to a new connection and reads the answer until the server closes it (or 30
/// seconds pass). Write errors are ignored: a server may refuse and close before reading all.
/// A connection closed without any answer gives status 0.
pub fn send_bytes(addr: SocketAddr, bytes: &[u8], head: bool) -> Resp {
    exchange(addr, bytes, head, false)
}

/// As [`send_bytes`], but the client shuts its sending side down after the bytes, like a client
/// that dies in the middle of a body.
pub fn send_bytes_then_eof(addr: SocketAddr, bytes: &[u8]) -> Resp {
    exchange(addr, bytes, false, true)
}

fn exchange(addr: SocketAddr, bytes: &[u8], head: bool, eof: bool) -> Resp {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let _ = stream.write_all(bytes);
    if eof {
        let _ = stream.shutdown(std::net::Shutdown::Write);
    }
    let mut raw = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
    }
    parse_response(&raw, head)
}

/// A response as received.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `<Code>` of an error body (or of `x-oss-err` for HEAD).
    pub fn code(&self) -> Option<String> {
        let text = if self.body.is_empty() {
            use base64::Engine;
            let raw = self.header("x-oss-err")?;
            String::from_utf8(base64::engine::general_purpose::STANDARD.decode(raw).ok()?).ok()?
        } else {
            self.text()
        };
        let start = text.find("<Code>")? + 6;
        let end = text[start..].find("</Code>")? + start;
        Some(text[start..end].to_owned())
    }

    /// Asserts an error status and code.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status, self.code().as_deref()),
            (status, Some(code)),
            "body: {}",
            self.text()
        );
        assert!(self.header("x-oss-request-id").is_some());
        assert!(self.header("date").is_some());
    }
}

impl Req {
    pub fn query(mut self, name: &str, value: &str) -> Self {
        self.query.push((name.into(), value.into()));
        self
    }
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }
    pub fn sign(mut self, sign: Sign) -> Self {
        self.sign = sign;
        self
    }
    pub fn secret(mut self, secret: &str) -> Self {
        self.secret = secret.into();
        self
    }
    /// Signs as this AccessKeyId.
    pub fn key_id(mut self, key_id: &str) -> Self {
        self.key_id = key_id.into();
        self
    }
    /// Sends this STS token (`x-oss-security-token` header, or the presign query parameter).
    pub fn token(mut self, token: &str) -> Self {
        self.token = Some(token.into());
        self
    }
    /// Signs as if the request was made at this time.
    pub fn at(mut self, now: OffsetDateTime) -> Self {
        self.now = Some(now);
        self
    }

    /// Path-style target, query string and headers after signing.
    fn prepare(&self) -> (String, Vec<(String, String)>) {
        let creds = Credentials {
            access_key_id: self.key_id.clone(),
            access_key_secret: self.secret.clone(),
            security_token: self.token.clone(),
        };
        let now = self.now.unwrap_or_else(OffsetDateTime::now_utc);
        let mut own_headers = self.headers.clone();
        if let (Some(token), Sign::V1 | Sign::V4) = (&self.token, self.sign) {
            own_headers.push(("x-oss-security-token".into(), token.clone()));
        }
        let mut headers = own_headers.clone();
        let mut query = self.query.clone();
        let parts = RequestParts {
            method: &self.method,
            bucket: self.bucket.as_deref(),
            key: self.key.as_deref(),
            query: &self.query,
            headers: &own_headers,
        };
        match self.sign {
            Sign::None => {}
            Sign::V1 => headers.extend(v1::sign_headers(&parts, &creds, now)),
            Sign::V4 => {
                let mut h = own_headers.clone();
                if !h
                    .iter()
                    .any(|(n, _)| n.eq_ignore_ascii_case("x-oss-content-sha256"))
                {
                    h.push(("x-oss-content-sha256".into(), "UNSIGNED-PAYLOAD".into()));
                }
                let p = RequestParts {
                    headers: &h,
                    ..parts
                };
                let added = v4::sign_headers(&p, &creds, "cn-hangzhou", now, &[]);
                headers = h;
                for (n, v) in added {
                    if !headers.iter().any(|(hn, _)| hn.eq_ignore_ascii_case(&n)) {
                        headers.push((n, v));
                    }
                }
            }
            Sign::PresignV1(expires) => query.extend(v1::presign_query(&parts, &creds, expires)),
            Sign::PresignV4(secs) => query.extend(v4::presign_query(
                &parts,
                &creds,
                "cn-hangzhou",
                now,
                secs,
                &[],
            )),
        }
        let mut path = String::from("/");
        if let Some(b) = &self.bucket {
            path.push_str(b);
            path.push('/');
            if let Some(k) = &self.key {
                path.push_str(&encode_path(k));
            }
        }
        if !query.is_empty() {
            path.push('?');
            path.push_str(&encode_query(&query));
        }
        (path, headers)
    }

    /// The request as it would be sent, signed, for tampering before [`Wire::send`].
    pub fn wire(self) -> Wire {
        let (target, headers) = self.prepare();
        Wire {
            addr: self.addr,
            method: self.method,
            target,
            headers,
            body: self.body,
        }
    }

    /// Sends the request whole and reads the response.
    pub fn send(self) -> Resp {
        let declared = self.body.len();
        self.send_raw(declared, None)
    }

    /// Sends the request declaring `declared` bytes but sending only `send` of the body
    /// (all of it when `None`), then half-closes and reads whatever answer comes.
    pub fn send_raw(self, declared: usize, send: Option<usize>) -> Resp {
        let (path, headers) = self.prepare();
        let mut head = format!(
            "{} {} HTTP/1.1\r\nHost: {}\r\nContent-Length: {declared}\r\nConnection: close\r\n",
            self.method, path, self.addr
        );
        for (n, v) in &headers {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let mut stream = TcpStream::connect(self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        stream.write_all(head.as_bytes()).unwrap();
        let n = send.unwrap_or(self.body.len()).min(self.body.len());
        let _ = stream.write_all(&self.body[..n]);
        if send.is_some() {
            let _ = stream.shutdown(std::net::Shutdown::Write);
        }
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw);
        parse_response(&raw, self.method == "HEAD")
    }
}

fn parse_response(raw: &[u8], head: bool) -> Resp {
    let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Resp {
            status: 0,
            headers: Vec::new(),
            body: raw.to_vec(),
        };
    };
    let text = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = text.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if head {
        body.clear();
    } else if let Some(len) = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
    {
        body.truncate(len);
    } else if headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    Resp {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = data.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size = usize::from_str_radix(std::str::from_utf8(&data[..eol]).unwrap().trim(), 16)
            .unwrap_or(0);
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[eol + 2..eol + 2 + size]);
        data = &data[eol + 2 + size + 2..];
    }
}

/// `n` bytes of the pattern `(31*i + seed) mod 251`.
pub fn pattern(n: usize, seed: usize) -> Vec<u8> {
    (0..n).map(|i| ((31 * i + seed) % 251) as u8).collect()
}

/// Quoted upper-case hex MD5, as OSS writes ETags.
pub fn etag_of(data: &[u8]) -> String {
    use md5::{Digest, Md5};
    format!("\"{}\"", hex::encode_upper(Md5::digest(data)))
}

/// Everything a client can observe of the store, plus the data dir's `tmp/` and blob counts.
pub fn snapshot(s: &TestServer, bucket: &str) -> Vec<String> {
    let mut out = Vec::new();
    let get = |r: Req| {
        let r = r.send();
        format!("{} {}", r.status, strip_times(&r.text()))
    };
    out.push(get(s.req("GET", None, None)));
    out.push(get(s
        .req("GET", Some(bucket), None)
        .query("max-keys", "1000")));
    let uploads = s
        .req("GET", Some(bucket), None)
        .query("uploads", "")
        .send()
        .text();
    out.push(strip_times(&uploads));
    for (key, id) in between_all(&uploads, "<Key>", "</Key>")
        .into_iter()
        .zip(between_all(&uploads, "<UploadId>", "</UploadId>"))
    {
        out.push(get(s
            .req("GET", Some(bucket), Some(&key))
            .query("uploadId", &id)));
    }
    out.push(get(s.req("GET", Some(bucket), None).query("cors", "")));
    // Attributes that change without touching the listing: ACLs and tags.
    out.push(get(s.req("GET", Some(bucket), None).query("acl", "")));
    let listing = s
        .req("GET", Some(bucket), None)
        .query("max-keys", "1000")
        .send()
        .text();
    for key in between_all(&listing, "<Key>", "</Key>") {
        out.push(get(s.req("GET", Some(bucket), Some(&key)).query("acl", "")));
        out.push(get(s
            .req("GET", Some(bucket), Some(&key))
            .query("tagging", "")));
        let head = s.req("HEAD", Some(bucket), Some(&key)).send();
        let attributes: Vec<String> = [
            "x-oss-storage-class",
            "x-oss-server-side-encryption",
            "x-oss-tagging-count",
            "x-oss-object-type",
            "etag",
        ]
        .iter()
        .map(|h| format!("{h}={:?}", head.header(h)))
        .collect();
        out.push(attributes.join(" "));
    }
    out.push(format!("tmp files: {}", count_files(&s.dir.join("tmp"))));
    out.push(format!("blob files: {}", count_files(&s.dir.join("blobs"))));
    out
}

pub fn count_files(dir: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .map(|e| {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                count_files(&e.path())
            } else {
                1
            }
        })
        .sum()
}

pub fn strip_times(s: &str) -> String {
    let mut out = s.to_owned();
    for tag in ["LastModified", "Initiated", "CreationDate", "RequestId"] {
        let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
        while let Some(i) = out.find(&open) {
            let j = out[i..].find(&close).unwrap() + i + close.len();
            out.replace_range(i..j, "");
        }
    }
    out
}

pub fn between_all(s: &str, open: &str, close: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find(open) {
        let after = &rest[i + open.len()..];
        let j = after.find(close).unwrap();
        out.push(after[..j].to_owned());
        rest = &after[j..];
    }
    out
}
