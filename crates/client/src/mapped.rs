//! A read-only memory map of a file range, so the sendfile path can checksum the bytes it sends
//! without first copying them out of the page cache (that copy was 40% of an upload's CPU).
//!
//! The one hazard of reading a mapped file is a file truncated meanwhile: touching a page past
//! its new end raises SIGBUS. Each range is therefore mapped only after the file's length was
//! checked to cover it, one chunk at a time, and read at once; what remains is a truncation in
//! the microseconds between that check and the checksum of one chunk. (Populating the pages
//! with `MADV_POPULATE_READ` first, which reports a page past the end as an error, narrows that
//! window no further and cost a fifth of the client's CPU.) [`crate::Config::sendfile`] turns
//! the whole path off for sources that may shrink while they are sent.
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::fs::File;
use std::ptr::NonNull;

use rustix::mm::{self, MapFlags, ProtFlags};

/// `len` bytes of a file from `offset`, mapped read-only.
pub(crate) struct MappedRange {
    /// Start of the mapping (page-aligned), or dangling when nothing is mapped.
    base: NonNull<c_void>,
    /// Length of the mapping.
    map_len: usize,
    /// Bytes between the mapping's start and the range's.
    skip: usize,
    /// Length of the range.
    len: usize,
}

impl MappedRange {
    /// Maps the range, once the file's length covers it (an error otherwise); nothing is
    /// read yet.
    pub(crate) fn new(file: &File, offset: u64, len: usize) -> std::io::Result<MappedRange> {
        if file.metadata()?.len() < offset + len as u64 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the file is shorter than the range to send",
            ));
        }
        let page = rustix::param::page_size();
        let skip = (offset % page as u64) as usize;
        let map_len = skip + len;
        if len == 0 {
            return Ok(MappedRange {
                base: NonNull::dangling(),
                map_len: 0,
                skip: 0,
                len: 0,
            });
        }
        // SAFETY: a new read-only shared mapping at an address the kernel picks: it aliases no
        // Rust object. The offset is page-aligned as mmap requires.
        let base = unsafe {
            mm::mmap(
                std::ptr::null_mut(),
                map_len,
                ProtFlags::READ,
                MapFlags::SHARED,
                file,
                offset - skip as u64,
            )
        }?;
        let base = NonNull::new(base).ok_or_else(|| std::io::Error::other("mmap gave null"))?;
        Ok(MappedRange {
            base,
            map_len,
            skip,
            len,
        })
    }

    /// The bytes `start..start + n` of the range. Fails on a piece outside the range.
    pub(crate) fn piece(&mut self, start: usize, n: usize) -> std::io::Result<&[u8]> {
        if n == 0 {
            return Ok(&[]);
        }
        if start.checked_add(n).is_none_or(|end| end > self.len) {
            return Err(std::io::Error::other("piece outside the mapped range"));
        }
        // SAFETY: the bytes lie inside the live mapping, which is read-only and outlives the
        // returned borrow of `self`; u8 has no invalid values.
        Ok(unsafe {
            std::slice::from_raw_parts(self.base.as_ptr().cast::<u8>().add(self.skip + start), n)
        })
    }
}

impl Drop for MappedRange {
    fn drop(&mut self) {
        if self.map_len > 0 {
            // SAFETY: unmaps exactly the mapping `new` made; no borrow of it outlives `self`.
            let _ = unsafe { mm::munmap(self.base.as_ptr(), self.map_len) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn pieces_read_the_file_and_a_short_file_is_an_error() {
        let mut file = tempfile::tempfile().unwrap();
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        file.write_all(&data).unwrap();
        let mut map = MappedRange::new(&file, 5_000, 90_000).unwrap();
        assert_eq!(map.piece(0, 10).unwrap(), &data[5_000..5_010]);
        assert_eq!(map.piece(80_000, 10_000).unwrap(), &data[85_000..95_000]);
        assert!(map.piece(85_000, 10_000).is_err());
        drop(map);
        file.set_len(10_000).unwrap();
        assert!(MappedRange::new(&file, 5_000, 90_000).is_err());
        assert!(MappedRange::new(&file, 0, 0)
            .unwrap()
            .piece(0, 0)
            .unwrap()
            .is_empty());
    }
}
