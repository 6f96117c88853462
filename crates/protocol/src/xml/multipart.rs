//! Bodies of the multipart operations: Initiate, UploadPartCopy, Complete, ListMultipartUploads
//! and ListParts (spec section 3).
//!
//! Field order is element order on the wire. Elements oss2 insists on (`IsTruncated`,
//! `NextKeyMarker`, `NextUploadIdMarker`, `NextPartNumberMarker`) are plain fields, so they are
//! always written, empty if need be.

use serde::{Deserialize, Serialize};

use super::object::CommonPrefix;

/// Answer to InitiateMultipartUpload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "InitiateMultipartUploadResult", rename_all = "PascalCase")]
pub struct InitiateMultipartUploadResult {
    /// Bucket name.
    pub bucket: String,
    /// Object key (URL-encoded by the caller when `encoding-type=url` was asked for).
    pub key: String,
    /// The new upload id.
    pub upload_id: String,
    /// `url` when the request asked for `encoding-type=url`; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding_type: Option<String>,
}

/// Request body of CompleteMultipartUpload: the parts to assemble, in the order sent.
///
/// An empty list parses (the element is optional to the parser); the server rejects it with
/// `MalformedXML`, as it must also check the order and existence of the parts.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename = "CompleteMultipartUpload")]
pub struct CompleteMultipartUpload {
    /// The listed parts, as `<Part>` elements.
    #[serde(rename = "Part", default)]
    pub parts: Vec<CompletePart>,
}

/// One `<Part>` of a CompleteMultipartUpload request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CompletePart {
    /// Part number as uploaded (range checks are the server's job).
    pub part_number: u32,
    /// ETag of the part, without quotes.
    #[serde(rename = "ETag", with = "super::etag")]
    pub etag: String,
}

/// Answer to CompleteMultipartUpload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "CompleteMultipartUploadResult", rename_all = "PascalCase")]
pub struct CompleteMultipartUploadResult {
    /// `url` when the request asked for `encoding-type=url`; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding_type: Option<String>,
    /// URL of the assembled object.
    pub location: String,
    /// Bucket name.
    pub bucket: String,
    /// Object key.
    pub key: String,
    /// ETag of the assembled object (`<HEX>-<N>`), without quotes.
    #[serde(rename = "ETag", with = "super::etag")]
    pub etag: String,
}

/// Answer to UploadPartCopy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "CopyPartResult", rename_all = "PascalCase")]
pub struct CopyPartResult {
    /// When the part was written, as an XML timestamp.
    pub last_modified: String,
    /// ETag of the new part, without quotes.
    #[serde(rename = "ETag", with = "super::etag")]
    pub etag: String,
}

/// Answer to ListMultipartUploads: one page of in-progress uploads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "ListMultipartUploadsResult", rename_all = "PascalCase")]
pub struct ListMultipartUploadsResult {
    /// Bucket name.
    pub bucket: String,
    /// The `key-marker` of the request; empty when none.
    #[serde(default)]
    pub key_marker: String,
    /// The `upload-id-marker` of the request; empty when none.
    #[serde(default)]
    pub upload_id_marker: String,
    /// Key to pass as `key-marker` for the next page; empty when not truncated.
    #[serde(default)]
    pub next_key_marker: String,
    /// Upload id to pass as `upload-id-marker` for the next page; empty when not truncated.
    #[serde(default)]
    pub next_upload_id_marker: String,
    /// The `delimiter` of the request; empty when none.
    #[serde(default)]
    pub delimiter: String,
    /// The `prefix` of the request; empty when none.
    #[serde(default)]
    pub prefix: String,
    /// The page size in effect.
    pub max_uploads: u32,
    /// Whether more uploads follow this page.
    pub is_truncated: bool,
    /// `url` when the request asked for `encoding-type=url`; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding_type: Option<String>,
    /// The uploads of this page, by key then upload id.
    #[serde(rename = "Upload", default)]
    pub uploads: Vec<Upload>,
    /// Keys rolled up at the delimiter.
    #[serde(rename = "CommonPrefixes", default)]
    pub common_prefixes: Vec<CommonPrefix>,
}

/// One `<Upload>` of ListMultipartUploads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Upload {
    /// Object key of the upload.
    pub key: String,
    /// The upload id.
    pub upload_id: String,
    /// Storage class of the future object (`Standard`, ...).
    #[serde(default)]
    pub storage_class: String,
    /// When the upload was initiated, as an XML timestamp.
    pub initiated: String,
}

/// Answer to ListParts: one page of the parts of an upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "ListPartsResult", rename_all = "PascalCase")]
pub struct ListPartsResult {
    /// Bucket name.
    pub bucket: String,
    /// Object key of the upload.
    pub key: String,
    /// The upload id.
    pub upload_id: String,
    /// Storage class of the future object.
    #[serde(default)]
    pub storage_class: String,
    /// The `part-number-marker` of the request (0 when none).
    #[serde(default)]
    pub part_number_marker: u32,
    /// Number of the last part of this page (the marker when the page is empty); always written.
    pub next_part_number_marker: u32,
    /// The page size in effect.
    pub max_parts: u32,
    /// Whether more parts follow this page.
    pub is_truncated: bool,
    /// `url` when the request asked for `encoding-type=url`; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding_type: Option<String>,
    /// The parts of this page, ascending by number.
    #[serde(rename = "Part", default)]
    pub parts: Vec<Part>,
}

/// One `<Part>` of ListParts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Part {
    /// Part number.
    pub part_number: u32,
    /// When the part was uploaded, as an XML timestamp.
    pub last_modified: String,
    /// ETag of the part, without quotes.
    #[serde(rename = "ETag", with = "super::etag")]
    pub etag: String,
    /// CRC-64/ECMA of the part; absent when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash_crc64ecma: Option<u64>,
    /// Size of the part, in bytes.
    pub size: u64,
}
