//! Object calls: put, get (ranges), head, delete, list.

use bytes::Bytes;
use futures_util::stream::{self, Stream};
use osspart_protocol::range::ByteRange;
use osspart_protocol::xml::object::ListBucketResult;
use osspart_protocol::{time_fmt, ErrorCode};
use reqwest::Method;
use time::OffsetDateTime;

use super::url_decoded;
use crate::client::{BodyStream, Client, Request, Response};
use crate::error::{Error, Result};

/// Metadata and headers for a new object (PutObject, InitiateMultipartUpload); built with
/// `ObjectOptions::default()` and the `with_*` setters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ObjectOptions {
    /// `Content-Type`; `None` guesses from the key's extension.
    pub mime: Option<String>,
    /// User metadata, sent as `x-oss-meta-<name>`.
    pub meta: Vec<(String, String)>,
    /// Any other headers (Cache-Control, Content-Disposition, Content-Encoding, Expires, ...).
    pub headers: Vec<(String, String)>,
    /// Refuse to replace an existing object (`x-oss-forbid-overwrite: true`).
    pub forbid_overwrite: bool,
}

with_setters!(ObjectOptions {
    with_mime => mime: Some(into String),
    with_meta => meta: Vec<(String, String)>,
    with_headers => headers: Vec<(String, String)>,
    with_forbid_overwrite => forbid_overwrite: bool,
});

impl ObjectOptions {
    /// Adds the option headers for an object named `key` to `req`.
    pub(crate) fn apply(&self, key: &str, mut req: Request) -> Request {
        let mime = self
            .mime
            .clone()
            .or_else(|| mime_guess::from_path(key).first_raw().map(str::to_owned));
        if let Some(m) = mime {
            req = req.header("Content-Type", m);
        }
        for (name, value) in &self.meta {
            req = req.header(
                &format!("x-oss-meta-{}", name.to_ascii_lowercase()),
                value.clone(),
            );
        }
        for (name, value) in &self.headers {
            req = req.header(name, value.clone());
        }
        if self.forbid_overwrite {
            req = req.header("x-oss-forbid-overwrite", "true");
        }
        req
    }
}

/// Result of PutObject.
#[derive(Debug, Clone)]
pub struct PutOutput {
    /// ETag, quotes kept.
    pub etag: String,
    /// CRC-64 the service computed.
    pub crc64: Option<u64>,
    /// The raw response.
    pub response: Response,
}

/// What HEAD (and GET) tell about an object.
#[derive(Debug, Clone)]
pub struct ObjectInfo {
    /// Size in bytes.
    pub size: u64,
    /// ETag, quotes kept.
    pub etag: String,
    /// Whole-object CRC-64.
    pub crc64: Option<u64>,
    /// `Normal`, `Multipart`, ...
    pub object_type: String,
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `Last-Modified`.
    pub last_modified: Option<OffsetDateTime>,
    /// User metadata (names lower-cased, without prefix).
    pub meta: Vec<(String, String)>,
    /// The raw response (all headers).
    pub response: Response,
}

impl ObjectInfo {
    fn from_response(r: Response, size: u64) -> ObjectInfo {
        let mut meta: Vec<(String, String)> = r
            .headers
            .iter()
            .filter_map(|(n, v)| {
                Some((
                    n.as_str().strip_prefix("x-oss-meta-")?.to_owned(),
                    v.to_str().ok()?.to_owned(),
                ))
            })
            .collect();
        meta.sort();
        ObjectInfo {
            size,
            etag: r.etag().unwrap_or_default().to_owned(),
            crc64: r.crc64(),
            object_type: r.header("x-oss-object-type").unwrap_or_default().to_owned(),
            content_type: r.header("content-type").map(str::to_owned),
            last_modified: r
                .header("last-modified")
                .and_then(time_fmt::parse_http_date),
            meta,
            response: r,
        }
    }

    /// Whether the ETag has the multipart form `"<hex>-<n>"`.
    pub fn is_multipart_etag(&self) -> bool {
        osspart_protocol::etag::unquote(&self.etag)
            .split_once('-')
            .is_some_and(|(h, n)| !h.is_empty() && n.parse::<u32>().is_ok())
    }
}

/// One entry of an object listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectSummary {
    /// Key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// ETag, quotes kept.
    pub etag: String,
    /// `Normal`, `Multipart`, ...
    pub object_type: String,
    /// Last modification, as the service wrote it.
    pub last_modified: String,
}

