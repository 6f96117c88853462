//! The closed set of operations the server answers, parsed once from method, target, query and
//! headers. Handlers receive typed fields and never look at raw headers or query strings.

use http::{HeaderMap, Method};
use osspart_protocol::attributes::{Acl, ServerSideEncryption, StorageClass, TagSet};
use osspart_protocol::range::{self, ByteRange};
use osspart_protocol::{limits, ErrorCode};

use super::addressing::Target;
use super::error::ApiError;
use crate::store::ObjectMeta;

/// Decoded query parameters in their original order.
#[derive(Debug, Clone, Default)]
pub struct Query(pub Vec<(String, String)>);

impl Query {
    /// Whether the parameter is present (with or without a value).
    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(n, _)| n == name)
    }

    /// The value, treating an empty value as absent (oss2 sends every optional parameter).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// The value or the empty string.
    pub fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or_default().to_owned()
    }

    /// An integer parameter within `min..=max`, `default` when absent.
    pub fn number(&self, name: &str, min: u32, max: u32, default: u32) -> Result<u32, ApiError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => decimal(v)
                .filter(|n| (min..=max).contains(n))
                .ok_or_else(|| ApiError::invalid_argument(name, v)),
        }
    }

    /// Whether `encoding-type=url` was asked for (any other value is an error).
    pub fn url_encoding(&self) -> Result<bool, ApiError> {
        match self.get("encoding-type") {
            None => Ok(false),
            Some(v) if v.eq_ignore_ascii_case("url") => Ok(true),
            Some(v) => Err(ApiError::new(ErrorCode::InvalidEncodingType)
                .with("ArgumentName", "encoding-type")
                .with("ArgumentValue", v)),
        }
    }
}

/// A query integer: ASCII digits only. `str::parse` would also take a leading `+`, which no SDK
/// sends and which would make `partNumber=%2B1` name part 1.
fn decimal(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Sub-resources of OSS APIs this server does not implement. A request naming one gets
/// `NotImplemented` rather than being mistaken for a plain object or bucket call.
const UNSUPPORTED_SUBRESOURCES: &[&str] = &[
    // AppendObject's own parameters, anywhere but on a POST to an object (see `is_append`).
    "append",
    "position",
    "symlink",
    "restore",
    "versions",
    "versioning",
    "lifecycle",
    "policy",
    "website",
    "referer",
    "logging",
    "encryption",
    "worm",
    "wormId",
    "wormExtend",
    "replication",
    "inventory",
    "stat",
    "qos",
    "requestPayment",
    "transferAcceleration",
    "x-oss-process",
    "select",
    "objectInfo",
    "livechannel",
    "img",
    "style",
    "resourceGroup",
    "accessPoint",
    "policyStatus",
    "metaQuery",
    "regionList",
    // Further sub-resources of the V1 signing list (spec 6.1) that name bucket or object
    // features this server lacks; without them here, `PUT /<bucket>?cname` would create the
    // bucket and `PUT /<bucket>/<key>?callback` would store the object silently.
    "cname",
    "comp",
    "live",
    "vod",
    "status",
    "httpsConfig",
    "publicAccessBlock",
    "asyncFetch",
    "bucketArchiveDirectRead",
    "redundancyTransition",
    "resourcePool",
    "resourcePoolBuckets",
    "resourcePoolInfo",
    "qosInfo",
    "requesterQosInfo",
    "replicationLocation",
    "replicationProgress",
    "inventoryId",
    "callback",
    "callback-var",
    "versionId",
    "x-oss-async-process",
    "x-oss-write-get-object-response",
];

/// One listing of objects (v1 and v2 share the fields they have in common).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectListing {
    /// Only keys starting with this.
    pub prefix: String,
    /// Roll keys up to this delimiter ("" = none).
    pub delimiter: String,
    /// Exclusive start key (v1 `marker`, v2 `start-after` or the continuation token).
    pub marker: String,
    /// Page size.
    pub max_keys: u32,
    /// `encoding-type=url`.
    pub url_encoding: bool,
}

/// Preconditions of GetObject and of a copy source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conditions {
    /// `If-Match` (ETag, quotes optional).
    pub if_match: Option<String>,
    /// `If-None-Match`.
    pub if_none_match: Option<String>,
    /// `If-Modified-Since` (HTTP date).
    pub if_modified_since: Option<String>,
    /// `If-Unmodified-Since` (HTTP date).
    pub if_unmodified_since: Option<String>,
}

