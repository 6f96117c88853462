//! The upload run: decide which upload to continue ([`resume`](super::resume)), send the
//! missing parts through a bounded parallel pipeline ([`pipeline`](super::pipeline)), complete
//! and check the whole object's CRC-64 ([`completion`](super::completion)).
//!
//! Memory is bounded: file parts are read while they are sent, in cache-sized pieces; stream
//! parts use at most `parallel` reusable buffers.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use super::budget::TransferBudget;
use super::cancel::CancelHandle;
use super::checkpoint::{Checkpoint, CheckpointLock, SourceIdentity};
use super::checkpoint_store::CheckpointStore;
use super::pipeline::{send_parts, Shared};
use super::plan::{Plan, DEFAULT_PART_SIZE};
use super::progress::{ProgressCallback, ProgressEvent};
use super::source::Source;
use crate::client::{Client, Response};
use crate::error::{Error, Result};
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

/// Options of [`Client::multipart_upload`] and [`Client::upload`]: `UploadOptions::default()`
/// and the `with_*` setters (see the crate's options pattern in `setters`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct UploadOptions {
    /// Progress persistence (default none: an interrupted upload starts over).
    pub checkpoint: Option<CheckpointSpec>,
    /// Parts being sent at once (default 5). A file part whose bytes are all out waits for
    /// its answer outside this count, so up to three times as many requests may be open.
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
    /// Retries per part for timeouts, broken connections, 5xx, throttling and CRC
    /// mismatches (default `None`: the client's [`crate::RetryPolicy`], like every other
    /// call); a file part is read again from the file for each retry.
    pub part_retries: Option<u32>,
    /// Most retries the whole upload may take, across parts, initiation, listings and
    /// completion together (default `None`: only the per-call limits).
    pub retry_budget: Option<u32>,
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
            part_retries: None,
            retry_budget: None,
            upload_id: None,
            restart_on_source_change: false,
            multipart_threshold: DEFAULT_MULTIPART_THRESHOLD,
            budget: None,
        }
    }
}

with_setters!(UploadOptions {
    with_checkpoint => checkpoint: Some(CheckpointSpec),
    with_parallel => parallel: usize,
    with_part_size => part_size: u64,
    with_progress => progress: Some(ProgressCallback),
    with_object => object: ObjectOptions,
    with_content_md5 => content_md5: bool,
    with_cancel => cancel: Some(CancelHandle),
    with_part_retries => part_retries: Some(u32),
    with_retry_budget => retry_budget: Some(u32),
    with_upload_id => upload_id: Some(into String),
    with_restart_on_source_change => restart_on_source_change: bool,
    with_multipart_threshold => multipart_threshold: u64,
    with_budget => budget: Some(TransferBudget),
});

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
        // Every call of this upload retries under one retrier (and one budget, if set).
        let retrier = match options.retry_budget {
            Some(total) => self.retrier().clone().with_budget(total),
            None => self.retrier().clone(),
        };
        let result = self
            .with_retrier(retrier)
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
        let store = CheckpointStore::new(options.checkpoint.clone());
        let mut warnings: Vec<String> = warning.into_iter().collect();
        let start = self
            .choose_start(name, &identity, plan, &options, &store, &mut warnings)
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
            checkpoint: Mutex::new(Arc::new(checkpoint)),
            store,
            dirty: Notify::new(),
            free: Mutex::new(Vec::new()),
            sent: Arc::new(AtomicU64::new(0)),
            acknowledged: AtomicU64::new(start.done.values().map(|p| p.size).sum()),
            parts_done: AtomicU32::new(start.done.len() as u32),
            parts_sent: AtomicU32::new(0),
            total: plan.total,
            parts_total: plan.part_count(),
            report: tokio::sync::Mutex::new(0.0),
            places: Arc::new(tokio::sync::Semaphore::new(options.parallel)),
            options,
        });
        shared.save_checkpoint().await?;
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

        let saver = CheckpointStore::spawn_saver(shared.clone());
        let sent = send_parts(&shared, source, plan, &start).await;
        saver.stop().await;
        shared.save_checkpoint().await?;
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
        shared.store.forget();
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
}
