//! AppendObject: bytes added at the end of an appendable object, each append one more segment
//! of its manifest (no byte of the earlier ones is copied or read).

use http::{Response, StatusCode};
use hyper::body::Incoming;
use osspart_protocol::{limits, ErrorCode};

use super::object_headers;
use crate::http::body::{self, BodyChecks};
use crate::http::operation::AppendObjectRequest;
use crate::http::response::{self, set_header, Body};
use crate::http::service::RequestContext;
use crate::http::ApiError;
use crate::store::{ObjectType, StoreError, NEXT_APPEND_POSITION};

/// The header that tells an appending client where its next append starts.
const NEXT_POSITION_HEADER: &str = "x-oss-next-append-position";

/// `PositionNotEqualToLength` answered with the object's length in
/// `x-oss-next-append-position`, as OSS does, so a client can resume without a HEAD.
fn position_mismatch(length: u64) -> ApiError {
    ApiError::new(ErrorCode::PositionNotEqualToLength)
        .with_header(NEXT_POSITION_HEADER, length.to_string())
}

/// A store error of an append, with the next position moved from the error body to its
/// header.
fn append_error(e: StoreError) -> ApiError {
    let next = e.extra_value(NEXT_APPEND_POSITION).map(str::to_owned);
    let mut err = ApiError::from(e);
    err.extra.retain(|(name, _)| name != NEXT_APPEND_POSITION);
    match next {
        Some(n) => err.with_header(NEXT_POSITION_HEADER, n),
        None => err,
    }
}

/// AppendObject: checks the position against the object before reading the body (and again
/// in the commit, which decides), then records the body as the object's next segment.
pub async fn append_object(
    ctx: &RequestContext<'_>,
    req: AppendObjectRequest,
    body: &mut Incoming,
) -> Result<Response<Body>, ApiError> {
    let position = req.position;
    let (b, k) = (req.bucket.clone(), req.key.clone());
    let current = ctx.store(move |s| s.object_head(&b, &k)).await?;
    match &current {
        Some(o) if o.object_type != ObjectType::Appendable => {
            return Err(ApiError::new(ErrorCode::ObjectNotAppendable));
        }
        Some(o) if o.size != position => return Err(position_mismatch(o.size)),
        None if position != 0 => return Err(position_mismatch(0)),
        _ => {}
    }
    let checks = BodyChecks::from_payload(&req.payload)?;
    if !req.payload.has_length() {
        return Err(ApiError::new(ErrorCode::MissingContentLength));
    }
    let max = limits::MAX_OBJECT_PUT_SIZE.saturating_sub(position);
    let blob = body::ingest(&ctx.state.store, body, &checks, max).await?;
    let row = ctx
        .state
        .store
        .append_object_async(&req, blob, ctx.now)
        .await
        .map_err(append_error)?;
    let mut r = response::empty(StatusCode::OK);
    set_header(&mut r, "etag", &row.etag);
    set_header(&mut r, NEXT_POSITION_HEADER, &row.size.to_string());
    set_header(&mut r, "x-oss-hash-crc64ecma", &row.crc64.to_string());
    object_headers::encryption(&mut r, &row.meta);
    Ok(r)
}
