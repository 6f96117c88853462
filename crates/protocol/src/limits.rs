//! Numeric limits of the OSS API, in one place so client and server agree on them.

/// Smallest valid part number.
pub const MIN_PART_NUMBER: u32 = 1;
/// Largest valid part number; also the most parts one object may have.
pub const MAX_PART_NUMBER: u32 = 10_000;
/// Every part but the last listed in CompleteMultipartUpload must hold at least this many bytes.
pub const MIN_PART_SIZE: u64 = 100 * 1024;
/// Largest part, and largest PutObject body, in bytes (5 GiB).
pub const MAX_PART_SIZE: u64 = 5 * 1024 * 1024 * 1024;
/// Largest single PutObject body, in bytes (5 GiB).
pub const MAX_OBJECT_PUT_SIZE: u64 = MAX_PART_SIZE;
/// Default and largest `max-uploads` of ListMultipartUploads.
pub const MAX_UPLOADS_PER_PAGE: u32 = 1000;
/// Default and largest `max-parts` of ListParts.
pub const MAX_PARTS_PER_PAGE: u32 = 1000;
/// Largest `max-keys` of ListObjects.
pub const MAX_KEYS_PER_PAGE: u32 = 1000;
/// Default `max-keys` of ListObjects.
pub const DEFAULT_MAX_KEYS: u32 = 100;
/// Longest object key, in bytes of UTF-8.
pub const MAX_KEY_LEN: usize = 1023;
/// Largest accepted clock difference between a request's date and the server, in seconds.
pub const MAX_CLOCK_SKEW_SECS: i64 = 15 * 60;
/// Longest lifetime of a V4 presigned URL, in seconds (7 days).
pub const MAX_PRESIGN_V4_SECS: i64 = 604_800;
/// Largest XML request body the server reads (CompleteMultipartUpload of 10,000 parts fits).
pub const MAX_XML_BODY: usize = 2 * 1024 * 1024;
/// Most CORS rules one bucket may hold.
pub const MAX_CORS_RULES: usize = 10;
/// Most keys in one DeleteMultipleObjects request.
pub const MAX_DELETE_OBJECTS: usize = 1000;
/// Most bytes of user metadata one object may carry: the names (without `x-oss-meta-`) and
/// values of its `x-oss-meta-*` headers together, 8 KiB as in OSS.
pub const MAX_USER_META_SIZE: usize = 8 * 1024;
/// Most bytes the other stored headers of one object may hold together: the values of
/// Content-Type, Cache-Control, Content-Disposition, Content-Encoding, Content-Language,
/// Expires, `x-oss-tagging` and the storage class, ACL and encryption headers (8 KiB).
pub const MAX_STORED_HEADERS_SIZE: usize = 8 * 1024;

/// Whether `n` is a valid part number (1..=10000).
pub fn is_valid_part_number(n: u32) -> bool {
    (MIN_PART_NUMBER..=MAX_PART_NUMBER).contains(&n)
}

/// Whether `name` is a valid bucket name: 3-63 characters of lower-case letters, digits and
/// `-`, starting and ending with a letter or digit.
pub fn is_valid_bucket_name(name: &str) -> bool {
    let b = name.as_bytes();
    let ok_char = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-';
    (3..=63).contains(&b.len())
        && b.iter().all(ok_char)
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// Whether `key` is a valid object key: 1..=1023 bytes of UTF-8 and not starting with `/` or `\`.
pub fn is_valid_object_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_KEY_LEN && !key.starts_with('/') && !key.starts_with('\\')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names() {
        assert!(is_valid_bucket_name("examplebucket"));
        assert!(is_valid_bucket_name("a-1"));
        assert!(!is_valid_bucket_name("ab"));
        assert!(!is_valid_bucket_name("-abc"));
        assert!(!is_valid_bucket_name("abc-"));
        assert!(!is_valid_bucket_name("Abc"));
        assert!(!is_valid_bucket_name(&"a".repeat(64)));
    }

    #[test]
    fn keys_and_parts() {
        assert!(is_valid_object_key(&"k".repeat(1023)));
        assert!(!is_valid_object_key(&"k".repeat(1024)));
        assert!(!is_valid_object_key(""));
        assert!(is_valid_object_key("a/../b//c"));
        assert!(!is_valid_part_number(0));
        assert!(is_valid_part_number(10_000));
        assert!(!is_valid_part_number(10_001));
    }
}
