//! `Client`: builds a request, signs it with the protocol crate, sends it, retries what is safe
//! to retry, and turns OSS error bodies back into [`Error::Service`].

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use osspart_protocol::encoding::{encode_path, encode_query};
use osspart_protocol::sign::{v1, v4, RequestParts};
use osspart_protocol::xml::{self, ErrorBody};
use osspart_protocol::{time_fmt, ErrorCode};
use reqwest::header::HeaderMap;
use reqwest::Method;
use time::OffsetDateTime;

use crate::config::{Addressing, Config, Credentials, SignatureVersion};
use crate::credentials::{CredentialsProvider, StaticProvider};
use crate::error::{Error, Result};
use crate::retry::Retrier;

/// A client for one bucket of one OSS (or OSS-compatible) service. Cheap to clone; clones
/// share the connection pool.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
    retrier: Retrier,
}

struct Inner {
    config: Config,
    http: reqwest::Client,
    scheme: String,
    host: String,
    path_style: bool,
    /// Asked for the credentials of every request (shared by clones and `with_bucket`).
    provider: Arc<dyn CredentialsProvider>,
    /// Server time minus local time, in seconds, learnt from RequestTimeTooSkewed answers.
    clock_offset: AtomicI64,
    /// Connections for file bodies sent with `sendfile(2)`, when [`crate::sendfile::applies`].
    sendfile: Option<Arc<crate::sendfile::Pool>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.inner.config.endpoint)
            .field("bucket", &self.inner.config.bucket)
            .finish()
    }
}

/// One request before signing.
#[derive(Debug, Clone)]
pub struct Request {
    /// HTTP method.
    pub method: Method,
    /// Object key; `None` for bucket-level calls.
    pub key: Option<String>,
    /// Query parameters, decoded.
    pub query: Vec<(String, String)>,
    /// Extra headers (Content-Type, x-oss-meta-*, ...).
    pub headers: Vec<(String, String)>,
    /// Body (empty for most calls).
    pub body: Bytes,
    /// API name, used in timeout errors and logs.
    pub op: &'static str,
    /// When set, counts body bytes as they are handed to the connection.
    pub sent: Option<Arc<AtomicU64>>,
    /// Longest response body accepted (default [`MAX_XML_RESPONSE`]; object reads raise it).
    pub max_response: u64,
    /// A body read from a file while it is sent, instead of `body`.
    pub file_body: Option<FileBody>,
}

impl Request {
    /// A request without body or parameters.
    pub fn new(op: &'static str, method: Method, key: Option<&str>) -> Request {
        Request {
            method,
            key: key.map(str::to_owned),
            query: Vec::new(),
            headers: Vec::new(),
            body: Bytes::new(),
            op,
            sent: None,
            max_response: MAX_XML_RESPONSE,
            file_body: None,
        }
    }

    /// Sends `len` bytes of `file` from `offset` as the body, read as they are sent.
    pub fn file_body(mut self, body: FileBody) -> Request {
        self.file_body = Some(body);
        self
    }

    /// Length of the body.
    pub fn body_len(&self) -> u64 {
        match &self.file_body {
            Some(f) => f.len,
            None => self.body.len() as u64,
        }
    }

    /// Adds a query parameter.
    pub fn query(mut self, name: &str, value: impl Into<String>) -> Request {
        self.query.push((name.to_owned(), value.into()));
        self
    }

    /// Adds a query parameter when `value` is `Some`.
    pub fn query_opt(self, name: &str, value: Option<impl Into<String>>) -> Request {
        match value {
            Some(v) => self.query(name, v),
            None => self,
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Request {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: Bytes) -> Request {
        self.body = body;
        self
    }

    /// Accepts a response body of up to `limit` bytes.
    pub fn max_response(mut self, limit: u64) -> Request {
        self.max_response = limit;
        self
    }

    /// Adds `Content-MD5` of the current body.
    pub fn with_content_md5(self) -> Request {
        use md5::Digest;
        let digest = md5::Md5::digest(&self.body);
        let value = base64::engine::general_purpose::STANDARD.encode(digest);
        self.header("Content-MD5", value)
    }
}

/// A successful answer.
#[derive(Debug, Clone)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// Response body.
    pub body: Bytes,
}

impl Response {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `x-oss-request-id`.
    pub fn request_id(&self) -> &str {
        self.header("x-oss-request-id").unwrap_or_default()
    }

