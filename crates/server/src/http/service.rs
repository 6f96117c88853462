//! The per-request pipeline: request id → addressing → operation → auth → handler → common
//! response headers. Every response, success or error, leaves here with `x-oss-request-id`,
//! `Date` and `Content-Length` (or a streamed body).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use http::{HeaderMap, HeaderValue, Method, Request, Response};
use hyper::body::Incoming;
use osspart_protocol::encoding::parse_query;
use osspart_protocol::sign::RequestParts;
use osspart_protocol::{time_fmt, ErrorCode};
use time::OffsetDateTime;

use super::access;
use super::addressing::{self, Target};
use super::auth;
use super::body;
use super::error::ApiError;
use super::operation::{self, Operation, Payload, Query, OPERATION_NAMES};
use super::response::{self, set_header, Body};
use crate::api::{self, cors};
use crate::config::ServerConfig;
use crate::store::Store;

mod lane;

use lane::{Lane, LaneError};

/// Shared state of a running server.
pub struct State {
    /// Configuration, fixed at start.
    pub config: ServerConfig,
    /// Durable storage.
    pub store: Store,
    /// Threads for store calls, apart from body transfers.
    lane: Lane,
    request_counter: AtomicU64,
    /// Requests answered successfully, per operation name.
    /// One counter per [`OPERATION_NAMES`] entry: no lock on the request path.
    completed: [AtomicU64; OPERATION_NAMES.len()],
    /// Request body bytes stored by successful operations.
    ingested: AtomicU64,
}

impl State {
    /// State over an opened store; starts the metadata threads.
    pub fn new(config: ServerConfig, store: Store) -> std::io::Result<Self> {
        let lane = Lane::start(config.limits.metadata_threads, config.limits.metadata_queue)?;
        Ok(State {
            config,
            store,
            lane,
            request_counter: AtomicU64::new(0),
            completed: std::array::from_fn(|_| AtomicU64::new(0)),
            ingested: AtomicU64::new(0),
        })
    }

