//! The disk's rate for the server's durability pattern, measured on the data directory's file
//! system: write a part-sized file, fsync it, rename it into place, fsync the directory, with
//! as many writers as ingest has requests in flight. Every UploadPart does this, so ingest
//! cannot beat it; when it is below the MD5 target the disk, not the server, decides.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The measured durable write rate.
#[derive(Debug, Clone)]
pub struct DiskResult {
    /// Bytes written.
    pub bytes: u64,
    /// Wall time, all writers together.
    pub elapsed: Duration,
}

impl DiskResult {
    /// Throughput, MiB/s.
    pub fn mib_per_sec(&self) -> f64 {
        crate::ingest::mib_per_sec(self.bytes, self.elapsed)
    }
}

/// Writes `files` files of `chunk` under `dir` (an empty directory the caller removes) from
/// `writers` threads.
pub fn durable_write_rate(
    dir: &Path,
    chunk: &[u8],
    files: u64,
    writers: usize,
) -> std::io::Result<DiskResult> {
    fs::create_dir_all(dir.join("tmp"))?;
    fs::create_dir_all(dir.join("done"))?;
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..writers)
            .map(|_| {
                let next = next.clone();
                scope.spawn(move || -> std::io::Result<()> {
                    loop {
                        let n = next.fetch_add(1, Ordering::Relaxed);
                        if n >= files {
                            return Ok(());
                        }
                        let tmp = dir.join("tmp").join(n.to_string());
                        let mut file = File::create(&tmp)?;
                        file.write_all(chunk)?;
                        file.sync_all()?;
                        drop(file);
                        fs::rename(&tmp, dir.join("done").join(n.to_string()))?;
                        File::open(dir.join("done"))?.sync_all()?;
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .try_for_each(|h| h.join().expect("disk writer panicked"))
    })?;
    Ok(DiskResult {
        bytes: files * chunk.len() as u64,
        elapsed: started.elapsed(),
    })
}