/// Where UploadPartCopy and CopyObject read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopySource {
    /// Source bucket.
    pub bucket: String,
    /// Source key, decoded.
    pub key: String,
    /// Byte range (UploadPartCopy only): `bytes=a-b`, `bytes=a-` (to the end, as oss2 sends
    /// it) or `bytes=-n` (the last n bytes).
    pub range: Option<ByteRange>,
    /// Conditions on the source.
    pub conditions: Conditions,
}

/// ListObjectsV2: a listing plus its v2 paging fields.
#[derive(Debug, Clone)]
pub struct ListObjectsV2Request {
    /// Bucket.
    pub bucket: String,
    /// Filters and page of the listing.
    pub listing: ObjectListing,
    /// Continuation token as sent ("" when none).
    pub continuation_token: String,
    /// `start-after` as sent.
    pub start_after: String,
    /// Whether entries carry `Owner`.
    pub fetch_owner: bool,
}

/// ListMultipartUploads: filters, markers and page size.
#[derive(Debug, Clone)]
pub struct ListUploadsRequest {
    /// Bucket.
    pub bucket: String,
    /// Only keys starting with this.
    pub prefix: String,
    /// Roll keys up at this delimiter ("" = none).
    pub delimiter: String,
    /// Start after this key.
    pub key_marker: String,
    /// With `key_marker`: start after this upload of that key.
    pub upload_id_marker: String,
    /// Page size.
    pub max_uploads: u32,
    /// `encoding-type=url`.
    pub url_encoding: bool,
}

/// PutObject: target, metadata and overwrite rule.
#[derive(Debug, Clone)]
pub struct PutObjectRequest {
    /// Bucket.
    pub bucket: String,
    /// Object key.
    pub key: String,
    /// Metadata stored with the object.
    pub meta: ObjectMeta,
    /// `x-oss-forbid-overwrite: true`.
    pub forbid_overwrite: bool,
}

/// AppendObject: where the body goes and the attributes a first append gives the object.
#[derive(Debug, Clone)]
pub struct AppendObjectRequest {
    /// Bucket.
    pub bucket: String,
    /// Object key.
    pub key: String,
    /// `position`: the object's length the client expects (0 creates the object).
    pub position: u64,
    /// Metadata and attributes; kept only when this append creates the object.
    pub meta: ObjectMeta,
}

/// CopyObject: target, source and metadata directive.
#[derive(Debug, Clone)]
pub struct CopyObjectRequest {
    /// Bucket.
    pub bucket: String,
    /// Object key.
    pub key: String,
    /// Where the bytes come from.
    pub source: CopySource,
    /// New metadata (`x-oss-metadata-directive: REPLACE`), or `None` to copy the source's.
    pub replace_meta: Option<ObjectMeta>,
    /// The attributes the request gives the copy (storage class, ACL, encryption, tags);
    /// those it leaves out are the source's.
    pub attributes: ObjectMeta,
    /// `x-oss-tagging-directive: REPLACE`: the copy gets the request's tags (or none) instead
    /// of the source's.
    pub replace_tagging: bool,
    /// `x-oss-forbid-overwrite: true`.
    pub forbid_overwrite: bool,
}

/// GetObject: target, range, conditions and response overrides.
#[derive(Debug, Clone)]
pub struct GetObjectRequest {
    /// Bucket.
    pub bucket: String,
    /// Object key.
    pub key: String,
    /// `Range`, when given and well formed.
    pub range: Option<ByteRange>,
    /// `x-oss-range-behavior: standard`.
    pub standard_range: bool,
    /// Conditional headers.
    pub conditions: Conditions,
    /// `response-*` overrides as (header, value).
    pub overrides: Vec<(String, String)>,
}

/// InitiateMultipartUpload: target, metadata and overwrite rule.
#[derive(Debug, Clone)]
pub struct InitiateRequest {
    /// Bucket.
    pub bucket: String,
    /// Object key.
    pub key: String,
    /// Metadata stored with the object.
    pub meta: ObjectMeta,
    /// `x-oss-forbid-overwrite: true`.
    pub forbid_overwrite: bool,
    /// `encoding-type=url`.
    pub url_encoding: bool,
    /// `sequential`: parts must arrive in ascending order; the object gets a Content-MD5.
    pub sequential: bool,
}

