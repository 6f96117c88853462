//! Object operations: put, get (with ranges and conditions), head, delete, copy.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::{Response, StatusCode};
use hyper::body::Incoming;
use osspart_protocol::attributes::{Acl, TagSet};
use osspart_protocol::xml::object::{
    CopyObjectResult, DeleteMultipleObjects, DeleteResult, DeletedObject, Tagging,
};
use osspart_protocol::{limits, time_fmt, xml, ErrorCode};

use super::{encoding_type, maybe_encode, object_headers, read};
use crate::http::body::{self, BodyChecks};
use crate::http::operation::Conditions;
use crate::http::operation::{CopyObjectRequest, GetObjectRequest, Payload, PutObjectRequest};
use crate::http::response::{self, set_header, Body};
use crate::http::service::RequestContext;
use crate::http::ApiError;
use crate::store::{ObjectMeta, ObjectRow};

/// Loads an object, distinguishing a missing bucket from a missing key.
pub async fn load(
    ctx: &RequestContext<'_>,
    bucket: &str,
    key: &str,
) -> Result<ObjectRow, ApiError> {
    let (b, k) = (bucket.to_owned(), key.to_owned());
    ctx.store(move |s| s.object(&b, &k))
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NoSuchKey).with("Key", key))
}

/// Whether an `If-Match`/`If-None-Match` list (`*`, weak `W/` tags allowed) names `etag`.
fn etag_matches(list: &str, etag: &str) -> bool {
    list.split(',')
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || osspart_protocol::etag::same(t, etag))
}

/// Outcome of evaluating conditional headers.
pub enum Verdict {
    /// Serve the object.
    Proceed,
    /// `304 Not Modified`.
    NotModified,
}

/// Evaluates If-Match / If-None-Match / If-Modified-Since / If-Unmodified-Since.
pub fn evaluate(c: &Conditions, o: &ObjectRow) -> Result<Verdict, ApiError> {
    let modified = o.last_modified.unix_timestamp();
    let failed = || ApiError::new(ErrorCode::PreconditionFailed);
    if let Some(m) = &c.if_match {
        if !etag_matches(m, &o.etag) {
            return Err(failed().with("Condition", "If-Match"));
        }
    } else if let Some(t) = c
        .if_unmodified_since
        .as_deref()
        .and_then(time_fmt::parse_http_date)
    {
        if modified > t.unix_timestamp() {
            return Err(failed().with("Condition", "If-Unmodified-Since"));
        }
    }
    if let Some(m) = &c.if_none_match {
        if etag_matches(m, &o.etag) {
            return Ok(Verdict::NotModified);
        }
    } else if let Some(t) = c
        .if_modified_since
        .as_deref()
        .and_then(time_fmt::parse_http_date)
    {
        if modified <= t.unix_timestamp() {
            return Ok(Verdict::NotModified);
        }
    }
    Ok(Verdict::Proceed)
}

fn not_modified(o: &ObjectRow) -> Response<Body> {
    let mut r = response::empty(StatusCode::NOT_MODIFIED);
    object_headers::identity(&mut r, o);
    r
}

/// PutObject: streams the body into a blob, then records the object in one transaction.
pub async fn put_object(
    ctx: &RequestContext<'_>,
    req: PutObjectRequest,
    body: &mut Incoming,
) -> Result<Response<Body>, ApiError> {
    let payload = &req.payload;
    // A body small enough to be stored inline is read before the bucket is looked up: the
    // commit checks the bucket anyway, so a PUT to an existing bucket needs no extra read.
    // A larger one is refused before a byte is read. Either way a missing bucket is the error
    // reported first.
    let small = payload
        .content_length
        .is_some_and(|n| n <= ctx.state.store.inline_max());
    if !small {
        ctx.require_bucket(&req.bucket).await?;
    }
    let received = async {
        let checks = BodyChecks::from_payload(payload)?;
        if !payload.has_length() {
            return Err(ApiError::new(ErrorCode::MissingContentLength));
        }
        body::ingest(&ctx.state.store, body, &checks, limits::MAX_OBJECT_PUT_SIZE).await
    };
    let blob = match received.await {
        Ok(blob) => blob,
        Err(e) => {
            if small {
                ctx.require_bucket(&req.bucket).await?;
            }
            return Err(e);
        }
    };
    let row = ctx
        .state
        .store
        .put_object_async(&req, blob, ctx.now)
        .await?;
    let mut r = response::empty(StatusCode::OK);
    set_header(&mut r, "etag", &row.etag);
    set_header(&mut r, "x-oss-hash-crc64ecma", &row.crc64.to_string());
    if let Some(md5) = row.content_md5 {
        set_header(&mut r, "content-md5", &STANDARD.encode(md5));
    }
    object_headers::encryption(&mut r, &row.meta);
    Ok(r)
}

