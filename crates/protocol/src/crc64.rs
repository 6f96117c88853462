//! CRC-64/XZ, the checksum OSS calls `crc64ecma`, with streaming and combining.
//!
//! The value is carried on the wire as an unsigned decimal string in
//! `x-oss-hash-crc64ecma` and `<HashCrc64ecma>`. `combine` lets a multipart object's CRC be
//! derived from its parts' CRCs without reading a byte of data.

use std::sync::OnceLock;

use crc_fast::{CrcAlgorithm, Digest};

const ALGORITHM: CrcAlgorithm = CrcAlgorithm::Crc64Xz;

/// Reflected CRC-64/XZ polynomial.
const POLY_REFLECTED: u64 = 0xC96C_5795_D787_0F42;

/// A linear map on CRC registers over GF(2): entry `i` is the image of bit `i`.
type Gf2Map = [u64; 64];

#[allow(clippy::indexing_slicing)] // trailing_zeros of a non-zero u64 is below 64, the map's length
fn apply(map: &Gf2Map, mut v: u64) -> u64 {
    let mut out = 0;
    while v != 0 {
        out ^= map[v.trailing_zeros() as usize];
        v &= v - 1;
    }
    out
}

/// `maps[k]` advances a CRC register over `2^k` zero bytes. Built once; combining then costs a
/// few 64-entry XOR folds per set bit of the length instead of rebuilding the operator.
fn zero_shifts() -> &'static [Gf2Map; 64] {
    static MAPS: OnceLock<Box<[Gf2Map; 64]>> = OnceLock::new();
    MAPS.get_or_init(|| {
        let one_zero_byte = |mut v: u64| {
            for _ in 0..8 {
                v = (v >> 1) ^ if v & 1 == 1 { POLY_REFLECTED } else { 0 };
            }
            v
        };
        let mut maps = Box::new([[0u64; 64]; 64]);
        let mut current: Gf2Map = std::array::from_fn(|i| one_zero_byte(1 << i));
        for map in maps.iter_mut() {
            *map = current;
            // Two shifts by 2^k zero bytes are one shift by 2^(k+1).
            current = current.map(|image| apply(&current, image));
        }
        maps
    })
}

/// CRC-64/XZ of `data` in one call.
pub fn checksum(data: &[u8]) -> u64 {
    crc_fast::checksum(ALGORITHM, data)
}

/// CRC-64 of `A‖B` from `crc(A)`, `crc(B)` and `len(B)`.
#[allow(clippy::indexing_slicing)] // trailing_zeros of a non-zero u64 is below 64, the maps' count
pub fn combine(crc_a: u64, crc_b: u64, len_b: u64) -> u64 {
    // crc(A‖B) = shift(crc(A), len(B)) ^ crc(B), shift running the raw register over zeros.
    let maps = zero_shifts();
    let mut shifted = crc_a;
    let mut rest = len_b;
    while rest != 0 {
        shifted = apply(&maps[rest.trailing_zeros() as usize], shifted);
        rest &= rest - 1;
    }
    shifted ^ crc_b
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

    #[test]
    fn combine_agrees_with_crc_fast_and_real_data() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        let cuts = [0usize, 1, 1000, 102_400, 204_800, 204_801, 300_000];
        let pieces: Vec<(u64, u64)> = cuts
            .windows(2)
            .map(|w| (checksum(&data[w[0]..w[1]]), (w[1] - w[0]) as u64))
            .collect();
        assert_eq!(combine_all(pieces), checksum(&data));
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..200 {
            let (a, b) = (next(), next());
            let len = 1 + (next() >> (24 + next() % 40));
            assert_eq!(
                combine(a, b, len),
                crc_fast::checksum_combine(ALGORITHM, a, b, len),
                "{a} {b} {len}"
            );
        }
        assert_eq!(combine_all([]), 0);
        assert_eq!(combine_all([(5, 3), (0, 0)]), 5);
    }
}
