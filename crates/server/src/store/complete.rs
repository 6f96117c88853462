//! Deciding what CompleteMultipartUpload assembles, from stored per-part values only.
//!
//! Invariant: an object is assembled only from parts that exist with the ETags the client
//! named, in strictly ascending order, every part but the last at least 100 KiB; its ETag and
//! CRC-64 are derived from the stored part MD5s and CRCs, never from re-reading data. The
//! checks run in the spec's order (3.4), so the first failing rule decides the error code.

use md5::{Digest, Md5};
use osspart_protocol::limits::MIN_PART_SIZE;
use osspart_protocol::ErrorCode;

use super::blobs::BlobId;
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
    let chosen: Vec<usize> = match request {
        CompleteParts::All => {
            if stored.is_empty() {
                return Err(StoreError::api(ErrorCode::InvalidPart).with("UploadId", upload_id));
            }
            (0..stored.len()).collect()
        }
        CompleteParts::Listed(listed) => choose_listed(upload_id, stored, listed)?,
    };

    let last = chosen.len() - 1;
    for (i, &at) in chosen.iter().enumerate() {
        let part = &stored[at];
        if i != last && part.size < MIN_PART_SIZE {
            return Err(StoreError::api(ErrorCode::EntityTooSmall)
                .with("MinSizeAllowed", MIN_PART_SIZE.to_string())
                .with("ProposedSize", part.size.to_string())
                .with("PartNumber", part.number.to_string()));
        }
    }

    let parts = || chosen.iter().map(|&at| &stored[at]);
    let mut is_chosen = vec![false; stored.len()];
    for &at in &chosen {
        is_chosen[at] = true;
    }
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
        unused: stored
            .iter()
            .zip(is_chosen)
            .filter(|(_, used)| !used)
            .map(|(p, _)| p.blob.clone())
            .collect(),
    })
}

/// Indices into `stored` of the listed parts, after the order and existence/ETag checks.
fn choose_listed(
    upload_id: &str,
    stored: &[StoredPart],
    listed: &[(u32, String)],
) -> Result<Vec<usize>, StoreError> {
    if listed.is_empty() {
        return Err(StoreError::api(ErrorCode::MalformedXML));
    }
    if listed.windows(2).any(|w| w[0].0 >= w[1].0) {
        return Err(StoreError::api(ErrorCode::InvalidPartOrder).with("UploadId", upload_id));
    }
    listed
        .iter()
        .map(
            |(number, etag)| match stored.binary_search_by_key(number, |p| p.number) {
                Ok(at) if etag_matches(etag, &stored[at].md5) => Ok(at),
                _ => Err(StoreError::api(ErrorCode::InvalidPart)
                    .with("UploadId", upload_id)
                    .with("PartNumber", number.to_string())
                    .with("ETag", etag.clone())),
            },
        )
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
