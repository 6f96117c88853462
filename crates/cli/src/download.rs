//! Downloading one object to a file: a single GET for small objects, ranged GETs in parallel
//! for large ones, always into a temporary file beside the destination that is renamed into
//! place only after the whole object's CRC-64 matched (when the service reports one). The
//! file gets the object's modification time back (see [`crate::tree::mtime`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::{bail, Context};
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use osspart::{Client, ObjectInfo, TransferBudget};
use osspart_protocol::crc64;
use osspart_protocol::range::ByteRange;

use crate::tree::local::PARTIAL_SUFFIX;
use crate::tree::mtime;

/// Bytes fetched per ranged GET.
pub const CHUNK: u64 = 8 << 20;

/// How to download.
#[derive(Debug, Clone)]
pub struct DownloadOptions {
    /// Ranged GETs in flight for one object.
    pub parallel: usize,
    /// Shared limits across downloads, if any.
    pub budget: Option<TransferBudget>,
    /// The object's size when a listing already told it: small objects then take one GET
    /// and no HEAD.
    pub size_hint: Option<u64>,
}

/// What a finished download wrote.
#[derive(Debug, Clone)]
pub struct Downloaded {
    /// Bytes written.
    pub size: u64,
    /// CRC-64 of the bytes written.
    pub crc64: u64,
    /// Whether the service reported a CRC-64 and it matched (`false`: nothing to compare).
    pub verified: bool,
}

/// Downloads `key` to `dest`, replacing it only when every byte arrived and checked out.
pub async fn download(
    client: &Client,
    key: &str,
    dest: &Path,
    options: &DownloadOptions,
) -> anyhow::Result<Downloaded> {
    let tmp = partial_path(dest);
    let result = fetch(client, key, dest, &tmp, options).await;
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The temporary file a download of `dest` writes: hidden, beside it.
pub fn partial_path(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dest.with_file_name(format!(".{name}{PARTIAL_SUFFIX}"))
}

async fn fetch(
    client: &Client,
    key: &str,
    dest: &Path,
    tmp: &Path,
    options: &DownloadOptions,
) -> anyhow::Result<Downloaded> {
    if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let small = options.size_hint.is_some_and(|s| s <= CHUNK);
    let (info, crc) = if small {
        let _permit = acquire(options, options.size_hint.unwrap_or(0)).await;
        let (info, body) = client.get_object(key, None).await?;
        let crc = crc64::checksum(&body);
        let file = create(tmp)?;
        write_at(Arc::new(file), body, 0).await?;
        (info, crc)
    } else {
        let info = client.head_object(key).await?;
        let crc = fetch_ranges(client, key, tmp, info.size, options).await?;
        (info, crc)
    };
    let verified = match info.crc64 {
        Some(expected) if expected != crc => {
            return Err(osspart::Error::Checksum {
                what: format!("download of {key}"),
                expected,
                actual: crc,
            }
            .into())
        }
        Some(_) => true,
        None => false,
    };
    let file = std::fs::OpenOptions::new().write(true).open(tmp)?;
    if let Some(t) = object_mtime(&info) {
        file.set_modified(t)?;
    }
    file.sync_all()?;
    drop(file);
    std::fs::rename(tmp, dest)
        .with_context(|| format!("cannot move the download into {}", dest.display()))?;
    Ok(Downloaded {
        size: info.size,
        crc64: crc,
        verified,
    })
}

/// The modification time a downloaded file gets.
pub fn object_mtime(info: &ObjectInfo) -> Option<SystemTime> {
    mtime::of_object(&info.meta, info.last_modified.map(SystemTime::from))
}

async fn acquire(options: &DownloadOptions, bytes: u64) -> Option<osspart::upload::BudgetPermit> {
    match &options.budget {
        Some(b) => Some(b.acquire(bytes).await),
        None => None,
    }
}

fn create(path: &Path) -> anyhow::Result<std::fs::File> {
    std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))
}

/// Ranged GETs in parallel into `tmp`; returns the CRC-64 of the whole object.
async fn fetch_ranges(
    client: &Client,
    key: &str,
    tmp: &Path,
    size: u64,
    options: &DownloadOptions,
) -> anyhow::Result<u64> {
    let file = Arc::new(create(tmp)?);
    file.set_len(size)?;
    let ranges = (0..size.div_ceil(CHUNK)).map(|i| (i * CHUNK, ((i + 1) * CHUNK).min(size) - 1));
    let crcs: Vec<(u64, u64)> = futures_util::stream::iter(ranges)
        .map(|(a, b)| {
            let file = file.clone();
            async move {
                let _permit = acquire(options, b - a + 1).await;
                let (_, body) = client
                    .get_object(key, Some(ByteRange::FromTo(a, b)))
                    .await?;
                if body.len() as u64 != b - a + 1 {
                    bail!("short read of bytes {a}-{b}: got {} bytes", body.len());
                }
                let crc = crc64::checksum(&body);
                write_at(file, body, a).await?;
                Ok::<_, anyhow::Error>((crc, b - a + 1))
            }
        })
        .buffered(options.parallel.max(1))
        .try_collect()
        .await?;
    Ok(crc64::combine_all(crcs))
}

/// Writes `data` at `offset` of `file` on a blocking thread.
async fn write_at(file: Arc<std::fs::File>, data: Bytes, offset: u64) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(move || write_all_at(&file, &data, offset)).await??;
    Ok(())
}

#[cfg(unix)]
fn write_all_at(file: &std::fs::File, data: &[u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, data, offset)
}

#[cfg(windows)]
fn write_all_at(file: &std::fs::File, mut data: &[u8], mut offset: u64) -> std::io::Result<()> {
    while !data.is_empty() {
        let n = std::os::windows::fs::FileExt::seek_write(file, data, offset)?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        data = &data[n..];
        offset += n as u64;
    }
    Ok(())
}
