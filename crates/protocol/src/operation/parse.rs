//! Parsing a request into an [`Operation`]: which API, its typed fields, and the refusals
//! (error code and fields) a malformed request gets. Every check here runs before a byte of the
//! body is read.

use http::{HeaderMap, Method};

use super::{
    continuation, decimal, AppendObjectRequest, CompleteRequest, Conditions, CopyObjectRequest,
    CopySource, GetObjectRequest, InitiateRequest, ListObjectsV2Request, ListPartsRequest,
    ListUploadsRequest, ObjectListing, ObjectMeta, Operation, OperationError, Payload,
    PreflightRequest, PutObjectRequest, Query, Target, UploadPartCopyRequest, UploadPartRequest,
    UNSUPPORTED_SUBRESOURCES,
};
use crate::attributes::{Acl, ServerSideEncryption, StorageClass, TagSet};
use crate::range;
use crate::{limits, ErrorCode};

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// A header whose presence changes the operation: a value that is not visible ASCII is
/// `InvalidArgument`, never taken as absent (a non-ASCII `x-oss-copy-source` must not turn a
/// copy into an empty PutObject).
fn required_ascii<'a>(
    headers: &'a HeaderMap,
    name: &str,
) -> Result<Option<&'a str>, OperationError> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v.to_str().map(|s| Some(s.trim())).map_err(|_| {
            OperationError::new(ErrorCode::InvalidArgument)
                .with_message(format!("The {name} header is not valid ASCII."))
                .with("ArgumentName", name)
                .with("ArgumentValue", String::from_utf8_lossy(v.as_bytes()))
        }),
    }
}

fn flag(headers: &HeaderMap, name: &str) -> bool {
    header(headers, name).is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// The stored metadata a PutObject / Initiate / CopyObject request carries.
pub fn object_meta(headers: &HeaderMap) -> ObjectMeta {
    let text = |name: &str| {
        headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_owned())
    };
    let mut user_meta: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(n, v)| {
            let name = n.as_str().strip_prefix("x-oss-meta-")?;
            Some((
                name.to_owned(),
                String::from_utf8_lossy(v.as_bytes()).trim().to_owned(),
            ))
        })
        .collect();
    user_meta.sort();
    ObjectMeta {
        content_type: text("content-type"),
        cache_control: text("cache-control"),
        content_disposition: text("content-disposition"),
        content_encoding: text("content-encoding"),
        content_language: text("content-language"),
        expires: text("expires"),
        user_meta,
        storage_class: text("x-oss-storage-class"),
        acl: text("x-oss-object-acl"),
        server_side_encryption: text("x-oss-server-side-encryption"),
        tagging: text("x-oss-tagging"),
        sse_key_id: text("x-oss-server-side-encryption-key-id"),
    }
}

/// `x-oss-metadata-directive` / `x-oss-tagging-directive`: true for `REPLACE`, false for
/// `COPY` or none; anything else is `InvalidArgument`.
fn directive(headers: &HeaderMap, name: &str) -> Result<bool, OperationError> {
    match header(headers, name) {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("COPY") => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("REPLACE") => Ok(true),
        Some(v) => Err(OperationError::invalid_argument(name, v)),
    }
}

