//! The typed attributes an object or bucket carries beside its bytes: access control, storage
//! class, server-side encryption and tags, each with the parsing and limits OSS applies to it.
//!
//! Both ends use these: the server to refuse what OSS refuses, the client to send only what OSS
//! accepts. Wire spellings are case-sensitive, as on OSS.

use std::fmt;

use crate::encoding::{decode_query_component, encode_component};

/// A canned ACL (`x-oss-acl` on buckets, `x-oss-object-acl` on objects, `<Grant>` in XML).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Acl {
    /// Objects only: the bucket's ACL applies.
    #[default]
    Default,
    /// Only the owner may read or write.
    Private,
    /// Anyone, signed or not, may read; only the owner may write.
    PublicRead,
    /// Anyone may read and write.
    PublicReadWrite,
}

impl Acl {
    /// Parses the wire name (`default`, `private`, `public-read`, `public-read-write`).
    pub fn parse(s: &str) -> Option<Acl> {
        [
            Acl::Default,
            Acl::Private,
            Acl::PublicRead,
            Acl::PublicReadWrite,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
    }

    /// Parses a bucket ACL: like [`parse`](Acl::parse) without `default`.
    pub fn parse_bucket(s: &str) -> Option<Acl> {
        Acl::parse(s).filter(|a| *a != Acl::Default)
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Acl::Default => "default",
            Acl::Private => "private",
            Acl::PublicRead => "public-read",
            Acl::PublicReadWrite => "public-read-write",
        }
    }

    /// Whether anyone may read under this ACL.
    pub fn allows_public_read(self) -> bool {
        matches!(self, Acl::PublicRead | Acl::PublicReadWrite)
    }

    /// Whether anyone may write under this ACL.
    pub fn allows_public_write(self) -> bool {
        self == Acl::PublicReadWrite
    }
}

impl fmt::Display for Acl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An object's storage class (`x-oss-storage-class`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum StorageClass {
    /// Frequently accessed data (the default).
    #[default]
    Standard,
    /// Infrequent access.
    IA,
    /// Archive.
    Archive,
    /// Cold archive.
    ColdArchive,
    /// Deep cold archive.
    DeepColdArchive,
}

impl StorageClass {
    /// Parses the wire name (`Standard`, `IA`, `Archive`, `ColdArchive`, `DeepColdArchive`).
    pub fn parse(s: &str) -> Option<StorageClass> {
        [
            StorageClass::Standard,
            StorageClass::IA,
            StorageClass::Archive,
            StorageClass::ColdArchive,
            StorageClass::DeepColdArchive,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            StorageClass::Standard => "Standard",
            StorageClass::IA => "IA",
            StorageClass::Archive => "Archive",
            StorageClass::ColdArchive => "ColdArchive",
            StorageClass::DeepColdArchive => "DeepColdArchive",
        }
    }
}

/// A server-side encryption algorithm (`x-oss-server-side-encryption`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerSideEncryption {
    /// OSS-managed keys.
    Aes256,
    /// Keys managed by KMS (optionally a named key, `x-oss-server-side-encryption-key-id`).
    Kms,
    /// The SM4 algorithm with OSS-managed keys.
    Sm4,
}

impl ServerSideEncryption {
    /// Parses the wire name (`AES256`, `KMS`, `SM4`).
    pub fn parse(s: &str) -> Option<ServerSideEncryption> {
        match s {
            "AES256" => Some(ServerSideEncryption::Aes256),
            "KMS" => Some(ServerSideEncryption::Kms),
            "SM4" => Some(ServerSideEncryption::Sm4),
            _ => None,
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ServerSideEncryption::Aes256 => "AES256",
            ServerSideEncryption::Kms => "KMS",
            ServerSideEncryption::Sm4 => "SM4",
        }
    }
}

/// Most tags one object may carry.
pub const MAX_TAGS: usize = 10;
/// Longest tag key, in characters.
pub const MAX_TAG_KEY_CHARS: usize = 128;
/// Longest tag value, in characters.
pub const MAX_TAG_VALUE_CHARS: usize = 256;

/// Why a tag set was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TagError {
    /// More than [`MAX_TAGS`] tags.
    #[error("an object carries at most {MAX_TAGS} tags, not {0}")]
    TooMany(usize),
    /// A key is empty or longer than [`MAX_TAG_KEY_CHARS`].
    #[error("tag key {0:?} must be 1 to {MAX_TAG_KEY_CHARS} characters")]
    KeyLength(String),
    /// A value is longer than [`MAX_TAG_VALUE_CHARS`].
    #[error("the value of tag {0:?} is longer than {MAX_TAG_VALUE_CHARS} characters")]
    ValueLength(String),
    /// A key or value holds a character OSS does not allow in tags.
    #[error("tag {0:?} holds a character tags may not contain")]
    BadCharacter(String),
    /// The same key appears twice.
    #[error("tag key {0:?} appears more than once")]
    Duplicate(String),
    /// The `x-oss-tagging` header is not a valid query string.
    #[error("the tagging header is not a valid query string")]
    Encoding,
}