    /// `ETag`, quotes kept.
    pub fn etag(&self) -> Option<&str> {
        self.header("etag")
    }

    /// `x-oss-hash-crc64ecma`, parsed.
    pub fn crc64(&self) -> Option<u64> {
        self.header("x-oss-hash-crc64ecma")
            .and_then(osspart_protocol::crc64::parse)
    }

    /// Parses the XML body.
    pub fn xml<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        xml::from_xml(&self.body)
            .map_err(|e| Error::Protocol(format!("cannot parse response body: {e}")))
    }
}

impl Client {
    /// A client for `config`. Fails on an endpoint that is not `http(s)://host[:port]`.
    pub fn new(config: Config) -> Result<Client> {
        let (scheme, rest) = config.endpoint.split_once("://").ok_or_else(|| {
            Error::InvalidArgument(format!(
                "endpoint {:?} needs a scheme (http:// or https://)",
                config.endpoint
            ))
        })?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(Error::InvalidArgument(format!(
                "endpoint scheme {scheme:?} is not http or https"
            )));
        }
        let host = rest.trim_end_matches('/').to_owned();
        if host.is_empty() || host.contains('/') {
            return Err(Error::InvalidArgument(format!(
                "endpoint {:?} must be scheme://host[:port]",
                config.endpoint
            )));
        }
        let path_style = match config.addressing {
            Addressing::PathStyle => true,
            Addressing::VirtualHosted | Addressing::Cname => false,
            Addressing::Auto => is_ip_or_localhost(&host),
        };
        let mut builder = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(50))
            .tcp_nodelay(true)
            // Never follow a redirect: it could carry signed headers to another host.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(config.user_agent.clone());
        if let Some(path) = &config.ca_bundle {
            let pem = std::fs::read(path).map_err(|e| {
                Error::InvalidArgument(format!("cannot read CA bundle {}: {e}", path.display()))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                Error::InvalidArgument(format!("{} is not a PEM CA bundle: {e}", path.display()))
            })?;
            if certs.is_empty() {
                return Err(Error::InvalidArgument(format!(
                    "{} holds no certificate",
                    path.display()
                )));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder
            .build()
            .map_err(|e| Error::InvalidArgument(format!("cannot build the HTTP client: {e}")))?;
        let provider = config.credentials_provider.clone().unwrap_or_else(|| {
            Arc::new(StaticProvider::new(config.credentials.clone()))
                as Arc<dyn CredentialsProvider>
        });
        let sendfile = (config.sendfile && crate::sendfile::applies(&scheme)).then(Arc::default);
        Ok(Client {
            retrier: Retrier::new(config.retry.clone()),
            inner: Arc::new(Inner {
                http,
                scheme,
                host,
                sendfile,
                path_style,
                provider,
                clock_offset: AtomicI64::new(0),
                config,
            }),
        })
    }

    /// The configuration this client was built with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The bucket this client operates on.
    pub fn bucket(&self) -> &str {
        &self.inner.config.bucket
    }

    /// A client for another bucket of the same service, sharing the connection pool.
    pub fn with_bucket(&self, bucket: &str) -> Client {
        let mut config = self.inner.config.clone();
        config.bucket = bucket.to_owned();
        Client {
            retrier: self.retrier.clone(),
            inner: Arc::new(Inner {
                config,
                http: self.inner.http.clone(),
                scheme: self.inner.scheme.clone(),
                host: self.inner.host.clone(),
                path_style: self.inner.path_style,
                provider: self.inner.provider.clone(),
                clock_offset: AtomicI64::new(self.inner.clock_offset.load(Ordering::Relaxed)),
                sendfile: self.inner.sendfile.clone(),
            }),
        }
    }

    fn url(&self, bucket: Option<&str>, key: Option<&str>, query: &[(String, String)]) -> String {
        let i = &self.inner;
        let key_path = key.map(encode_path).unwrap_or_default();
        let mut url = match (bucket, i.config.addressing) {
            (None, _) => format!("{}://{}/", i.scheme, i.host),
            (Some(_), Addressing::Cname) => format!("{}://{}/{key_path}", i.scheme, i.host),
            (Some(b), _) if i.path_style => format!("{}://{}/{b}/{key_path}", i.scheme, i.host),
            (Some(b), _) => format!("{}://{b}.{}/{key_path}", i.scheme, i.host),
        };
        if !query.is_empty() {
            url.push('?');
            url.push_str(&encode_query(query));
        }
        url
    }

    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
            + time::Duration::seconds(self.inner.clock_offset.load(Ordering::Relaxed))
    }

    /// The credentials to sign the next request with, from the configured provider.
    pub async fn current_credentials(&self) -> Result<Credentials> {
        Ok(self.inner.provider.provide().await?.credentials)
    }

    /// Signed headers for a request at `now`.
    fn signed_headers(
        &self,
        bucket: Option<&str>,
        req: &Request,
        credentials: &Credentials,
        now: OffsetDateTime,
    ) -> Vec<(String, String)> {
        let c = &self.inner.config;
        let mut headers = req.headers.clone();
        if let Some(token) = &credentials.security_token {
            headers.push(("x-oss-security-token".to_owned(), token.clone()));
        }
        if c.signature == SignatureVersion::V4 {
            headers.push((
                "x-oss-content-sha256".to_owned(),
                osspart_protocol::sign::UNSIGNED_PAYLOAD.to_owned(),
            ));
        }
        let parts = RequestParts {
            method: req.method.as_str(),
            bucket,
            key: req.key.as_deref(),
            query: &req.query,
            headers: &headers,
        };
        let added = match c.signature {
            SignatureVersion::V1 => v1::sign_headers(&parts, credentials, now),
            SignatureVersion::V4 => v4::sign_headers(&parts, credentials, &c.region, now, &[]),
        };
        for (name, value) in added {
            headers.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
            headers.push((name, value));
        }
        headers
    }

    /// A presigned URL for `method` on `key`, valid for `expires_in`, signed with
    /// [`Config::credentials`]; with a credentials provider use [`Client::presign_current`].
    pub fn presign(&self, method: Method, key: &str, expires_in: Duration) -> String {
        self.presign_with(&self.inner.config.credentials, method, key, expires_in)
    }

    /// A presigned URL for `method` on `key`, valid for `expires_in`, signed with the
    /// credentials provider's current keys (a URL signed with STS keys stops working when they
    /// expire).
    pub async fn presign_current(
        &self,
        method: Method,
        key: &str,
        expires_in: Duration,
    ) -> Result<String> {
        let credentials = self.current_credentials().await?;
        Ok(self.presign_with(&credentials, method, key, expires_in))
    }

    fn presign_with(
        &self,
        credentials: &Credentials,
        method: Method,
        key: &str,
        expires_in: Duration,
    ) -> String {
        let c = &self.inner.config;
        let bucket = Some(c.bucket.as_str());
        let parts = RequestParts {
            method: method.as_str(),
            bucket,
            key: Some(key),
            query: &[],
            headers: &[],
        };
        let now = self.now();
        let query = match c.signature {
            SignatureVersion::V1 => v1::presign_query(
                &parts,
                credentials,
                now.unix_timestamp() + expires_in.as_secs() as i64,
            ),
            SignatureVersion::V4 => v4::presign_query(
                &parts,
                credentials,
                &c.region,
                now,
                expires_in.as_secs() as i64,
                &[],
            ),
        };
        self.url(bucket, Some(key), &query)
    }

    /// Sends a bucket-level or object request, retrying per this client's [`Retrier`].
    pub async fn send(&self, req: Request) -> Result<Response> {
        self.send_with(Some(self.bucket()), req, &self.retrier)
            .await
    }

    /// Sends once, without retries (for calls whose retries need more than a resend: parts
    /// re-read from their source, initiations that look for a lost upload first).
    pub async fn send_once(&self, req: Request) -> Result<Response> {
        let once = self.retrier.clone().with_max_retries(0);
        self.send_with(Some(self.bucket()), req, &once).await
    }

    /// Sends a service-level request (no bucket), e.g. ListBuckets.
    pub async fn send_service(&self, req: Request) -> Result<Response> {
        self.send_with(None, req, &self.retrier).await
    }

    /// Sends an object read and hands back its body unread, to be consumed chunk by chunk
    /// ([`BodyStream::chunk`]). Retries cover everything up to the response headers; a body
    /// cut off midway is the caller's to resume.
    pub async fn send_streaming(&self, req: Request) -> Result<BodyStream> {
        self.retrying(&req, &self.retrier, || {
            self.attempt_head(Some(self.bucket()), &req)
        })
        .await
    }

    /// The retrier this client's calls use.
    pub fn retrier(&self) -> &Retrier {
        &self.retrier
    }

    /// The same client (sharing connections and credentials) whose calls retry with
    /// `retrier`: a transfer gives all of its calls one retry budget this way.
    pub fn with_retrier(&self, retrier: Retrier) -> Client {
        Client {
            inner: self.inner.clone(),
            retrier,
        }
    }

    async fn send_with(
        &self,
        bucket: Option<&str>,
        req: Request,
        retrier: &Retrier,
    ) -> Result<Response> {
        let req = &req;
        self.retrying(req, retrier, || async move {
            let stream = self.attempt_head(bucket, req).await?;
            stream.into_response(req.max_response).await
        })
        .await
    }

    /// Runs `attempt` under `retrier`; a RequestTimeTooSkewed answer corrects the clock once
    /// without counting as a retry.
    async fn retrying<T, F, Fut>(&self, req: &Request, retrier: &Retrier, attempt: F) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let mut attempts = retrier.attempts();
        let mut skew_fixed = false;
        loop {
            match attempt().await {
                Ok(r) => return Ok(r),
                Err(e)
                    if !skew_fixed
                        && e.has_code(ErrorCode::RequestTimeTooSkewed)
                        && self.learn_clock(&e) =>
                {
                    skew_fixed = true;
                }
                Err(e) => match attempts.next_delay(&e) {
                    Some(delay) => {
                        tracing::debug!(op = req.op, retry = attempts.retries(), error = %e, ?delay, "retrying");
                        tokio::time::sleep(delay).await;
                    }
                    None => return Err(e),
                },
            }
        }
    }

    /// Adopts the server's clock from a RequestTimeTooSkewed answer. True when it changed.
    /// An offset beyond [`MAX_CLOCK_OFFSET`] is not believed: signing a year ahead would only
    /// turn one clear error into many confusing ones.
    fn learn_clock(&self, e: &Error) -> bool {
        let Error::Service { extra, .. } = e else {
            return false;
        };
        let Some(server) = extra
            .iter()
            .find(|(n, _)| n == "ServerTime")
            .and_then(|(_, v)| time_fmt::parse_xml_timestamp(v))
        else {
            return false;
        };
        let offset = (server - OffsetDateTime::now_utc()).whole_seconds();
        if offset.unsigned_abs() > MAX_CLOCK_OFFSET.as_secs() {
            tracing::warn!(offset, "ignoring a server clock that far from ours");
            return false;
        }
        self.inner.clock_offset.store(offset, Ordering::Relaxed);
        true
    }

    /// Sends once and reads the status and headers; an error status is read (bounded) and
    /// returned as [`Error::Service`].
    async fn attempt_head(&self, bucket: Option<&str>, req: &Request) -> Result<BodyStream> {
        // A bucket name becomes part of the host name: `evil.example/` would send signed
        // requests elsewhere.
        if let Some(b) = bucket.filter(|b| !osspart_protocol::limits::is_valid_bucket_name(b)) {
            return Err(Error::InvalidArgument(format!(
                "{b:?} is not a bucket name (3-63 lower-case letters, digits and hyphens)"
            )));
        }
        let url = self.url(bucket, req.key.as_deref(), &req.query);
        // Asked for every attempt: a retry after the keys were rotated signs with the new ones.
        let credentials = self.current_credentials().await?;
        let headers = self.signed_headers(bucket, req, &credentials, self.now());
        let timeout = self.inner.config.timeout_for(req.body_len());
        let during = format!("waiting for {} ({} bytes sent)", req.op, req.body_len());
        let head = req.method == Method::HEAD;
        let stream = match (&req.file_body, &self.inner.sendfile) {
            (Some(body), Some(pool)) => {
                let exchange = crate::sendfile::Exchange {
                    method: req.method.to_string(),
                    url,
                    headers,
                    user_agent: self.inner.config.user_agent.clone(),
                    body: body.clone(),
                    sent: req.sent.clone(),
                    timeout,
                    connect_timeout: self.inner.config.connect_timeout,
                    max_response: req.max_response,
                    max_error: MAX_ERROR_BODY,
                    during: during.clone(),
                };
                let answer = crate::sendfile::send(pool.clone(), exchange).await?;
                BodyStream {
                    status: answer.status,
                    headers: answer.headers,
                    inner: BodySource::Read(Some(answer.body)),
                    timeout,
                    during,
                    head,
                }
            }
            _ => {
                let resp = self
                    .request_builder(req, &url, &headers, timeout)
                    .send()
                    .await
                    .map_err(|e| transport_error(e, timeout, &during))?;
                BodyStream {
                    status: resp.status().as_u16(),
                    headers: resp.headers().clone(),
                    inner: BodySource::Arriving(resp),
                    timeout,
                    during,
                    head,
                }
            }
        };
        if stream.status >= 300 && stream.status != 304 {
            let (status, headers) = (stream.status, stream.headers.clone());
            let body = stream.into_response(MAX_ERROR_BODY).await?.body;
            return Err(service_error(status, &headers, &body));
        }
        Ok(stream)
    }

    /// The regular client's request for `req`, headers signed.
    fn request_builder(
        &self,
        req: &Request,
        url: &str,
        headers: &[(String, String)],
        timeout: Duration,
    ) -> reqwest::RequestBuilder {
        let mut builder = self
            .inner
            .http
            .request(req.method.clone(), url)
            .timeout(timeout);
        for (n, v) in headers {
            builder = builder.header(n.as_str(), v.as_str());
        }
        match &req.sent {
            _ if req.file_body.is_some() => {
                if let Some(f) = &req.file_body {
                    builder = builder
                        .header(reqwest::header::CONTENT_LENGTH, f.len)
                        .body(f.stream(req.sent.clone()));
                }
            }
            Some(counter) if !req.body.is_empty() => {
                builder = builder
                    .header(reqwest::header::CONTENT_LENGTH, req.body.len())
                    .body(counting_body(req.body.clone(), counter.clone()));
            }
            _ if !req.body.is_empty() || matches!(req.method, Method::PUT | Method::POST) => {
                // Explicit, because hyper leaves `Content-Length: 0` out for an empty body and
                // OSS answers 411 MissingContentLength to an empty part or object without it.
                builder = builder
                    .header(reqwest::header::CONTENT_LENGTH, req.body.len())
                    .body(req.body.clone());
            }
            _ => {}
        }
        builder
    }
}

