//! Multipart upload: initiate, upload part (and copy), complete, abort, list uploads and parts.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::{Response, StatusCode};
use hyper::body::Incoming;
use osspart_protocol::range::ByteRange;
use osspart_protocol::xml::multipart::{
    CompleteMultipartUpload, CompleteMultipartUploadResult, CopyPartResult,
    InitiateMultipartUploadResult, ListMultipartUploadsResult, ListPartsResult, Part, Upload,
};
use osspart_protocol::xml::object::CommonPrefix;
use osspart_protocol::{limits, time_fmt, xml, ErrorCode};

use super::object::{evaluate, load, Verdict};
use super::{encoding_type, maybe_encode, object_headers, read};
use crate::http::body::{self, BodyChecks};
use crate::http::operation::{
    CompleteRequest, InitiateRequest, ListPartsRequest, ListUploadsRequest, UploadPartCopyRequest,
    UploadPartRequest,
};
use crate::http::response::{self, set_header, Body};
use crate::http::service::RequestContext;
use crate::http::ApiError;
use crate::store::{CompleteParts, Md5Chain, PartRow, PartTarget};

/// InitiateMultipartUpload: records the upload and the future object's metadata.
pub async fn initiate(
    ctx: &RequestContext<'_>,
    req: InitiateRequest,
) -> Result<Response<Body>, ApiError> {
    let now = ctx.now;
    let initiate = req.clone();
    let upload = ctx.store(move |s| s.create_upload(&initiate, now)).await?;
    let InitiateRequest {
        bucket,
        key,
        url_encoding,
        ..
    } = req;
    let mut r = response::xml_ok(&InitiateMultipartUploadResult {
        bucket,
        key: maybe_encode(&key, url_encoding),
        upload_id: upload.upload_id,
        encoding_type: encoding_type(url_encoding),
    });
    object_headers::encryption(&mut r, &upload.meta);
    Ok(r)
}

fn part_response(part: &PartRow, md5: Option<[u8; 16]>) -> Response<Body> {
    let mut r = response::empty(StatusCode::OK);
    set_header(&mut r, "etag", &part.etag);
    set_header(&mut r, "x-oss-hash-crc64ecma", &part.crc64.to_string());
    if let Some(md5) = md5 {
        set_header(&mut r, "content-md5", &STANDARD.encode(md5));
    }
    r
}

async fn require_upload(
    ctx: &RequestContext<'_>,
    bucket: &str,
    key: &str,
    upload_id: &str,
) -> Result<(), ApiError> {
    let (b, k, u) = (bucket.to_owned(), key.to_owned(), upload_id.to_owned());
    ctx.store(move |s| s.check_upload(&b, &k, &u)).await?;
    Ok(())
}

/// [`require_upload`] for a part about to be received: also the MD5 chain the part continues
/// when the upload is sequential, refusing a part out of order before a byte is read.
async fn require_upload_for_part(
    ctx: &RequestContext<'_>,
    part: PartTarget<'_>,
) -> Result<Option<Md5Chain>, ApiError> {
    let (b, k, u) = (
        part.bucket.to_owned(),
        part.key.to_owned(),
        part.upload_id.to_owned(),
    );
    let part_number = part.part_number;
    let chain = ctx
        .store(move |s| {
            s.sequential_chain(PartTarget {
                bucket: &b,
                key: &k,
                upload_id: &u,
                part_number,
            })
        })
        .await?;
    Ok(chain)
}

/// UploadPart: the upload must exist before a byte is read; the part replaces any earlier
/// part with the same number.
pub async fn upload_part(
    ctx: &RequestContext<'_>,
    req: UploadPartRequest,
    body: &mut Incoming,
) -> Result<Response<Body>, ApiError> {
    let chain = require_upload_for_part(ctx, PartTarget::from(&req)).await?;
    let checks = BodyChecks::from_payload(&req.payload)?;
    if !req.payload.has_length() {
        return Err(ApiError::new(ErrorCode::MissingContentLength));
    }
    let blob = body::ingest_chained(
        &ctx.state.store,
        body,
        &checks,
        limits::MAX_PART_SIZE,
        chain,
    )
    .await?;
    let md5 = blob.md5;
    let part = ctx
        .state
        .store
        .put_part_async(PartTarget::from(&req), blob, ctx.now)
        .await?;
    Ok(part_response(&part, Some(md5)))
}

