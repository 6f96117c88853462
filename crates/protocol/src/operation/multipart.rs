//! Requests of the multipart upload APIs.

use super::{CopySource, ObjectMeta, Payload};

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
    /// What the headers promise about the body.
    pub payload: Payload,
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
    /// What the headers promise about the body.
    pub payload: Payload,
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
