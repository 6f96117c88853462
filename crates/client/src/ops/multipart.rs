//! Multipart calls: initiate, upload part (and copy), complete, abort, list uploads and parts,
//! with paginators that follow the markers to the end.

use bytes::Bytes;
use futures_util::stream::{self, Stream};
use osspart_protocol::encoding::encode_component;
use osspart_protocol::operation::{
    CompleteRequest, Conditions, CopySource, ListPartsRequest, Payload, RequestParts,
    UploadPartCopyRequest, UploadPartRequest,
};
use osspart_protocol::xml::multipart::{
    CompleteMultipartUpload, CompleteMultipartUploadResult, CompletePart, CopyPartResult,
    InitiateMultipartUploadResult, ListMultipartUploadsResult, ListPartsResult,
};
use osspart_protocol::{crc64, limits, xml};
use reqwest::Method;

use super::object::{flatten_pages, ObjectOptions};
use super::{quoted, url_decoded};
use crate::client::{Client, Request, Response};
use crate::error::{Error, Result};

/// A part as CompleteMultipartUpload names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartEtag {
    /// Part number (1..=10000).
    pub number: u32,
    /// ETag the service returned for the part.
    pub etag: String,
}

/// Result of UploadPart and UploadPartCopy.
#[derive(Debug, Clone)]
pub struct PartOutput {
    /// ETag, quotes kept.
    pub etag: String,
    /// CRC-64 of the part, as the service computed it.
    pub crc64: Option<u64>,
    /// The raw response.
    pub response: Response,
}

/// Result of CompleteMultipartUpload.
#[derive(Debug, Clone)]
pub struct CompleteOutput {
    /// The object's ETag (multipart form), quotes kept.
    pub etag: String,
    /// Whole-object CRC-64 reported by the service.
    pub crc64: Option<u64>,
    /// The raw response.
    pub response: Response,
}

/// An in-progress upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadInfo {
    /// Object key.
    pub key: String,
    /// Upload id.
    pub upload_id: String,
    /// When it was initiated, as the service wrote it.
    pub initiated: String,
}

/// Parameters of ListMultipartUploads; built with `ListUploadsQuery::default()` and the
/// `with_*` setters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListUploadsQuery {
    /// Only keys starting with this.
    pub prefix: Option<String>,
    /// Roll keys up at this delimiter.
    pub delimiter: Option<String>,
    /// Start after this key (with `upload_id_marker`: after that upload of this key).
    pub key_marker: Option<String>,
    /// Start after this upload id of `key_marker`.
    pub upload_id_marker: Option<String>,
    /// Page size (1..=1000).
    pub max_uploads: Option<u32>,
}

with_setters!(ListUploadsQuery {
    with_prefix => prefix: Some(into String),
    with_delimiter => delimiter: Some(into String),
    with_key_marker => key_marker: Some(into String),
    with_upload_id_marker => upload_id_marker: Some(into String),
    with_max_uploads => max_uploads: Some(u32),
});

/// One page of ListMultipartUploads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListUploadsPage {
    /// Uploads on this page.
    pub uploads: Vec<UploadInfo>,
    /// Rolled-up prefixes on this page.
    pub common_prefixes: Vec<String>,
    /// Whether more pages follow.
    pub is_truncated: bool,
    /// Key marker for the next page.
    pub next_key_marker: String,
    /// Upload id marker for the next page.
    pub next_upload_id_marker: String,
}

/// A part the service holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartInfo {
    /// Part number.
    pub number: u32,
    /// Size in bytes.
    pub size: u64,
    /// ETag, quotes kept.
    pub etag: String,
    /// CRC-64, when the service reports it.
    pub crc64: Option<u64>,
    /// Last modification, as the service wrote it.
    pub last_modified: String,
}

/// One page of ListParts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPartsPage {
    /// Parts on this page, ascending.
    pub parts: Vec<PartInfo>,
    /// Whether more pages follow.
    pub is_truncated: bool,
    /// Marker for the next page.
    pub next_part_number_marker: u32,
}

/// A client request from the parts the protocol builds for a typed request, so that what is
/// sent is what the receiver's parser reads back into that request.
fn request(op: &'static str, parts: RequestParts) -> Request {
    let mut req = Request::new(op, parts.method, parts.key.as_deref());
    req.query = parts.query;
    req.headers = parts.headers;
    req
}