/// UploadPartCopy: copies a range of an existing object into a new part.
pub async fn upload_part_copy(
    ctx: &RequestContext<'_>,
    req: UploadPartCopyRequest,
) -> Result<Response<Body>, ApiError> {
    let chain = require_upload_for_part(ctx, PartTarget::from(&req)).await?;
    let source = &req.source;
    let src = load(ctx, &source.bucket, &source.key).await?;
    if let Verdict::NotModified = evaluate(&source.conditions, &src)? {
        return Err(ApiError::new(ErrorCode::PreconditionFailed)
            .with("Condition", "x-oss-copy-source-if-none-match"));
    }
    let (first, last) = match source.range {
        None if src.size == 0 => (0, 0),
        None => (0, src.size - 1),
        // An explicit last byte must lie inside the source; `bytes=a-` (oss2's "to the end")
        // ends at its end. OSS documents no suffix form for copies.
        Some(r) => match r {
            ByteRange::FromTo(a, b) => (a < src.size && b < src.size).then_some((a, b)),
            ByteRange::From(a) => ByteRange::From(a).resolve(src.size),
            ByteRange::Suffix(_) => None,
        }
        .ok_or_else(|| {
            ApiError::invalid_argument("x-oss-copy-source-range", &r.to_header())
                .with_message("The copy range is outside the source object.")
        })?,
    };
    let len = if src.size == 0 { 0 } else { last - first + 1 };
    if len > limits::MAX_PART_SIZE {
        return Err(ApiError::new(ErrorCode::EntityTooLarge));
    }
    let now = ctx.now;
    let part = ctx
        .store(move |s| {
            let mut writer = s.blob_writer()?;
            if let Some(chain) = chain {
                writer.continue_chain(chain);
            }
            if len > 0 {
                read::for_each_chunk(s, &src.manifest, first, last, |chunk| writer.write(chunk))?;
            }
            let blob = writer.finish()?;
            s.put_part(PartTarget::from(&req), blob, now)
        })
        .await?;
    let mut r = response::xml_ok(&CopyPartResult {
        last_modified: time_fmt::xml_timestamp(part.last_modified),
        etag: part.etag.clone(),
    });
    set_header(&mut r, "etag", &part.etag);
    set_header(&mut r, "x-oss-hash-crc64ecma", &part.crc64.to_string());
    Ok(r)
}

/// CompleteMultipartUpload: one metadata transaction; no part data is copied.
pub async fn complete(
    ctx: &RequestContext<'_>,
    req: CompleteRequest,
    body: &mut Incoming,
) -> Result<Response<Body>, ApiError> {
    require_upload(ctx, &req.bucket, &req.key, &req.upload_id).await?;
    let checks = BodyChecks::from_payload(&req.payload)?;
    let bytes = body::collect(body, &checks, limits::MAX_XML_BODY).await?;
    let parts = if req.complete_all {
        if !bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::new(ErrorCode::InvalidArgument)
                .with_message(
                    "x-oss-complete-all:yes cannot be combined with a part list in the body.",
                )
                .with_ec("0042-00000216"));
        }
        CompleteParts::All
    } else {
        let doc: CompleteMultipartUpload = xml::from_xml(&bytes)
            .map_err(|e| ApiError::new(ErrorCode::MalformedXML).with_message(e.to_string()))?;
        if doc.parts.is_empty() {
            return Err(ApiError::new(ErrorCode::MalformedXML)
                .with_message("CompleteMultipartUpload lists no parts."));
        }
        CompleteParts::Listed(
            doc.parts
                .into_iter()
                .map(|p| (p.part_number, p.etag))
                .collect(),
        )
    };
    let now = ctx.now;
    let complete = req.clone();
    let object = ctx
        .store(move |s| s.complete_upload(&complete, parts, now))
        .await?;
    let CompleteRequest {
        bucket,
        key,
        url_encoding,
        ..
    } = req;
    let host = if ctx.host.is_empty() {
        "localhost"
    } else {
        ctx.host
    };
    let mut r = response::xml_ok(&CompleteMultipartUploadResult {
        encoding_type: encoding_type(url_encoding),
        location: format!(
            "http://{host}/{bucket}/{}",
            osspart_protocol::encoding::encode_path(&key)
        ),
        bucket,
        key: maybe_encode(&key, url_encoding),
        etag: object.etag.clone(),
    });
    set_header(&mut r, "etag", &object.etag);
    set_header(&mut r, "x-oss-hash-crc64ecma", &object.crc64.to_string());
    object_headers::encryption(&mut r, &object.meta);
    Ok(r)
}

