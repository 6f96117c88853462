//! Deterministic source data: the same seed always gives the same bytes and sizes, so a failing
//! run can be repeated exactly and sources need not be kept on disk.
//!
//! Bytes come from SplitMix64, so they are incompressible and never repeat at a short period
//! (a periodic pattern could hide a part written at the wrong offset).

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// `len` bytes determined by `seed`.
pub fn object_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed ^ 0x5DEE_CE66_D1CE_4E5B;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        out.extend_from_slice(&z.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A seeded generator of object sizes and other choices for a test run.
#[derive(Debug)]
pub struct SeededSizes {
    rng: StdRng,
}

impl SeededSizes {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> SeededSizes {
        SeededSizes {
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// A size in `min..=max` bytes, uniform.
    pub fn between(&mut self, min: u64, max: u64) -> u64 {
        self.rng.random_range(min..=max)
    }

    /// A size spread evenly on a log scale over `min..=max`, so small and large objects both
    /// occur often.
    pub fn log_between(&mut self, min: u64, max: u64) -> u64 {
        let (lo, hi) = ((min.max(1) as f64).ln(), (max.max(1) as f64).ln());
        let x = self.rng.random_range(lo..=hi).exp() as u64;
        x.clamp(min, max)
    }

    /// A value in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.rng.random_range(0..n.max(1))
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p.clamp(0.0, 1.0))
    }

    /// A seed for something derived (an object's bytes, a proxy).
    pub fn seed(&mut self) -> u64 {
        self.rng.random()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_deterministic_and_prefix_stable() {
        let a = object_bytes(7, 1000);
        assert_eq!(a, object_bytes(7, 1000));
        assert_eq!(&object_bytes(7, 1003)[..1000], &a[..]);
        assert_ne!(a, object_bytes(8, 1000));
        assert_eq!(object_bytes(1, 0).len(), 0);
        let mut s = SeededSizes::new(3);
        for _ in 0..100 {
            let n = s.log_between(4096, 12 << 20);
            assert!((4096..=12 << 20).contains(&n));
        }
    }
}