/// Checks the typed attributes of a write as OSS does and puts them in their canonical form:
/// storage class, object ACL, server-side encryption (a key id only with KMS) and tags (OSS
/// limits; re-encoded). Refusals are `InvalidArgument` naming the header, except an unknown
/// encryption algorithm, which is `InvalidEncryptionAlgorithmError`.
pub fn checked_attributes(mut meta: ObjectMeta) -> Result<ObjectMeta, OperationError> {
    let empty_is_none = |v: &mut Option<String>| {
        if v.as_deref().is_some_and(str::is_empty) {
            *v = None;
        }
    };
    empty_is_none(&mut meta.storage_class);
    empty_is_none(&mut meta.acl);
    empty_is_none(&mut meta.server_side_encryption);
    empty_is_none(&mut meta.sse_key_id);
    if let Some(v) = &meta.storage_class {
        if StorageClass::parse(v).is_none() {
            return Err(OperationError::invalid_argument("x-oss-storage-class", v)
                .with_message(format!("Invalid storage class {v}.")));
        }
    }
    if let Some(v) = &meta.acl {
        if Acl::parse(v).is_none() {
            return Err(invalid_acl("x-oss-object-acl", v));
        }
    }
    match (&meta.server_side_encryption, &meta.sse_key_id) {
        (Some(v), _) if ServerSideEncryption::parse(v).is_none() => {
            return Err(
                OperationError::new(ErrorCode::InvalidEncryptionAlgorithmError)
                    .with_message(format!(
                        "The encryption method specified is not supported: {v}."
                    ))
                    .with("ArgumentName", "x-oss-server-side-encryption")
                    .with("ArgumentValue", v.clone()),
            );
        }
        (sse, Some(id)) if sse.as_deref() != Some(ServerSideEncryption::Kms.as_str()) => {
            return Err(OperationError::invalid_argument(
                "x-oss-server-side-encryption-key-id",
                id,
            )
            .with_message("A KMS key id needs x-oss-server-side-encryption: KMS."));
        }
        _ => {}
    }
    if let Some(v) = &meta.tagging {
        let tags = TagSet::from_header(v).map_err(|e| {
            OperationError::invalid_argument("x-oss-tagging", &truncate(v))
                .with_message(e.to_string())
        })?;
        meta.tagging = (!tags.is_empty()).then(|| tags.to_header());
    }
    Ok(meta)
}

/// Refuses stored headers larger than OSS allows (`InvalidArgument` naming the header), so that
/// a request cannot make the store keep (and every HEAD repeat) megabytes of headers: user
/// metadata up to [`limits::MAX_USER_META_SIZE`], the other stored headers together up to
/// [`limits::MAX_STORED_HEADERS_SIZE`].
fn checked_meta(meta: ObjectMeta) -> Result<ObjectMeta, OperationError> {
    let too_large = |name: &str, size: usize, limit: usize| {
        OperationError::new(ErrorCode::InvalidArgument)
            .with_message(format!(
                "{name} of {size} bytes exceeds the limit of {limit} bytes."
            ))
            .with("ArgumentName", name)
    };
    let size: usize = meta.user_meta.iter().map(|(n, v)| n.len() + v.len()).sum();
    if size > limits::MAX_USER_META_SIZE {
        return Err(too_large("x-oss-meta-*", size, limits::MAX_USER_META_SIZE));
    }
    let stored = [
        ("Content-Type", &meta.content_type),
        ("Cache-Control", &meta.cache_control),
        ("Content-Disposition", &meta.content_disposition),
        ("Content-Encoding", &meta.content_encoding),
        ("Content-Language", &meta.content_language),
        ("Expires", &meta.expires),
        ("x-oss-storage-class", &meta.storage_class),
        ("x-oss-object-acl", &meta.acl),
        ("x-oss-server-side-encryption", &meta.server_side_encryption),
        ("x-oss-server-side-encryption-key-id", &meta.sse_key_id),
        ("x-oss-tagging", &meta.tagging),
    ];
    let len = |value: &Option<String>| value.as_ref().map_or(0, String::len);
    let total: usize = stored.iter().map(|(_, v)| len(v)).sum();
    if total > limits::MAX_STORED_HEADERS_SIZE {
        // Name the largest one: it is the one to shorten.
        let name = stored
            .iter()
            .max_by_key(|(_, v)| len(v))
            .map_or("stored headers", |(n, _)| *n);
        return Err(too_large(name, total, limits::MAX_STORED_HEADERS_SIZE));
    }
    Ok(meta)
}

fn conditions(headers: &HeaderMap, prefix: &str) -> Conditions {
    let get = |n: &str| header(headers, &format!("{prefix}{n}")).map(str::to_owned);
    Conditions {
        if_match: get("if-match"),
        if_none_match: get("if-none-match"),
        if_modified_since: get("if-modified-since"),
        if_unmodified_since: get("if-unmodified-since"),
    }
}

