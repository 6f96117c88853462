//! Benchmark data files: a file of xorshift bytes written once and reused, the CRC-64 of a
//! whole file to check uploads and downloads against, and dropping files from the page cache
//! without privileges (`posix_fadvise(POSIX_FADV_DONTNEED)` on each file, after flushing it),
//! so a read is served by the disk rather than by memory.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::path::Path;

use osspart_protocol::crc64::Crc64;

const MIB: u64 = 1024 * 1024;

/// Writes `size` bytes of xorshift output to `path` unless a file of that size is there.
pub fn ensure_xorshift_file(path: &Path, size: u64) -> anyhow::Result<()> {
    if std::fs::metadata(path).is_ok_and(|m| m.len() == size) {
        return Ok(());
    }
    eprintln!("writing {} ({} MiB)", path.display(), size / MIB);
    let mut out = std::io::BufWriter::with_capacity(MIB as usize, File::create(path)?);
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut block = vec![0u8; MIB as usize];
    for _ in 0..size.div_ceil(MIB) {
        for chunk in block.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes());
        }
        out.write_all(&block)?;
    }
    out.into_inner()
        .map_err(|e| e.into_error())?
        .set_len(size)?;
    Ok(())
}

/// CRC-64 (ECMA, as OSS's `x-oss-hash-crc64ecma`) and length of a whole file.
pub fn file_crc64(path: &Path) -> anyhow::Result<(u64, u64)> {
    let mut f = File::open(path)?;
    let mut crc = Crc64::new();
    let mut buf = vec![0u8; 4 * MIB as usize];
    let mut len = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok((crc.value(), len));
        }
        crc.update(&buf[..n]);
        len += n as u64;
    }
}

/// Flushes every regular file under `dir` (recursively) and asks the kernel to drop its pages
/// from the page cache. Returns the bytes of the files it went through. Needs no privileges:
/// it affects only these files, unlike `/proc/sys/vm/drop_caches`.
pub fn drop_from_page_cache(dir: &Path) -> anyhow::Result<u64> {
    let mut bytes = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            bytes += drop_from_page_cache(&entry.path())?;
        } else if kind.is_file() {
            // A file can vanish between the listing and the open (the server renames and
            // deletes its own files); that is fine.
            let Ok(f) = File::open(entry.path()) else {
                continue;
            };
            // Dirty pages are not dropped; write them first.
            f.sync_data()?;
            dont_need(&f)?;
            bytes += f.metadata()?.len();
        }
    }
    Ok(bytes)
}

/// `posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)`: drop the file's clean cached pages.
#[allow(unsafe_code)]
fn dont_need(f: &File) -> std::io::Result<()> {
    // SAFETY: a plain system call on a file descriptor that `f` keeps open; no memory is passed.
    let r = unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::from_raw_os_error(r))
    }
}