/// UploadPart: which part of which upload.
#[derive(Debug, Clone)]
pub struct UploadPartRequest {
    /// Bucket.
    pub bucket: String,
    /// Object key.
    pub key: String,
    /// Upload id.
    pub upload_id: String,
    /// Part number (1..=10000).
    pub part_number: u32,
}

/// UploadPartCopy: which part of which upload, and its source.
#[derive(Debug, Clone)]
pub struct UploadPartCopyRequest {
    /// Bucket.
    pub bucket: String,
    /// Object key.
    pub key: String,
    /// Upload id.
    pub upload_id: String,
    /// Part number (1..=10000).
    pub part_number: u32,
    /// Where the bytes come from.
    pub source: CopySource,
}

/// CompleteMultipartUpload: the upload and how to complete it.
#[derive(Debug, Clone)]
pub struct CompleteRequest {
    /// Bucket.
    pub bucket: String,
    /// Object key.
    pub key: String,
    /// Upload id.
    pub upload_id: String,
    /// `x-oss-complete-all: yes`.
    pub complete_all: bool,
    /// `x-oss-forbid-overwrite: true`.
    pub forbid_overwrite: bool,
    /// `encoding-type=url`.
    pub url_encoding: bool,
}

/// ListParts: the upload and the page asked for.
#[derive(Debug, Clone)]
pub struct ListPartsRequest {
    /// Bucket.
    pub bucket: String,
    /// Object key.
    pub key: String,
    /// Upload id.
    pub upload_id: String,
    /// List parts after this number.
    pub part_number_marker: u32,
    /// Page size.
    pub max_parts: u32,
    /// `encoding-type=url`.
    pub url_encoding: bool,
}

/// A CORS preflight: origin, method and headers asked for.
#[derive(Debug, Clone)]
pub struct PreflightRequest {
    /// Bucket.
    pub bucket: String,
    /// `Origin`.
    pub origin: String,
    /// `Access-Control-Request-Method`.
    pub method: String,
    /// `Access-Control-Request-Headers`, lower-cased.
    pub headers: Vec<String>,
}

/// The name of every operation, in [`Operation::index`] order.
pub const OPERATION_NAMES: [&str; 34] = [
    "ListBuckets",
    "PutBucket",
    "PutBucketAcl",
    "GetBucketAcl",
    "HeadBucket",
    "GetBucketInfo",
    "GetBucketLocation",
    "DeleteBucket",
    "PutBucketCors",
    "GetBucketCors",
    "DeleteBucketCors",
    "ListObjects",
    "ListObjectsV2",
    "DeleteMultipleObjects",
    "ListMultipartUploads",
    "PutObject",
    "AppendObject",
    "CopyObject",
    "GetObject",
    "HeadObject",
    "GetObjectMeta",
    "GetObjectAcl",
    "PutObjectAcl",
    "GetObjectTagging",
    "PutObjectTagging",
    "DeleteObjectTagging",
    "DeleteObject",
    "InitiateMultipartUpload",
    "UploadPart",
    "UploadPartCopy",
    "CompleteMultipartUpload",
    "AbortMultipartUpload",
    "ListParts",
    "Preflight",
];

