//! The upload run: decide which upload to continue, send the missing parts through a bounded
//! parallel pipeline, complete, and check the whole object's CRC-64.
//!
//! Memory is bounded: at most `parallel` part buffers exist at once (the reader waits for a
//! free one), so peak use is about `parallel x part_size` for files and streams alike.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use osspart_protocol::{crc64, time_fmt, ErrorCode};
use time::OffsetDateTime;
use tokio::io::AsyncReadExt;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use super::budget::{BudgetPermit, TransferBudget};
use super::cancel::{CancelHandle, CancelMode};
use super::checkpoint::{Checkpoint, CheckpointLock, DonePart, SourceIdentity};
use super::plan::{Plan, DEFAULT_PART_SIZE};
use super::progress::{Progress, ProgressCallback, ProgressEvent};
use super::source::Source;
use crate::client::{Client, FileBody, Response};
use crate::error::{Error, Result};
use crate::ops::multipart::{part_output, ListUploadsQuery, PartEtag, PartInfo, UploadInfo};
use crate::ops::object::ObjectOptions;

/// Where a checkpoint is kept.
#[derive(Debug, Clone)]
pub enum CheckpointSpec {
    /// A JSON file, saved atomically as parts complete and deleted after success. A file in
    /// the ali-oss shape is accepted too.
    File(PathBuf),
    /// In memory: read at the start (when `Some`), updated as parts complete.
    Memory(Arc<Mutex<Option<Checkpoint>>>),
}

/// Sources below this size go up as one PutObject in [`Client::upload`].
pub const DEFAULT_MULTIPART_THRESHOLD: u64 = 8 << 20;

/// Options of [`Client::multipart_upload`] and [`Client::upload`]; defaults in one `Default`
/// impl.
#[derive(Debug, Clone)]
pub struct UploadOptions {
    /// Progress persistence (default none: an interrupted upload starts over).
    pub checkpoint: Option<CheckpointSpec>,
    /// Parts in flight at once (default 5).
    pub parallel: usize,
    /// Part size in bytes (default 1 MiB; 100 KiB..=5 GiB; raised to fit 10,000 parts).
    pub part_size: u64,
    /// Progress callback.
    pub progress: Option<ProgressCallback>,
    /// MIME type, metadata and headers of the object.
    pub object: ObjectOptions,
    /// Send `Content-MD5` with every part (default off; CRC-64 already guards the data).
    pub content_md5: bool,
    /// Cancellation handle for this upload.
    pub cancel: Option<CancelHandle>,
    /// Retries per part (default 3) for timeouts, broken connections, 5xx, throttling and
    /// CRC mismatches; the part is read again from the source for each retry.
    pub part_retries: u32,
    /// Continue this upload id when no checkpoint exists (its parts are adopted only when
    /// their size and CRC-64 match the local bytes).
    pub upload_id: Option<String>,
    /// When the checkpoint's source changed: abort its upload and start over (default: fail).
    pub restart_on_source_change: bool,
    /// [`Client::upload`] sends sources smaller than this as one PutObject (default 8 MiB).
    pub multipart_threshold: u64,
    /// Limits shared with other uploads (connections and buffered bytes); default none.
    pub budget: Option<TransferBudget>,
}

impl Default for UploadOptions {
    fn default() -> Self {
        UploadOptions {
            checkpoint: None,
            parallel: 5,
            part_size: DEFAULT_PART_SIZE,
            progress: None,
            object: ObjectOptions::default(),
            content_md5: false,
            cancel: None,
            part_retries: 3,
            upload_id: None,
            restart_on_source_change: false,
            multipart_threshold: DEFAULT_MULTIPART_THRESHOLD,
            budget: None,
        }
    }
}

/// What a finished upload produced.
#[derive(Debug, Clone)]
pub struct UploadOutput {
    /// Bucket.
    pub bucket: String,
    /// Object key.
    pub name: String,
    /// The object's ETag.
    pub etag: String,
    /// The object's CRC-64, checked against the local data.
    pub crc64: u64,
    /// Size in bytes.
    pub size: u64,
    /// Upload id that became the object; `None` when it went up as one PutObject.
    pub upload_id: Option<String>,
    /// The Complete response; `None` when its reply was lost and the object was confirmed by
    /// HEAD instead.
    pub response: Option<Response>,
    /// Parts sent by this run.
    pub parts_sent: u32,
    /// Parts kept from earlier runs.
    pub parts_kept: u32,
    /// Body bytes handed to the network by this run, retries included.
    pub bytes_sent: u64,
}

/// The bytes of one part.
enum Payload {
    /// Read from a stream (or sliced from memory) into a buffer, with its CRC-64; a retry
    /// sends the same buffer.
    Buffer { data: Bytes, crc: u64 },
    /// A range of the file source, read while it is sent (each attempt reads it again).
    File { len: u64 },
}

/// Bytes read at a time when a file range is only checksummed.
const DIGEST_CHUNK: usize = 256 * 1024;