/// GetObject: whole object or one range, streamed from the blobs.
pub async fn get_object(
    ctx: &RequestContext<'_>,
    req: GetObjectRequest,
) -> Result<Response<Body>, ApiError> {
    let GetObjectRequest {
        bucket,
        key,
        range,
        standard_range,
        conditions,
        overrides,
    } = req;
    let mut o = load(ctx, &bucket, &key).await?;
    if let Verdict::NotModified = evaluate(&conditions, &o)? {
        return Ok(not_modified(&o));
    }
    let resolved = match range {
        None => None,
        Some(r) => match r.resolve(o.size) {
            Some(span) => Some(span),
            None if standard_range => {
                return Err(ApiError::new(ErrorCode::InvalidRange)
                    .with("ActualObjectSize", o.size.to_string()));
            }
            None => None,
        },
    };
    let (status, first, last) = match resolved {
        Some((a, b)) => (StatusCode::PARTIAL_CONTENT, a, b),
        None => (StatusCode::OK, 0, o.size.saturating_sub(1)),
    };
    let len = if o.size == 0 { 0 } else { last - first + 1 };
    let body = if len == 0 {
        response::full(bytes::Bytes::new())
    } else {
        // The headers below do not read the manifest; the stream takes it.
        let manifest = std::mem::take(&mut o.manifest);
        read::stream(ctx.state.store.clone(), manifest, first, last)
    };
    let mut r = Response::new(body);
    *r.status_mut() = status;
    object_headers::full(&mut r, &o, &overrides);
    set_header(&mut r, "content-length", &len.to_string());
    if status == StatusCode::PARTIAL_CONTENT {
        set_header(
            &mut r,
            "content-range",
            &format!("bytes {first}-{last}/{}", o.size),
        );
    }
    Ok(r)
}

/// HeadObject: GET's headers, no body.
pub async fn head_object(
    ctx: &RequestContext<'_>,
    bucket: String,
    key: String,
    conditions: Conditions,
) -> Result<Response<Body>, ApiError> {
    let o = load(ctx, &bucket, &key).await?;
    if let Verdict::NotModified = evaluate(&conditions, &o)? {
        return Ok(not_modified(&o));
    }
    let mut r = response::empty(StatusCode::OK);
    object_headers::full(&mut r, &o, &[]);
    set_header(&mut r, "content-length", &o.size.to_string());
    Ok(r)
}

/// GetObjectMeta: ETag, size, time and CRC only.
pub async fn get_object_meta(
    ctx: &RequestContext<'_>,
    bucket: String,
    key: String,
) -> Result<Response<Body>, ApiError> {
    let o = load(ctx, &bucket, &key).await?;
    let mut r = response::empty(StatusCode::OK);
    object_headers::identity(&mut r, &o);
    set_header(&mut r, "content-length", &o.size.to_string());
    set_header(
        &mut r,
        "x-oss-last-access-time",
        &time_fmt::http_date(o.last_modified),
    );
    Ok(r)
}