/// A parsed request.
#[derive(Debug, Clone)]
#[allow(missing_docs)] // each variant is the OSS API of the same name
pub enum Operation {
    ListBuckets {
        prefix: String,
        marker: String,
        max_keys: u32,
    },
    PutBucket {
        bucket: String,
        /// `x-oss-acl`, when given.
        acl: Option<Acl>,
    },
    PutBucketAcl {
        bucket: String,
        acl: Acl,
    },
    GetBucketAcl {
        bucket: String,
    },
    HeadBucket {
        bucket: String,
    },
    GetBucketInfo {
        bucket: String,
    },
    GetBucketLocation {
        bucket: String,
    },
    DeleteBucket {
        bucket: String,
    },
    PutBucketCors {
        bucket: String,
    },
    GetBucketCors {
        bucket: String,
    },
    DeleteBucketCors {
        bucket: String,
    },
    ListObjects {
        bucket: String,
        listing: ObjectListing,
    },
    ListObjectsV2(ListObjectsV2Request),
    DeleteMultipleObjects {
        bucket: String,
        url_encoding: bool,
    },
    ListMultipartUploads(ListUploadsRequest),
    PutObject(PutObjectRequest),
    AppendObject(AppendObjectRequest),
    CopyObject(Box<CopyObjectRequest>),
    GetObject(GetObjectRequest),
    HeadObject {
        bucket: String,
        key: String,
        conditions: Conditions,
    },
    GetObjectMeta {
        bucket: String,
        key: String,
    },
    GetObjectAcl {
        bucket: String,
        key: String,
    },
    PutObjectAcl {
        bucket: String,
        key: String,
        acl: Acl,
    },
    GetObjectTagging {
        bucket: String,
        key: String,
    },
    PutObjectTagging {
        bucket: String,
        key: String,
    },
    DeleteObjectTagging {
        bucket: String,
        key: String,
    },
    DeleteObject {
        bucket: String,
        key: String,
    },
    InitiateMultipartUpload(InitiateRequest),
    UploadPart(UploadPartRequest),
    UploadPartCopy(UploadPartCopyRequest),
    CompleteMultipartUpload(CompleteRequest),
    AbortMultipartUpload {
        bucket: String,
        key: String,
        upload_id: String,
    },
    ListParts(ListPartsRequest),
    Preflight(PreflightRequest),
}