/// One part, ready to send.
struct Job {
    number: u32,
    offset: u64,
    payload: Payload,
    /// The part the service already holds under this number, when it must be compared with
    /// the local bytes before deciding to send.
    candidate: Option<PartInfo>,
    _permit: OwnedSemaphorePermit,
    _budget: Option<BudgetPermit>,
}

/// State shared by the pipeline's tasks.
struct Shared {
    client: Client,
    key: String,
    upload_id: String,
    options: UploadOptions,
    file: Option<Arc<std::fs::File>>,
    checkpoint: Mutex<Checkpoint>,
    dirty: Notify,
    free: Mutex<Vec<Vec<u8>>>,
    sent: Arc<AtomicU64>,
    acknowledged: AtomicU64,
    parts_done: AtomicU32,
    parts_sent: AtomicU32,
    total: Option<u64>,
    parts_total: Option<u32>,
    report: tokio::sync::Mutex<f64>,
    /// Held for the whole of a checkpoint save (including its blocking write), so saves
    /// never overlap and a later save never loses to an earlier one.
    save_lock: Arc<tokio::sync::Mutex<()>>,
}

impl Shared {
    async fn emit(&self, event: ProgressEvent) {
        let Some(cb) = &self.options.progress else {
            return;
        };
        // One report at a time, so fractions are seen in order and never go backwards.
        let mut last = self.report.lock().await;
        let acked = self.acknowledged.load(Ordering::SeqCst);
        let fraction = match (&event, self.total) {
            (ProgressEvent::Completed { .. }, _) => 1.0,
            (_, Some(t)) if t > 0 => (acked as f64 / t as f64).min(0.999),
            _ => 0.0,
        };
        let fraction = fraction.max(*last);
        *last = fraction;
        let p = Progress {
            fraction,
            bytes_acknowledged: acked,
            bytes_sent: self.sent.load(Ordering::Relaxed),
            total_bytes: self.total,
            parts_done: self.parts_done.load(Ordering::SeqCst),
            parts_total: self.parts_total,
            event,
            checkpoint: Some(self.checkpoint.lock().unwrap().clone()),
        };
        cb.call(p).await;
    }

    fn take_buffer(&self, len: usize) -> Vec<u8> {
        let mut buf = self.free.lock().unwrap().pop().unwrap_or_default();
        buf.resize(len, 0);
        buf
    }

    fn give_back(&self, data: Bytes) {
        // Under a shared budget an idle buffer would be memory the budget no longer counts.
        if self.options.budget.is_some() {
            return;
        }
        if let Ok(m) = data.try_into_mut() {
            self.free.lock().unwrap().push(m.into());
        }
    }

    fn record(&self, part: DonePart) {
        self.acknowledged.fetch_add(part.size, Ordering::SeqCst);
        self.parts_done.fetch_add(1, Ordering::SeqCst);
        self.checkpoint.lock().unwrap().record(part);
        self.dirty.notify_one();
    }

    /// CRC-64 and MD5 of `len` bytes at `offset` of the file source, read in cache-sized
    /// pieces (to compare with a part the service holds, or for a Content-MD5 header).
    async fn digest_range(&self, offset: u64, len: u64) -> Result<(u64, [u8; 16])> {
        let file = self
            .file
            .clone()
            .ok_or_else(|| Error::InvalidArgument("positioned reads need a file source".into()))?;
        tokio::task::spawn_blocking(move || {
            use md5::Digest;
            let mut crc = crc64::Crc64::new();
            let mut md5 = md5::Md5::new();
            let mut buf = vec![0u8; DIGEST_CHUNK];
            let mut done = 0;
            while done < len {
                let n = (len - done).min(DIGEST_CHUNK as u64) as usize;
                let piece = &mut buf[..n];
                crate::fileio::read_exact_at(&file, piece, offset + done)?;
                crc.update(piece);
                md5.update(&*piece);
                done += n as u64;
            }
            Ok((crc.value(), md5.finalize().into()))
        })
        .await
        .map_err(|e| Error::Io(std::io::Error::other(e)))?
    }

    fn cancelled(&self) -> Option<CancelMode> {
        self.options.cancel.as_ref().and_then(CancelHandle::mode)
    }
}

/// Which upload this run continues, and what of it is already done.
struct Start {
    upload_id: String,
    done: BTreeMap<u32, DonePart>,
    /// Parts the service holds that must be compared with local bytes before being kept.
    candidates: BTreeMap<u32, PartInfo>,
    resumed: bool,
    /// The object's ETag when an earlier run's Complete already made the object (its reply
    /// was lost): nothing is left to send or complete.
    finished: Option<(String, u64)>,
}