/// GetObjectAcl: the ACL the object was written with (`default` when none was given).
pub async fn get_object_acl(
    ctx: &RequestContext<'_>,
    bucket: String,
    key: String,
) -> Result<Response<Body>, ApiError> {
    let o = load(ctx, &bucket, &key).await?;
    let owner_id = ctx.require_bucket(&bucket).await?.owner;
    let owner = osspart_protocol::xml::bucket::Owner {
        id: owner_id.clone(),
        display_name: owner_id,
    };
    Ok(response::xml_ok(
        &osspart_protocol::xml::object::AccessControlPolicy {
            owner,
            access_control_list: osspart_protocol::xml::object::AccessControlList {
                grant: o.meta.acl.clone().unwrap_or_else(|| "default".to_owned()),
            },
        },
    ))
}

/// PutObjectAcl: sets the object's own ACL (`default` hands the decision back to the bucket).
pub async fn put_object_acl(
    ctx: &RequestContext<'_>,
    bucket: String,
    key: String,
    acl: Acl,
) -> Result<Response<Body>, ApiError> {
    ctx.store(move |s| {
        s.update_object_meta(&bucket, &key, move |m| {
            m.acl = (acl != Acl::Default).then(|| acl.as_str().to_owned());
            Ok(())
        })
    })
    .await?;
    Ok(response::empty(StatusCode::OK))
}

/// GetObjectTagging: the object's tags as a `<Tagging>` document.
pub async fn get_object_tagging(
    ctx: &RequestContext<'_>,
    bucket: String,
    key: String,
) -> Result<Response<Body>, ApiError> {
    let o = load(ctx, &bucket, &key).await?;
    let tags = o
        .meta
        .tagging
        .as_deref()
        .map(TagSet::from_header)
        .transpose()
        .map_err(|e| ApiError::new(ErrorCode::InternalError).with_message(e.to_string()))?
        .unwrap_or_default();
    let body = Tagging::of(&tags);
    Ok(response::xml_ok(&body))
}

/// PutObjectTagging: replaces the object's tags with those of the `<Tagging>` body.
pub async fn put_object_tagging(
    ctx: &RequestContext<'_>,
    bucket: String,
    key: String,
    payload: Payload,
    body: &mut Incoming,
) -> Result<Response<Body>, ApiError> {
    let checks = BodyChecks::from_payload(&payload)?;
    let bytes = body::collect(body, &checks, limits::MAX_XML_BODY).await?;
    let doc: Tagging = xml::from_xml(&bytes)
        .map_err(|e| ApiError::new(ErrorCode::MalformedXML).with_message(e.to_string()))?;
    let tags = doc.into_tag_set().map_err(|e| {
        ApiError::new(ErrorCode::InvalidArgument)
            .with_message(e.to_string())
            .with("ArgumentName", "Tagging")
    })?;
    ctx.store(move |s| {
        s.update_object_meta(&bucket, &key, move |m| {
            m.tagging = (!tags.is_empty()).then(|| tags.to_header());
            Ok(())
        })
    })
    .await?;
    Ok(response::empty(StatusCode::OK))
}

/// DeleteObjectTagging: removes every tag of the object (`204`).
pub async fn delete_object_tagging(
    ctx: &RequestContext<'_>,
    bucket: String,
    key: String,
) -> Result<Response<Body>, ApiError> {
    ctx.store(move |s| {
        s.update_object_meta(&bucket, &key, |m| {
            m.tagging = None;
            Ok(())
        })
    })
    .await?;
    Ok(response::empty(StatusCode::NO_CONTENT))
}

/// DeleteObject: `204` whether or not the key existed.
pub async fn delete_object(
    ctx: &RequestContext<'_>,
    bucket: String,
    key: String,
) -> Result<Response<Body>, ApiError> {
    ctx.store(move |s| s.delete_object(&bucket, &key)).await?;
    Ok(response::empty(StatusCode::NO_CONTENT))
}

