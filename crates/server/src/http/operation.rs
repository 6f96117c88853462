//! The closed set of operations the server answers: the protocol's operation model
//! (`osspart_protocol::operation`), parsed once from method, target, query and headers, with
//! its refusals turned into the server's error answer. Handlers receive typed fields and never
//! look at raw headers or query strings.

use http::{HeaderMap, Method};

pub use osspart_protocol::operation::{
    checked_attributes, object_meta, AppendObjectRequest, CompleteRequest, Conditions,
    CopyObjectRequest, CopySource, GetObjectRequest, InitiateRequest, ListObjectsV2Request,
    ListPartsRequest, ListUploadsRequest, ObjectListing, Operation, Payload, PreflightRequest,
    PutObjectRequest, Query, UploadPartCopyRequest, UploadPartRequest, OPERATION_NAMES,
};

use super::addressing::Target;
use super::error::ApiError;

/// Parses a request into an [`Operation`], attaching the body headers already read into
/// `payload`; a refusal becomes the [`ApiError`] sent back.
pub fn parse(
    method: &Method,
    target: &Target,
    query: &Query,
    headers: &HeaderMap,
    payload: &Payload,
) -> Result<Operation, ApiError> {
    osspart_protocol::operation::parse_with_payload(method, target, query, headers, payload)
        .map_err(ApiError::from)
}
