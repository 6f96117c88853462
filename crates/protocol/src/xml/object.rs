//! Bodies of the object operations used around multipart: ListObjects v1 and v2,
//! DeleteMultipleObjects and CopyObject (spec section 4).
//!
//! Every ListObjects v1 entry should carry an [`Owner`]: ali-oss `list()` dereferences it
//! unconditionally. In v2 it is present only with `fetch-owner=true`.

use serde::{Deserialize, Serialize};

use super::bucket::Owner;

/// How an object was written (`Type` in listings, `x-oss-object-type` in headers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ObjectType {
    /// Written by PutObject or CopyObject.
    Normal,
    /// Assembled by CompleteMultipartUpload.
    Multipart,
    /// Written by AppendObject.
    Appendable,
    /// A symbolic link (real OSS lists these; we never create them).
    Symlink,
}

impl ObjectType {
    /// Parses the wire name (`Normal`, `Multipart`, `Appendable`, `Symlink`).
    pub fn parse(s: &str) -> Option<ObjectType> {
        [
            ObjectType::Normal,
            ObjectType::Multipart,
            ObjectType::Appendable,
            ObjectType::Symlink,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }

    /// The name as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectType::Normal => "Normal",
            ObjectType::Multipart => "Multipart",
            ObjectType::Appendable => "Appendable",
            ObjectType::Symlink => "Symlink",
        }
    }
}

/// A `<CommonPrefixes>` element of a listing: keys rolled up at the delimiter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CommonPrefix {
    /// The prefix, up to and including the first delimiter after the request prefix.
    pub prefix: String,
}

/// One `<Contents>` entry of a ListObjects answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ObjectEntry {
    /// Object key.
    pub key: String,
    /// When the object was last written, as an XML timestamp.
    pub last_modified: String,
    /// ETag of the object, without quotes.
    #[serde(rename = "ETag", with = "super::etag")]
    pub etag: String,
    /// How the object was written.
    #[serde(rename = "Type")]
    pub object_type: ObjectType,
    /// Size in bytes.
    pub size: u64,
    /// Storage class (`Standard`, ...).
    #[serde(default)]
    pub storage_class: String,
    /// Owner of the object; always present in v1 answers we write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
}

/// Answer to ListObjects (v1, `GET /<bucket>/`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "ListBucketResult", rename_all = "PascalCase")]
pub struct ListBucketResult {
    /// Bucket name.
    pub name: String,
    /// The `prefix` of the request; empty when none.
    #[serde(default)]
    pub prefix: String,
    /// The `marker` of the request; empty when none.
    #[serde(default)]
    pub marker: String,
    /// The page size in effect.
    pub max_keys: u32,
    /// The `delimiter` of the request; empty when none.
    #[serde(default)]
    pub delimiter: String,
    /// Whether more entries follow this page.
    pub is_truncated: bool,
    /// Last key or prefix of this page, to pass as `marker`; only when truncated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    /// `url` when the request asked for `encoding-type=url`; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding_type: Option<String>,
    /// The objects of this page, in key byte order.
    #[serde(rename = "Contents", default)]
    pub contents: Vec<ObjectEntry>,
    /// Keys rolled up at the delimiter.
    #[serde(rename = "CommonPrefixes", default)]
    pub common_prefixes: Vec<CommonPrefix>,
}

/// Answer to ListObjectsV2 (`GET /<bucket>/?list-type=2`). Same root element as v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "ListBucketResult", rename_all = "PascalCase")]
pub struct ListBucketResultV2 {
    /// Bucket name.
    pub name: String,
    /// The `prefix` of the request; empty when none.
    #[serde(default)]
    pub prefix: String,
    /// Echo of the request's `continuation-token`, when one was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continuation_token: Option<String>,
    /// Echo of the request's `start-after`, when one was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_after: Option<String>,
    /// The page size in effect.
    pub max_keys: u32,
    /// The `delimiter` of the request; empty when none.
    #[serde(default)]
    pub delimiter: String,
    /// Whether more entries follow this page.
    pub is_truncated: bool,
    /// Opaque token for the next page; only when truncated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_continuation_token: Option<String>,
    /// `url` when the request asked for `encoding-type=url`; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding_type: Option<String>,
    /// Number of objects plus common prefixes in this page.
    pub key_count: u32,
    /// The objects of this page, in key byte order.
    #[serde(rename = "Contents", default)]
    pub contents: Vec<ObjectEntry>,
    /// Keys rolled up at the delimiter.
    #[serde(rename = "CommonPrefixes", default)]
    pub common_prefixes: Vec<CommonPrefix>,
}

