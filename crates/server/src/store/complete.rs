//! Deciding what CompleteMultipartUpload assembles, from stored per-part values only.
//!
//! Invariant: an object is assembled only from parts that exist with the ETags the client
//! named, in strictly ascending order, every part but the last at least 100 KiB; its ETag and
//! CRC-64 are derived from the stored part MD5s and CRCs, never from re-reading data. The
//! checks run in the spec's order (3.4), so the first failing rule decides the error code.

use md5::{Digest, Md5};
use osspart_protocol::limits::MIN_PART_SIZE;
use osspart_protocol::ErrorCode;

use super::blobs::{BlobId, Md5Chain};
use super::meta::StoredPart;
use super::{CompleteParts, Segment, StoreError};

/// The object a completion produces, and what it leaves over.
#[derive(Debug)]
pub(crate) struct Assembly {
    /// The object's segments, in order.
    pub(crate) manifest: Vec<Segment>,
    pub(crate) size: u64,
    /// `"<HEX>-<N>"`.
    pub(crate) etag: String,
    pub(crate) crc64: u64,
    /// The whole object's MD5, known when the parts are 1..=N of a sequential upload: the MD5
    /// chain stored with the last of them.
    pub(crate) content_md5: Option<[u8; 16]>,
    /// Blobs of uploaded parts the request did not list.
    pub(crate) unused: Vec<BlobId>,
}

/// Whether a client-supplied ETag (quoted or bare, any case) names this MD5.
fn etag_matches(given: &str, md5: &[u8; 16]) -> bool {
    osspart_protocol::etag::same(given, &hex::encode(md5))
}

/// The S3-style multipart ETag: MD5 over the concatenated binary part MD5s, then `-N`.
pub(crate) fn multipart_etag<'a>(md5s: impl IntoIterator<Item = &'a [u8; 16]>) -> String {
    let mut hasher = Md5::new();
    let mut n = 0usize;
    for md5 in md5s {
        hasher.update(md5);
        n += 1;
    }
    format!("\"{}-{n}\"", hex::encode_upper(hasher.finalize()))
}

/// Validates the request against the stored parts (ascending by number) and derives the
/// object.
pub(crate) fn assemble(
    upload_id: &str,
    stored: &[StoredPart],
    request: &CompleteParts,
) -> Result<Assembly, StoreError> {
    let chosen: Vec<&StoredPart> = match request {
        CompleteParts::All => stored.iter().collect(),
        CompleteParts::Listed(listed) => choose_listed(upload_id, stored, listed)?,
    };
    let Some((_, all_but_last)) = chosen.split_last() else {
        return Err(StoreError::api(ErrorCode::InvalidPart).with("UploadId", upload_id));
    };
    if let Some(part) = all_but_last.iter().find(|p| p.size < MIN_PART_SIZE) {
        return Err(StoreError::api(ErrorCode::EntityTooSmall)
            .with("MinSizeAllowed", MIN_PART_SIZE.to_string())
            .with("ProposedSize", part.size.to_string())
            .with("PartNumber", part.number.to_string()));
    }

    let parts = || chosen.iter().copied();
    let from_first = parts().zip(1u32..).all(|(p, n)| p.number == n);
    let content_md5 = chosen
        .last()
        .filter(|_| from_first)
        .and_then(|last| last.md5_chain.as_deref())
        .and_then(Md5Chain::from_state)
        .map(|chain| chain.digest());
    let chosen_numbers: std::collections::HashSet<u32> = parts().map(|p| p.number).collect();
    Ok(Assembly {
        manifest: parts()
            .map(|p| Segment {
                blob: p.blob.clone(),
                size: p.size,
            })
            .collect(),
        size: parts().map(|p| p.size).sum(),
        etag: multipart_etag(parts().map(|p| &p.md5)),
        crc64: osspart_protocol::crc64::combine_all(parts().map(|p| (p.crc64, p.size))),
        content_md5,
        unused: stored
            .iter()
            .filter(|p| !chosen_numbers.contains(&p.number))
            .map(|p| p.blob.clone())
            .collect(),
    })
}