/// Letters, digits, spaces and `+ - = . _ : /` (what OSS allows in tag keys and values).
fn tag_char_ok(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, ' ' | '+' | '-' | '=' | '.' | '_' | ':' | '/')
}

/// An object's tags: distinct keys, in the order given.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TagSet(Vec<(String, String)>);

impl TagSet {
    /// A tag set from pairs, checked against the OSS limits.
    pub fn new(tags: Vec<(String, String)>) -> Result<TagSet, TagError> {
        if tags.len() > MAX_TAGS {
            return Err(TagError::TooMany(tags.len()));
        }
        for (i, (k, v)) in tags.iter().enumerate() {
            let key_chars = k.chars().count();
            if key_chars == 0 || key_chars > MAX_TAG_KEY_CHARS {
                return Err(TagError::KeyLength(k.clone()));
            }
            if v.chars().count() > MAX_TAG_VALUE_CHARS {
                return Err(TagError::ValueLength(k.clone()));
            }
            if !k.chars().chain(v.chars()).all(tag_char_ok) {
                return Err(TagError::BadCharacter(k.clone()));
            }
            if tags.iter().take(i).any(|(earlier, _)| earlier == k) {
                return Err(TagError::Duplicate(k.clone()));
            }
        }
        Ok(TagSet(tags))
    }

    /// Parses the `x-oss-tagging` header: `k1=v1&k2=v2`, percent-encoded.
    pub fn from_header(s: &str) -> Result<TagSet, TagError> {
        let mut tags = Vec::new();
        for pair in s.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let k = decode_query_component(k).map_err(|_| TagError::Encoding)?;
            let v = decode_query_component(v).map_err(|_| TagError::Encoding)?;
            tags.push((k, v));
        }
        TagSet::new(tags)
    }

    /// The header form (`k1=v1&k2=v2`, each part percent-encoded); empty for no tags.
    pub fn to_header(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v)))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// The tags in order.
    pub fn tags(&self) -> &[(String, String)] {
        &self.0
    }

    /// How many tags there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acl_names_round_trip_and_buckets_have_no_default() {
        for a in [
            Acl::Default,
            Acl::Private,
            Acl::PublicRead,
            Acl::PublicReadWrite,
        ] {
            assert_eq!(Acl::parse(a.as_str()), Some(a));
        }
        assert_eq!(Acl::parse_bucket("default"), None);
        assert_eq!(Acl::parse("Private"), None);
        assert!(Acl::PublicRead.allows_public_read() && !Acl::PublicRead.allows_public_write());
    }

    #[test]
    fn storage_classes_and_encryption_are_case_sensitive() {
        assert_eq!(StorageClass::parse("IA"), Some(StorageClass::IA));
        assert_eq!(StorageClass::parse("standard"), None);
        assert_eq!(StorageClass::parse("Bogus"), None);
        assert_eq!(
            ServerSideEncryption::parse("KMS"),
            Some(ServerSideEncryption::Kms)
        );
        assert_eq!(ServerSideEncryption::parse("aes256"), None);
    }

    #[test]
    fn tags_follow_the_limits() {
        let t = TagSet::from_header("a=1&b%20c=x%2Fy&empty=").unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(t.tags()[1], ("b c".to_owned(), "x/y".to_owned()));
        assert_eq!(TagSet::from_header(&t.to_header()).unwrap(), t);
        let eleven: String = (0..11).map(|i| format!("k{i}=v&")).collect();
        assert_eq!(
            TagSet::from_header(&eleven).unwrap_err(),
            TagError::TooMany(11)
        );
        assert!(matches!(
            TagSet::from_header("a=1&a=2"),
            Err(TagError::Duplicate(_))
        ));
        assert!(matches!(
            TagSet::from_header(&format!("{}=v", "k".repeat(129))),
            Err(TagError::KeyLength(_))
        ));
        assert!(matches!(
            TagSet::from_header(&format!("k={}", "v".repeat(257))),
            Err(TagError::ValueLength(_))
        ));
        assert!(matches!(
            TagSet::from_header("=v"),
            Err(TagError::KeyLength(_))
        ));
        assert!(matches!(
            TagSet::from_header("k=%3Cscript%3E"),
            Err(TagError::BadCharacter(_))
        ));
        assert_eq!(TagSet::from_header("%ZZ=1"), Err(TagError::Encoding));
    }
}