/// Largest server clock offset the client adopts from a RequestTimeTooSkewed answer.
pub const MAX_CLOCK_OFFSET: Duration = Duration::from_secs(7 * 24 * 3600);

/// Largest body of a response that is not object data (XML listings, results); a longer one
/// is a broken or hostile service, refused instead of buffered.
pub const MAX_XML_RESPONSE: u64 = 64 << 20;

/// Largest error body read; the rest of a longer one is ignored.
const MAX_ERROR_BODY: u64 = 64 << 10;

/// A response whose body is read as it arrives.
pub struct BodyStream {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    inner: BodySource,
    timeout: Duration,
    during: String,
    /// An answer to HEAD (its Content-Length is not its body's).
    head: bool,
}

impl std::fmt::Debug for BodyStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodyStream")
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl BodyStream {
    /// The next piece of the body; `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>> {
        match &mut self.inner {
            BodySource::Arriving(resp) => resp
                .chunk()
                .await
                .map_err(|e| transport_error(e, self.timeout, &self.during)),
            BodySource::Read(body) => Ok(body.take().filter(|b| !b.is_empty())),
        }
    }

    /// The declared body length, when the service sent one.
    pub fn content_length(&self) -> Option<u64> {
        self.headers
            .get(reqwest::header::CONTENT_LENGTH)?
            .to_str()
            .ok()?
            .parse()
            .ok()
    }

    /// Reads the whole body, refusing one longer than `limit` (an error body is cut there).
    async fn into_response(mut self, limit: u64) -> Result<Response> {
        let error = self.status >= 300 && self.status != 304;
        let during = self.during.clone();
        let too_long = |n: u64| {
            Error::Protocol(format!(
                "the answer while {during} is longer than the {limit} bytes allowed ({n})"
            ))
        };
        // A HEAD answer declares the object's length and carries no body.
        let declared = self.content_length().filter(|_| !self.head);
        if let Some(n) = declared.filter(|&n| n > limit && !error) {
            return Err(too_long(n));
        }
        let mut body = bytes::BytesMut::with_capacity(declared.unwrap_or(0).min(limit) as usize);
        while let Some(chunk) = self.chunk().await? {
            let room = (limit - body.len() as u64) as usize;
            if chunk.len() > room {
                if error {
                    body.extend_from_slice(&chunk[..room]);
                    break;
                }
                return Err(too_long(body.len() as u64 + chunk.len() as u64));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Response {
            status: self.status,
            headers: self.headers,
            body: body.freeze(),
        })
    }
}

