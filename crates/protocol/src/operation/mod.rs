//! The closed set of OSS operations, parsed once from method, bucket/key target, query and
//! headers into typed requests.
//!
//! The server answers exactly these operations and the client builds the same request types,
//! so one definition of each request serves both ends. Parsing never reads a body: what a body
//! must satisfy (length, digests, chunking) is described by the operation's payload.

use crate::attributes::Acl;
use crate::ErrorCode;

mod bucket;
mod build;
pub mod continuation;
mod multipart;
mod object;
mod parse;
mod payload;

pub use bucket::{ListObjectsV2Request, ObjectListing, PreflightRequest};
pub use build::RequestParts;
pub use multipart::{
    CompleteRequest, InitiateRequest, ListPartsRequest, ListUploadsRequest, UploadPartCopyRequest,
    UploadPartRequest,
};
pub use object::{
    AppendObjectRequest, Conditions, CopyObjectRequest, CopySource, GetObjectRequest, ObjectMeta,
    PutObjectRequest,
};
pub use parse::{checked_attributes, object_meta, parse, parse_with_payload};
pub use payload::Payload;

/// A request the parser refuses: the OSS error code plus the message and extra fields the
/// error body carries. The server turns it into its own error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationError {
    /// The OSS code; it also decides the HTTP status.
    pub code: ErrorCode,
    /// Message; the code's usual message when absent.
    pub message: Option<String>,
    /// Extra child elements of `<Error>`, in order (e.g. `ArgumentName`, `UploadId`).
    pub extra: Vec<(String, String)>,
}

impl OperationError {
    /// An error with the code's usual message.
    pub fn new(code: ErrorCode) -> Self {
        OperationError {
            code,
            message: None,
            extra: Vec::new(),
        }
    }

    /// Replaces the message.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    /// Adds an extra field to the error body.
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        self.extra.push((name.to_owned(), value.into()));
        self
    }

    /// `InvalidArgument` naming the argument and the value it had.
    pub fn invalid_argument(name: &str, value: &str) -> Self {
        OperationError::new(ErrorCode::InvalidArgument)
            .with_message(format!("Argument {name} is not valid."))
            .with("ArgumentName", name)
            .with("ArgumentValue", value)
    }
}

/// The resource a request addresses, resolved from Host and path by the receiver.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Target {
    /// Bucket, absent for service-level calls (ListBuckets).
    pub bucket: Option<String>,
    /// Object key, absent for bucket-level calls.
    pub key: Option<String>,
}

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
    pub fn number(
        &self,
        name: &str,
        min: u32,
        max: u32,
        default: u32,
    ) -> Result<u32, OperationError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => decimal(v)
                .filter(|n| (min..=max).contains(n))
                .ok_or_else(|| OperationError::invalid_argument(name, v)),
        }
    }

    /// Whether `encoding-type=url` was asked for (any other value is an error).
    pub fn url_encoding(&self) -> Result<bool, OperationError> {
        match self.get("encoding-type") {
            None => Ok(false),
            Some(v) if v.eq_ignore_ascii_case("url") => Ok(true),
            Some(v) => Err(OperationError::new(ErrorCode::InvalidEncodingType)
                .with("ArgumentName", "encoding-type")
                .with("ArgumentValue", v)),
        }
    }
}

/// A query integer: ASCII digits only. `str::parse` would also take a leading `+`, which no SDK
/// sends and which would make `partNumber=%2B1` name part 1.
pub(crate) fn decimal(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Sub-resources of OSS APIs this server does not implement. A request naming one gets
/// `NotImplemented` rather than being mistaken for a plain object or bucket call.
pub(crate) const UNSUPPORTED_SUBRESOURCES: &[&str] = &[
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
        /// What the headers promise about the body.
        payload: Payload,
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
        /// What the headers promise about the body.
        payload: Payload,
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
        /// What the headers promise about the body.
        payload: Payload,
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
        /// What the headers promise about the body.
        payload: Payload,
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

    /// The body description of an operation that reads a body; `None` for the others.
    pub fn payload(&self) -> Option<&Payload> {
        match self {
            Operation::PutBucket { payload, .. }
            | Operation::PutBucketCors { payload, .. }
            | Operation::DeleteMultipleObjects { payload, .. }
            | Operation::PutObjectTagging { payload, .. } => Some(payload),
            Operation::PutObject(r) => Some(&r.payload),
            Operation::AppendObject(r) => Some(&r.payload),
            Operation::UploadPart(r) => Some(&r.payload),
            Operation::CompleteMultipartUpload(r) => Some(&r.payload),
            _ => None,
        }
    }

    /// Whether this operation is answered without authentication (CORS preflight).
    pub fn is_anonymous(&self) -> bool {
        matches!(self, Operation::Preflight(_))
    }
}