/// Parameters of ListObjects; built with `ListObjectsQuery::default()` and the `with_*` setters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListObjectsQuery {
    /// Only keys starting with this.
    pub prefix: Option<String>,
    /// Roll keys up at this delimiter.
    pub delimiter: Option<String>,
    /// Start after this key.
    pub marker: Option<String>,
    /// Page size (1..=1000; service default 100).
    pub max_keys: Option<u32>,
}

with_setters!(ListObjectsQuery {
    with_prefix => prefix: Some(into String),
    with_delimiter => delimiter: Some(into String),
    with_marker => marker: Some(into String),
    with_max_keys => max_keys: Some(u32),
});

/// One page of ListObjects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListObjectsPage {
    /// Objects on this page.
    pub objects: Vec<ObjectSummary>,
    /// Rolled-up prefixes on this page.
    pub common_prefixes: Vec<String>,
    /// Whether more pages follow.
    pub is_truncated: bool,
    /// Marker for the next page.
    pub next_marker: Option<String>,
}

impl Client {
    /// PutObject of an in-memory body, with `Content-MD5`.
    pub async fn put_object(
        &self,
        key: &str,
        body: Bytes,
        options: &ObjectOptions,
    ) -> Result<PutOutput> {
        self.put_object_checked(key, body, options, true).await
    }

    /// PutObject of an in-memory body; `content_md5` asks the service to check the body
    /// against its MD5 before storing it.
    pub(crate) async fn put_object_checked(
        &self,
        key: &str,
        body: Bytes,
        options: &ObjectOptions,
        content_md5: bool,
    ) -> Result<PutOutput> {
        let mut req = options.apply(
            key,
            Request::new("PutObject", Method::PUT, Some(key)).body(body),
        );
        if content_md5 {
            req = req.with_content_md5();
        }
        let r = self.send(req).await?;
        Ok(PutOutput {
            etag: r.etag().unwrap_or_default().to_owned(),
            crc64: r.crc64(),
            response: r,
        })
    }

    /// CopyObject from `source_bucket/source_key` to `key` of this client's bucket, on the
    /// service side. `options: None` keeps the source's metadata; `Some` replaces it
    /// (`x-oss-metadata-directive: REPLACE`).
    pub async fn copy_object(
        &self,
        source_bucket: &str,
        source_key: &str,
        key: &str,
        options: Option<&ObjectOptions>,
    ) -> Result<PutOutput> {
        let mut req = Request::new("CopyObject", Method::PUT, Some(key)).header(
            "x-oss-copy-source",
            super::multipart::copy_source(source_bucket, source_key),
        );
        if let Some(options) = options {
            req = options
                .apply(key, req)
                .header("x-oss-metadata-directive", "REPLACE");
        }
        let r = self.send(req).await?;
        let doc: osspart_protocol::xml::object::CopyObjectResult = r.xml()?;
        Ok(PutOutput {
            etag: r
                .etag()
                .map(str::to_owned)
                .unwrap_or_else(|| super::quoted(&doc.etag)),
            crc64: r.crc64(),
            response: r,
        })
    }

    /// GetObject of the whole object or one range.
    pub async fn get_object(
        &self,
        key: &str,
        range: Option<ByteRange>,
    ) -> Result<(ObjectInfo, Bytes)> {
        self.get_object_if(key, range, None).await
    }

    /// GetObject that fails with `PreconditionFailed` unless the object's ETag is `if_match`.
    pub async fn get_object_if(
        &self,
        key: &str,
        range: Option<ByteRange>,
        if_match: Option<&str>,
    ) -> Result<(ObjectInfo, Bytes)> {
        let req = get_object_request(key, range, if_match).max_response(u64::MAX);
        let r = self.send(req).await?;
        let body = r.body.clone();
        let size = total_size(&r).unwrap_or(body.len() as u64);
        Ok((ObjectInfo::from_response(r, size), body))
    }

    /// GetObject whose body is read as it arrives (see [`BodyStream::chunk`]); the
    /// information describes the whole object, as with [`Client::get_object_if`].
    pub async fn get_object_stream(
        &self,
        key: &str,
        range: Option<ByteRange>,
        if_match: Option<&str>,
    ) -> Result<(ObjectInfo, BodyStream)> {
        let stream = self
            .send_streaming(get_object_request(key, range, if_match))
            .await?;
        let response = Response {
            status: stream.status,
            headers: stream.headers.clone(),
            body: Bytes::new(),
        };
        let size = total_size(&response)
            .or(stream.content_length())
            .unwrap_or(0);
        Ok((ObjectInfo::from_response(response, size), stream))
    }

    /// HeadObject.
    pub async fn head_object(&self, key: &str) -> Result<ObjectInfo> {
        let r = self
            .send(Request::new("HeadObject", Method::HEAD, Some(key)))
            .await?;
        let size = r
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        Ok(ObjectInfo::from_response(r, size))
    }