/// DeleteMultipleObjects: deletes up to 1000 keys; lists them unless quiet.
pub async fn delete_multiple(
    ctx: &RequestContext<'_>,
    bucket: String,
    url_encoding: bool,
    payload: Payload,
    body: &mut Incoming,
) -> Result<Response<Body>, ApiError> {
    ctx.require_bucket(&bucket).await?;
    let checks = BodyChecks::from_payload(&payload)?;
    let bytes = body::collect(body, &checks, limits::MAX_XML_BODY).await?;
    let req: DeleteMultipleObjects = xml::from_xml(&bytes)
        .map_err(|e| ApiError::new(ErrorCode::MalformedXML).with_message(e.to_string()))?;
    if req.objects.is_empty() || req.objects.len() > limits::MAX_DELETE_OBJECTS {
        return Err(ApiError::new(ErrorCode::MalformedXML).with_message(format!(
            "Delete must name 1 to {} objects.",
            limits::MAX_DELETE_OBJECTS
        )));
    }
    let keys: Vec<String> = req.objects.into_iter().map(|o| o.key).collect();
    if let Some(bad) = keys.iter().find(|k| !limits::is_valid_object_key(k)) {
        return Err(ApiError::new(ErrorCode::InvalidObjectName).with("Key", bad.clone()));
    }
    let quiet = req.quiet.unwrap_or(false);
    let deleted_keys = keys.clone();
    ctx.store(move |s| s.delete_objects(&bucket, keys)).await?;
    let result = DeleteResult {
        encoding_type: encoding_type(url_encoding),
        deleted: if quiet {
            Vec::new()
        } else {
            deleted_keys
                .iter()
                .map(|k| DeletedObject {
                    key: maybe_encode(k, url_encoding),
                })
                .collect()
        },
    };
    Ok(response::xml_ok(&result))
}

/// CopyObject: the new object shares the source's blobs; metadata copied or replaced.
pub async fn copy_object(
    ctx: &RequestContext<'_>,
    req: CopyObjectRequest,
) -> Result<Response<Body>, ApiError> {
    ctx.require_bucket(&req.bucket).await?;
    let src = load(ctx, &req.source.bucket, &req.source.key).await?;
    if let Verdict::NotModified = evaluate(&req.source.conditions, &src)? {
        return Err(ApiError::new(ErrorCode::PreconditionFailed)
            .with("Condition", "x-oss-copy-source-if-none-match"));
    }
    let meta = copy_meta(&src.meta, &req);
    let now = ctx.now;
    let row = ctx
        .store(move |s| s.copy_object(&req, Some(meta), now))
        .await?;
    let mut r = response::xml_ok(&CopyObjectResult {
        last_modified: time_fmt::xml_timestamp(row.last_modified),
        etag: row.etag.clone(),
    });
    set_header(&mut r, "etag", &row.etag);
    set_header(&mut r, "x-oss-hash-crc64ecma", &row.crc64.to_string());
    object_headers::encryption(&mut r, &row.meta);
    Ok(r)
}

/// The metadata of a copy: the source's or the request's (metadata directive), with the
/// attributes the request names (storage class, ACL, encryption) replacing the source's, and
/// the source's tags unless the tagging directive is REPLACE.
fn copy_meta(source: &ObjectMeta, req: &CopyObjectRequest) -> ObjectMeta {
    let mut meta = req.replace_meta.clone().unwrap_or_else(|| source.clone());
    let attributes = &req.attributes;
    let keep = |given: &Option<String>, old: &Option<String>| given.clone().or_else(|| old.clone());
    meta.storage_class = keep(&attributes.storage_class, &source.storage_class);
    meta.acl = keep(&attributes.acl, &source.acl);
    if attributes.server_side_encryption.is_some() {
        meta.server_side_encryption = attributes.server_side_encryption.clone();
        meta.sse_key_id = attributes.sse_key_id.clone();
    } else {
        meta.server_side_encryption = source.server_side_encryption.clone();
        meta.sse_key_id = source.sse_key_id.clone();
    }
    meta.tagging = if req.replace_tagging {
        attributes.tagging.clone()
    } else {
        source.tagging.clone()
    };
    meta
}
