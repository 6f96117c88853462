//! Part bodies: one pre-generated buffer per size, with the part number stamped into its first
//! four bytes so that no two parts of an upload are equal, and each part's CRC-64 derived
//! from the shared remainder's CRC without re-reading the buffer.

use bytes::{Bytes, BytesMut};
use osspart_protocol::crc64;

/// Length of the stamp at the start of every body.
const STAMP: usize = 4;

/// Bodies of one size for any part number.
#[derive(Debug, Clone)]
pub struct PartBodies {
    template: Bytes,
    /// CRC-64 of `template[STAMP..]`.
    tail_crc: u64,
}

impl PartBodies {
    /// Bodies of `size` bytes (at least 4) of pseudo-random, incompressible-looking data.
    pub fn new(size: usize) -> PartBodies {
        assert!(size >= STAMP, "a part body holds at least its stamp");
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let template: Vec<u8> = (0..size)
            .map(|_| {
                // xorshift64: cheap, and keeps the data from being trivially patterned.
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 32) as u8
            })
            .collect();
        let tail_crc = crc64::checksum(&template[STAMP..]);
        PartBodies {
            template: Bytes::from(template),
            tail_crc,
        }
    }

    /// Size of every body, bytes.
    pub fn size(&self) -> u64 {
        self.template.len() as u64
    }

    /// The body of part `number` (a fresh copy of the template with the number stamped in).
    pub fn body(&self, number: u32) -> Bytes {
        let mut body = BytesMut::from(&self.template[..]);
        body[..STAMP].copy_from_slice(&number.to_le_bytes());
        body.freeze()
    }

    /// CRC-64 of [`body(number)`](Self::body).
    pub fn crc64(&self, number: u32) -> u64 {
        let stamp = crc64::checksum(&number.to_le_bytes());
        crc64::combine(stamp, self.tail_crc, self.size() - STAMP as u64)
    }

    /// The shared template (for the MD5 baseline, which hashes the same kind of data).
    pub fn template(&self) -> &Bytes {
        &self.template
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_crc_matches_the_body() {
        let bodies = PartBodies::new(1000);
        for n in [1, 2, 255, 10_000] {
            let body = bodies.body(n);
            assert_eq!(body.len(), 1000);
            assert_eq!(&body[..4], &n.to_le_bytes());
            assert_eq!(bodies.crc64(n), crc64::checksum(&body));
        }
        assert_ne!(bodies.body(1), bodies.body(2));
    }
}
