//! Bucket operations: create, list, describe, delete.

use http::{Response, StatusCode};
use hyper::body::Incoming;
use osspart_protocol::attributes::Acl;
use osspart_protocol::xml::bucket::{
    AccessControlList, BucketDetail, BucketEntry, BucketInfo, CreateBucketConfiguration,
    ListAllMyBucketsResult, LocationConstraint, Owner,
};
use osspart_protocol::xml::object::{AccessControlList as ObjectAcl, AccessControlPolicy};
use osspart_protocol::{limits, time_fmt, xml, ErrorCode};

use super::OWNER_ID;
use crate::http::body::{self, BodyChecks};
use crate::http::operation::Payload;
use crate::http::response::{self, Body};
use crate::http::service::RequestContext;
use crate::http::ApiError;
use crate::store::BucketRow;

fn owner(id: &str) -> Owner {
    Owner {
        id: id.to_owned(),
        display_name: id.to_owned(),
    }
}

fn entry(ctx: &RequestContext<'_>, b: &BucketRow) -> BucketEntry {
    let region = &ctx.state.config.region;
    BucketEntry {
        creation_date: time_fmt::xml_timestamp(b.created),
        extranet_endpoint: format!("oss-{region}.aliyuncs.com"),
        intranet_endpoint: format!("oss-{region}-internal.aliyuncs.com"),
        location: format!("oss-{region}"),
        name: b.name.clone(),
        region: region.clone(),
        storage_class: "Standard".to_owned(),
    }
}

/// ListBuckets (GetService).
pub async fn list_buckets(
    ctx: &RequestContext<'_>,
    prefix: String,
    marker: String,
    max_keys: u32,
) -> Result<Response<Body>, ApiError> {
    let account = ctx.caller.account().unwrap_or(OWNER_ID).to_owned();
    let all = ctx.store(|s| s.list_buckets()).await?;
    let mut selected: Vec<&BucketRow> = all
        .iter()
        .filter(|b| b.owner == account)
        .filter(|b| b.name.starts_with(&prefix) && b.name.as_str() > marker.as_str())
        .collect();
    let truncated = selected.len() > max_keys as usize;
    selected.truncate(max_keys as usize);
    let paging = !prefix.is_empty() || !marker.is_empty() || truncated;
    let result = ListAllMyBucketsResult {
        prefix: paging.then(|| prefix.clone()),
        marker: paging.then(|| marker.clone()),
        max_keys: paging.then_some(max_keys),
        is_truncated: paging.then_some(truncated),
        next_marker: truncated.then(|| selected.last().map(|b| b.name.clone()).unwrap_or_default()),
        owner: owner(&account),
        buckets: selected.iter().map(|b| entry(ctx, b)).collect(),
    };
    Ok(response::xml_ok(&result))
}

/// PutBucket: creates a bucket owned by the caller's account (`x-oss-acl` sets its ACL, an
/// optional body names its storage class). Creating a bucket the caller already owns succeeds
/// again; another account's is `BucketAlreadyExists`.
pub async fn put_bucket(
    ctx: &RequestContext<'_>,
    bucket: String,
    acl: Option<Acl>,
    payload: Payload,
    body: &mut Incoming,
) -> Result<Response<Body>, ApiError> {
    if !limits::is_valid_bucket_name(&bucket) {
        return Err(ApiError::new(ErrorCode::InvalidBucketName).with("BucketName", bucket));
    }
    let checks = BodyChecks::from_payload(&payload)?;
    let bytes = body::collect(body, &checks, limits::MAX_XML_BODY).await?;
    if !bytes.iter().all(u8::is_ascii_whitespace) {
        xml::from_xml::<CreateBucketConfiguration>(&bytes)
            .map_err(|e| ApiError::new(ErrorCode::MalformedXML).with_message(e.to_string()))?;
    }
    let now = ctx.now;
    let name = bucket.clone();
    let account = ctx.caller.account().unwrap_or(OWNER_ID).to_owned();
    ctx.store(move |s| s.create_bucket_for(&name, &account, acl, now))
        .await?;
    let mut r = response::empty(StatusCode::OK);
    response::set_header(&mut r, "location", &format!("/{bucket}"));
    Ok(r)
}

/// HeadBucket: `200` when the bucket exists.
pub async fn head_bucket(
    ctx: &RequestContext<'_>,
    bucket: String,
) -> Result<Response<Body>, ApiError> {
    ctx.require_bucket(&bucket).await?;
    Ok(response::empty(StatusCode::OK))
}

/// GetBucketInfo.
pub async fn get_bucket_info(
    ctx: &RequestContext<'_>,
    bucket: String,
) -> Result<Response<Body>, ApiError> {
    let row = ctx.require_bucket(&bucket).await?;
    let e = entry(ctx, &row);
    let info = BucketInfo {
        bucket: BucketDetail {
            name: e.name,
            region: Some(e.region),
            access_control_list: AccessControlList {
                grant: row.acl.as_str().to_owned(),
            },
            comment: None,
            creation_date: e.creation_date,
            location: e.location,
            extranet_endpoint: e.extranet_endpoint,
            intranet_endpoint: e.intranet_endpoint,
            storage_class: e.storage_class,
            owner: owner(&row.owner),
        },
    };
    Ok(response::xml_ok(&info))
}

/// GetBucketLocation.
pub async fn get_bucket_location(
    ctx: &RequestContext<'_>,
    bucket: String,
) -> Result<Response<Body>, ApiError> {
    ctx.require_bucket(&bucket).await?;
    Ok(response::xml_ok(&LocationConstraint {
        location: format!("oss-{}", ctx.state.config.region),
    }))
}

/// DeleteBucket: `204`; refused while objects or uploads remain.
pub async fn delete_bucket(
    ctx: &RequestContext<'_>,
    bucket: String,
) -> Result<Response<Body>, ApiError> {
    ctx.store(move |s| s.delete_bucket(&bucket)).await?;
    Ok(response::empty(StatusCode::NO_CONTENT))
}

/// PutBucketAcl: sets the bucket's canned ACL (`x-oss-acl`).
pub async fn put_bucket_acl(
    ctx: &RequestContext<'_>,
    bucket: String,
    acl: Acl,
) -> Result<Response<Body>, ApiError> {
    ctx.store(move |s| s.set_bucket_acl(&bucket, acl)).await?;
    Ok(response::empty(StatusCode::OK))
}

/// GetBucketAcl: the bucket's owner and canned ACL.
pub async fn get_bucket_acl(
    ctx: &RequestContext<'_>,
    bucket: String,
) -> Result<Response<Body>, ApiError> {
    let row = ctx.require_bucket(&bucket).await?;
    Ok(response::xml_ok(&AccessControlPolicy {
        owner: owner(&row.owner),
        access_control_list: ObjectAcl {
            grant: row.acl.as_str().to_owned(),
        },
    }))
}