fn copy_source(
    headers: &HeaderMap,
    value: &str,
    with_range: bool,
) -> Result<CopySource, OperationError> {
    let bad = || {
        OperationError::new(ErrorCode::InvalidArgument)
            .with_message("x-oss-copy-source is not valid.")
            .with("ArgumentName", "x-oss-copy-source")
            .with("ArgumentValue", value)
    };
    let raw = value.split_once('?').map_or(value, |(p, _)| p);
    let raw = raw.strip_prefix('/').unwrap_or(raw);
    let (bucket, key) = raw.split_once('/').ok_or_else(bad)?;
    let bucket = crate::encoding::decode_path(bucket).map_err(|_| bad())?;
    let key = crate::encoding::decode_path(key).map_err(|_| bad())?;
    if bucket.is_empty() || key.is_empty() {
        return Err(bad());
    }
    let range = match required_ascii(headers, "x-oss-copy-source-range")?.filter(|_| with_range) {
        None => None,
        Some(r) => match range::parse(r) {
            Some(range) => Some(range),
            None => {
                return Err(OperationError::invalid_argument(
                    "x-oss-copy-source-range",
                    r,
                ));
            }
        },
    };
    Ok(CopySource {
        bucket,
        key,
        range,
        conditions: conditions(headers, "x-oss-copy-source-"),
    })
}

fn part_number(query: &Query) -> Result<u32, OperationError> {
    let raw = query.get("partNumber").unwrap_or_default();
    decimal(raw)
        .filter(|n| limits::is_valid_part_number(*n))
        .ok_or_else(|| {
            OperationError::invalid_argument("partNumber", raw).with_message(format!(
                "Part number must be an integer between {} and {}.",
                limits::MIN_PART_NUMBER,
                limits::MAX_PART_NUMBER
            ))
        })
}

fn upload_id(query: &Query) -> Result<String, OperationError> {
    query
        .get("uploadId")
        .map(str::to_owned)
        .ok_or_else(|| OperationError::new(ErrorCode::NoSuchUpload).with("UploadId", ""))
}

/// Headers a request may carry at most once. A second copy would make what the client signed,
/// or which value the server checks, ambiguous (the signers fold repeats with `,` while the
/// checks read the first copy), so a repeat is refused rather than resolved.
const SINGLE_HEADERS: &[&str] = &[
    "authorization",
    "date",
    "x-oss-date",
    "content-md5",
    "content-type",
    "x-oss-content-sha256",
    "x-oss-security-token",
    "x-oss-copy-source",
    "x-oss-copy-source-range",
];

/// Refuses a request that repeats one of [`SINGLE_HEADERS`]: `InvalidDigest` for Content-MD5,
/// `InvalidArgument` naming the header otherwise.
fn check_single_headers(headers: &HeaderMap) -> Result<(), OperationError> {
    for name in SINGLE_HEADERS {
        if headers.get_all(*name).iter().nth(1).is_none() {
            continue;
        }
        let message = format!("The {name} header appears more than once.");
        return Err(if *name == "content-md5" {
            OperationError::new(ErrorCode::InvalidDigest).with_message(message)
        } else {
            OperationError::new(ErrorCode::InvalidArgument)
                .with_message(message)
                .with("ArgumentName", *name)
        });
    }
    Ok(())
}

/// `InvalidArgument` naming an ACL header and its value.
fn invalid_acl(name: &str, value: &str) -> OperationError {
    OperationError::invalid_argument(name, value)
        .with_message(format!("{name} is not a valid ACL."))
}