/// Where a [`BodyStream`]'s body comes from.
enum BodySource {
    /// Still arriving on the regular client's connection.
    Arriving(reqwest::Response),
    /// Already read whole (by the sendfile path); taken once.
    Read(Option<Bytes>),
}

/// Bytes read from a file per piece of a [`FileBody`]: small enough that a piece is still in
/// the CPU cache when it is checksummed and copied to the socket, large enough that handing
/// reads to a blocking thread costs little (256 KiB pieces spent 17% of an upload's samples
/// in thread wake-ups; 1 MiB pieces cut its CPU by about a sixth).
const FILE_CHUNK: usize = 1024 * 1024;

/// A request body read from a range of a file while it is sent: each piece is read, added to
/// the CRC-64 and handed to the connection in one pass, so no part-sized buffer exists and
/// every attempt sends the file's bytes as they are now.
#[derive(Debug, Clone)]
pub struct FileBody {
    file: Arc<std::fs::File>,
    offset: u64,
    len: u64,
    /// CRC-64 of the bytes the latest attempt read, once it read all of them.
    crc: Arc<std::sync::Mutex<Option<u64>>>,
    /// A place among the bodies being sent, given up as soon as the body has gone out whole
    /// (its answer may take a while longer).
    sending: Arc<std::sync::Mutex<Option<tokio::sync::OwnedSemaphorePermit>>>,
}

