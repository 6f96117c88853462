//! [`Client::copy`]: a server-side copy of any size. Below the threshold one CopyObject;
//! above it a multipart upload whose parts are UploadPartCopy ranges of the source, in
//! parallel, each pinned to the source's ETag (`x-oss-copy-source-if-match`), with a
//! checkpoint so a killed copy resumes, and the copy's CRC-64 compared with the source's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_util::{StreamExt, TryStreamExt};
use osspart_protocol::range::ByteRange;
use osspart_protocol::{crc64, ErrorCode};
use serde::{Deserialize, Serialize};

use crate::client::Client;
use crate::error::{Error, Result};
use crate::ops::multipart::PartEtag;
use crate::ops::object::{ObjectInfo, ObjectOptions};
use crate::upload::cancel::CancelMode;
use crate::upload::checkpoint::write_atomically;
use crate::upload::plan::Plan;
use crate::upload::{CancelHandle, CheckpointLock, Progress, ProgressCallback, ProgressEvent};

/// Checkpoint saves are merged to at most one per this interval.
const SAVE_EVERY: Duration = Duration::from_secs(1);

/// Options of [`Client::copy`]; defaults in one `Default` impl, changed with the `with_*`
/// setters (`CopyOptions::default().with_part_size(16 << 20)`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CopyOptions {
    /// Sources smaller than this take one CopyObject (default 256 MiB).
    pub multipart_threshold: u64,
    /// Bytes per UploadPartCopy (default 64 MiB; raised to fit 10,000 parts).
    pub part_size: u64,
    /// UploadPartCopy requests in flight (default 5).
    pub parallel: usize,
    /// `None` keeps the source's metadata and headers; `Some` replaces them.
    pub object: Option<ObjectOptions>,
    /// Where a multipart copy saves its progress, so a killed copy resumes (default none).
    pub checkpoint: Option<PathBuf>,
    /// Progress: `Initiated`/`Resumed`, `PartDone` per range, `Completed`.
    pub progress: Option<ProgressCallback>,
    /// Pause (keeps upload and checkpoint) or abort (removes both).
    pub cancel: Option<CancelHandle>,
}

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions {
            multipart_threshold: 256 << 20,
            part_size: 64 << 20,
            parallel: 5,
            object: None,
            checkpoint: None,
            progress: None,
            cancel: None,
        }
    }
}

with_setters!(CopyOptions {
    with_multipart_threshold => multipart_threshold: u64,
    with_part_size => part_size: u64,
    with_parallel => parallel: usize,
    with_object => object: Some(ObjectOptions),
    with_checkpoint => checkpoint: Some(into PathBuf),
    with_progress => progress: Some(ProgressCallback),
    with_cancel => cancel: Some(CancelHandle),
});

/// What a finished copy made.
#[derive(Debug, Clone)]
pub struct CopyOutput {
    /// ETag of the copy.
    pub etag: String,
    /// CRC-64 of the copy, checked against the source's when the service reports both.
    pub crc64: Option<u64>,
    /// Size in bytes.
    pub size: u64,
    /// The multipart upload that became the copy; `None` for one CopyObject.
    pub upload_id: Option<String>,
    /// Parts copied by this run.
    pub parts_copied: u32,
    /// Parts kept from an earlier run.
    pub parts_kept: u32,
}

/// A multipart copy's saved progress (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyCheckpoint {
    /// Source bucket and key.
    pub source: (String, String),
    /// Source ETag every part was copied from.
    pub source_etag: String,
    /// Source size.
    pub size: u64,
    /// Destination bucket and key.
    pub destination: (String, String),
    /// The multipart upload being filled.
    pub upload_id: String,
    /// Bytes per part.
    pub part_size: u64,
    /// ETag and CRC-64 of each part copied, by number.
    pub parts: BTreeMap<u32, (String, Option<u64>)>,
}