/// The `x-oss-copy-source` value naming `bucket/key`.
pub(crate) fn copy_source(bucket: &str, key: &str) -> String {
    format!("/{bucket}/{}", encode_component(key))
}

impl Client {
    /// InitiateMultipartUpload; returns the upload id.
    pub async fn init_multipart_upload(
        &self,
        key: &str,
        options: &ObjectOptions,
    ) -> Result<String> {
        self.initiate(key, options, true).await
    }

    /// InitiateMultipartUpload, retried per the client's policy or sent once. A retry after a
    /// lost answer would leave the first upload orphaned; the upload engine sends once and
    /// looks for that upload before trying again.
    pub(crate) async fn initiate(
        &self,
        key: &str,
        options: &ObjectOptions,
        retries: bool,
    ) -> Result<String> {
        let req = options.apply(
            key,
            Request::new("InitiateMultipartUpload", Method::POST, Some(key)).query("uploads", ""),
        );
        let response = if retries {
            self.send(req).await?
        } else {
            self.send_once(req).await?
        };
        let doc: InitiateMultipartUploadResult = response.xml()?;
        if doc.upload_id.is_empty() {
            return Err(Error::Protocol(
                "InitiateMultipartUpload returned no UploadId".into(),
            ));
        }
        Ok(doc.upload_id)
    }

    /// The UploadPart request for part `number` of `upload_id`, as the typed request builds
    /// it; `content_md5` adds the body's MD5.
    pub(crate) fn upload_part_request(
        &self,
        key: &str,
        upload_id: &str,
        number: u32,
        body: Bytes,
        content_md5: bool,
    ) -> Request {
        let part = UploadPartRequest {
            bucket: self.bucket().to_owned(),
            key: key.to_owned(),
            upload_id: upload_id.to_owned(),
            part_number: number,
            payload: Payload::default(),
        };
        let req = request("UploadPart", part.to_parts()).body(body);
        if content_md5 {
            req.with_content_md5()
        } else {
            req
        }
    }