/// The listed parts among `stored`, after the order and existence/ETag checks.
fn choose_listed<'a>(
    upload_id: &str,
    stored: &'a [StoredPart],
    listed: &[(u32, String)],
) -> Result<Vec<&'a StoredPart>, StoreError> {
    if listed.is_empty() {
        return Err(StoreError::api(ErrorCode::MalformedXML));
    }
    let numbers = || listed.iter().map(|(number, _)| *number);
    if numbers().zip(numbers().skip(1)).any(|(a, b)| a >= b) {
        return Err(StoreError::api(ErrorCode::InvalidPartOrder).with("UploadId", upload_id));
    }
    listed
        .iter()
        .map(|(number, etag)| {
            stored
                .binary_search_by_key(number, |p| p.number)
                .ok()
                .and_then(|at| stored.get(at))
                .filter(|part| etag_matches(etag, &part.md5))
                .ok_or_else(|| {
                    StoreError::api(ErrorCode::InvalidPart)
                        .with("UploadId", upload_id)
                        .with("PartNumber", number.to_string())
                        .with("ETag", etag.clone())
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(number: u32, size: u64) -> StoredPart {
        StoredPart {
            number,
            blob: BlobId::random(),
            size,
            md5: [number as u8; 16],
            crc64: number as u64 * 7,
            md5_chain: None,
        }
    }

    fn etag(p: &StoredPart) -> String {
        osspart_protocol::etag::of_md5(&p.md5)
    }

    fn code(r: Result<Assembly, StoreError>) -> ErrorCode {
        r.unwrap_err().code().unwrap()
    }

    #[test]
    fn etag_comparison_ignores_quotes_and_case() {
        let md5 = [0xAB; 16];
        assert!(etag_matches(&format!("\"{}\"", "AB".repeat(16)), &md5));
        assert!(etag_matches(&"ab".repeat(16), &md5));
        assert!(!etag_matches(&"ab".repeat(15), &md5));
    }

    #[test]
    fn rules_apply_in_spec_order() {
        let big = MIN_PART_SIZE;
        let stored = vec![part(1, 10), part(2, big), part(3, 5)];
        let listed = |v: &[(u32, String)]| CompleteParts::Listed(v.to_vec());

        assert_eq!(
            code(assemble("u", &stored, &listed(&[]))),
            ErrorCode::MalformedXML
        );
        // Order is checked before existence: part 9 does not exist but the order error wins.
        let r = assemble(
            "u",
            &stored,
            &listed(&[(9, etag(&stored[0])), (1, etag(&stored[0]))]),
        );
        assert_eq!(code(r), ErrorCode::InvalidPartOrder);
        let r = assemble(
            "u",
            &stored,
            &listed(&[(1, etag(&stored[0])), (1, etag(&stored[0]))]),
        );
        assert_eq!(code(r), ErrorCode::InvalidPartOrder);
        // Existence and ETag before size.
        let r = assemble(
            "u",
            &stored,
            &listed(&[(1, etag(&stored[0])), (4, "x".into())]),
        );
        let err = r.unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::InvalidPart));
        assert_eq!(err.extra_value("PartNumber"), Some("4"));
        let r = assemble("u", &stored, &listed(&[(2, etag(&stored[0]))]));
        assert_eq!(code(r), ErrorCode::InvalidPart);
        // Part 1 is small and not last.
        let r = assemble(
            "u",
            &stored,
            &listed(&[(1, etag(&stored[0])), (3, etag(&stored[2]))]),
        );
        let err = r.unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::EntityTooSmall));
        assert_eq!(err.extra_value("ProposedSize"), Some("10"));
        assert_eq!(err.extra_value("MinSizeAllowed"), Some("102400"));
        // A small last part is fine; unlisted parts are left over.
        let a = assemble(
            "u",
            &stored,
            &listed(&[(2, etag(&stored[1])), (3, etag(&stored[2]))]),
        )
        .unwrap();
        assert_eq!(a.size, big + 5);
        assert_eq!(a.unused, vec![stored[0].blob.clone()]);
        assert_eq!(a.manifest.len(), 2);
        assert!(a.etag.ends_with("-2\""));

        assert_eq!(
            code(assemble("u", &[], &CompleteParts::All)),
            ErrorCode::InvalidPart
        );
        assert_eq!(
            code(assemble("u", &stored, &CompleteParts::All)),
            ErrorCode::EntityTooSmall
        );
    }
}
