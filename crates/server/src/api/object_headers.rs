//! The headers that describe a stored object on GET, HEAD and GetObjectMeta.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::Response;
use osspart_protocol::time_fmt;

use crate::http::response::{set_header, Body};
use crate::store::{ObjectMeta, ObjectRow, ObjectType};

/// Headers shared by every description of the object: ETag, Last-Modified, CRC-64, type.
pub fn identity(r: &mut Response<Body>, o: &ObjectRow) {
    set_header(r, "etag", &o.etag);
    set_header(r, "last-modified", &time_fmt::http_date(o.last_modified));
    set_header(r, "x-oss-hash-crc64ecma", &o.crc64.to_string());
    set_header(r, "x-oss-object-type", o.object_type.as_str());
    if o.object_type == ObjectType::Appendable {
        set_header(r, "x-oss-next-append-position", &o.size.to_string());
    }
    let m = &o.meta;
    set_header(
        r,
        "x-oss-storage-class",
        m.storage_class.as_deref().unwrap_or("Standard"),
    );
    encryption(r, m);
    if let Some(tags) = m.tagging.as_deref().filter(|t| !t.is_empty()) {
        set_header(
            r,
            "x-oss-tagging-count",
            &tags.split('&').count().to_string(),
        );
    }
}

/// The server-side encryption headers OSS echoes on writes, GET and HEAD of an encrypted
/// object: the algorithm and, for KMS, the key id.
pub fn encryption(r: &mut Response<Body>, m: &ObjectMeta) {
    if let Some(sse) = &m.server_side_encryption {
        set_header(r, "x-oss-server-side-encryption", sse);
        if let Some(id) = &m.sse_key_id {
            set_header(r, "x-oss-server-side-encryption-key-id", id);
        }
    }
}

/// Everything GET and HEAD send: identity, stored metadata and user meta, then the
/// `response-*` overrides of the request.
pub fn full(r: &mut Response<Body>, o: &ObjectRow, overrides: &[(String, String)]) {
    identity(r, o);
    set_header(r, "accept-ranges", "bytes");
    let m = &o.meta;
    set_header(
        r,
        "content-type",
        m.content_type
            .as_deref()
            .unwrap_or("application/octet-stream"),
    );
    for (name, value) in [
        ("cache-control", &m.cache_control),
        ("content-disposition", &m.content_disposition),
        ("content-encoding", &m.content_encoding),
        ("content-language", &m.content_language),
        ("expires", &m.expires),
    ] {
        if let Some(v) = value {
            set_header(r, name, v);
        }
    }
    for (name, value) in &m.user_meta {
        set_header(r, &format!("x-oss-meta-{name}"), value);
    }
    if let Some(md5) = o.content_md5 {
        set_header(r, "content-md5", &STANDARD.encode(md5));
    }
    for (name, value) in overrides {
        set_header(r, name, value);
    }
}