/// Request body of DeleteMultipleObjects (`POST /<bucket>/?delete`, root `<Delete>`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename = "Delete", rename_all = "PascalCase")]
pub struct DeleteMultipleObjects {
    /// `true`: answer without the list of deleted keys. Absent means `false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiet: Option<bool>,
    /// The keys to delete, as `<Object>` elements.
    #[serde(rename = "Object", default)]
    pub objects: Vec<ObjectToDelete>,
}

/// One `<Object>` of a DeleteMultipleObjects request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ObjectToDelete {
    /// Key to delete.
    pub key: String,
}

/// Answer to DeleteMultipleObjects.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename = "DeleteResult", rename_all = "PascalCase")]
pub struct DeleteResult {
    /// `url` when the request asked for `encoding-type=url`; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding_type: Option<String>,
    /// The deleted keys (empty in quiet mode).
    #[serde(rename = "Deleted", default)]
    pub deleted: Vec<DeletedObject>,
}

/// One `<Deleted>` entry of a DeleteResult.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeletedObject {
    /// The deleted key (also listed when it did not exist).
    pub key: String,
}

/// Answer to CopyObject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "CopyObjectResult", rename_all = "PascalCase")]
pub struct CopyObjectResult {
    /// When the copy was written, as an XML timestamp.
    pub last_modified: String,
    /// ETag of the copy, without quotes.
    #[serde(rename = "ETag", with = "super::etag")]
    pub etag: String,
}

/// Answer to GetObjectAcl (`GET /<key>?acl`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "AccessControlPolicy", rename_all = "PascalCase")]
pub struct AccessControlPolicy {
    /// The object's owner.
    pub owner: super::bucket::Owner,
    /// The grant.
    pub access_control_list: AccessControlList,
}

/// The `<AccessControlList>` of an [`AccessControlPolicy`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccessControlList {
    /// `default` (the bucket's), `private`, `public-read` or `public-read-write`.
    pub grant: String,
}

/// Body of PutObjectTagging and answer to GetObjectTagging (`?tagging`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename = "Tagging", rename_all = "PascalCase")]
pub struct Tagging {
    /// The tags, inside `<TagSet>`.
    #[serde(default)]
    pub tag_set: TagSetXml,
}

impl Tagging {
    /// The tags this body lists, checked against the OSS limits.
    pub fn into_tag_set(self) -> Result<crate::attributes::TagSet, crate::attributes::TagError> {
        let pairs = self
            .tag_set
            .tags
            .into_iter()
            .map(|t| (t.key, t.value))
            .collect();
        crate::attributes::TagSet::new(pairs)
    }

    /// The body that lists `tags`, in their order.
    pub fn of(tags: &crate::attributes::TagSet) -> Tagging {
        Tagging {
            tag_set: TagSetXml {
                tags: tags
                    .tags()
                    .iter()
                    .map(|(k, v)| Tag {
                        key: k.clone(),
                        value: v.clone(),
                    })
                    .collect(),
            },
        }
    }
}

/// The `<TagSet>` of a [`Tagging`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TagSetXml {
    /// One `<Tag>` per tag, in order.
    #[serde(rename = "Tag", default)]
    pub tags: Vec<Tag>,
}

/// One `<Tag>`: a key and its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    /// Tag key.
    pub key: String,
    /// Tag value (may be empty).
    #[serde(default)]
    pub value: String,
}
