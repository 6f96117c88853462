//! The parts of a request that a signature covers, rendered the way each scheme hashes them.
//!
//! Both ends build these strings from the *decoded* bucket, key and query, never from the raw
//! request target, so a client that escapes `/` in the path (oss2) and one that does not (v2,
//! ali-oss) sign the same bytes.

use super::{BucketResource, RequestParts};
use crate::encoding::{encode_component, encode_path};

/// Query parameter names that V1 signs (the union of the oss2 2.19.1 and v2 SDK 1.4.1 lists),
/// sorted in byte order so membership is a binary search. Anything else is not signed by V1.
pub const V1_SUB_RESOURCES: &[&str] = &[
    "accessPoint",
    "accessPointPolicy",
    "acl",
    "append",
    "asyncFetch",
    "bucketArchiveDirectRead",
    "bucketInfo",
    "callback",
    "callback-var",
    "cloudboxes",
    "cname",
    "comp",
    "continuation-token",
    "cors",
    "delete",
    "encryption",
    "endTime",
    "group",
    "httpsConfig",
    "inventory",
    "inventoryId",
    "lifecycle",
    "link",
    "live",
    "location",
    "logging",
    "metaQuery",
    "objectInfo",
    "objectMeta",
    "partNumber",
    "policy",
    "position",
    "publicAccessBlock",
    "qos",
    "qosInfo",
    "qosRequester",
    "redundancyTransition",
    "referer",
    "regionList",
    "replication",
    "replicationLocation",
    "replicationProgress",
    "requestPayment",
    "requesterQosInfo",
    "resourceGroup",
    "resourcePool",
    "resourcePoolBuckets",
    "resourcePoolInfo",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "security-token",
    "sequential",
    "startTime",
    "stat",
    "status",
    "style",
    "styleName",
    "symlink",
    "tagging",
    "transferAcceleration",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "vod",
    "website",
    "worm",
    "wormExtend",
    "wormId",
    "x-oss-ac-forward-allow",
    "x-oss-ac-source-ip",
    "x-oss-ac-subnet-mask",
    "x-oss-ac-vpc-id",
    "x-oss-access-point-name",
    "x-oss-async-process",
    "x-oss-process",
    "x-oss-redundancy-transition-taskid",
    "x-oss-request-payer",
    "x-oss-target-redundancy-type",
    "x-oss-traffic-limit",
    "x-oss-write-get-object-response",
];

/// Whether V1 signs the query parameter `name` (case-sensitive).
pub fn is_v1_sub_resource(name: &str) -> bool {
    V1_SUB_RESOURCES.binary_search(&name).is_ok()
}

/// The first value of header `name` (case-insensitive), as sent.
pub fn header<'a>(req: &RequestParts<'a>, name: &str) -> Option<&'a str> {
    req.headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The first value of query parameter `name` (case-sensitive, decoded).
pub fn query_param<'a>(req: &RequestParts<'a>, name: &str) -> Option<&'a str> {
    req.query
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// `name:value\n` lines for every header `include` accepts: names lower-cased, values trimmed,
/// sorted by name in byte order. Repeated headers are joined with `,` as HTTP would fold them.
fn header_block(req: &RequestParts, include: impl Fn(&str) -> bool) -> String {
    let mut lines: Vec<(String, String)> = Vec::new();
    for (name, value) in req.headers {
        let name = name.to_ascii_lowercase();
        if !include(&name) {
            continue;
        }
        let value = value.trim();
        match lines.iter_mut().find(|(n, _)| *n == name) {
            Some((_, joined)) => {
                joined.push(',');
                joined.push_str(value);
            }
            None => lines.push((name, value.to_owned())),
        }
    }
    lines.sort_by(|a, b| a.0.cmp(&b.0));
    lines.iter().map(|(n, v)| format!("{n}:{v}\n")).collect()
}

/// V1 `CanonicalizedOSSHeaders`: every `x-oss-*` header.
pub fn v1_oss_headers(req: &RequestParts) -> String {
    header_block(req, |name| name.starts_with("x-oss-"))
}

