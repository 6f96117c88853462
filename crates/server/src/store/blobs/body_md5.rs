//! The MD5 of every stored body (its ETag): the one hash the server cannot skip, so its cost
//! per byte is the floor of ingest.
//!
//! With the `aws-lc-md5` feature (on by default) it is AWS-LC's MD5, whose hand-written
//! assembly hashed 1 GiB in ~1.3 CPU-s on our 2-core test VM against ~1.7 CPU-s for the `md-5`
//! crate (and for md-5 0.10's `asm` backend). AWS-LC is already built for the client's TLS,
//! so it adds no new native dependency. Without the feature, or where AWS-LC does not build,
//! the pure-Rust `md-5` is used; both give the same digests (tested below).

#[cfg(feature = "aws-lc-md5")]
mod imp {
    // The one measured hot path that needs `unsafe`: three calls into AWS-LC's MD5 on a
    // context this type owns. `MD5_CTX` is plain data (no pointers, no destructor), so it may
    // be moved, and every call gets a valid, exclusive pointer to it.
    #![allow(unsafe_code)]

    use aws_lc_sys::{MD5_Final, MD5_Init, MD5_Update, MD5_CTX};

    /// A running MD5 of a body.
    pub struct BodyMd5(MD5_CTX);

    impl BodyMd5 {
        /// The MD5 of no bytes yet.
        pub fn new() -> BodyMd5 {
            // SAFETY: MD5_CTX is a C struct of integers and arrays, valid when zeroed;
            // MD5_Init then sets it up and cannot fail.
            let mut ctx: MD5_CTX = unsafe { std::mem::zeroed() };
            unsafe { MD5_Init(&mut ctx) };
            BodyMd5(ctx)
        }

        /// Adds bytes.
        pub fn update(&mut self, data: &[u8]) {
            if data.is_empty() {
                return;
            }
            // SAFETY: `data` is a live slice of `data.len()` bytes; the context is ours.
            unsafe { MD5_Update(&mut self.0, data.as_ptr().cast(), data.len()) };
        }

        /// The digest of every byte added.
        pub fn finalize(mut self) -> [u8; 16] {
            let mut out = [0u8; 16];
            // SAFETY: `out` has the 16 bytes MD5_Final writes; the context is ours.
            unsafe { MD5_Final(out.as_mut_ptr(), &mut self.0) };
            out
        }
    }
}

#[cfg(not(feature = "aws-lc-md5"))]
mod imp {
    use md5::{Digest, Md5};

    /// A running MD5 of a body.
    pub struct BodyMd5(Md5);

    impl BodyMd5 {
        /// The MD5 of no bytes yet.
        pub fn new() -> BodyMd5 {
            BodyMd5(Md5::new())
        }

        /// Adds bytes.
        pub fn update(&mut self, data: &[u8]) {
            self.0.update(data);
        }

        /// The digest of every byte added.
        pub fn finalize(self) -> [u8; 16] {
            self.0.finalize().into()
        }
    }
}

pub use imp::BodyMd5;

impl Default for BodyMd5 {
    fn default() -> Self {
        BodyMd5::new()
    }
}

impl std::fmt::Debug for BodyMd5 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BodyMd5")
    }
}

#[cfg(test)]
mod tests {
    use super::BodyMd5;
    use md5::{Digest, Md5};

    #[test]
    fn matches_md5_crate_at_every_split() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 31 % 251) as u8).collect();
        for len in [0, 1, 55, 56, 63, 64, 65, 127, 128, 1000, 10_000] {
            let body = data.get(..len).unwrap();
            let want: [u8; 16] = Md5::digest(body).into();
            for split in [0, 1, len / 3, len] {
                let (a, b) = body.split_at(split.min(len));
                let mut h = BodyMd5::new();
                h.update(a);
                h.update(b);
                assert_eq!(h.finalize(), want, "len {len} split {split}");
            }
        }
        let mut h = BodyMd5::new();
        h.update(b"123456789");
        assert_eq!(
            hex::encode(h.finalize()),
            "25f9e794323b453885f5181f1b624d0b"
        );
    }
}
