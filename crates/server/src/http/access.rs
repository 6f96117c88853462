//! Authorization: what the caller proven by `auth` may do with the bucket or object an
//! operation names, as OSS decides it.
//!
//! Invariant: a bucket's owner may do everything with it; anyone else (another account, or an
//! unsigned request) only what the canned ACLs open: reads under `public-read`, reads and
//! writes under `public-read-write`, an object's own ACL taking precedence over its bucket's
//! unless it is `default`. Changing a bucket or an ACL, and listing uploads, is the owner's
//! alone. A missing bucket is not decided here: the handler answers `NoSuchBucket`.

use osspart_protocol::attributes::Acl;
use osspart_protocol::ErrorCode;

use super::auth::Caller;
use super::error::ApiError;
use super::operation::Operation;
use super::service::RequestContext;

/// What an operation needs from its caller.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Need {
    /// Nothing (CORS preflight).
    Nothing,
    /// A signed request, of any account (ListBuckets, PutBucket).
    SignedIn,
    /// Ownership of the bucket.
    Owner(String),
    /// Reading the bucket's listing.
    ListBucket(String),
    /// Writing any key of the bucket (DeleteMultipleObjects).
    WriteBucket(String),
    /// Reading one object.
    Read(String, String),
    /// Writing (or deleting) one object.
    Write(String, String),
}

fn needs(op: &Operation) -> Vec<Need> {
    use Operation as O;
    let owner = |b: &String| vec![Need::Owner(b.clone())];
    let read = |b: &String, k: &String| vec![Need::Read(b.clone(), k.clone())];
    let write = |b: &String, k: &String| vec![Need::Write(b.clone(), k.clone())];
    match op {
        O::Preflight(_) => vec![Need::Nothing],
        O::ListBuckets { .. } | O::PutBucket { .. } => vec![Need::SignedIn],
        O::HeadBucket { bucket }
        | O::GetBucketInfo { bucket }
        | O::GetBucketLocation { bucket }
        | O::DeleteBucket { bucket }
        | O::PutBucketCors { bucket, .. }
        | O::GetBucketCors { bucket }
        | O::DeleteBucketCors { bucket }
        | O::PutBucketAcl { bucket, .. }
        | O::GetBucketAcl { bucket }
        | O::GetObjectAcl { bucket, .. }
        | O::PutObjectAcl { bucket, .. }
        | O::GetObjectTagging { bucket, .. }
        | O::PutObjectTagging { bucket, .. }
        | O::DeleteObjectTagging { bucket, .. } => owner(bucket),
        O::ListMultipartUploads(r) => owner(&r.bucket),
        O::ListObjects { bucket, .. } => vec![Need::ListBucket(bucket.clone())],
        O::ListObjectsV2(r) => vec![Need::ListBucket(r.bucket.clone())],
        O::DeleteMultipleObjects { bucket, .. } => vec![Need::WriteBucket(bucket.clone())],
        O::GetObject(r) => read(&r.bucket, &r.key),
        O::HeadObject { bucket, key, .. } | O::GetObjectMeta { bucket, key } => read(bucket, key),
        O::PutObject(r) => write(&r.bucket, &r.key),
        O::AppendObject(r) => write(&r.bucket, &r.key),
        O::DeleteObject { bucket, key } => write(bucket, key),
        O::InitiateMultipartUpload(r) => write(&r.bucket, &r.key),
        O::UploadPart(r) => write(&r.bucket, &r.key),
        O::CompleteMultipartUpload(r) => write(&r.bucket, &r.key),
        O::AbortMultipartUpload { bucket, key, .. } => write(bucket, key),
        O::ListParts(r) => write(&r.bucket, &r.key),
        O::CopyObject(r) => vec![
            Need::Read(r.source.bucket.clone(), r.source.key.clone()),
            Need::Write(r.bucket.clone(), r.key.clone()),
        ],
        O::UploadPartCopy(r) => vec![
            Need::Read(r.source.bucket.clone(), r.source.key.clone()),
            Need::Write(r.bucket.clone(), r.key.clone()),
        ],
    }
}

fn denied(what: &str) -> ApiError {
    ApiError::new(ErrorCode::AccessDenied).with_message(format!(
        "You have no right to access this {what} because of its acl."
    ))
}

/// Refuses the operation unless the caller may run it (`AccessDenied`).
pub async fn authorize(ctx: &RequestContext<'_>, op: &Operation) -> Result<(), ApiError> {
    for need in needs(op) {
        check(ctx, &need).await?;
    }
    Ok(())
}

async fn check(ctx: &RequestContext<'_>, need: &Need) -> Result<(), ApiError> {
    let bucket = match need {
        Need::Nothing => return Ok(()),
        Need::SignedIn => {
            return match ctx.caller {
                Caller::Anonymous => Err(ApiError::new(ErrorCode::AccessDenied)
                    .with_message("Anonymous access is forbidden for this operation.")),
                Caller::Account(_) => Ok(()),
            }
        }
        Need::Owner(b) | Need::ListBucket(b) | Need::WriteBucket(b) => b,
        Need::Read(b, _) | Need::Write(b, _) => b,
    };
    let name = bucket.clone();
    let Some(row) = ctx.store(move |s| s.bucket(&name)).await? else {
        return Ok(());
    };
    if ctx.caller.account() == Some(row.owner.as_str()) {
        return Ok(());
    }
    let allowed = match need {
        Need::Owner(_) => false,
        Need::ListBucket(_) => row.acl.allows_public_read(),
        Need::WriteBucket(_) => row.acl.allows_public_write(),
        Need::Read(b, k) | Need::Write(b, k) => {
            let (b, k) = (b.clone(), k.clone());
            let object_acl = ctx
                .store(move |s| s.object_acl(&b, &k))
                .await?
                .unwrap_or(Acl::Default);
            let acl = if object_acl == Acl::Default {
                row.acl
            } else {
                object_acl
            };
            match need {
                Need::Read(..) => acl.allows_public_read(),
                _ => acl.allows_public_write(),
            }
        }
        Need::Nothing | Need::SignedIn => true,
    };
    if allowed {
        Ok(())
    } else if matches!(need, Need::Read(..) | Need::Write(..)) {
        Err(denied("object"))
    } else {
        Err(denied("bucket"))
    }
}