/// AbortMultipartUpload: `204`; the parts are gone and the id is unknown afterwards.
pub async fn abort(
    ctx: &RequestContext<'_>,
    bucket: String,
    key: String,
    upload_id: String,
) -> Result<Response<Body>, ApiError> {
    ctx.store(move |s| s.abort_upload(&bucket, &key, &upload_id))
        .await?;
    Ok(response::empty(StatusCode::NO_CONTENT))
}

/// ListParts: one page of parts in ascending number.
pub async fn list_parts(
    ctx: &RequestContext<'_>,
    req: ListPartsRequest,
) -> Result<Response<Body>, ApiError> {
    let list = req.clone();
    let page = ctx.store(move |s| s.list_parts(&list)).await?;
    let ListPartsRequest {
        bucket,
        key,
        upload_id,
        part_number_marker,
        max_parts,
        url_encoding,
    } = req;
    Ok(response::xml_ok(&ListPartsResult {
        bucket,
        key: maybe_encode(&key, url_encoding),
        upload_id,
        storage_class: "Standard".to_owned(),
        part_number_marker,
        next_part_number_marker: page.next_part_number_marker,
        max_parts,
        is_truncated: page.is_truncated,
        encoding_type: encoding_type(url_encoding),
        parts: page
            .parts
            .iter()
            .map(|p| Part {
                part_number: p.part_number,
                last_modified: time_fmt::xml_timestamp(p.last_modified),
                etag: p.etag.clone(),
                hash_crc64ecma: Some(p.crc64),
                size: p.size,
            })
            .collect(),
    }))
}

/// ListMultipartUploads: in-progress uploads by key then upload id, with roll-up.
pub async fn list_uploads(
    ctx: &RequestContext<'_>,
    req: ListUploadsRequest,
) -> Result<Response<Body>, ApiError> {
    let list = req.clone();
    let page = ctx.store(move |s| s.list_uploads(&list)).await?;
    let ListUploadsRequest {
        bucket,
        prefix,
        delimiter,
        key_marker,
        upload_id_marker,
        max_uploads,
        url_encoding,
    } = req;
    let enc = |s: &str| maybe_encode(s, url_encoding);
    Ok(response::xml_ok(&ListMultipartUploadsResult {
        bucket,
        key_marker: enc(&key_marker),
        upload_id_marker,
        next_key_marker: enc(&page.next_marker),
        next_upload_id_marker: page.next_upload_id_marker.clone(),
        delimiter: enc(&delimiter),
        prefix: enc(&prefix),
        max_uploads,
        is_truncated: page.is_truncated,
        encoding_type: encoding_type(url_encoding),
        uploads: page
            .entries
            .iter()
            .map(|u| Upload {
                key: enc(&u.key),
                upload_id: u.upload_id.clone(),
                storage_class: "Standard".to_owned(),
                initiated: time_fmt::xml_timestamp(u.initiated),
            })
            .collect(),
        common_prefixes: page
            .common_prefixes
            .iter()
            .map(|p| CommonPrefix { prefix: enc(p) })
            .collect(),
    }))
}