impl FileBody {
    /// `len` bytes of `file` from `offset`.
    pub fn new(file: Arc<std::fs::File>, offset: u64, len: u64) -> FileBody {
        FileBody {
            file,
            offset,
            len,
            crc: Arc::default(),
            sending: Arc::default(),
        }
    }

    /// The CRC-64 of the bytes the latest attempt sent, when it read the whole range.
    pub fn sent_crc64(&self) -> Option<u64> {
        *self.crc.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records what [`FileBody::sent_crc64`] reports; a body sent whole gives up its place
    /// ([`FileBody::hold_while_sending`]).
    pub(crate) fn set_sent_crc64(&self, crc: Option<u64>) {
        *self.crc.lock().unwrap_or_else(|p| p.into_inner()) = crc;
        if crc.is_some() {
            self.stop_holding();
        }
    }

    /// Keeps `place` until the body has gone out whole (or [`FileBody::stop_holding`]).
    pub(crate) fn hold_while_sending(&self, place: tokio::sync::OwnedSemaphorePermit) {
        *self.sending.lock().unwrap_or_else(|p| p.into_inner()) = Some(place);
    }

    /// Gives up the place held by [`FileBody::hold_while_sending`], if still held.
    pub(crate) fn stop_holding(&self) {
        let place = self
            .sending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        drop(place);
    }

    /// Length of the range.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the range is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Where the range starts in the file.
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// The file.
    pub(crate) fn file(&self) -> &std::fs::File {
        &self.file
    }

    fn stream(&self, counter: Option<Arc<AtomicU64>>) -> reqwest::Body {
        // An empty range is all sent before it starts.
        self.set_sent_crc64((self.len == 0).then_some(0));
        let me = self.clone();
        let start = (0u64, osspart_protocol::crc64::Crc64::new());
        let pieces = futures_util::stream::try_unfold(start, move |(done, mut crc)| {
            let me = me.clone();
            let counter = counter.clone();
            async move {
                if done == me.len {
                    return Ok(None);
                }
                let n = (me.len - done).min(FILE_CHUNK as u64) as usize;
                let file = me.file.clone();
                let at = me.offset + done;
                let piece = tokio::task::spawn_blocking(move || {
                    let mut buf = PooledPiece::take(n);
                    crate::fileio::read_exact_at(&file, buf.as_mut(), at).map(|()| buf)
                })
                .await
                .map_err(std::io::Error::other)??;
                crc.update(piece.as_ref());
                let done = done + n as u64;
                if done == me.len {
                    // Recorded with the last piece: the connection need not ask again.
                    me.set_sent_crc64(Some(crc.value()));
                }
                if let Some(c) = &counter {
                    c.fetch_add(n as u64, Ordering::Relaxed);
                }
                Ok::<_, std::io::Error>(Some((Bytes::from_owner(piece), (done, crc))))
            }
        });
        reqwest::Body::wrap_stream(pieces)
    }
}

/// Pieces of [`FileBody`] waiting to be reused: a piece returns here when the connection has
/// sent and dropped it, so steady uploads neither allocate nor zero memory per piece.
static FREE_PIECES: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());