    /// GetObjectAcl: `default` (the bucket's), `private`, `public-read` or
    /// `public-read-write`.
    pub async fn get_object_acl(&self, key: &str) -> Result<String> {
        let req = Request::new("GetObjectAcl", Method::GET, Some(key)).query("acl", "");
        let doc: osspart_protocol::xml::object::AccessControlPolicy =
            self.send(req).await?.xml()?;
        Ok(doc.access_control_list.grant)
    }

    /// HeadObject that maps `NoSuchKey` to `None`.
    pub async fn object_exists(&self, key: &str) -> Result<Option<ObjectInfo>> {
        match self.head_object(key).await {
            Ok(info) => Ok(Some(info)),
            Err(e) if e.has_code(ErrorCode::NoSuchKey) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// DeleteObject (succeeds when the key does not exist).
    pub async fn delete_object(&self, key: &str) -> Result<()> {
        self.send(Request::new("DeleteObject", Method::DELETE, Some(key)))
            .await?;
        Ok(())
    }

    /// One page of ListObjects.
    pub async fn list_objects(&self, q: &ListObjectsQuery) -> Result<ListObjectsPage> {
        let req = Request::new("ListObjects", Method::GET, None)
            .query_opt("prefix", q.prefix.clone())
            .query_opt("delimiter", q.delimiter.clone())
            .query_opt("marker", q.marker.clone())
            .query_opt("max-keys", q.max_keys.map(|n| n.to_string()))
            .query("encoding-type", "url");
        let doc: ListBucketResult = self.send(req).await?.xml()?;
        let enc = doc.encoding_type.as_deref() == Some("url");
        let objects = doc
            .contents
            .iter()
            .map(|o| {
                Ok(ObjectSummary {
                    key: url_decoded(&o.key, enc)?,
                    size: o.size,
                    etag: super::quoted(&o.etag),
                    object_type: o.object_type.as_str().to_owned(),
                    last_modified: o.last_modified.clone(),
                })
            })
            .collect::<Result<_>>()?;
        let common_prefixes = doc
            .common_prefixes
            .iter()
            .map(|p| url_decoded(&p.prefix, enc))
            .collect::<Result<_>>()?;
        let next_marker = doc
            .next_marker
            .as_deref()
            .map(|m| url_decoded(m, enc))
            .transpose()?;
        Ok(ListObjectsPage {
            objects,
            common_prefixes,
            is_truncated: doc.is_truncated,
            next_marker,
        })
    }

    /// Every object matching `q`, following markers to the end.
    pub fn list_all_objects(
        &self,
        q: ListObjectsQuery,
    ) -> impl Stream<Item = Result<ObjectSummary>> + '_ {
        let pages = stream::try_unfold(Some(q), move |state| async move {
            let Some(q) = state else { return Ok(None) };
            let page = self.list_objects(&q).await?;
            let next = match (&page.next_marker, page.is_truncated) {
                (Some(m), true) => {
                    super::check_advance("ListObjects", q.marker.as_deref(), m)?;
                    Some(ListObjectsQuery {
                        marker: Some(m.clone()),
                        ..q
                    })
                }
                (None, true) => {
                    return Err(Error::Protocol(
                        "truncated listing without NextMarker".into(),
                    ))
                }
                _ => None,
            };
            Ok(Some((page.objects, next)))
        });
        flatten_pages(pages)
    }
}

/// Flattens a stream of pages into a stream of items.
pub(crate) fn flatten_pages<T>(
    pages: impl Stream<Item = Result<Vec<T>>>,
) -> impl Stream<Item = Result<T>> {
    use futures_util::StreamExt;
    pages.flat_map(|page| {
        let items: Vec<Result<T>> = match page {
            Ok(items) => items.into_iter().map(Ok).collect(),
            Err(e) => vec![Err(e)],
        };
        stream::iter(items)
    })
}

/// GetObject of `key`, optionally one range of it and pinned to an ETag.
fn get_object_request(key: &str, range: Option<ByteRange>, if_match: Option<&str>) -> Request {
    let mut req = Request::new("GetObject", Method::GET, Some(key));
    if let Some(r) = range {
        req = req.header("Range", r.to_header());
    }
    if let Some(etag) = if_match {
        req = req.header("If-Match", etag);
    }
    req
}

/// Object size from `Content-Range: bytes a-b/total` of a ranged answer.
fn total_size(r: &Response) -> Option<u64> {
    r.header("content-range")?.rsplit_once('/')?.1.parse().ok()
}