impl Client {
    /// Uploads `source` as object `name` in parallel parts, resuming from `options.checkpoint`
    /// when it names an upload that still exists, and verifying every part's and the whole
    /// object's CRC-64.
    pub async fn multipart_upload(
        &self,
        name: &str,
        source: impl Into<Source>,
        mut options: UploadOptions,
    ) -> Result<UploadOutput> {
        let source = source.into();
        if let Source::File(path) = &source {
            super::single::guess_mime(&mut options.object, name, path);
        }
        if options.parallel == 0 {
            return Err(Error::InvalidArgument("parallel must be at least 1".into()));
        }
        let identity = match &source {
            Source::File(p) => SourceIdentity::of_file(p)?,
            Source::Bytes(b) => SourceIdentity {
                path: None,
                size: Some(b.len() as u64),
                mtime_unix_nanos: None,
            },
            Source::Reader(_) | Source::BlockingReader(_) => SourceIdentity::default(),
        };
        let (mut plan, warning) = Plan::new(identity.size, options.part_size)?;
        let lock = match &options.checkpoint {
            Some(CheckpointSpec::File(path)) => Some(CheckpointLock::acquire(path)?),
            _ => None,
        };
        let result = self
            .run_upload(name, source, identity, &mut plan, warning, options)
            .await;
        if let Some(lock) = lock {
            lock.release();
        }
        result
    }

    async fn run_upload(
        &self,
        name: &str,
        source: Source,
        identity: SourceIdentity,
        plan: &mut Plan,
        warning: Option<String>,
        options: UploadOptions,
    ) -> Result<UploadOutput> {
        let saved = match &options.checkpoint {
            Some(CheckpointSpec::File(path)) => Checkpoint::load(path)?,
            Some(CheckpointSpec::Memory(m)) => m.lock().unwrap().clone(),
            None => None,
        };
        let resumable = !source.is_stream();
        let mut warnings: Vec<String> = warning.into_iter().collect();
        let start = self
            .choose_start(
                name,
                &identity,
                plan,
                saved.filter(|_| resumable),
                &options,
                &mut warnings,
            )
            .await?;
        let mut checkpoint = Checkpoint::new(
            self.bucket(),
            name,
            &start.upload_id,
            identity.clone(),
            plan.part_size,
        );
        for part in start.done.values() {
            checkpoint.record(part.clone());
        }
        let file = match &source {
            Source::File(p) => Some(Arc::new(std::fs::File::open(p)?)),
            _ => None,
        };
        let shared = Arc::new(Shared {
            client: self.clone(),
            key: name.to_owned(),
            upload_id: start.upload_id.clone(),
            file,
            checkpoint: Mutex::new(checkpoint),
            dirty: Notify::new(),
            free: Mutex::new(Vec::new()),
            sent: Arc::new(AtomicU64::new(0)),
            acknowledged: AtomicU64::new(start.done.values().map(|p| p.size).sum()),
            parts_done: AtomicU32::new(start.done.len() as u32),
            parts_sent: AtomicU32::new(0),
            total: plan.total,
            parts_total: plan.part_count(),
            report: tokio::sync::Mutex::new(0.0),
            save_lock: Arc::default(),
            options,
        });
        save_checkpoint(&shared).await?;
        for w in warnings {
            shared.emit(ProgressEvent::Warning(w)).await;
        }
        let kept = start.done.len() as u32;
        if start.resumed {
            let kept_bytes = shared.acknowledged.load(Ordering::SeqCst);
            shared
                .emit(ProgressEvent::Resumed {
                    upload_id: start.upload_id.clone(),
                    kept_parts: kept,
                    kept_bytes,
                    parts_to_check: start.candidates.len() as u32,
                })
                .await;
        } else {
            shared
                .emit(ProgressEvent::Initiated {
                    upload_id: start.upload_id.clone(),
                })
                .await;
        }

        let saver = tokio::spawn(saver_loop(shared.clone()));
        let sent = send_parts(&shared, source, plan, &start).await;
        saver.abort();
        let _ = saver.await;
        save_checkpoint(&shared).await?;
        if let Err(e) = sent {
            return Err(self.finish_cancelled(&shared, e).await);
        }
        if shared.cancelled().is_some() {
            return Err(self.finish_cancelled(&shared, Error::Cancelled).await);
        }
        let kept_after =
            shared.parts_done.load(Ordering::SeqCst) - shared.parts_sent.load(Ordering::SeqCst);
        let output = match &start.finished {
            Some((etag, crc)) => (etag.clone(), *crc, None),
            None => self.complete_checked(&shared).await?,
        };
        forget_checkpoint(shared.options.checkpoint.as_ref());
        shared
            .emit(ProgressEvent::Completed {
                etag: output.0.clone(),
            })
            .await;
        let size = shared.acknowledged.load(Ordering::SeqCst);
        Ok(UploadOutput {
            bucket: self.bucket().to_owned(),
            name: name.to_owned(),
            etag: output.0,
            crc64: output.1,
            size,
            upload_id: Some(start.upload_id),
            response: output.2,
            parts_sent: shared.parts_sent.load(Ordering::SeqCst),
            parts_kept: kept_after,
            bytes_sent: shared.sent.load(Ordering::Relaxed),
        })
    }