    /// How many requests of each operation succeeded so far (e.g. `"UploadPart"`).
    pub fn completed_operations(&self) -> std::collections::BTreeMap<&'static str, u64> {
        OPERATION_NAMES
            .iter()
            .zip(&self.completed)
            .map(|(name, n)| (*name, n.load(Ordering::Relaxed)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// Body bytes accepted by successful PutObject and UploadPart requests so far.
    pub fn ingested_bytes(&self) -> u64 {
        self.ingested.load(Ordering::Relaxed)
    }

    /// A fresh request id: 24 upper-case hex characters, unique within this process.
    pub(crate) fn next_request_id(&self) -> String {
        let n = self.request_counter.fetch_add(1, Ordering::Relaxed);
        let secs = OffsetDateTime::now_utc().unix_timestamp() as u64;
        format!(
            "{:08X}{:04X}{:012X}",
            secs & 0xFFFF_FFFF,
            std::process::id() & 0xFFFF,
            n & 0xFFFF_FFFF_FFFF
        )
    }
}

/// What a handler knows about the request besides its operation.
pub struct RequestContext<'a> {
    /// Server state.
    pub state: &'a State,
    /// This request's id.
    pub request_id: &'a str,
    /// The request headers.
    pub headers: &'a HeaderMap,
    /// The time the request arrived.
    pub now: OffsetDateTime,
    /// Host header (for `Location` in Complete results).
    pub host: &'a str,
    /// Who sent the request (what `auth` proved).
    pub caller: auth::Caller,
}

/// Answers one request. Never fails: errors become OSS error responses.
pub async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Body>, std::convert::Infallible> {
    let request_id = state.next_request_id();
    let now = OffsetDateTime::now_utc();
    let (parts, mut body) = req.into_parts();
    let host = parts
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let head = parts.method == Method::HEAD;
    // The body headers are read once, here: the parser attaches them to the operations that
    // carry a body, and a refused request decides from them whether to drain its body.
    let payload = Payload::from_headers(&parts.headers);
    let stall = state.config.limits.body_stall_timeout;
    let result = body::BODY_STALL_TIMEOUT
        .scope(
            stall,
            route(&state, &parts, &payload, &mut body, &request_id, now, &host),
        )
        .await;
    let (mut resp, bucket) = match result {
        Ok((resp, bucket)) => (resp, bucket),
        Err((err, bucket)) => {
            if err.code == ErrorCode::InternalError || err.code.http_status() >= 500 {
                tracing::error!(request_id, code = %err.code, "request failed");
            } else {
                tracing::debug!(request_id, code = %err.code, message = err.message(), "request refused");
            }
            // Leave the connection usable when the client is still sending a modest body. A
            // declared body beyond that is not waited for: hyper closes the connection after
            // the answer instead (spec 2.5), so a refused 5 GiB upload is answered at once.
            const DRAIN_LIMIT: u64 = 64 << 20;
            if !matches!(payload.content_length, Some(n) if n > DRAIN_LIMIT)
                && err.code != ErrorCode::SlowDown
            {
                body::drain(&mut body, DRAIN_LIMIT).await;
            }
            (response::error(&err, &request_id, &host, head), bucket)
        }
    };
    if let (Some(origin), Some(bucket)) = (parts.headers.get(http::header::ORIGIN), bucket) {
        if let Ok(origin) = origin.to_str() {
            cors::decorate_actual(&state, &bucket, origin, parts.method.as_str(), &mut resp).await;
        }
    }
    let h = resp.headers_mut();
    // Both are ASCII by construction (hex digits; an RFC 1123 date), so neither is ever left out.
    if let Ok(id) = HeaderValue::from_str(&request_id) {
        h.insert("x-oss-request-id", id);
    }
    if let Ok(date) = HeaderValue::from_str(&time_fmt::http_date(now)) {
        h.insert(http::header::DATE, date);
    }
    h.insert(http::header::SERVER, HeaderValue::from_static("AliyunOSS"));
    Ok(resp)
}

type Routed = Result<(Response<Body>, Option<String>), (ApiError, Option<String>)>;

async fn route(
    state: &State,
    parts: &http::request::Parts,
    payload: &Payload,
    body: &mut Incoming,
    request_id: &str,
    now: OffsetDateTime,
    host: &str,
) -> Routed {
    let target = addressing::resolve(
        Some(host).filter(|h| !h.is_empty()),
        parts.uri.path(),
        &state.config,
    )
    .map_err(|e| (e, None))?;
    let bucket = target.bucket.clone();
    let fail = |e: ApiError| (e, bucket.clone());
    let query = Query(
        parse_query(parts.uri.query().unwrap_or_default()).map_err(|_| {
            fail(
                ApiError::new(ErrorCode::InvalidURI)
                    .with_message("The query string is not valid percent-encoded UTF-8."),
            )
        })?,
    );
    let op =
        operation::parse(&parts.method, &target, &query, &parts.headers, payload).map_err(fail)?;
    let caller = if op.is_anonymous() {
        auth::Caller::Anonymous
    } else {
        let path_style =
            addressing::is_path_style(Some(host).filter(|h| !h.is_empty()), &state.config);
        check_auth(
            state,
            &parts.method,
            &target,
            &query,
            &parts.headers,
            now,
            path_style,
        )
        .map_err(fail)?
    };
    tracing::debug!(request_id, op = op.name(), bucket = ?target.bucket, "request");
    let ctx = RequestContext {
        state,
        request_id,
        headers: &parts.headers,
        now,
        host,
        caller,
    };
    access::authorize(&ctx, &op).await.map_err(fail)?;
    let is_head = parts.method == Method::HEAD;
    let ingested = matches!(
        op,
        Operation::PutObject(_) | Operation::UploadPart(_) | Operation::AppendObject(_)
    )
    .then_some(payload.content_length)
    .flatten();
    let counter = state.completed.get(op.index());
    let mut resp = dispatch(&ctx, op, body).await.map_err(fail)?;
    if let Some(counter) = counter {
        counter.fetch_add(1, Ordering::Relaxed);
    }
    if let Some(len) = ingested {
        state.ingested.fetch_add(len, Ordering::Relaxed);
    }
    if is_head {
        // HEAD answers carry the GET headers; the body is dropped by hyper.
        set_header(&mut resp, "accept-ranges", "bytes");
    }
    Ok((resp, bucket))
}

fn check_auth(
    state: &State,
    method: &Method,
    target: &Target,
    query: &Query,
    headers: &HeaderMap,
    now: OffsetDateTime,
    path_style: bool,
) -> Result<auth::Caller, ApiError> {
    let header_pairs: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let parts = RequestParts {
        method: method.as_str(),
        bucket: target.bucket.as_deref(),
        key: target.key.as_deref(),
        query: &query.0,
        headers: &header_pairs,
    };
    auth::authenticate_addressed(&state.config, &parts, now, path_style)
}

async fn dispatch(
    ctx: &RequestContext<'_>,
    op: Operation,
    body: &mut Incoming,
) -> Result<Response<Body>, ApiError> {
    use Operation as O;
    match op {
        O::ListBuckets {
            prefix,
            marker,
            max_keys,
        } => api::bucket::list_buckets(ctx, prefix, marker, max_keys).await,
        O::PutBucket {
            bucket,
            acl,
            payload,
        } => api::bucket::put_bucket(ctx, bucket, acl, payload, body).await,
        O::PutBucketAcl { bucket, acl } => api::bucket::put_bucket_acl(ctx, bucket, acl).await,
        O::GetBucketAcl { bucket } => api::bucket::get_bucket_acl(ctx, bucket).await,
        O::HeadBucket { bucket } => api::bucket::head_bucket(ctx, bucket).await,
        O::GetBucketInfo { bucket } => api::bucket::get_bucket_info(ctx, bucket).await,
        O::GetBucketLocation { bucket } => api::bucket::get_bucket_location(ctx, bucket).await,
        O::DeleteBucket { bucket } => api::bucket::delete_bucket(ctx, bucket).await,
        O::PutBucketCors { bucket, payload } => {
            cors::put_bucket_cors(ctx, bucket, payload, body).await
        }
        O::GetBucketCors { bucket } => cors::get_bucket_cors(ctx, bucket).await,
        O::DeleteBucketCors { bucket } => cors::delete_bucket_cors(ctx, bucket).await,
        O::Preflight(r) => cors::preflight(ctx, r).await,
        O::ListObjects { bucket, listing } => {
            api::listing::list_objects(ctx, bucket, listing).await
        }
        O::ListObjectsV2(r) => api::listing::list_objects_v2(ctx, r).await,
        O::DeleteMultipleObjects {
            bucket,
            url_encoding,
            payload,
        } => api::object::delete_multiple(ctx, bucket, url_encoding, payload, body).await,
        O::PutObject(r) => api::object::put_object(ctx, r, body).await,
        O::AppendObject(r) => api::append::append_object(ctx, r, body).await,
        O::CopyObject(r) => api::object::copy_object(ctx, *r).await,
        O::GetObject(r) => api::object::get_object(ctx, r).await,
        O::HeadObject {
            bucket,
            key,
            conditions,
        } => api::object::head_object(ctx, bucket, key, conditions).await,
        O::GetObjectMeta { bucket, key } => api::object::get_object_meta(ctx, bucket, key).await,
        O::GetObjectAcl { bucket, key } => api::object::get_object_acl(ctx, bucket, key).await,
        O::PutObjectAcl { bucket, key, acl } => {
            api::object::put_object_acl(ctx, bucket, key, acl).await
        }
        O::GetObjectTagging { bucket, key } => {
            api::object::get_object_tagging(ctx, bucket, key).await
        }
        O::PutObjectTagging {
            bucket,
            key,
            payload,
        } => api::object::put_object_tagging(ctx, bucket, key, payload, body).await,
        O::DeleteObjectTagging { bucket, key } => {
            api::object::delete_object_tagging(ctx, bucket, key).await
        }
        O::DeleteObject { bucket, key } => api::object::delete_object(ctx, bucket, key).await,
        O::InitiateMultipartUpload(r) => api::multipart::initiate(ctx, r).await,
        O::UploadPart(r) => api::multipart::upload_part(ctx, r, body).await,
        O::UploadPartCopy(r) => api::multipart::upload_part_copy(ctx, r).await,
        O::CompleteMultipartUpload(r) => api::multipart::complete(ctx, r, body).await,
        O::AbortMultipartUpload {
            bucket,
            key,
            upload_id,
        } => api::multipart::abort(ctx, bucket, key, upload_id).await,
        O::ListParts(r) => api::multipart::list_parts(ctx, r).await,
        O::ListMultipartUploads(r) => api::multipart::list_uploads(ctx, r).await,
    }
}

impl RequestContext<'_> {
    /// Runs a store call on the metadata lane; `SlowDown` when its queue is full.
    pub async fn store<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T, crate::store::StoreError> + Send + 'static,
    {
        let store = self.state.store.clone();
        match self.state.lane.run(move || f(&store)).await {
            Ok(result) => result.map_err(ApiError::from),
            Err(LaneError::Saturated) => Err(ApiError::new(ErrorCode::SlowDown)),
            Err(LaneError::Lost) => Err(ApiError::new(ErrorCode::InternalError)),
        }
    }

    /// Fails with `NoSuchBucket` unless the bucket exists.
    pub async fn require_bucket(&self, bucket: &str) -> Result<crate::store::BucketRow, ApiError> {
        let name = bucket.to_owned();
        self.store(move |s| s.bucket(&name))
            .await?
            .ok_or_else(|| ApiError::new(ErrorCode::NoSuchBucket).with("BucketName", bucket))
    }
}