impl Operation {
    /// The OSS API name, for logs.
    pub fn name(&self) -> &'static str {
        OPERATION_NAMES
            .get(self.index())
            .copied()
            .unwrap_or_default()
    }

    /// Position of this operation's name in [`OPERATION_NAMES`] (for per-operation counters
    /// kept in a plain array).
    pub fn index(&self) -> usize {
        match self {
            Operation::ListBuckets { .. } => 0,
            Operation::PutBucket { .. } => 1,
            Operation::PutBucketAcl { .. } => 2,
            Operation::GetBucketAcl { .. } => 3,
            Operation::HeadBucket { .. } => 4,
            Operation::GetBucketInfo { .. } => 5,
            Operation::GetBucketLocation { .. } => 6,
            Operation::DeleteBucket { .. } => 7,
            Operation::PutBucketCors { .. } => 8,
            Operation::GetBucketCors { .. } => 9,
            Operation::DeleteBucketCors { .. } => 10,
            Operation::ListObjects { .. } => 11,
            Operation::ListObjectsV2(_) => 12,
            Operation::DeleteMultipleObjects { .. } => 13,
            Operation::ListMultipartUploads(_) => 14,
            Operation::PutObject(_) => 15,
            Operation::AppendObject(_) => 16,
            Operation::CopyObject(_) => 17,
            Operation::GetObject(_) => 18,
            Operation::HeadObject { .. } => 19,
            Operation::GetObjectMeta { .. } => 20,
            Operation::GetObjectAcl { .. } => 21,
            Operation::PutObjectAcl { .. } => 22,
            Operation::GetObjectTagging { .. } => 23,
            Operation::PutObjectTagging { .. } => 24,
            Operation::DeleteObjectTagging { .. } => 25,
            Operation::DeleteObject { .. } => 26,
            Operation::InitiateMultipartUpload(_) => 27,
            Operation::UploadPart(_) => 28,
            Operation::UploadPartCopy(_) => 29,
            Operation::CompleteMultipartUpload(_) => 30,
            Operation::AbortMultipartUpload { .. } => 31,
            Operation::ListParts(_) => 32,
            Operation::Preflight(_) => 33,
        }
    }

    /// Whether this operation is answered without authentication (CORS preflight).
    pub fn is_anonymous(&self) -> bool {
        matches!(self, Operation::Preflight(_))
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// A header whose presence changes the operation: a value that is not visible ASCII is
/// `InvalidArgument`, never taken as absent (a non-ASCII `x-oss-copy-source` must not turn a
/// copy into an empty PutObject).
fn required_ascii<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ApiError> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v.to_str().map(|s| Some(s.trim())).map_err(|_| {
            ApiError::new(ErrorCode::InvalidArgument)
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
fn directive(headers: &HeaderMap, name: &str) -> Result<bool, ApiError> {
    match header(headers, name) {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("COPY") => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("REPLACE") => Ok(true),
        Some(v) => Err(ApiError::invalid_argument(name, v)),
    }
}

/// Checks the typed attributes of a write as OSS does and puts them in their canonical form:
/// storage class, object ACL, server-side encryption (a key id only with KMS) and tags (OSS
/// limits; re-encoded). Refusals are `InvalidArgument` naming the header, except an unknown
/// encryption algorithm, which is `InvalidEncryptionAlgorithmError`.
pub fn checked_attributes(mut meta: ObjectMeta) -> Result<ObjectMeta, ApiError> {
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
            return Err(ApiError::invalid_argument("x-oss-storage-class", v)
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
            return Err(ApiError::new(ErrorCode::InvalidEncryptionAlgorithmError)
                .with_message(format!(
                    "The encryption method specified is not supported: {v}."
                ))
                .with("ArgumentName", "x-oss-server-side-encryption")
                .with("ArgumentValue", v.clone()));
        }
        (sse, Some(id)) if sse.as_deref() != Some(ServerSideEncryption::Kms.as_str()) => {
            return Err(
                ApiError::invalid_argument("x-oss-server-side-encryption-key-id", id)
                    .with_message("A KMS key id needs x-oss-server-side-encryption: KMS."),
            );
        }
        _ => {}
    }
    if let Some(v) = &meta.tagging {
        let tags = TagSet::from_header(v).map_err(|e| {
            ApiError::invalid_argument("x-oss-tagging", &truncate(v)).with_message(e.to_string())
        })?;
        meta.tagging = (!tags.is_empty()).then(|| tags.to_header());
    }
    Ok(meta)
}

/// Refuses stored headers larger than OSS allows (`InvalidArgument` naming the header), so that
/// a request cannot make the store keep (and every HEAD repeat) megabytes of headers: user
/// metadata up to [`limits::MAX_USER_META_SIZE`], the other stored headers together up to
/// [`limits::MAX_STORED_HEADERS_SIZE`].
fn checked_meta(meta: ObjectMeta) -> Result<ObjectMeta, ApiError> {
    let too_large = |name: &str, size: usize, limit: usize| {
        ApiError::new(ErrorCode::InvalidArgument)
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

fn copy_source(headers: &HeaderMap, value: &str, with_range: bool) -> Result<CopySource, ApiError> {
    let bad = || {
        ApiError::new(ErrorCode::InvalidArgument)
            .with_message("x-oss-copy-source is not valid.")
            .with("ArgumentName", "x-oss-copy-source")
            .with("ArgumentValue", value)
    };
    let raw = value.split_once('?').map_or(value, |(p, _)| p);
    let raw = raw.strip_prefix('/').unwrap_or(raw);
    let (bucket, key) = raw.split_once('/').ok_or_else(bad)?;
    let bucket = osspart_protocol::encoding::decode_path(bucket).map_err(|_| bad())?;
    let key = osspart_protocol::encoding::decode_path(key).map_err(|_| bad())?;
    if bucket.is_empty() || key.is_empty() {
        return Err(bad());
    }
    let range = match required_ascii(headers, "x-oss-copy-source-range")?.filter(|_| with_range) {
        None => None,
        Some(r) => match range::parse(r) {
            Some(range) => Some(range),
            None => {
                return Err(ApiError::invalid_argument("x-oss-copy-source-range", r));
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

fn part_number(query: &Query) -> Result<u32, ApiError> {
    let raw = query.get("partNumber").unwrap_or_default();
    decimal(raw)
        .filter(|n| limits::is_valid_part_number(*n))
        .ok_or_else(|| {
            ApiError::invalid_argument("partNumber", raw).with_message(format!(
                "Part number must be an integer between {} and {}.",
                limits::MIN_PART_NUMBER,
                limits::MAX_PART_NUMBER
            ))
        })
}

fn upload_id(query: &Query) -> Result<String, ApiError> {
    query
        .get("uploadId")
        .map(str::to_owned)
        .ok_or_else(|| ApiError::new(ErrorCode::NoSuchUpload).with("UploadId", ""))
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
fn check_single_headers(headers: &HeaderMap) -> Result<(), ApiError> {
    for name in SINGLE_HEADERS {
        if headers.get_all(*name).iter().nth(1).is_none() {
            continue;
        }
        let message = format!("The {name} header appears more than once.");
        return Err(if *name == "content-md5" {
            ApiError::new(ErrorCode::InvalidDigest).with_message(message)
        } else {
            ApiError::new(ErrorCode::InvalidArgument)
                .with_message(message)
                .with("ArgumentName", *name)
        });
    }
    Ok(())
}

/// `InvalidArgument` naming an ACL header and its value.
fn invalid_acl(name: &str, value: &str) -> ApiError {
    ApiError::invalid_argument(name, value).with_message(format!("{name} is not a valid ACL."))
}

/// The ACL and tagging sub-resources (`?acl`, `?tagging`) of buckets and objects. Bucket
/// tagging is not served: it stays `NotImplemented` with the other unsupported sub-resources.
fn acl_or_tagging(
    method: &Method,
    target: &Target,
    query: &Query,
    headers: &HeaderMap,
) -> Result<Option<Operation>, ApiError> {
    let (acl, tagging) = (query.has("acl"), query.has("tagging"));
    if !acl && !tagging {
        return Ok(None);
    }
    let Some(bucket) = target.bucket.clone() else {
        return Ok(None);
    };
    let not_allowed = || ApiError::new(ErrorCode::MethodNotAllowed).with("Method", method.as_str());
    let op = match (target.key.clone(), acl) {
        (None, false) => {
            return Err(ApiError::new(ErrorCode::NotImplemented).with_message(
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
            Method::PUT => Operation::PutObjectTagging { bucket, key },
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
            return Err(ApiError::new(ErrorCode::InvalidObjectName).with("Key", truncate(key)));
        }
    }
    Ok(Some(op))
}

/// Parses a request into an [`Operation`].
pub fn parse(
    method: &Method,
    target: &Target,
    query: &Query,
    headers: &HeaderMap,
) -> Result<Operation, ApiError> {
    check_single_headers(headers)?;
    if let Some(op) = acl_or_tagging(method, target, query, headers)? {
        return Ok(op);
    }
    let append = is_append(method, target, query);
    if let Some(sub) = UNSUPPORTED_SUBRESOURCES
        .iter()
        .filter(|s| !(append && matches!(**s, "append" | "position")))
        .find(|s| query.has(s))
    {
        return Err(
            ApiError::new(ErrorCode::NotImplemented).with_message(format!(
                "The {sub} sub-resource is not supported by this server."
            )),
        );
    }
    let not_allowed = || ApiError::new(ErrorCode::MethodNotAllowed).with("Method", method.as_str());
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
        return bucket_operation(method, bucket, query, acl).ok_or_else(not_allowed)?;
    };
    if !limits::is_valid_object_key(&key) {
        return Err(ApiError::new(ErrorCode::InvalidObjectName).with("Key", truncate(&key)));
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
            }),
        },
        Method::POST if query.has("append") => Operation::AppendObject(AppendObjectRequest {
            position: append_position(query)?,
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
fn append_position(query: &Query) -> Result<u64, ApiError> {
    let value = query.get("position").ok_or_else(|| {
        ApiError::new(ErrorCode::InvalidArgument)
            .with_message("AppendObject needs the position parameter.")
            .with("ArgumentName", "position")
            .with("ArgumentValue", "")
    })?;
    Some(value)
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| ApiError::invalid_argument("position", value))
}

fn bucket_operation(
    method: &Method,
    bucket: String,
    query: &Query,
    acl: Option<Acl>,
) -> Option<Result<Operation, ApiError>> {
    // Multipart parameters on a bucket-level PUT or DELETE mean the key went missing; treating
    // the request as PutBucket or DeleteBucket would create or remove a bucket by accident.
    let multipart = ["uploadId", "partNumber", "uploads"]
        .iter()
        .any(|p| query.has(p));
    if multipart && matches!(*method, Method::PUT | Method::DELETE) {
        return None;
    }
    let op = match *method {
        Method::PUT if query.has("cors") => Operation::PutBucketCors { bucket },
        Method::PUT => Operation::PutBucket { bucket, acl },
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
                }
            }));
        }
        _ => return None,
    };
    Some(Ok(op))
}

fn listing(bucket: String, query: &Query) -> Result<Operation, ApiError> {
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
            super::continuation::decode(&continuation_token).ok_or_else(|| {
                ApiError::invalid_argument("continuation-token", &continuation_token)
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