impl CopyCheckpoint {
    fn load(path: &Path) -> Result<Option<CopyCheckpoint>> {
        match std::fs::read(path) {
            Ok(t) => serde_json::from_slice(&t).map(Some).map_err(|e| {
                Error::Checkpoint(format!("{} is not a copy checkpoint: {e}", path.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_vec(self).map_err(|e| Error::Checkpoint(e.to_string()))?;
        write_atomically(path, &text)
    }
}

impl Client {
    /// Copies `source_bucket/source_key` to `key` of this client's bucket on the service side:
    /// one CopyObject below `options.multipart_threshold`, else a parallel, checkpointed
    /// UploadPartCopy multipart copy pinned to the source's ETag. Metadata is kept unless
    /// `options.object` replaces it.
    ///
    /// Not run here (`no_run`): it needs OSS and keys in the environment.
    ///
    /// ```no_run
    /// use osspart::{Client, Config, CopyOptions, ObjectOptions};
    ///
    /// # async fn run() -> osspart::Result<()> {
    /// let client = Client::new(Config::from_env("archive")?)?;
    /// // Keep the source's metadata.
    /// client
    ///     .copy("photos", "2024/cat.jpg", "cats/2024.jpg", CopyOptions::default())
    ///     .await?;
    /// // Replace it, and copy anything above 64 MiB in checkpointed 32 MiB parts.
    /// let options = CopyOptions::default()
    ///     .with_multipart_threshold(64 << 20)
    ///     .with_part_size(32 << 20)
    ///     .with_checkpoint("copy.checkpoint")
    ///     .with_object(ObjectOptions::default().with_mime("video/mp4"));
    /// let out = client
    ///     .copy("videos", "raw/big.mp4", "big.mp4", options)
    ///     .await?;
    /// println!("copied {} bytes in {} parts", out.size, out.parts_copied);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn copy(
        &self,
        source_bucket: &str,
        source_key: &str,
        key: &str,
        options: CopyOptions,
    ) -> Result<CopyOutput> {
        if options.parallel == 0 {
            return Err(Error::InvalidArgument("parallel must be at least 1".into()));
        }
        let source = self
            .with_bucket(source_bucket)
            .head_object(source_key)
            .await?;
        if source.size < options.multipart_threshold {
            if cancelled(&options).is_some() {
                return Err(Error::Cancelled);
            }
            let out = self
                .copy_object(source_bucket, source_key, key, options.object.as_ref())
                .await?;
            check_crc(key, source.crc64, out.crc64)?;
            emit(
                &options,
                source.size,
                source.size,
                0,
                ProgressEvent::Completed {
                    etag: out.etag.clone(),
                },
            )
            .await;
            return Ok(CopyOutput {
                etag: out.etag,
                crc64: out.crc64,
                size: source.size,
                upload_id: None,
                parts_copied: 0,
                parts_kept: 0,
            });
        }
        let lock = match &options.checkpoint {
            Some(path) => Some(CheckpointLock::acquire(path)?),
            None => None,
        };
        let result = self
            .copy_multipart(source_bucket, source_key, key, &source, &options)
            .await;
        if let Some(lock) = lock {
            lock.release();
        }
        result
    }

    async fn copy_multipart(
        &self,
        source_bucket: &str,
        source_key: &str,
        key: &str,
        source: &ObjectInfo,
        options: &CopyOptions,
    ) -> Result<CopyOutput> {
        let saved = match &options.checkpoint {
            Some(path) => CopyCheckpoint::load(path)?,
            None => None,
        };
        let here = (self.bucket().to_owned(), key.to_owned());
        let from = (source_bucket.to_owned(), source_key.to_owned());
        // A checkpoint of this copy whose source is unchanged and whose upload still exists.
        let mut resumed = None;
        if let Some(cp) = saved.filter(|c| c.destination == here && c.source == from) {
            let same = osspart_protocol::etag::same(&cp.source_etag, &source.etag)
                && cp.size == source.size;
            let alive = same
                && self
                    .list_parts(key, &cp.upload_id, None, Some(1))
                    .await
                    .is_ok();
            if alive {
                resumed = Some(cp);
            } else {
                let _ = self.abort_multipart_upload(key, &cp.upload_id).await;
            }
        }
        let (mut cp, kept) = match resumed {
            Some(mut cp) => {
                // Every part the upload holds with its range's size was copied from this very
                // source (each copy was pinned to its ETag), whether or not a save recorded it.
                let stored: Vec<_> = self
                    .list_all_parts(key, &cp.upload_id)
                    .try_collect()
                    .await?;
                let count = source.size.div_ceil(cp.part_size) as u32;
                let plan = Plan {
                    part_size: cp.part_size,
                    total: Some(source.size),
                };
                cp.parts = stored
                    .into_iter()
                    .filter(|p| (1..=count).contains(&p.number) && p.size == plan.part(p.number).1)
                    .map(|p| (p.number, (p.etag, p.crc64)))
                    .collect();
                let kept = cp.parts.len() as u32;
                emit(
                    options,
                    0,
                    source.size,
                    kept,
                    ProgressEvent::Resumed {
                        upload_id: cp.upload_id.clone(),
                        kept_parts: kept,
                        kept_bytes: 0,
                        parts_to_check: 0,
                    },
                )
                .await;
                (cp, kept)
            }
            None => {
                let (plan, _) = Plan::new(Some(source.size), options.part_size)?;
                let object = options
                    .object
                    .clone()
                    .unwrap_or_else(|| kept_options(source));
                let upload_id = self.initiate(key, &object, false).await?;
                emit(
                    options,
                    0,
                    source.size,
                    0,
                    ProgressEvent::Initiated {
                        upload_id: upload_id.clone(),
                    },
                )
                .await;
                (
                    CopyCheckpoint {
                        source: from.clone(),
                        source_etag: source.etag.clone(),
                        size: source.size,
                        destination: here.clone(),
                        upload_id,
                        part_size: plan.part_size,
                        parts: BTreeMap::new(),
                    },
                    0,
                )
            }
        };
        save(options, &cp);
        let plan = Plan {
            part_size: cp.part_size,
            total: Some(source.size),
        };
        let count = source.size.div_ceil(plan.part_size) as u32;
        let missing: Vec<u32> = (1..=count).filter(|n| !cp.parts.contains_key(n)).collect();
        let upload_id = cp.upload_id.clone();
        // Parts done so far and their bytes, kept as they grow rather than summed per part.
        let kept_bytes: u64 = cp.parts.keys().map(|&n| plan.part(n).1).sum();
        let state = Mutex::new((std::mem::take(&mut cp.parts), Instant::now(), kept_bytes));
        let copied = futures_util::stream::iter(missing)
            .map(|n| {
                let (start, len) = plan.part(n);
                let last = start + len - 1;
                let (state, cp, upload_id) = (&state, &cp, &upload_id);
                async move {
                    if cancelled(options).is_some() {
                        return Ok(());
                    }
                    let part = self
                        .upload_part_copy_if(
                            key,
                            upload_id,
                            n,
                            source_bucket,
                            source_key,
                            Some(ByteRange::FromTo(start, last)),
                            Some(&source.etag),
                        )
                        .await
                        .map_err(|e| {
                            if e.has_code(ErrorCode::PreconditionFailed) {
                                Error::SourceChanged(format!(
                                    "{source_key} was replaced during the copy"
                                ))
                            } else {
                                e
                            }
                        })?;
                    let (done, done_bytes) = {
                        let mut guard = state.lock().unwrap();
                        let (parts, last_save, done_bytes) = &mut *guard;
                        parts.insert(n, (part.etag.clone(), part.crc64));
                        *done_bytes += len;
                        // Saves are merged to one a second (and one at the end).
                        if last_save.elapsed() >= SAVE_EVERY {
                            *last_save = Instant::now();
                            let snapshot = CopyCheckpoint {
                                parts: parts.clone(),
                                ..cp.clone()
                            };
                            save(options, &snapshot);
                        }
                        (parts.len() as u32, *done_bytes)
                    };
                    emit(
                        options,
                        done_bytes,
                        source.size,
                        done,
                        ProgressEvent::PartDone {
                            number: n,
                            etag: part.etag,
                            crc64: part.crc64.unwrap_or(0),
                            bytes: len,
                        },
                    )
                    .await;
                    Ok::<_, Error>(())
                }
            })
            .buffer_unordered(options.parallel)
            .try_collect::<Vec<()>>()
            .await;
        cp.parts = state.into_inner().unwrap().0;
        save(options, &cp);
        if let Err(e) = copied {
            if matches!(e, Error::SourceChanged(_)) {
                let _ = self.abort_multipart_upload(key, &upload_id).await;
                forget(options);
            }
            return Err(e);
        }
        if let Some(mode) = cancelled(options) {
            if mode == CancelMode::Abort {
                self.abort_multipart_upload(key, &upload_id).await?;
                forget(options);
            }
            return Err(Error::Cancelled);
        }
        let etags: Vec<PartEtag> = cp
            .parts
            .iter()
            .map(|(&number, (etag, _))| PartEtag {
                number,
                etag: etag.clone(),
            })
            .collect();
        emit(
            options,
            source.size,
            source.size,
            count,
            ProgressEvent::Completing,
        )
        .await;
        let done = self
            .complete_multipart_upload(key, &upload_id, &etags)
            .await?;
        let parts_crc = cp
            .parts
            .iter()
            .map(|(&n, (_, crc))| crc.map(|c| (c, plan.part(n).1)))
            .collect::<Option<Vec<_>>>()
            .map(crc64::combine_all);
        check_crc(key, source.crc64, done.crc64)?;
        check_crc(key, parts_crc, done.crc64)?;
        forget(options);
        emit(
            options,
            source.size,
            source.size,
            count,
            ProgressEvent::Completed {
                etag: done.etag.clone(),
            },
        )
        .await;
        Ok(CopyOutput {
            etag: done.etag,
            crc64: done.crc64,
            size: source.size,
            upload_id: Some(upload_id),
            parts_copied: count - kept,
            parts_kept: kept,
        })
    }
}

/// The source's content type, metadata and standard headers, for a copy that keeps them.
fn kept_options(source: &ObjectInfo) -> ObjectOptions {
    let headers = [
        "cache-control",
        "content-disposition",
        "content-encoding",
        "content-language",
        "expires",
    ]
    .iter()
    .filter_map(|&h| Some((h.to_owned(), source.response.header(h)?.to_owned())))
    .collect();
    ObjectOptions {
        mime: source.content_type.clone(),
        meta: source.meta.clone(),
        headers,
        forbid_overwrite: false,
    }
}

/// Fails when both sides report a CRC-64 and they differ.
fn check_crc(key: &str, expected: Option<u64>, actual: Option<u64>) -> Result<()> {
    match (expected, actual) {
        (Some(e), Some(a)) if e != a => Err(Error::Checksum {
            what: format!("copy to {key}"),
            expected: e,
            actual: a,
        }),
        _ => Ok(()),
    }
}

fn cancelled(options: &CopyOptions) -> Option<CancelMode> {
    options.cancel.as_ref().and_then(CancelHandle::mode)
}

fn save(options: &CopyOptions, cp: &CopyCheckpoint) {
    if let Some(path) = &options.checkpoint {
        // A lost save costs only re-copying parts on resume.
        let _ = cp.save(path);
    }
}

fn forget(options: &CopyOptions) {
    if let Some(path) = &options.checkpoint {
        let _ = std::fs::remove_file(path);
    }
}

async fn emit(options: &CopyOptions, done: u64, total: u64, parts: u32, event: ProgressEvent) {
    if let Some(cb) = &options.progress {
        cb.call(Progress {
            fraction: if total == 0 {
                1.0
            } else {
                done as f64 / total as f64
            },
            bytes_acknowledged: done,
            bytes_sent: done,
            total_bytes: Some(total),
            parts_done: parts,
            parts_total: None,
            event,
            checkpoint: None,
        })
        .await;
    }
}
