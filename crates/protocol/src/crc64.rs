//! CRC-64/XZ, the checksum OSS calls `crc64ecma`, with streaming and combining.
//!
//! The value is carried on the wire as an unsigned decimal string in
//! `x-oss-hash-crc64ecma` and `<HashCrc64ecma>`. `combine` lets a multipart object's CRC be
//! derived from its parts' CRCs without reading a byte of data.

use crc_fast::{CrcAlgorithm, Digest};

const ALGORITHM: CrcAlgorithm = CrcAlgorithm::Crc64Xz;

/// CRC-64/XZ of `data` in one call.
pub fn checksum(data: &[u8]) -> u64 {
    crc_fast::checksum(ALGORITHM, data)
}

/// CRC-64 of `A‖B` from `crc(A)`, `crc(B)` and `len(B)`.
pub fn combine(crc_a: u64, crc_b: u64, len_b: u64) -> u64 {
    if len_b == 0 {
        return crc_a;
    }
    crc_fast::checksum_combine(ALGORITHM, crc_a, crc_b, len_b)
}

/// Folds `(crc, len)` pairs, in order, into the CRC of their concatenation.
pub fn combine_all(parts: impl IntoIterator<Item = (u64, u64)>) -> u64 {
    parts
        .into_iter()
        .fold(0, |acc, (crc, len)| combine(acc, crc, len))
}

/// A running CRC-64 over data fed in pieces.
#[derive(Clone)]
pub struct Crc64 {
    digest: Digest,
    len: u64,
}

impl Default for Crc64 {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Crc64 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Crc64")
            .field("value", &self.value())
            .field("len", &self.len)
            .finish()
    }
}

impl Crc64 {
    /// A CRC over nothing yet (value 0).
    pub fn new() -> Self {
        Crc64 {
            digest: Digest::new(ALGORITHM),
            len: 0,
        }
    }

    /// Feeds more bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.digest.update(data);
        self.len += data.len() as u64;
    }

    /// The CRC of everything fed so far.
    pub fn value(&self) -> u64 {
        self.digest.finalize()
    }

    /// How many bytes were fed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was fed yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Parses the decimal wire form of a CRC-64.
pub fn parse(s: &str) -> Option<u64> {
    s.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value_and_empty() {
        assert_eq!(checksum(b"123456789"), 0x995D_C9BB_DF19_39FA);
        assert_eq!(checksum(b""), 0);
        let mut c = Crc64::new();
        c.update(b"1234");
        c.update(b"56789");
        assert_eq!(c.value(), 0x995D_C9BB_DF19_39FA);
        assert_eq!(c.len(), 9);
        assert_eq!(
            combine_all([(checksum(b"1234"), 4), (0, 0), (checksum(b"56789"), 5)]),
            c.value()
        );
    }
}