/// V1 `CanonicalizedResource`: `/`, `/<bucket>/` or `/<bucket>/<key>` with the raw UTF-8 key,
/// then the sub-resources sorted by name, values unencoded.
pub fn v1_resource(req: &RequestParts) -> String {
    v1_resource_in(req, BucketResource::Slash)
}

/// [`v1_resource`] with the bucket-level path spelled as `form` says.
pub(crate) fn v1_resource_in(req: &RequestParts, form: BucketResource) -> String {
    let mut out = resource_path(req, |s| s.to_owned(), form);
    let mut subs: Vec<&(String, String)> = req
        .query
        .iter()
        .filter(|(n, _)| is_v1_sub_resource(n))
        .collect();
    // Stable, by name only: repeated names keep the order they were sent in.
    subs.sort_by(|a, b| a.0.cmp(&b.0));
    for (i, (name, value)) in subs.into_iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(name);
        if !value.is_empty() {
            out.push('=');
            out.push_str(value);
        }
    }
    out
}

/// V4 `CanonicalURI`: the V1 resource path with bucket and key percent-encoded, `/` kept.
pub fn v4_uri(req: &RequestParts) -> String {
    v4_uri_in(req, BucketResource::Slash)
}

/// [`v4_uri`] with the bucket-level path spelled as `form` says.
pub(crate) fn v4_uri_in(req: &RequestParts, form: BucketResource) -> String {
    resource_path(req, encode_path, form)
}

fn resource_path(
    req: &RequestParts,
    render: impl Fn(&str) -> String,
    form: BucketResource,
) -> String {
    match (req.bucket, req.key) {
        (None, _) | (Some(""), _) => "/".to_owned(),
        (Some(bucket), None) | (Some(bucket), Some("")) => match form {
            BucketResource::Slash => format!("/{}/", render(bucket)),
            BucketResource::Bare => format!("/{}", render(bucket)),
        },
        (Some(bucket), Some(key)) => format!("/{}/{}", render(bucket), render(key)),
    }
}

/// V4 `CanonicalQuery`: every parameter except `skip`, name and value encoded with `/` escaped,
/// sorted by encoded name then value, bare name for an empty value, joined with `&`.
pub fn v4_query(req: &RequestParts, skip: Option<&str>) -> String {
    let mut pairs: Vec<(String, String)> = req
        .query
        .iter()
        .filter(|(n, _)| Some(n.as_str()) != skip)
        .map(|(n, v)| (encode_component(n), encode_component(v)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(n, v)| {
            if v.is_empty() {
                n.clone()
            } else {
                format!("{n}={v}")
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// V4 `CanonicalHeaders`: `content-type`, `content-md5`, every `x-oss-*` header and the
/// additional headers the client named (compared case-insensitively).
pub fn v4_headers(req: &RequestParts, additional_headers: &[String]) -> String {
    header_block(req, |name| {
        name == "content-type"
            || name == "content-md5"
            || name.starts_with("x-oss-")
            || additional_headers
                .iter()
                .any(|h| h.eq_ignore_ascii_case(name))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_resource_list_is_sorted_for_binary_search() {
        assert!(V1_SUB_RESOURCES.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(V1_SUB_RESOURCES.len(), 87);
        assert!(is_v1_sub_resource("uploadId"));
        assert!(!is_v1_sub_resource("uploadid"));
        assert!(!is_v1_sub_resource("max-uploads"));
    }

    #[test]
    fn repeated_headers_fold_and_names_sort() {
        let headers = vec![
            ("X-OSS-Meta-b".to_owned(), " 2 ".to_owned()),
            ("x-oss-meta-a".to_owned(), "1".to_owned()),
            ("x-oss-meta-B".to_owned(), "3".to_owned()),
            ("Range".to_owned(), "bytes=0-1".to_owned()),
        ];
        let req = RequestParts {
            method: "GET",
            bucket: Some("b"),
            key: Some("k"),
            query: &[],
            headers: &headers,
        };
        assert_eq!(v1_oss_headers(&req), "x-oss-meta-a:1\nx-oss-meta-b:2,3\n");
        assert_eq!(
            v4_headers(&req, &["Range".to_owned()]),
            "range:bytes=0-1\nx-oss-meta-a:1\nx-oss-meta-b:2,3\n"
        );
    }
}
