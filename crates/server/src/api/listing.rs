//! ListObjects (v1) and ListObjectsV2.

use http::Response;
use osspart_protocol::time_fmt;
use osspart_protocol::xml::bucket::Owner;
use osspart_protocol::xml::object::{
    CommonPrefix, ListBucketResult, ListBucketResultV2, ObjectEntry,
};

use super::{encoding_type, maybe_encode, OWNER_ID};
use crate::http::continuation;
use crate::http::operation::ListObjectsV2Request;
use crate::http::operation::ObjectListing;
use crate::http::response::{self, Body};
use crate::http::service::RequestContext;
use crate::http::ApiError;
use crate::store::{ListPage, ObjectSummary};

async fn page(
    ctx: &RequestContext<'_>,
    bucket: &str,
    l: &ObjectListing,
) -> Result<ListPage<ObjectSummary>, ApiError> {
    let (b, listing) = (bucket.to_owned(), l.clone());
    ctx.store(move |s| s.list_objects(&b, &listing)).await
}

fn entries(page: &ListPage<ObjectSummary>, url: bool, with_owner: bool) -> Vec<ObjectEntry> {
    page.entries
        .iter()
        .map(|o| ObjectEntry {
            key: maybe_encode(&o.key, url),
            last_modified: time_fmt::xml_timestamp(o.last_modified),
            etag: o.etag.clone(),
            object_type: o.object_type,
            size: o.size,
            storage_class: "Standard".to_owned(),
            owner: with_owner.then(|| Owner {
                id: OWNER_ID.to_owned(),
                display_name: OWNER_ID.to_owned(),
            }),
        })
        .collect()
}

fn prefixes(page: &ListPage<ObjectSummary>, url: bool) -> Vec<CommonPrefix> {
    page.common_prefixes
        .iter()
        .map(|p| CommonPrefix {
            prefix: maybe_encode(p, url),
        })
        .collect()
}

/// ListObjects (v1): every entry carries `Owner` (ali-oss needs it).
pub async fn list_objects(
    ctx: &RequestContext<'_>,
    bucket: String,
    l: ObjectListing,
) -> Result<Response<Body>, ApiError> {
    let page = page(ctx, &bucket, &l).await?;
    let url = l.url_encoding;
    Ok(response::xml_ok(&ListBucketResult {
        name: bucket,
        prefix: maybe_encode(&l.prefix, url),
        marker: maybe_encode(&l.marker, url),
        max_keys: l.max_keys,
        delimiter: maybe_encode(&l.delimiter, url),
        is_truncated: page.is_truncated,
        next_marker: page
            .is_truncated
            .then(|| maybe_encode(&page.next_marker, url)),
        encoding_type: encoding_type(url),
        contents: entries(&page, url, true),
        common_prefixes: prefixes(&page, url),
    }))
}

/// ListObjectsV2: continuation tokens are opaque encodings of the next start key.
pub async fn list_objects_v2(
    ctx: &RequestContext<'_>,
    req: ListObjectsV2Request,
) -> Result<Response<Body>, ApiError> {
    let ListObjectsV2Request {
        bucket,
        listing: l,
        continuation_token,
        start_after,
        fetch_owner,
    } = req;
    let page = page(ctx, &bucket, &l).await?;
    let url = l.url_encoding;
    let key_count = (page.entries.len() + page.common_prefixes.len()) as u32;
    Ok(response::xml_ok(&ListBucketResultV2 {
        name: bucket,
        prefix: maybe_encode(&l.prefix, url),
        continuation_token: (!continuation_token.is_empty()).then_some(continuation_token),
        start_after: (!start_after.is_empty()).then(|| maybe_encode(&start_after, url)),
        max_keys: l.max_keys,
        delimiter: maybe_encode(&l.delimiter, url),
        is_truncated: page.is_truncated,
        next_continuation_token: page
            .is_truncated
            .then(|| continuation::encode(&page.next_marker)),
        key_count,
        encoding_type: encoding_type(url),
        contents: entries(&page, url, fetch_owner),
        common_prefixes: prefixes(&page, url),
    }))
}