/// The ACL and tagging sub-resources (`?acl`, `?tagging`) of buckets and objects. Bucket
/// tagging is not served: it stays `NotImplemented` with the other unsupported sub-resources.
fn acl_or_tagging(
    method: &Method,
    target: &Target,
    query: &Query,
    headers: &HeaderMap,
    payload: &Payload,
) -> Result<Option<Operation>, OperationError> {
    let (acl, tagging) = (query.has("acl"), query.has("tagging"));
    if !acl && !tagging {
        return Ok(None);
    }
    let Some(bucket) = target.bucket.clone() else {
        return Ok(None);
    };
    let not_allowed =
        || OperationError::new(ErrorCode::MethodNotAllowed).with("Method", method.as_str());
    let op = match (target.key.clone(), acl) {
        (None, false) => {
            return Err(OperationError::new(ErrorCode::NotImplemented).with_message(
                "The tagging sub-resource of buckets is not supported by this server.",
            ))
        }
        (None, true) => match *method {
            Method::GET => Operation::GetBucketAcl { bucket },
            Method::PUT => {
                let value = header(headers, "x-oss-acl").unwrap_or_default();
                let acl =
                    Acl::parse_bucket(value).ok_or_else(|| invalid_acl("x-oss-acl", value))?;
                Operation::PutBucketAcl { bucket, acl }
            }
            _ => return Err(not_allowed()),
        },
        (Some(key), true) => match *method {
            Method::GET => Operation::GetObjectAcl { bucket, key },
            Method::PUT => {
                let value = header(headers, "x-oss-object-acl").unwrap_or_default();
                let acl =
                    Acl::parse(value).ok_or_else(|| invalid_acl("x-oss-object-acl", value))?;
                Operation::PutObjectAcl { bucket, key, acl }
            }
            _ => return Err(not_allowed()),
        },
        (Some(key), false) => match *method {
            Method::GET => Operation::GetObjectTagging { bucket, key },
            Method::PUT => Operation::PutObjectTagging {
                bucket,
                key,
                payload: payload.clone(),
            },
            Method::DELETE => Operation::DeleteObjectTagging { bucket, key },
            _ => return Err(not_allowed()),
        },
    };
    if let Operation::GetObjectAcl { key, .. }
    | Operation::PutObjectAcl { key, .. }
    | Operation::GetObjectTagging { key, .. }
    | Operation::PutObjectTagging { key, .. }
    | Operation::DeleteObjectTagging { key, .. } = &op
    {
        if !limits::is_valid_object_key(key) {
            return Err(
                OperationError::new(ErrorCode::InvalidObjectName).with("Key", truncate(key))
            );
        }
    }
    Ok(Some(op))
}

/// Parses a request into an [`Operation`], reading its body headers into the [`Payload`] of
/// the operations that carry a body.
pub fn parse(
    method: &Method,
    target: &Target,
    query: &Query,
    headers: &HeaderMap,
) -> Result<Operation, OperationError> {
    parse_with_payload(
        method,
        target,
        query,
        headers,
        &Payload::from_headers(headers),
    )
}