/// Most pieces kept for reuse (16 MiB; five parts in flight use about as many).
const MAX_FREE_PIECES: usize = 16;

/// A buffer of [`FILE_CHUNK`] bytes from [`FREE_PIECES`], used for `len` of them; it goes
/// back there when dropped.
struct PooledPiece {
    buf: Vec<u8>,
    len: usize,
}

impl PooledPiece {
    fn take(len: usize) -> PooledPiece {
        let reused = FREE_PIECES.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let buf = reused.unwrap_or_else(|| vec![0u8; FILE_CHUNK]);
        PooledPiece { buf, len }
    }
}

impl AsRef<[u8]> for PooledPiece {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl AsMut<[u8]> for PooledPiece {
    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.buf[..self.len]
    }
}

impl Drop for PooledPiece {
    fn drop(&mut self) {
        let mut free = FREE_PIECES.lock().unwrap_or_else(|p| p.into_inner());
        if free.len() < MAX_FREE_PIECES {
            free.push(std::mem::take(&mut self.buf));
        }
    }
}

/// Size of the slices a counted body is handed over in.
const COUNTED_SLICE: usize = 256 * 1024;

/// A body that hands `data` over in slices (no copy) and counts them as they go.
fn counting_body(data: Bytes, counter: Arc<AtomicU64>) -> reqwest::Body {
    let slices = (0..data.len()).step_by(COUNTED_SLICE).map(move |start| {
        let end = (start + COUNTED_SLICE).min(data.len());
        counter.fetch_add((end - start) as u64, Ordering::Relaxed);
        Ok::<Bytes, std::io::Error>(data.slice(start..end))
    });
    reqwest::Body::wrap_stream(futures_util::stream::iter(slices))
}