    /// Picks the upload to continue (checkpoint or given id, when they still exist) or starts
    /// a new one.
    async fn choose_start(
        &self,
        name: &str,
        identity: &SourceIdentity,
        plan: &mut Plan,
        saved: Option<Checkpoint>,
        options: &UploadOptions,
        warnings: &mut Vec<String>,
    ) -> Result<Start> {
        let mut claimed: Vec<DonePart> = Vec::new();
        let mut upload_id = options.upload_id.clone();
        let mut from_checkpoint = false;
        let mut initiating_since = None;
        if let Some(cp) = saved {
            if cp.is_initiating() {
                // Nothing was sent for it, so the source may have changed freely.
                if (cp.bucket.is_empty() || cp.bucket == self.bucket()) && cp.key == name {
                    initiating_since = cp.initiating_since;
                }
            } else {
                match cp.validate(self.bucket(), name, identity) {
                    Ok(()) => {
                        if cp.part_size != plan.part_size {
                            // The parts already sent fix the cut; keep it.
                            *plan = Plan {
                                part_size: cp.part_size,
                                total: plan.total,
                            };
                            if plan
                                .part_count()
                                .is_some_and(|n| n > osspart_protocol::limits::MAX_PART_NUMBER)
                            {
                                return Err(Error::Checkpoint(
                                    "the checkpoint's part size needs more than 10,000 parts"
                                        .into(),
                                ));
                            }
                        }
                        upload_id = Some(cp.upload_id.clone());
                        claimed = cp.parts;
                        from_checkpoint = true;
                    }
                    Err(e) if options.restart_on_source_change => {
                        warnings.push(format!(
                            "{e}; aborting upload {} and starting over",
                            cp.upload_id
                        ));
                        match self.abort_multipart_upload(name, &cp.upload_id).await {
                            Ok(()) => {}
                            Err(e) if e.has_code(ErrorCode::NoSuchUpload) => {}
                            Err(e) => return Err(e),
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        if let Some(id) = upload_id {
            match self.server_parts(name, &id).await {
                Ok(server) => return Ok(reconcile(id, plan, claimed, server)),
                Err(e) if e.has_code(ErrorCode::NoSuchUpload) => {
                    if from_checkpoint {
                        if let Some(done) = self.completed_earlier(name, plan, &claimed).await? {
                            return Ok(Start {
                                upload_id: id,
                                done: claimed.into_iter().map(|p| (p.number, p)).collect(),
                                candidates: BTreeMap::new(),
                                resumed: true,
                                finished: Some(done),
                            });
                        }
                    }
                    warnings.push(format!(
                        "upload {id} no longer exists; starting a new upload"
                    ));
                }
                Err(e) => return Err(e),
            }
        }
        if let Some(since) = initiating_since {
            if let Some(id) = self.lost_upload(name, since).await? {
                warnings.push(format!(
                    "continuing upload {id}, which an interrupted run initiated"
                ));
                return Ok(Start {
                    upload_id: id,
                    done: BTreeMap::new(),
                    candidates: BTreeMap::new(),
                    resumed: true,
                    finished: None,
                });
            }
        }
        // Say that an upload is being initiated before asking for it, so that a crash before
        // its id is saved leaves a trace the next run can follow (see `lost_upload`).
        let since = initiating_since.unwrap_or_else(|| OffsetDateTime::now_utc().unix_timestamp());
        let marker =
            Checkpoint::initiating(self.bucket(), name, identity.clone(), plan.part_size, since);
        store_checkpoint(options.checkpoint.as_ref(), marker).await?;
        let retry = &self.config().retry;
        let mut attempt = 0;
        let upload_id = loop {
            match self.initiate(name, &options.object, false).await {
                Ok(id) => break id,
                Err(e) if e.is_retryable() && attempt < retry.max_retries => {
                    attempt += 1;
                    tokio::time::sleep(retry.backoff(attempt)).await;
                    // The failed attempt may have created an upload whose answer was lost:
                    // continue that one instead of leaving it orphaned.
                    if let Some(id) = self.lost_upload(name, since).await? {
                        break id;
                    }
                }
                Err(e) => {
                    // A refusal (no bucket, no access, bad argument) created nothing to follow.
                    if !e.is_retryable() {
                        forget_checkpoint(options.checkpoint.as_ref());
                    }
                    return Err(e);
                }
            }
        };
        Ok(Start {
            upload_id,
            done: BTreeMap::new(),
            candidates: BTreeMap::new(),
            resumed: false,
            finished: None,
        })
    }

    /// When the checkpoint's upload is gone, whether it is gone because an earlier run's
    /// CompleteMultipartUpload succeeded (and the run died before hearing so): every planned
    /// part is in the checkpoint and the object has the multipart ETag form and the CRC-64 of
    /// those parts. Returns the object's ETag and CRC-64.
    async fn completed_earlier(
        &self,
        name: &str,
        plan: &Plan,
        claimed: &[DonePart],
    ) -> Result<Option<(String, u64)>> {
        let (Some(count), Some(total)) = (plan.part_count(), plan.total) else {
            return Ok(None);
        };
        let all_parts = claimed.len() == count as usize
            && claimed.iter().zip(1..).all(|(p, number)| {
                p.number == number && p.size == plan.part(number).1 && p.crc64.is_some()
            });
        if !all_parts {
            return Ok(None);
        }
        let expected = combined_crc(claimed);
        Ok(match self.object_exists(name).await? {
            Some(info)
                if info.is_multipart_etag()
                    && info.crc64 == Some(expected)
                    && info.size == total =>
            {
                Some((info.etag, expected))
            }
            _ => None,
        })
    }

    /// The upload a run killed between InitiateMultipartUpload and its first checkpoint save
    /// left behind: the newest upload of `name` initiated since `since` (Unix seconds, less
    /// the 15 minutes of clock difference OSS tolerates) that has no parts yet. Such a run
    /// never sent a part, so an upload with parts is someone else's.
    /// Abandons the upload a checkpoint file names: aborts it (for a checkpoint saved while
    /// initiating, the upload that run may have created before it died) and deletes the
    /// checkpoint, so the next upload of `name` starts over. Fails while another process
    /// holds the checkpoint's lock.
    pub async fn abandon_checkpoint(&self, name: &str, path: &std::path::Path) -> Result<()> {
        if !path.exists() {
            return Ok(());
        }
        let lock = CheckpointLock::acquire(path)?;
        let result = async {
            if let Some(cp) = Checkpoint::load(path)? {
                let id = match cp.initiating_since {
                    Some(since) if cp.is_initiating() => self.lost_upload(name, since).await?,
                    _ => Some(cp.upload_id).filter(|id| !id.is_empty()),
                };
                if let Some(id) = id {
                    match self.abort_multipart_upload(name, &id).await {
                        Err(e) if !e.has_code(ErrorCode::NoSuchUpload) => return Err(e),
                        _ => {}
                    }
                }
            }
            std::fs::remove_file(path)?;
            Ok(())
        }
        .await;
        lock.release();
        result
    }

    async fn lost_upload(&self, name: &str, since: i64) -> Result<Option<String>> {
        use futures_util::TryStreamExt;
        const CLOCK_SKEW: i64 = osspart_protocol::limits::MAX_CLOCK_SKEW_SECS;
        let uploads: Vec<UploadInfo> = self
            .list_all_uploads(ListUploadsQuery {
                prefix: Some(name.to_owned()),
                ..ListUploadsQuery::default()
            })
            .try_collect()
            .await?;
        let mut recent: Vec<(i64, String)> = uploads
            .into_iter()
            .filter(|u| u.key == name)
            .filter_map(|u| {
                let at = time_fmt::parse_xml_timestamp(&u.initiated)?.unix_timestamp();
                (at >= since - CLOCK_SKEW).then_some((at, u.upload_id))
            })
            .collect();
        recent.sort();
        for (_, id) in recent.into_iter().rev() {
            match self.list_parts(name, &id, None, Some(1)).await {
                Ok(page) if page.parts.is_empty() => return Ok(Some(id)),
                Ok(_) => {}
                Err(e) if e.has_code(ErrorCode::NoSuchUpload) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    async fn server_parts(&self, name: &str, upload_id: &str) -> Result<Vec<PartInfo>> {
        use futures_util::TryStreamExt;
        self.list_all_parts(name, upload_id).try_collect().await
    }

    /// Ends a run that stopped early: pause keeps everything; abort deletes the upload and
    /// checks it is gone.
    async fn finish_cancelled(&self, shared: &Shared, err: Error) -> Error {
        if shared.cancelled() != Some(CancelMode::Abort) {
            return err;
        }
        if let Err(e) = self
            .abort_multipart_upload(&shared.key, &shared.upload_id)
            .await
        {
            if !e.has_code(ErrorCode::NoSuchUpload) {
                return e;
            }
        }
        match self
            .list_parts(&shared.key, &shared.upload_id, None, Some(1))
            .await
        {
            Err(e) if e.has_code(ErrorCode::NoSuchUpload) => {}
            Ok(_) => {
                return Error::Protocol(format!(
                    "upload {} still exists after AbortMultipartUpload",
                    shared.upload_id
                ))
            }
            Err(e) => return e,
        }
        forget_checkpoint(shared.options.checkpoint.as_ref());
        Error::Cancelled
    }

    /// Completes the upload and checks the object's CRC-64. A lost reply is recovered by HEAD:
    /// the object counts as complete when its ETag has the multipart form and its CRC-64
    /// matches. Returns (etag, crc64, response).
    async fn complete_checked(&self, shared: &Shared) -> Result<(String, u64, Option<Response>)> {
        shared.emit(ProgressEvent::Completing).await;
        let cp = shared.checkpoint.lock().unwrap().clone();
        if let Some(n) = shared.parts_total {
            if cp.parts.len() as u32 != n {
                return Err(Error::Protocol(format!(
                    "{} of {n} parts are done; cannot complete",
                    cp.parts.len()
                )));
            }
        }
        let parts: Vec<PartEtag> = cp
            .parts
            .iter()
            .map(|p| PartEtag {
                number: p.number,
                etag: p.etag.clone(),
            })
            .collect();
        let expected = combined_crc(&cp.parts);
        let retry = &self.config().retry;
        let mut attempt = 0;
        loop {
            let failure = match self
                .complete_multipart_upload(&shared.key, &shared.upload_id, &parts)
                .await
            {
                Ok(out) => {
                    let actual = out.crc64.unwrap_or(expected);
                    if actual != expected {
                        return Err(Error::Checksum {
                            what: "object".into(),
                            expected,
                            actual,
                        });
                    }
                    return Ok((out.etag, expected, Some(out.response)));
                }
                Err(e) => e,
            };
            let reply_may_be_lost = failure.is_retryable()
                || (attempt > 0 && failure.has_code(ErrorCode::NoSuchUpload));
            if !reply_may_be_lost {
                return Err(failure);
            }
            if let Ok(Some(info)) = self.object_exists(&shared.key).await {
                if info.is_multipart_etag() && info.crc64 == Some(expected) {
                    return Ok((info.etag, expected, None));
                }
            }
            if attempt >= retry.max_retries || !failure.is_retryable() {
                return Err(failure);
            }
            attempt += 1;
            tokio::time::sleep(retry.backoff(attempt)).await;
        }
    }
}

/// Decides which of the service's parts count as done. A part counts when its size is the
/// planned size and either the checkpoint vouches for it (same ETag and CRC-64) or, later,
/// the local bytes have its CRC-64.
fn reconcile(
    upload_id: String,
    plan: &Plan,
    claimed: Vec<DonePart>,
    server: Vec<PartInfo>,
) -> Start {
    let claimed: BTreeMap<u32, DonePart> = claimed.into_iter().map(|p| (p.number, p)).collect();
    let count = plan.part_count().unwrap_or(0);
    let mut done = BTreeMap::new();
    let mut candidates = BTreeMap::new();
    for part in server {
        if part.number == 0 || part.number > count || part.size != plan.part(part.number).1 {
            continue;
        }
        let vouched = claimed.get(&part.number).is_some_and(|c| {
            osspart_protocol::etag::same(&c.etag, &part.etag)
                && c.crc64.is_some()
                && c.crc64 == part.crc64
                && c.size == part.size
        });
        if vouched {
            done.insert(
                part.number,
                DonePart {
                    number: part.number,
                    size: part.size,
                    etag: part.etag.clone(),
                    crc64: part.crc64,
                },
            );
        } else {
            candidates.insert(part.number, part);
        }
    }
    Start {
        upload_id,
        done,
        candidates,
        resumed: true,
        finished: None,
    }
}

async fn save_checkpoint(shared: &Shared) -> Result<()> {
    // The guard moves into the blocking write: when the saver task is aborted mid-save, the
    // write still finishes before the next save (the final one) may start.
    let guard = shared.save_lock.clone().lock_owned().await;
    let cp = shared.checkpoint.lock().unwrap().clone();
    store_checkpoint_guarded(shared.options.checkpoint.as_ref(), cp, guard).await
}

/// Deletes the checkpoint (after success, an abort, or a refused start).
fn forget_checkpoint(spec: Option<&CheckpointSpec>) {
    match spec {
        Some(CheckpointSpec::File(path)) => {
            let _ = std::fs::remove_file(path);
        }
        Some(CheckpointSpec::Memory(m)) => *m.lock().unwrap() = None,
        None => {}
    }
}

/// Saves `cp` where `spec` says (nothing without one).
async fn store_checkpoint(spec: Option<&CheckpointSpec>, cp: Checkpoint) -> Result<()> {
    store_checkpoint_guarded(spec, cp, ()).await
}

async fn store_checkpoint_guarded<G: Send + 'static>(
    spec: Option<&CheckpointSpec>,
    cp: Checkpoint,
    guard: G,
) -> Result<()> {
    match spec {
        Some(CheckpointSpec::File(path)) => {
            let path = path.clone();
            tokio::task::spawn_blocking(move || {
                let _guard = guard;
                cp.save(&path)
            })
            .await
            .map_err(|e| Error::Io(std::io::Error::other(e)))?
        }
        Some(CheckpointSpec::Memory(m)) => {
            *m.lock().unwrap() = Some(cp);
            Ok(())
        }
        None => Ok(()),
    }
}

/// Saves the checkpoint whenever parts were recorded; saves that fall behind are merged, so a
/// fast upload does not write one file per part.
async fn saver_loop(shared: Arc<Shared>) {
    loop {
        shared.dirty.notified().await;
        if let Err(e) = save_checkpoint(&shared).await {
            tracing::warn!(error = %e, "cannot save the checkpoint");
        }
    }
}

/// Reads parts in order into free buffers and runs at most `parallel` sends at once.
async fn send_parts(
    shared: &Arc<Shared>,
    mut source: Source,
    plan: &Plan,
    start: &Start,
) -> Result<()> {
    let permits = Arc::new(Semaphore::new(shared.options.parallel));
    let mut tasks: JoinSet<Result<()>> = JoinSet::new();
    let mut number = 0u32;
    let mut offset = 0u64;
    let result: Result<()> = async {
        loop {
            number += 1;
            if let Some(count) = plan.part_count() {
                if number > count {
                    break;
                }
            } else if number > osspart_protocol::limits::MAX_PART_NUMBER {
                return Err(Error::InvalidArgument(
                    "the stream needs more than 10,000 parts".into(),
                ));
            }
            if shared.cancelled().is_some() {
                return Err(Error::Cancelled);
            }
            let (part_offset, len) = match plan.total {
                Some(_) => plan.part(number),
                None => (offset, plan.stream_part_size(number)),
            };
            if start.done.contains_key(&number) {
                continue;
            }
            let permit = tokio::select! {
                p = permits.clone().acquire_owned() => p.expect("semaphore is never closed"),
                Some(joined) = tasks.join_next() => {
                    joined.map_err(|e| Error::Io(std::io::Error::other(e)))??;
                    number -= 1;
                    continue;
                }
            };
            let budget = match &shared.options.budget {
                Some(b) => Some(b.acquire(len).await),
                None => None,
            };
            if shared.cancelled().is_some() {
                return Err(Error::Cancelled);
            }
            let (payload, short) = if matches!(source, Source::File(_)) {
                (Payload::File { len }, false)
            } else {
                let data = read_part(shared, &mut source, part_offset, len).await?;
                if plan.total.is_none() {
                    if data.is_empty() && number > 1 {
                        // The stream ended exactly at a part boundary.
                        shared.give_back(data);
                        break;
                    }
                    offset += data.len() as u64;
                }
                let short = data.len() < len as usize;
                let crc = crc64::checksum(&data);
                (Payload::Buffer { data, crc }, short)
            };
            tasks.spawn(send_part(
                shared.clone(),
                Job {
                    number,
                    offset: part_offset,
                    payload,
                    candidate: start.candidates.get(&number).cloned(),
                    _permit: permit,
                    _budget: budget,
                },
            ));
            if short && plan.total.is_none() {
                break;
            }
        }
        while let Some(joined) = tasks.join_next().await {
            joined.map_err(|e| Error::Io(std::io::Error::other(e)))??;
        }
        Ok(())
    }
    .await;
    if result.is_err() {
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }
    result
}

/// CRC-64 of the concatenation of acknowledged parts, in the order given.
fn combined_crc<'a>(parts: impl IntoIterator<Item = &'a DonePart>) -> u64 {
    crc64::combine_all(parts.into_iter().map(|p| (p.crc64.unwrap_or(0), p.size)))
}

/// Whether the service's copy of a part holds these bytes: by CRC-64 when the service reports
/// one, else by the part ETag, which is the MD5 of the part.
fn stored_part_matches(stored: &PartInfo, crc: u64, data: &[u8]) -> bool {
    match stored.crc64 {
        Some(stored_crc) => stored_crc == crc,
        None => {
            use md5::Digest;
            let md5 = hex::encode(md5::Md5::digest(data));
            osspart_protocol::etag::same(&stored.etag, &md5)
        }
    }
}

/// Reads the part at `offset` (up to `len` bytes; less at the end of a stream) into a free
/// buffer, or slices it out of in-memory bytes. File parts are not read here: they are read
/// while they are sent.
async fn read_part(shared: &Shared, source: &mut Source, offset: u64, len: u64) -> Result<Bytes> {
    if let Source::Bytes(b) = source {
        let start = offset as usize;
        return Ok(b.slice(start..start + len as usize));
    }
    let mut buf = shared.take_buffer(len as usize);
    let n = match source {
        Source::File(_) => {
            return Err(Error::InvalidArgument(
                "file parts are read while sent".into(),
            ))
        }
        Source::Reader(r) => read_full(r, &mut buf).await?,
        Source::BlockingReader(r) => {
            let mut reader = std::mem::replace(r, Box::new(std::io::empty()));
            let (reader, filled, n) = tokio::task::spawn_blocking(move || {
                let n = read_full_blocking(&mut *reader, &mut buf);
                (reader, buf, n)
            })
            .await
            .map_err(|e| Error::Io(std::io::Error::other(e)))?;
            *r = reader;
            buf = filled;
            n?
        }
        Source::Bytes(_) => unreachable!("sliced above"),
    };
    buf.truncate(n);
    Ok(Bytes::from(buf))
}

/// Fills `buf` from a blocking stream; returns how many bytes were read (less at the end).
fn read_full_blocking(r: &mut (dyn std::io::Read + Send), buf: &mut [u8]) -> Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(filled)
}

/// Fills `buf` from a stream; returns how many bytes were read (less at the end).
async fn read_full(
    r: &mut (dyn tokio::io::AsyncRead + Send + Unpin),
    buf: &mut [u8],
) -> Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = r.read(&mut buf[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

/// Sends one part with its retry budget, or adopts the service's copy when it matches.
async fn send_part(shared: Arc<Shared>, job: Job) -> Result<()> {
    let (size, mut known_crc) = match &job.payload {
        Payload::Buffer { data, crc } => (data.len() as u64, Some(*crc)),
        Payload::File { len } => (*len, None),
    };
    if let Some(c) = job.candidate.as_ref().filter(|c| c.size == size) {
        let (crc, matches) = match &job.payload {
            Payload::Buffer { data, crc } => (*crc, stored_part_matches(c, *crc, data)),
            Payload::File { len } => {
                let (crc, md5) = shared.digest_range(job.offset, *len).await?;
                let matches = match c.crc64 {
                    Some(stored) => stored == crc,
                    None => osspart_protocol::etag::same(&c.etag, &hex::encode(md5)),
                };
                (crc, matches)
            }
        };
        if matches {
            shared.record(DonePart {
                number: job.number,
                size,
                etag: c.etag.clone(),
                crc64: Some(crc),
            });
            shared
                .emit(ProgressEvent::PartDone {
                    number: job.number,
                    etag: c.etag.clone(),
                    crc64: crc,
                    bytes: size,
                })
                .await;
            if let Payload::Buffer { data, .. } = job.payload {
                shared.give_back(data);
            }
            return Ok(());
        }
        known_crc = Some(crc);
    }
    let client = &shared.client;
    let mut req = match &job.payload {
        // Built once: a retry sends the same bytes, so the Content-MD5 still holds.
        Payload::Buffer { data, .. } => crate::Client::upload_part_request(
            &shared.key,
            &shared.upload_id,
            job.number,
            data.clone(),
            shared.options.content_md5,
        ),
        Payload::File { len } => {
            let file = shared.file.clone().ok_or_else(|| {
                Error::InvalidArgument("a file part needs the file source".into())
            })?;
            let mut req = crate::Client::upload_part_request(
                &shared.key,
                &shared.upload_id,
                job.number,
                Bytes::new(),
                false,
            );
            if shared.options.content_md5 {
                // The header goes before the body: one extra read of the part.
                use base64::Engine;
                let (crc, md5) = shared.digest_range(job.offset, *len).await?;
                known_crc = Some(crc);
                let md5 = base64::engine::general_purpose::STANDARD.encode(md5);
                req = req.header("Content-MD5", md5);
            }
            req.file_body(FileBody::new(file, job.offset, *len))
        }
    };
    req.sent = Some(shared.sent.clone());
    let mut attempt = 0;
    loop {
        let attempt_req = req.clone();
        let send = async {
            let response = client.send_once(attempt_req).await?;
            // A file part's CRC-64 is known once its bytes went out; every attempt must have
            // read the same bytes.
            let crc = match &req.file_body {
                Some(f) => f.sent_crc64().ok_or_else(|| {
                    Error::Protocol(format!(
                        "part {} was answered before it was sent",
                        job.number
                    ))
                })?,
                None => known_crc.unwrap_or_default(),
            };
            if known_crc.is_some_and(|k| k != crc) {
                return Err(Error::Checkpoint(format!(
                    "the source changed during the upload (part {} differs)",
                    job.number
                )));
            }
            known_crc = Some(crc);
            part_output(response, Some(crc), job.number).map(|out| (out, crc))
        };
        let result = match &shared.options.cancel {
            Some(c) => tokio::select! {
                r = send => r,
                _ = c.cancelled() => Err(Error::Cancelled),
            },
            None => send.await,
        };
        match result {
            Ok((out, crc)) => {
                shared.parts_sent.fetch_add(1, Ordering::SeqCst);
                shared.record(DonePart {
                    number: job.number,
                    size,
                    etag: out.etag.clone(),
                    crc64: Some(crc),
                });
                shared
                    .emit(ProgressEvent::PartDone {
                        number: job.number,
                        etag: out.etag,
                        crc64: crc,
                        bytes: size,
                    })
                    .await;
                drop(req);
                if let Payload::Buffer { data, .. } = job.payload {
                    shared.give_back(data);
                }
                return Ok(());
            }
            Err(e)
                if e.is_retryable()
                    && attempt < shared.options.part_retries
                    && shared.cancelled().is_none() =>
            {
                attempt += 1;
                shared
                    .emit(ProgressEvent::Retrying {
                        number: job.number,
                        attempt,
                        error: e.to_string(),
                    })
                    .await;
                tokio::time::sleep(client.config().retry.backoff(attempt)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_parts_match_by_crc_or_else_by_md5_etag() {
        let data = b"part bytes";
        let crc = crc64::checksum(data);
        let md5 = {
            use md5::Digest;
            hex::encode_upper(md5::Md5::digest(data))
        };
        let part = |crc64: Option<u64>, etag: &str| PartInfo {
            number: 1,
            size: data.len() as u64,
            etag: etag.to_owned(),
            crc64,
            last_modified: String::new(),
        };
        assert!(stored_part_matches(&part(Some(crc), "\"X\""), crc, data));
        assert!(!stored_part_matches(
            &part(Some(crc ^ 1), &format!("\"{md5}\"")),
            crc,
            data
        ));
        assert!(stored_part_matches(
            &part(None, &format!("\"{md5}\"")),
            crc,
            data
        ));
        assert!(!stored_part_matches(&part(None, "\"00\""), crc, data));
    }
}