/// [`parse`] with the body headers already read (a receiver that needs the payload whether or
/// not the request parses, e.g. to decide whether to drain a refused body).
pub fn parse_with_payload(
    method: &Method,
    target: &Target,
    query: &Query,
    headers: &HeaderMap,
    payload: &Payload,
) -> Result<Operation, OperationError> {
    check_single_headers(headers)?;
    if let Some(op) = acl_or_tagging(method, target, query, headers, payload)? {
        return Ok(op);
    }
    let append = is_append(method, target, query);
    if let Some(sub) = UNSUPPORTED_SUBRESOURCES
        .iter()
        .filter(|s| !(append && matches!(**s, "append" | "position")))
        .find(|s| query.has(s))
    {
        return Err(
            OperationError::new(ErrorCode::NotImplemented).with_message(format!(
                "The {sub} sub-resource is not supported by this server."
            )),
        );
    }
    let not_allowed =
        || OperationError::new(ErrorCode::MethodNotAllowed).with("Method", method.as_str());
    let Some(bucket) = target.bucket.clone() else {
        return match *method {
            Method::GET => Ok(Operation::ListBuckets {
                prefix: query.text("prefix"),
                marker: query.text("marker"),
                max_keys: query.number(
                    "max-keys",
                    1,
                    limits::MAX_KEYS_PER_PAGE,
                    limits::MAX_KEYS_PER_PAGE,
                )?,
            }),
            _ => Err(not_allowed()),
        };
    };
    if *method == Method::OPTIONS {
        let origin = header(headers, "origin").unwrap_or_default().to_owned();
        let req_method = header(headers, "access-control-request-method")
            .unwrap_or_default()
            .to_owned();
        let req_headers = header(headers, "access-control-request-headers")
            .map(|h| {
                h.split(',')
                    .map(|s| s.trim().to_ascii_lowercase())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        return Ok(Operation::Preflight(PreflightRequest {
            bucket,
            origin,
            method: req_method,
            headers: req_headers,
        }));
    }
    let Some(key) = target.key.clone() else {
        let acl = match header(headers, "x-oss-acl") {
            None => None,
            Some(v) => Some(Acl::parse_bucket(v).ok_or_else(|| invalid_acl("x-oss-acl", v))?),
        };
        return bucket_operation(method, bucket, query, acl, payload).ok_or_else(not_allowed)?;
    };
    if !limits::is_valid_object_key(&key) {
        return Err(OperationError::new(ErrorCode::InvalidObjectName).with("Key", truncate(&key)));
    }
    let forbid_overwrite = flag(headers, "x-oss-forbid-overwrite");
    let op = match *method {
        Method::PUT if query.has("uploadId") || query.has("partNumber") => {
            let upload_id = upload_id(query)?;
            let part_number = part_number(query)?;
            match required_ascii(headers, "x-oss-copy-source")? {
                Some(src) => Operation::UploadPartCopy(UploadPartCopyRequest {
                    source: copy_source(headers, src, true)?,
                    bucket,
                    key,
                    upload_id,
                    part_number,
                }),
                None => Operation::UploadPart(UploadPartRequest {
                    bucket,
                    key,
                    upload_id,
                    part_number,
                    payload: payload.clone(),
                }),
            }
        }
        Method::PUT => match required_ascii(headers, "x-oss-copy-source")? {
            Some(src) => {
                let replace = directive(headers, "x-oss-metadata-directive")?;
                let replace_tagging = directive(headers, "x-oss-tagging-directive")?;
                let attributes = checked_attributes(object_meta(headers))?;
                Operation::CopyObject(Box::new(CopyObjectRequest {
                    source: copy_source(headers, src, false)?,
                    replace_meta: replace
                        .then(|| object_meta(headers))
                        .map(checked_meta)
                        .transpose()?,
                    attributes,
                    replace_tagging,
                    bucket,
                    key,
                    forbid_overwrite,
                }))
            }
            None => Operation::PutObject(PutObjectRequest {
                meta: checked_attributes(checked_meta(object_meta(headers))?)?,
                bucket,
                key,
                forbid_overwrite,
                payload: payload.clone(),
            }),
        },
        Method::POST if query.has("append") => Operation::AppendObject(AppendObjectRequest {
            position: append_position(query)?,
            payload: payload.clone(),
            meta: checked_attributes(checked_meta(object_meta(headers))?)?,
            bucket,
            key,
        }),
        Method::POST if query.has("uploads") => {
            Operation::InitiateMultipartUpload(InitiateRequest {
                meta: checked_attributes(checked_meta(object_meta(headers))?)?,
                url_encoding: query.url_encoding()?,
                sequential: query.has("sequential"),
                bucket,
                key,
                forbid_overwrite,
            })
        }
        Method::POST if query.has("uploadId") => {
            Operation::CompleteMultipartUpload(CompleteRequest {
                upload_id: upload_id(query)?,
                payload: payload.clone(),
                complete_all: header(headers, "x-oss-complete-all")
                    .is_some_and(|v| v.eq_ignore_ascii_case("yes")),
                url_encoding: query.url_encoding()?,
                bucket,
                key,
                forbid_overwrite,
            })
        }
        Method::GET if query.has("uploadId") => Operation::ListParts(ListPartsRequest {
            upload_id: upload_id(query)?,
            part_number_marker: query.number("part-number-marker", 0, u32::MAX, 0)?,
            max_parts: query.number(
                "max-parts",
                1,
                limits::MAX_PARTS_PER_PAGE,
                limits::MAX_PARTS_PER_PAGE,
            )?,
            url_encoding: query.url_encoding()?,
            bucket,
            key,
        }),
        Method::GET => Operation::GetObject(GetObjectRequest {
            range: header(headers, "range").and_then(range::parse),
            standard_range: header(headers, "x-oss-range-behavior")
                .is_some_and(|v| v.eq_ignore_ascii_case("standard")),
            conditions: conditions(headers, ""),
            overrides: response_overrides(query),
            bucket,
            key,
        }),
        Method::HEAD if query.has("objectMeta") => Operation::GetObjectMeta { bucket, key },
        Method::HEAD => Operation::HeadObject {
            conditions: conditions(headers, ""),
            bucket,
            key,
        },
        Method::DELETE if query.has("uploadId") => Operation::AbortMultipartUpload {
            upload_id: upload_id(query)?,
            bucket,
            key,
        },
        Method::DELETE => Operation::DeleteObject { bucket, key },
        _ => return Err(not_allowed()),
    };
    Ok(op)
}

/// Whether the request is AppendObject (`POST /<bucket>/<key>?append`). Elsewhere `append`
/// names no operation and is refused like the other unsupported sub-resources, so that
/// `PUT /<bucket>?append` never creates a bucket.
fn is_append(method: &Method, target: &Target, query: &Query) -> bool {
    *method == Method::POST && target.key.is_some() && query.has("append")
}

/// AppendObject's `position`: required, decimal, 64 bits.
fn append_position(query: &Query) -> Result<u64, OperationError> {
    let value = query.get("position").ok_or_else(|| {
        OperationError::new(ErrorCode::InvalidArgument)
            .with_message("AppendObject needs the position parameter.")
            .with("ArgumentName", "position")
            .with("ArgumentValue", "")
    })?;
    Some(value)
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| OperationError::invalid_argument("position", value))
}

fn bucket_operation(
    method: &Method,
    bucket: String,
    query: &Query,
    acl: Option<Acl>,
    payload: &Payload,
) -> Option<Result<Operation, OperationError>> {
    // Multipart parameters on a bucket-level PUT or DELETE mean the key went missing; treating
    // the request as PutBucket or DeleteBucket would create or remove a bucket by accident.
    let multipart = ["uploadId", "partNumber", "uploads"]
        .iter()
        .any(|p| query.has(p));
    if multipart && matches!(*method, Method::PUT | Method::DELETE) {
        return None;
    }
    let op = match *method {
        Method::PUT if query.has("cors") => Operation::PutBucketCors {
            bucket,
            payload: payload.clone(),
        },
        Method::PUT => Operation::PutBucket {
            bucket,
            acl,
            payload: payload.clone(),
        },
        Method::HEAD => Operation::HeadBucket { bucket },
        Method::GET if query.has("cors") => Operation::GetBucketCors { bucket },
        Method::GET if query.has("bucketInfo") => Operation::GetBucketInfo { bucket },
        Method::GET if query.has("location") => Operation::GetBucketLocation { bucket },
        Method::GET if query.has("uploads") => {
            let parsed = (|| {
                Ok(Operation::ListMultipartUploads(ListUploadsRequest {
                    prefix: query.text("prefix"),
                    delimiter: query.text("delimiter"),
                    key_marker: query.text("key-marker"),
                    upload_id_marker: query.text("upload-id-marker"),
                    max_uploads: query.number(
                        "max-uploads",
                        1,
                        limits::MAX_UPLOADS_PER_PAGE,
                        limits::MAX_UPLOADS_PER_PAGE,
                    )?,
                    url_encoding: query.url_encoding()?,
                    bucket,
                }))
            })();
            return Some(parsed);
        }
        Method::GET => return Some(listing(bucket, query)),
        Method::DELETE if query.has("cors") => Operation::DeleteBucketCors { bucket },
        Method::DELETE => Operation::DeleteBucket { bucket },
        Method::POST if query.has("delete") => {
            return Some(query.url_encoding().map(|url_encoding| {
                Operation::DeleteMultipleObjects {
                    bucket,
                    url_encoding,
                    payload: payload.clone(),
                }
            }));
        }
        _ => return None,
    };
    Some(Ok(op))
}

fn listing(bucket: String, query: &Query) -> Result<Operation, OperationError> {
    let max_keys = query.number(
        "max-keys",
        1,
        limits::MAX_KEYS_PER_PAGE,
        limits::DEFAULT_MAX_KEYS,
    )?;
    let url_encoding = query.url_encoding()?;
    if query.get("list-type") == Some("2") {
        let continuation_token = query.text("continuation-token");
        let start_after = query.text("start-after");
        let marker = if continuation_token.is_empty() {
            start_after.clone()
        } else {
            continuation::decode(&continuation_token).ok_or_else(|| {
                OperationError::invalid_argument("continuation-token", &continuation_token)
            })?
        };
        Ok(Operation::ListObjectsV2(ListObjectsV2Request {
            listing: ObjectListing {
                prefix: query.text("prefix"),
                delimiter: query.text("delimiter"),
                marker,
                max_keys,
                url_encoding,
            },
            continuation_token,
            start_after,
            fetch_owner: query.get("fetch-owner") == Some("true"),
            bucket,
        }))
    } else {
        Ok(Operation::ListObjects {
            listing: ObjectListing {
                prefix: query.text("prefix"),
                delimiter: query.text("delimiter"),
                marker: query.text("marker"),
                max_keys,
                url_encoding,
            },
            bucket,
        })
    }
}

fn response_overrides(query: &Query) -> Vec<(String, String)> {
    const OVERRIDES: &[(&str, &str)] = &[
        ("response-content-type", "content-type"),
        ("response-content-language", "content-language"),
        ("response-expires", "expires"),
        ("response-cache-control", "cache-control"),
        ("response-content-disposition", "content-disposition"),
        ("response-content-encoding", "content-encoding"),
    ];
    OVERRIDES
        .iter()
        .filter_map(|(param, header)| {
            query
                .get(param)
                .map(|v| ((*header).to_owned(), v.to_owned()))
        })
        .collect()
}

/// A key shortened for an error body, so a hostile 1 MiB key is not echoed back whole.
fn truncate(key: &str) -> String {
    key.char_indices()
        .take_while(|(i, _)| *i < 1100)
        .map(|(_, c)| c)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operation::OPERATION_NAMES;

    #[test]
    fn query_integers_are_plain_digits() {
        assert_eq!(decimal("1"), Some(1));
        assert_eq!(decimal("0010"), Some(10));
        for bad in ["+1", " 1", "1 ", "-1", "", "1e3", "0x10", "4294967296", "١"] {
            assert_eq!(decimal(bad), None, "{bad:?}");
        }
        let q = Query(vec![("partNumber".into(), "+1".into())]);
        assert_eq!(
            part_number(&q).unwrap_err().code,
            ErrorCode::InvalidArgument
        );
    }

    #[test]
    fn user_metadata_is_bounded() {
        let mut h = HeaderMap::new();
        h.append("x-oss-meta-a", "v".repeat(8000).parse().unwrap());
        assert!(checked_meta(object_meta(&h)).is_ok());
        h.append("x-oss-meta-b", "v".repeat(200).parse().unwrap());
        assert_eq!(
            checked_meta(object_meta(&h)).unwrap_err().code,
            ErrorCode::InvalidArgument
        );
    }

    #[test]
    fn every_stored_header_is_bounded() {
        for name in [
            "content-type",
            "cache-control",
            "content-disposition",
            "content-encoding",
            "content-language",
            "expires",
            "x-oss-tagging",
        ] {
            let mut h = HeaderMap::new();
            h.append(
                name,
                "v".repeat(limits::MAX_STORED_HEADERS_SIZE).parse().unwrap(),
            );
            assert!(checked_meta(object_meta(&h)).is_ok(), "{name}");
            h.append("content-md5", "not stored".parse().unwrap());
            h.append("x-oss-meta-a", "1".parse().unwrap());
            assert!(checked_meta(object_meta(&h)).is_ok(), "{name}");
            let other = if name == "expires" {
                "cache-control"
            } else {
                "expires"
            };
            h.append(other, "v".parse().unwrap());
            let err = checked_meta(object_meta(&h)).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidArgument, "{name}");
        }
    }

    #[test]
    fn non_ascii_copy_source_is_refused_not_ignored() {
        let target = Target {
            bucket: Some("b".into()),
            key: Some("k".into()),
        };
        let mut h = HeaderMap::new();
        h.append(
            "x-oss-copy-source",
            http::HeaderValue::from_bytes("/b/caf\u{e9}".as_bytes()).unwrap(),
        );
        let err = parse(&Method::PUT, &target, &Query::default(), &h).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidArgument);
        let q = Query(vec![
            ("partNumber".into(), "1".into()),
            ("uploadId".into(), "u".into()),
        ]);
        let err = parse(&Method::PUT, &target, &q, &h).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidArgument);
    }

    #[test]
    fn repeated_signing_headers_are_refused() {
        let mut h = HeaderMap::new();
        h.append("authorization", "OSS a:b".parse().unwrap());
        h.append("x-oss-meta-a", "1".parse().unwrap());
        h.append("x-oss-meta-a", "2".parse().unwrap());
        assert!(check_single_headers(&h).is_ok());
        h.append("authorization", "OSS a:b".parse().unwrap());
        assert_eq!(
            check_single_headers(&h).unwrap_err().code,
            ErrorCode::InvalidArgument
        );
        let mut h = HeaderMap::new();
        h.append("content-md5", "x".parse().unwrap());
        h.append("Content-MD5", "x".parse().unwrap());
        assert_eq!(
            check_single_headers(&h).unwrap_err().code,
            ErrorCode::InvalidDigest
        );
    }

    #[test]
    fn operation_names_are_distinct() {
        let mut names = OPERATION_NAMES.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), OPERATION_NAMES.len());
    }
}
