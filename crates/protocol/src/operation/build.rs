//! The sending half of the operation model: a typed request becomes the method, key, query
//! and headers that [`parse`](super::parse) reads back into the same request.
//!
//! The bucket is not part of what is built: the sender's addressing puts it in the host or the
//! path. Body framing (length, Content-MD5) belongs to the transport that sends the body, so a
//! request's [`Payload`](super::Payload) is not turned into headers here.

use http::Method;

use super::{CompleteRequest, CopySource, ListPartsRequest, UploadPartCopyRequest};
use super::{Conditions, UploadPartRequest};
use crate::encoding::encode_component;
use crate::limits;

/// What a sender puts on the wire for one operation, the body aside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestParts {
    /// HTTP method.
    pub method: Method,
    /// Object key; `None` for bucket-level calls.
    pub key: Option<String>,
    /// Query parameters, decoded, in the order they are sent.
    pub query: Vec<(String, String)>,
    /// Headers, in the order they are sent.
    pub headers: Vec<(String, String)>,
}

impl RequestParts {
    fn new(method: Method, key: &str) -> Self {
        RequestParts {
            method,
            key: Some(key.to_owned()),
            query: Vec::new(),
            headers: Vec::new(),
        }
    }

    fn query(mut self, name: &str, value: impl Into<String>) -> Self {
        self.query.push((name.to_owned(), value.into()));
        self
    }

    fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    fn header_if(self, yes: bool, name: &str, value: &str) -> Self {
        if yes {
            self.header(name, value)
        } else {
            self
        }
    }

    fn conditions(mut self, prefix: &str, c: &Conditions) -> Self {
        for (name, value) in [
            ("if-match", &c.if_match),
            ("if-none-match", &c.if_none_match),
            ("if-modified-since", &c.if_modified_since),
            ("if-unmodified-since", &c.if_unmodified_since),
        ] {
            if let Some(v) = value {
                self = self.header(&format!("{prefix}{name}"), v.clone());
            }
        }
        self
    }
}

impl CopySource {
    /// The `x-oss-copy-source` value naming this source (`/<bucket>/<key>`, key encoded).
    pub fn header_value(&self) -> String {
        format!("/{}/{}", self.bucket, encode_component(&self.key))
    }
}

impl UploadPartRequest {
    /// `PUT /<key>?partNumber=N&uploadId=ID`.
    pub fn to_parts(&self) -> RequestParts {
        RequestParts::new(Method::PUT, &self.key)
            .query("partNumber", self.part_number.to_string())
            .query("uploadId", self.upload_id.clone())
    }
}

impl UploadPartCopyRequest {
    /// UploadPart's request line plus `x-oss-copy-source`, its range and its conditions.
    pub fn to_parts(&self) -> RequestParts {
        let mut parts = RequestParts::new(Method::PUT, &self.key)
            .query("partNumber", self.part_number.to_string())
            .query("uploadId", self.upload_id.clone())
            .header("x-oss-copy-source", self.source.header_value());
        if let Some(range) = self.source.range {
            parts = parts.header("x-oss-copy-source-range", range.to_header());
        }
        parts.conditions("x-oss-copy-source-", &self.source.conditions)
    }
}

impl CompleteRequest {
    /// `POST /<key>?uploadId=ID` with `x-oss-complete-all` and `x-oss-forbid-overwrite` when
    /// asked for.
    pub fn to_parts(&self) -> RequestParts {
        let mut parts =
            RequestParts::new(Method::POST, &self.key).query("uploadId", self.upload_id.clone());
        if self.url_encoding {
            parts = parts.query("encoding-type", "url");
        }
        parts
            .header_if(self.complete_all, "x-oss-complete-all", "yes")
            .header_if(self.forbid_overwrite, "x-oss-forbid-overwrite", "true")
    }
}

impl ListPartsRequest {
    /// `GET /<key>?uploadId=ID`; the marker and page size only when they differ from what an
    /// absent parameter means (0 and [`limits::MAX_PARTS_PER_PAGE`]).
    pub fn to_parts(&self) -> RequestParts {
        let mut parts =
            RequestParts::new(Method::GET, &self.key).query("uploadId", self.upload_id.clone());
        if self.part_number_marker != 0 {
            parts = parts.query("part-number-marker", self.part_number_marker.to_string());
        }
        if self.max_parts != limits::MAX_PARTS_PER_PAGE {
            parts = parts.query("max-parts", self.max_parts.to_string());
        }
        if self.url_encoding {
            parts = parts.query("encoding-type", "url");
        }
        parts
    }
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderName, HeaderValue};

    use super::*;
    use crate::operation::{parse, Operation, Payload, Query, Target};
    use crate::range::ByteRange;

    /// Parses what was built, as the receiver would.
    fn round_trip(parts: &RequestParts) -> Operation {
        let target = Target {
            bucket: Some("bkt".into()),
            key: parts.key.clone(),
        };
        let mut headers = HeaderMap::new();
        for (n, v) in &parts.headers {
            headers.append(
                HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        parse(
            &parts.method,
            &target,
            &Query(parts.query.clone()),
            &headers,
        )
        .unwrap()
    }

    #[test]
    fn built_requests_parse_back_into_themselves() {
        let part = UploadPartRequest {
            bucket: "bkt".into(),
            key: "a/b c".into(),
            upload_id: "u1".into(),
            part_number: 9,
            payload: Payload::default(),
        };
        assert!(matches!(round_trip(&part.to_parts()),
            Operation::UploadPart(r) if r.key == part.key && r.upload_id == "u1" && r.part_number == 9));

        let copy = UploadPartCopyRequest {
            bucket: "bkt".into(),
            key: "k".into(),
            upload_id: "u1".into(),
            part_number: 2,
            source: CopySource {
                bucket: "src".into(),
                key: "s/ü k".into(),
                range: Some(ByteRange::FromTo(5, 9)),
                conditions: Conditions {
                    if_match: Some("\"e\"".into()),
                    ..Conditions::default()
                },
            },
        };
        assert!(matches!(round_trip(&copy.to_parts()),
            Operation::UploadPartCopy(r) if r.source == copy.source && r.part_number == 2));

        for (complete_all, forbid_overwrite, url_encoding) in
            [(false, false, false), (true, true, true)]
        {
            let complete = CompleteRequest {
                bucket: "bkt".into(),
                key: "k".into(),
                upload_id: "u1".into(),
                complete_all,
                forbid_overwrite,
                url_encoding,
                payload: Payload::default(),
            };
            assert!(matches!(round_trip(&complete.to_parts()),
                Operation::CompleteMultipartUpload(r)
                    if r.upload_id == "u1" && r.complete_all == complete_all
                        && r.forbid_overwrite == forbid_overwrite
                        && r.url_encoding == url_encoding));
        }

        for (marker, max) in [(0, limits::MAX_PARTS_PER_PAGE), (7, 3)] {
            let list = ListPartsRequest {
                bucket: "bkt".into(),
                key: "k".into(),
                upload_id: "u1".into(),
                part_number_marker: marker,
                max_parts: max,
                url_encoding: true,
            };
            assert!(matches!(round_trip(&list.to_parts()),
                Operation::ListParts(r)
                    if r.part_number_marker == marker && r.max_parts == max && r.url_encoding));
        }
    }
}
