//! Bodies of the bucket operations: ListBuckets, PutBucket, GetBucketInfo and
//! GetBucketLocation (spec section 4.7).
//!
//! ali-oss `listBuckets()` crashes without `Owner/ID`, and oss2 needs every [`BucketEntry`]
//! field but `Region`, so those are plain (always written) fields.

use serde::{Deserialize, Serialize};

/// The `<Owner>` of a bucket or object.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Owner {
    /// Account id of the owner.
    #[serde(rename = "ID")]
    pub id: String,
    /// Display name of the owner (OSS uses the account id).
    #[serde(rename = "DisplayName", default)]
    pub display_name: String,
}

/// Answer to ListBuckets (GetService, `GET /`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "ListAllMyBucketsResult", rename_all = "PascalCase")]
pub struct ListAllMyBucketsResult {
    /// The `prefix` of the request, when paging.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// The `marker` of the request, when paging.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
    /// The page size in effect, when paging.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_keys: Option<u32>,
    /// Whether more buckets follow, when paging.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_truncated: Option<bool>,
    /// Name to pass as `marker` for the next page, when truncated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    /// Owner of the buckets.
    pub owner: Owner,
    /// The buckets, inside a `<Buckets>` wrapper.
    #[serde(default, with = "bucket_list")]
    pub buckets: Vec<BucketEntry>,
}

/// One `<Bucket>` of ListBuckets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BucketEntry {
    /// When the bucket was created, as an XML timestamp.
    pub creation_date: String,
    /// Public endpoint host (`oss-cn-hangzhou.aliyuncs.com`).
    pub extranet_endpoint: String,
    /// Internal endpoint host (`oss-cn-hangzhou-internal.aliyuncs.com`).
    pub intranet_endpoint: String,
    /// Location (`oss-cn-hangzhou`).
    pub location: String,
    /// Bucket name.
    pub name: String,
    /// Bare region id (`cn-hangzhou`); empty when the answer had none.
    #[serde(default)]
    pub region: String,
    /// Default storage class of the bucket.
    pub storage_class: String,
}

/// `<Buckets><Bucket>…</Bucket>…</Buckets>`: the wrapper ListBuckets puts around its entries.
mod bucket_list {
    use super::BucketEntry;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize)]
    struct Wrapper<'a> {
        #[serde(rename = "Bucket")]
        bucket: &'a [BucketEntry],
    }

    #[derive(Deserialize)]
    struct OwnedWrapper {
        #[serde(rename = "Bucket", default)]
        bucket: Vec<BucketEntry>,
    }

    pub(super) fn serialize<S: Serializer>(list: &[BucketEntry], s: S) -> Result<S::Ok, S::Error> {
        Wrapper { bucket: list }.serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<BucketEntry>, D::Error> {
        Ok(OwnedWrapper::deserialize(d)?.bucket)
    }
}

/// Optional request body of PutBucket.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename = "CreateBucketConfiguration", rename_all = "PascalCase")]
pub struct CreateBucketConfiguration {
    /// Default storage class of the new bucket; `Standard` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
}

/// Answer to GetBucketInfo (`GET /<bucket>/?bucketInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "BucketInfo", rename_all = "PascalCase")]
pub struct BucketInfo {
    /// The bucket's properties.
    pub bucket: BucketDetail,
}

/// The `<Bucket>` of GetBucketInfo. oss2 requires every field but `Region` and `Comment`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BucketDetail {
    /// When the bucket was created, as an XML timestamp.
    pub creation_date: String,
    /// Public endpoint host.
    pub extranet_endpoint: String,
    /// Internal endpoint host.
    pub intranet_endpoint: String,
    /// Location (`oss-cn-hangzhou`).
    pub location: String,
    /// Default storage class of the bucket.
    pub storage_class: String,
    /// Bucket name.
    pub name: String,
    /// Bare region id (`cn-hangzhou`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Owner of the bucket.
    pub owner: Owner,
    /// The bucket ACL.
    pub access_control_list: AccessControlList,
    /// Free-text comment, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// `<AccessControlList><Grant>…</Grant></AccessControlList>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccessControlList {
    /// `private`, `public-read` or `public-read-write`.
    pub grant: String,
}

/// Answer to GetBucketLocation: `<LocationConstraint>oss-cn-hangzhou</LocationConstraint>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "LocationConstraint")]
pub struct LocationConstraint {
    /// Location of the bucket (`oss-cn-hangzhou`): the element's text.
    #[serde(rename = "$text", default)]
    pub location: String,
}