fn is_ip_or_localhost(host: &str) -> bool {
    let name = if host.starts_with('[') {
        return true;
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok()
}

fn transport_error(e: reqwest::Error, timeout: Duration, during: &str) -> Error {
    if e.is_timeout() {
        Error::Timeout {
            after: timeout,
            during: during.to_owned(),
        }
    } else if e.is_connect() {
        let to = e
            .url()
            .map(|u| format!(" to {}", u.origin().ascii_serialization()))
            .unwrap_or_default();
        Error::transport_from(format!("cannot connect{to}"), e)
    } else {
        // The reqwest error stays reachable as the source; the message adds what was under way.
        Error::transport_from(format!("connection failed while {during}"), e)
    }
}

/// Builds [`Error::Service`] from an error body, or from `x-oss-err` when there is no body.
fn service_error(status: u16, headers: &HeaderMap, body: &[u8]) -> Error {
    let from_header = || {
        let raw = headers.get("x-oss-err")?.to_str().ok()?;
        base64::engine::general_purpose::STANDARD.decode(raw).ok()
    };
    let parsed: Option<ErrorBody> = if body.is_empty() {
        from_header().and_then(|b| xml::from_xml(&b).ok())
    } else {
        xml::from_xml(body).ok()
    };
    let request_id = headers
        .get("x-oss-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    match parsed {
        Some(e) => Error::Service {
            status,
            code: e.code,
            message: e.message,
            request_id: if e.request_id.is_empty() {
                request_id
            } else {
                e.request_id
            },
            extra: e.extra,
        },
        None => {
            let code = match status {
                404 => "NoSuchKey",
                412 => "PreconditionFailed",
                403 => "AccessDenied",
                _ => "Unknown",
            };
            Error::Service {
                status,
                code: code.to_owned(),
                message: String::from_utf8_lossy(body).chars().take(200).collect(),
                request_id,
                extra: Vec::new(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(endpoint: &str, addressing: Addressing) -> Client {
        let mut c = Config::new(
            endpoint,
            "cn-hangzhou",
            "bkt",
            Credentials {
                access_key_id: "id".into(),
                access_key_secret: "s".into(),
                security_token: None,
            },
        );
        c.addressing = addressing;
        Client::new(c).unwrap()
    }

    #[test]
    fn urls_by_addressing_style() {
        let q = vec![
            ("uploads".to_owned(), String::new()),
            ("prefix".to_owned(), "a b/".to_owned()),
        ];
        assert_eq!(
            client("http://127.0.0.1:9000", Addressing::Auto).url(Some("bkt"), Some("d/a b+c"), &q),
            "http://127.0.0.1:9000/bkt/d/a%20b%2Bc?uploads&prefix=a%20b%2F"
        );
        assert_eq!(
            client("http://localhost:9000", Addressing::Auto).url(Some("bkt"), None, &[]),
            "http://localhost:9000/bkt/"
        );
        assert_eq!(
            client("https://oss-cn-hangzhou.aliyuncs.com", Addressing::Auto).url(
                Some("bkt"),
                Some("k"),
                &[]
            ),
            "https://bkt.oss-cn-hangzhou.aliyuncs.com/k"
        );
        assert_eq!(
            client("https://files.example.com", Addressing::Cname).url(Some("bkt"), Some("k"), &[]),
            "https://files.example.com/k"
        );
        assert_eq!(
            client(
                "https://oss-cn-hangzhou.aliyuncs.com",
                Addressing::PathStyle
            )
            .url(None, None, &[]),
            "https://oss-cn-hangzhou.aliyuncs.com/"
        );
        assert!(Client::new(Config::new(
            "ftp://x",
            "r",
            "b",
            Credentials {
                access_key_id: "i".into(),
                access_key_secret: "s".into(),
                security_token: None
            }
        ))
        .is_err());
    }

    #[test]
    fn error_bodies_and_bodiless_errors() {
        let body = b"<?xml version=\"1.0\"?><Error><Code>NoSuchUpload</Code><Message>gone</Message><RequestId>R1</RequestId><HostId>h</HostId><UploadId>U</UploadId></Error>";
        match service_error(404, &HeaderMap::new(), body) {
            Error::Service {
                code,
                request_id,
                extra,
                ..
            } => {
                assert_eq!(code, "NoSuchUpload");
                assert_eq!(request_id, "R1");
                assert_eq!(extra, vec![("UploadId".to_owned(), "U".to_owned())]);
            }
            other => panic!("{other:?}"),
        }
        let mut h = HeaderMap::new();
        h.insert(
            "x-oss-err",
            base64::engine::general_purpose::STANDARD
                .encode(body)
                .parse()
                .unwrap(),
        );
        assert!(service_error(404, &h, b"").has_code(ErrorCode::NoSuchUpload));
        assert!(service_error(404, &HeaderMap::new(), b"").has_code(ErrorCode::NoSuchKey));
    }
}