    /// UploadPart, retried per the client's policy; checks the returned CRC-64 against the
    /// body's.
    pub async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u32,
        body: Bytes,
        content_md5: bool,
    ) -> Result<PartOutput> {
        let crc = crc64::checksum(&body);
        let r = self
            .send(self.upload_part_request(key, upload_id, number, body, content_md5))
            .await?;
        part_output(r, Some(crc), number)
    }

    /// UploadPartCopy from `source_bucket/source_key`, optionally a byte range.
    pub async fn upload_part_copy(
        &self,
        key: &str,
        upload_id: &str,
        number: u32,
        source_bucket: &str,
        source_key: &str,
        range: Option<osspart_protocol::range::ByteRange>,
    ) -> Result<PartOutput> {
        self.upload_part_copy_if(
            key,
            upload_id,
            number,
            source_bucket,
            source_key,
            range,
            None,
        )
        .await
    }

    /// UploadPartCopy that fails with `PreconditionFailed` unless the source's ETag is
    /// `source_etag` (so every part of a copy comes from the same object).
    #[allow(clippy::too_many_arguments)]
    pub async fn upload_part_copy_if(
        &self,
        key: &str,
        upload_id: &str,
        number: u32,
        source_bucket: &str,
        source_key: &str,
        range: Option<osspart_protocol::range::ByteRange>,
        source_etag: Option<&str>,
    ) -> Result<PartOutput> {
        let copy = UploadPartCopyRequest {
            bucket: self.bucket().to_owned(),
            key: key.to_owned(),
            upload_id: upload_id.to_owned(),
            part_number: number,
            source: CopySource {
                bucket: source_bucket.to_owned(),
                key: source_key.to_owned(),
                range,
                conditions: Conditions {
                    if_match: source_etag.map(str::to_owned),
                    ..Conditions::default()
                },
            },
        };
        let r = self
            .send(request("UploadPartCopy", copy.to_parts()))
            .await?;
        let doc: CopyPartResult = r.xml()?;
        let etag = r
            .etag()
            .map(str::to_owned)
            .unwrap_or_else(|| quoted(&doc.etag));
        Ok(PartOutput {
            etag,
            crc64: r.crc64(),
            response: r,
        })
    }

    /// CompleteMultipartUpload with the given parts (sent sorted ascending, ETags quoted).
    pub async fn complete_multipart_upload(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[PartEtag],
    ) -> Result<CompleteOutput> {
        let mut parts: Vec<CompletePart> = parts
            .iter()
            .map(|p| CompletePart {
                part_number: p.number,
                etag: quoted(&p.etag),
            })
            .collect();
        parts.sort_by_key(|p| p.part_number);
        let body = xml::to_xml(&CompleteMultipartUpload { parts });
        let req = request(
            "CompleteMultipartUpload",
            self.complete_request(key, upload_id, false).to_parts(),
        )
        .body(Bytes::from(body))
        .with_content_md5();
        complete_output(self.send_once(req).await?)
    }

    /// CompleteMultipartUpload of every uploaded part (`x-oss-complete-all: yes`).
    pub async fn complete_all(&self, key: &str, upload_id: &str) -> Result<CompleteOutput> {
        let req = request(
            "CompleteMultipartUpload",
            self.complete_request(key, upload_id, true).to_parts(),
        );
        complete_output(self.send_once(req).await?)
    }

    /// CompleteMultipartUpload of `upload_id`, all parts or those the body lists.
    fn complete_request(&self, key: &str, upload_id: &str, complete_all: bool) -> CompleteRequest {
        CompleteRequest {
            bucket: self.bucket().to_owned(),
            key: key.to_owned(),
            upload_id: upload_id.to_owned(),
            complete_all,
            forbid_overwrite: false,
            url_encoding: false,
            payload: Payload::default(),
        }
    }

    /// AbortMultipartUpload.
    ///
    /// Retried per the client's policy; when a retry finds the upload gone, the earlier
    /// attempt whose answer was lost did the abort, so that counts as success.
    pub async fn abort_multipart_upload(&self, key: &str, upload_id: &str) -> Result<()> {
        self.retrier()
            .run("AbortMultipartUpload", |retry| async move {
                let req = Request::new("AbortMultipartUpload", Method::DELETE, Some(key))
                    .query("uploadId", upload_id);
                match self.send_once(req).await {
                    Err(e)
                        if retry > 0 && e.has_code(osspart_protocol::ErrorCode::NoSuchUpload) =>
                    {
                        Ok(())
                    }
                    other => other.map(drop),
                }
            })
            .await
    }

    /// One page of ListMultipartUploads.
    pub async fn list_uploads(&self, q: &ListUploadsQuery) -> Result<ListUploadsPage> {
        let req = Request::new("ListMultipartUploads", Method::GET, None)
            .query("uploads", "")
            .query_opt("prefix", q.prefix.clone())
            .query_opt("delimiter", q.delimiter.clone())
            .query_opt("key-marker", q.key_marker.clone())
            .query_opt("upload-id-marker", q.upload_id_marker.clone())
            .query_opt("max-uploads", q.max_uploads.map(|n| n.to_string()))
            .query("encoding-type", "url");
        let doc: ListMultipartUploadsResult = self.send(req).await?.xml()?;
        let enc = doc.encoding_type.as_deref() == Some("url");
        let uploads = doc
            .uploads
            .iter()
            .map(|u| {
                Ok(UploadInfo {
                    key: url_decoded(&u.key, enc)?,
                    upload_id: u.upload_id.clone(),
                    initiated: u.initiated.clone(),
                })
            })
            .collect::<Result<_>>()?;
        Ok(ListUploadsPage {
            uploads,
            common_prefixes: doc
                .common_prefixes
                .iter()
                .map(|p| url_decoded(&p.prefix, enc))
                .collect::<Result<_>>()?,
            is_truncated: doc.is_truncated,
            next_key_marker: url_decoded(&doc.next_key_marker, enc)?,
            next_upload_id_marker: doc.next_upload_id_marker,
        })
    }

    /// Every in-progress upload matching `q`, following the markers to the end.
    pub fn list_all_uploads(
        &self,
        q: ListUploadsQuery,
    ) -> impl Stream<Item = Result<UploadInfo>> + '_ {
        // Uploads of one key are ordered by when they began, not by id: a page that stays on
        // the same key must name an upload id not seen as a marker yet.
        let start = (q, std::collections::HashSet::<String>::new());
        let pages = stream::try_unfold(Some(start), move |state| async move {
            let Some((q, mut seen)) = state else {
                return Ok(None);
            };
            let page = self.list_uploads(&q).await?;
            if !page.is_truncated {
                return Ok(Some((page.uploads, None)));
            }
            let next_key = page.next_key_marker.clone();
            let next_id = page.next_upload_id_marker.clone();
            if q.key_marker.as_deref() == Some(next_key.as_str()) {
                if !seen.insert(next_id.clone()) {
                    return Err(Error::Protocol(format!(
                        "ListMultipartUploads repeats the page after {next_key:?}/{next_id:?}"
                    )));
                }
            } else {
                super::check_advance("ListMultipartUploads", q.key_marker.as_deref(), &next_key)?;
                seen = std::collections::HashSet::from([next_id.clone()]);
            }
            let next = ListUploadsQuery {
                key_marker: Some(next_key),
                upload_id_marker: Some(next_id),
                ..q
            };
            Ok(Some((page.uploads, Some((next, seen)))))
        });
        flatten_pages(pages)
    }

    /// One page of ListParts.
    pub async fn list_parts(
        &self,
        key: &str,
        upload_id: &str,
        part_number_marker: Option<u32>,
        max_parts: Option<u32>,
    ) -> Result<ListPartsPage> {
        let list = ListPartsRequest {
            bucket: self.bucket().to_owned(),
            key: key.to_owned(),
            upload_id: upload_id.to_owned(),
            part_number_marker: part_number_marker.unwrap_or(0),
            max_parts: max_parts.unwrap_or(limits::MAX_PARTS_PER_PAGE),
            url_encoding: true,
        };
        let req = request("ListParts", list.to_parts());
        let doc: ListPartsResult = self.send(req).await?.xml()?;
        Ok(ListPartsPage {
            parts: doc
                .parts
                .iter()
                .map(|p| PartInfo {
                    number: p.part_number,
                    size: p.size,
                    etag: quoted(&p.etag),
                    crc64: p.hash_crc64ecma,
                    last_modified: p.last_modified.clone(),
                })
                .collect(),
            is_truncated: doc.is_truncated,
            next_part_number_marker: doc.next_part_number_marker,
        })
    }

    /// Every part of an upload, following the markers to the end.
    pub fn list_all_parts<'a>(
        &'a self,
        key: &'a str,
        upload_id: &'a str,
    ) -> impl Stream<Item = Result<PartInfo>> + 'a {
        let pages = stream::try_unfold(Some(0u32), move |state| async move {
            let Some(marker) = state else { return Ok(None) };
            let page = self.list_parts(key, upload_id, Some(marker), None).await?;
            let next = match page.is_truncated {
                true if page.next_part_number_marker <= marker => {
                    return Err(Error::Protocol("ListParts marker did not advance".into()))
                }
                true => Some(page.next_part_number_marker),
                false => None,
            };
            Ok(Some((page.parts, next)))
        });
        flatten_pages(pages)
    }
}

pub(crate) fn part_output(r: Response, local_crc: Option<u64>, number: u32) -> Result<PartOutput> {
    let etag = r
        .etag()
        .ok_or_else(|| Error::Protocol(format!("UploadPart {number} returned no ETag")))?
        .to_owned();
    let crc = r.crc64();
    if let (Some(expected), Some(actual)) = (local_crc, crc) {
        if expected != actual {
            return Err(Error::Checksum {
                what: format!("part {number}"),
                expected,
                actual,
            });
        }
    }
    Ok(PartOutput {
        etag,
        crc64: crc,
        response: r,
    })
}

fn complete_output(r: Response) -> Result<CompleteOutput> {
    let body_etag = r
        .xml::<CompleteMultipartUploadResult>()
        .ok()
        .map(|d| quoted(&d.etag));
    let etag = r
        .etag()
        .map(str::to_owned)
        .or(body_etag)
        .ok_or_else(|| Error::Protocol("CompleteMultipartUpload returned no ETag".into()))?;
    Ok(CompleteOutput {
        etag,
        crc64: r.crc64(),
        response: r,
    })
}
