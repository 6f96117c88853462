//! Requests of the object APIs: the attributes a write stores, preconditions and copy sources.

use serde::{Deserialize, Serialize};

use super::Payload;
use crate::range::ByteRange;

/// Metadata stored with an object (from PutObject/Initiate headers), returned by GET/HEAD.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ObjectMeta {
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `Cache-Control`.
    pub cache_control: Option<String>,
    /// `Content-Disposition`.
    pub content_disposition: Option<String>,
    /// `Content-Encoding`.
    pub content_encoding: Option<String>,
    /// `Content-Language`.
    pub content_language: Option<String>,
    /// `Expires`, verbatim.
    pub expires: Option<String>,
    /// `x-oss-meta-*` pairs: names lower-cased, without the prefix; in the order received.
    pub user_meta: Vec<(String, String)>,
    /// `x-oss-storage-class` (`None` = Standard).
    pub storage_class: Option<String>,
    /// `x-oss-object-acl`.
    pub acl: Option<String>,
    /// `x-oss-server-side-encryption`.
    pub server_side_encryption: Option<String>,
    /// `x-oss-tagging` in canonical form (`k=v&...`, percent-encoded); `None` for no tags.
    pub tagging: Option<String>,
    /// `x-oss-server-side-encryption-key-id` (KMS only).
    pub sse_key_id: Option<String>,
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
    /// What the headers promise about the body.
    pub payload: Payload,
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
    /// What the headers promise about the body.
    pub payload: Payload,
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
