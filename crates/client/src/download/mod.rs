//! The way back: [`Client::download`] reads an object into a file with ranged GETs in
//! parallel, each pinned to the ETag seen first (`If-Match`), so an object replaced midway is
//! noticed instead of mixed. Bytes go to a temporary file beside the destination that is
//! renamed into place only after the whole object's CRC-64 matched; with a checkpoint, a
//! killed or paused download resumes with the parts it already wrote.

pub mod checkpoint;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{StreamExt, TryStreamExt};
use osspart_protocol::range::ByteRange;
use osspart_protocol::{crc64, ErrorCode};

pub use checkpoint::DownloadCheckpoint;

use crate::client::{BodyStream, Client};
use crate::error::{Error, Result};
use crate::fileio::{read_exact_at, write_all_at};
use crate::ops::object::ObjectInfo;
use crate::upload::cancel::CancelMode;
use crate::upload::plan::Plan;
use crate::upload::TransferBudget;
use crate::upload::{CancelHandle, CheckpointLock, Progress, ProgressCallback, ProgressEvent};

/// Suffix of the temporary file a download writes (hidden, beside the destination).
pub const PARTIAL_SUFFIX: &str = ".osspart-partial";

/// Checkpoint saves are merged to at most one per this interval (and one at the end).
const SAVE_EVERY: Duration = Duration::from_secs(1);

/// Options of [`Client::download`]; defaults in one `Default` impl, changed with the `with_*`
/// setters (`DownloadOptions::default().with_parallel(8)`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DownloadOptions {
    /// Ranged GETs in flight at once (default 5).
    pub parallel: usize,
    /// Bytes per ranged GET (default 8 MiB); objects no larger take one GET.
    pub part_size: u64,
    /// Where progress is saved so a killed or paused download resumes (default none).
    pub checkpoint: Option<PathBuf>,
    /// Progress callback: `PartDone` per range written, `Completed` at the end.
    pub progress: Option<ProgressCallback>,
    /// Pause (keeps the temporary file and checkpoint; without a checkpoint nothing could
    /// resume, so the temporary file goes) or abort (removes both).
    pub cancel: Option<CancelHandle>,
    /// Limits shared with other transfers (connections and buffered bytes).
    pub budget: Option<TransferBudget>,
    /// When the object is replaced midway: start over (up to 3 times) instead of failing.
    pub restart_on_change: bool,
}

impl Default for DownloadOptions {
    fn default() -> Self {
        DownloadOptions {
            parallel: 5,
            part_size: 8 << 20,
            checkpoint: None,
            progress: None,
            cancel: None,
            budget: None,
            restart_on_change: false,
        }
    }
}

with_setters!(DownloadOptions {
    with_parallel => parallel: usize,
    with_part_size => part_size: u64,
    with_checkpoint => checkpoint: Some(into PathBuf),
    with_progress => progress: Some(ProgressCallback),
    with_cancel => cancel: Some(CancelHandle),
    with_budget => budget: Some(TransferBudget),
    with_restart_on_change => restart_on_change: bool,
});

/// What a finished download wrote.
#[derive(Debug, Clone)]
pub struct DownloadOutput {
    /// The object as the service described it (ETag, CRC-64, metadata, Last-Modified).
    pub info: ObjectInfo,
    /// Bytes written.
    pub size: u64,
    /// CRC-64 of the bytes written.
    pub crc64: u64,
    /// Whether the service reported a CRC-64 to compare with (it matched); `false` means
    /// there was nothing to compare.
    pub verified: bool,
    /// Ranges fetched by this run.
    pub parts_fetched: u32,
    /// Ranges kept from an earlier run (their bytes re-read and checked).
    pub parts_kept: u32,
    /// Body bytes received by this run.
    pub bytes_fetched: u64,
}

/// The temporary file a download into `dest` writes: `.<name>.osspart-partial` beside it.
pub fn partial_path(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dest.with_file_name(format!(".{name}{PARTIAL_SUFFIX}"))
}

/// One download in progress.
struct Run<'a> {
    client: &'a Client,
    key: &'a str,
    options: &'a DownloadOptions,
    temp: PathBuf,
    state: Mutex<State>,
    fetched: AtomicU64,
    /// Write buffers of the ranges in flight, reused (at most two per range).
    buffers: Mutex<Vec<Vec<u8>>>,
    /// The object's size and the length of its parts (all but the last).
    size: u64,
    part_size: u64,
}

struct State {
    checkpoint: DownloadCheckpoint,
    last_save: Instant,
    fetched_parts: u32,
    /// Bytes of the parts in `checkpoint`, kept as parts are added.
    done_bytes: u64,
}

impl Client {
    /// Downloads object `name` into the file `dest`, in parallel ranges pinned to one ETag,
    /// resuming from `options.checkpoint` when it describes this object, and replacing
    /// `dest` only when every byte arrived and the object's CRC-64 (when reported) matched.
    ///
    /// Not run here (`no_run`): it needs OSS and keys in the environment.
    ///
    /// ```no_run
    /// use osspart::{Client, Config, DownloadOptions};
    ///
    /// # async fn run() -> osspart::Result<()> {
    /// let client = Client::new(Config::from_env("photos")?)?;
    /// // 16 MiB ranges, eight at a time; a rerun after a crash keeps the ranges already written.
    /// let options = DownloadOptions::default()
    ///     .with_part_size(16 << 20)
    ///     .with_parallel(8)
    ///     .with_checkpoint("video.mp4.download-checkpoint");
    /// let out = client.download("videos/video.mp4", "video.mp4", options).await?;
    /// assert_eq!(out.size, out.info.size);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn download(
        &self,
        name: &str,
        dest: impl AsRef<Path>,
        options: DownloadOptions,
    ) -> Result<DownloadOutput> {
        if options.parallel == 0 || options.part_size == 0 {
            return Err(Error::InvalidArgument(
                "parallel and part_size must be at least 1".into(),
            ));
        }
        let dest = dest.as_ref();
        let lock = match &options.checkpoint {
            Some(path) => Some(CheckpointLock::acquire(path)?),
            None => None,
        };
        let mut restarts = 0;
        let result = loop {
            match self.download_once(name, dest, &options).await {
                // The bytes written and the checkpoint belong to an object that is gone: a later
                // run could only fail on them again, so they go whether or not we start over.
                Err(Error::SourceChanged(why)) => {
                    forget(&options, &partial_path(dest));
                    if !options.restart_on_change || restarts >= 3 {
                        break Err(Error::SourceChanged(why));
                    }
                    restarts += 1;
                    if let Some(cb) = &options.progress {
                        cb.call(progress_of(
                            0,
                            0,
                            None,
                            0,
                            ProgressEvent::Warning(format!("{why}; starting over")),
                        ))
                        .await;
                    }
                }
                other => break other,
            }
        };
        if let Some(lock) = lock {
            lock.release();
        }
        result
    }

    async fn download_once(
        &self,
        key: &str,
        dest: &Path,
        options: &DownloadOptions,
    ) -> Result<DownloadOutput> {
        if cancel_mode(options).is_some() {
            return Err(Error::Cancelled);
        }
        let temp = partial_path(dest);
        let saved = match &options.checkpoint {
            Some(path) => {
                DownloadCheckpoint::load(path)?.filter(|c| c.is_for(self.bucket(), key, &temp))
            }
            None => None,
        };
        // Resuming: the object must still be the one the checkpoint read. Starting: the first
        // range comes with the object's headers, so small objects take one request.
        let (info, first) = match &saved {
            Some(cp) => {
                let info = self.head_object(key).await?;
                if !osspart_protocol::etag::same(&info.etag, &cp.etag) || info.size != cp.size {
                    return Err(Error::SourceChanged(format!(
                        "{key} was replaced since the download began (ETag {} is now {})",
                        cp.etag, info.etag
                    )));
                }
                (info, None)
            }
            None => {
                let first = ByteRange::FromTo(0, options.part_size - 1);
                let permit = acquire(options, options.part_size).await;
                let (info, body) = self.get_object_stream(key, Some(first), None).await?;
                (info, Some((body, permit)))
            }
        };
        if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let part_size = saved.as_ref().map_or(options.part_size, |c| c.part_size);
        let reuse = saved
            .as_ref()
            .is_some_and(|_| std::fs::metadata(&temp).is_ok_and(|m| m.len() == info.size));
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(!reuse)
            .open(&temp)?;
        file.set_len(info.size)?;
        let file = Arc::new(file);
        let mut checkpoint = DownloadCheckpoint {
            bucket: self.bucket().to_owned(),
            key: key.to_owned(),
            etag: info.etag.clone(),
            size: info.size,
            part_size,
            temp_path: temp.clone(),
            parts: Default::default(),
        };
        let count = info.size.div_ceil(part_size) as u32;
        let plan = Plan {
            part_size,
            total: Some(info.size),
        };
        let range = |n: u32| plan.part(n);
        // Parts an earlier run wrote count only if their bytes read back with their CRC-64.
        let mut kept = 0;
        if let (true, Some(cp)) = (reuse, &saved) {
            let claimed: Vec<(u32, u64, u64, u64)> = cp
                .parts
                .iter()
                .filter(|(n, _)| (1..=count).contains(*n))
                .map(|(&n, &crc)| {
                    let (start, len) = range(n);
                    (n, crc, start, len)
                })
                .collect();
            let f = file.clone();
            let good = tokio::task::spawn_blocking(move || {
                let mut good = Vec::new();
                let mut buf = Vec::new();
                for (n, crc, start, len) in claimed {
                    buf.resize(len as usize, 0);
                    if read_exact_at(&f, &mut buf, start).is_ok() && crc64::checksum(&buf) == crc {
                        good.push((n, crc));
                    }
                }
                good
            })
            .await
            .map_err(|e| Error::Io(std::io::Error::other(e)))?;
            kept = good.len() as u32;
            checkpoint.parts.extend(good);
        }
        let run = Run {
            client: self,
            key,
            options,
            temp: temp.clone(),
            state: Mutex::new(State {
                done_bytes: checkpoint.parts.keys().map(|&n| range(n).1).sum(),
                checkpoint,
                last_save: Instant::now(),
                fetched_parts: 0,
            }),
            fetched: AtomicU64::new(0),
            buffers: Mutex::new(Vec::new()),
            size: info.size,
            part_size,
        };
        // The first range's bytes (or the whole object, if the service ignored the range).
        // A body cut off midway leaves its unfinished parts to the fetches below.
        if let Some((mut body, _permit)) = first {
            let body_len = body.content_length();
            let expected = range(1).1;
            if body_len != Some(expected) && body_len != Some(info.size) {
                return Err(run.fail(Error::Protocol(format!(
                    "asked for {expected} bytes of {key}, got {}",
                    body_len.map_or("a body of unknown length".to_owned(), |n| format!("{n}"))
                ))));
            }
            let mut sink = Sink::new(&run, file.clone(), 0);
            let copied = sink.copy(&mut body).await;
            let parts = match sink.finish().await {
                Ok(parts) => parts,
                Err(e) => return Err(run.fail(Error::Io(e))),
            };
            if let Err(e) = copied {
                tracing::debug!(error = %e, "first range cut off; fetching the rest by part");
            }
            for (n, crc, len) in parts {
                run.record(n, crc, len).await;
            }
        }
        let missing: Vec<u32> = {
            let state = run.state.lock().unwrap();
            (1..=count)
                .filter(|n| !state.checkpoint.parts.contains_key(n))
                .collect()
        };
        let fetched = futures_util::stream::iter(missing)
            .map(|n| {
                let (start, len) = range(n);
                run.fetch_part(n, start, len, &info.etag, file.clone())
            })
            .buffer_unordered(options.parallel)
            .try_collect::<Vec<()>>()
            .await;
        if let Err(e) = fetched {
            return Err(run.fail(e));
        }
        if let Some(mode) = cancel_mode(options) {
            // A pause keeps what a checkpoint can resume; without one the bytes are orphaned.
            if mode == CancelMode::Abort || options.checkpoint.is_none() {
                forget(options, &temp);
            } else {
                run.save();
            }
            return Err(Error::Cancelled);
        }
        let (crc, fetched_parts) = {
            let state = run.state.lock().unwrap();
            let crc = crc64::combine_all(
                state
                    .checkpoint
                    .parts
                    .iter()
                    .map(|(&n, &crc)| (crc, range(n).1)),
            );
            (crc, state.fetched_parts)
        };
        if let Some(expected) = info.crc64 {
            if expected != crc {
                forget(options, &temp);
                return Err(Error::Checksum {
                    what: format!("download of {key}"),
                    expected: crc,
                    actual: expected,
                });
            }
        }
        let f = file.clone();
        blocking(move || f.sync_all()).await?;
        drop(file);
        std::fs::rename(&temp, dest)?;
        if let Some(path) = &options.checkpoint {
            let _ = std::fs::remove_file(path);
        }
        let output = DownloadOutput {
            size: info.size,
            crc64: crc,
            verified: info.crc64.is_some(),
            parts_fetched: fetched_parts,
            parts_kept: kept,
            bytes_fetched: run.fetched.load(Ordering::Relaxed),
            info,
        };
        if let Some(cb) = &options.progress {
            cb.call(progress_of(
                output.size,
                output.size,
                Some(count),
                count,
                ProgressEvent::Completed {
                    etag: output.info.etag.clone(),
                },
            ))
            .await;
        }
        Ok(output)
    }
}

impl Run<'_> {
    /// Fetches one range (pinned to `etag`) and writes it at its offset as it arrives; a body
    /// cut off midway is resumed from the first byte not yet received.
    async fn fetch_part(
        &self,
        number: u32,
        start: u64,
        len: u64,
        etag: &str,
        file: Arc<File>,
    ) -> Result<()> {
        if cancel_mode(self.options).is_some() {
            return Ok(());
        }
        let _permit = acquire(self.options, len).await;
        let mut sink = Sink::new(self, file, start);
        let retrier = self.client.retrier();
        let mut attempts = retrier.attempts();
        loop {
            let from = start + sink.received();
            let range = ByteRange::FromTo(from, start + len - 1);
            let got = self
                .client
                .get_object_stream(self.key, Some(range), Some(etag))
                .await;
            let outcome = match got {
                Err(e) if e.has_code(ErrorCode::PreconditionFailed) => {
                    return Err(Error::SourceChanged(format!(
                        "{} was replaced during the download (its ETag is no longer {etag})",
                        self.key
                    )))
                }
                Err(e) => return Err(e),
                // A wrong length is a broken answer: worth asking again, like a cut one.
                Ok((_, body)) if body.content_length() != Some(start + len - from) => {
                    Err(Error::transport(format!(
                        "asked for {} bytes at {from} of {}, the answer declares {:?}",
                        start + len - from,
                        self.key,
                        body.content_length()
                    )))
                }
                Ok((_, mut body)) => sink.copy(&mut body).await.and_then(|()| {
                    if sink.received() == len {
                        Ok(())
                    } else {
                        Err(Error::transport(format!(
                            "the body of bytes {from}..{} of {} ended early",
                            start + len,
                            self.key
                        )))
                    }
                }),
            };
            match outcome {
                Ok(()) => break,
                Err(e) => match attempts.next_delay(&e) {
                    Some(delay) => {
                        tracing::debug!(error = %e, part = number, "range cut off; resuming");
                        tokio::time::sleep(delay).await;
                    }
                    None => return Err(e),
                },
            }
        }
        let parts = sink.finish().await.map_err(Error::Io)?;
        for (n, crc, len) in parts {
            debug_assert_eq!(n, number);
            self.record(n, crc, len).await;
        }
        Ok(())
    }

    /// A buffer for [`Sink`], reused across parts.
    fn take_buffer(&self) -> Vec<u8> {
        self.buffers
            .lock()
            .unwrap()
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(SINK_BUFFER))
    }

    fn return_buffer(&self, mut buf: Vec<u8>) {
        buf.clear();
        self.buffers.lock().unwrap().push(buf);
    }

    /// Notes a written part, saves the checkpoint now and then, and reports progress.
    async fn record(&self, number: u32, crc: u64, len: u64) {
        let (done_bytes, done_parts, total, count, etag) = {
            let mut state = self.state.lock().unwrap();
            state.checkpoint.parts.insert(number, crc);
            state.fetched_parts += 1;
            state.done_bytes += len;
            if state.last_save.elapsed() >= SAVE_EVERY {
                state.last_save = Instant::now();
                self.save_locked(&state.checkpoint);
            }
            let cp = &state.checkpoint;
            (
                state.done_bytes,
                cp.parts.len() as u32,
                cp.size,
                cp.size.div_ceil(cp.part_size) as u32,
                cp.etag.clone(),
            )
        };
        if let Some(cb) = &self.options.progress {
            cb.call(progress_of(
                done_bytes,
                total,
                Some(count),
                done_parts,
                ProgressEvent::PartDone {
                    number,
                    etag,
                    crc64: crc,
                    bytes: len,
                },
            ))
            .await;
        }
    }

    fn save(&self) {
        let state = self.state.lock().unwrap();
        self.save_locked(&state.checkpoint);
    }

    fn save_locked(&self, checkpoint: &DownloadCheckpoint) {
        if let Some(path) = &self.options.checkpoint {
            // A failed save costs only re-fetching on resume; the download goes on.
            let _ = checkpoint.save(path);
        }
    }

    /// Keeps what a later run can resume (with a checkpoint), else removes the temporary file.
    /// A replaced object is cleaned up by [`Client::download`] (nothing of it can be resumed).
    fn fail(&self, e: Error) -> Error {
        if matches!(e, Error::SourceChanged(_)) {
            return e;
        }
        if self.options.checkpoint.is_some() {
            self.save();
        } else {
            let _ = std::fs::remove_file(&self.temp);
        }
        e
    }
}

/// Bytes gathered before one positioned write: small enough to stay in the CPU cache while
/// they are checksummed, copied and written, large enough that writes are few.
const SINK_BUFFER: usize = 512 << 10;

/// Writes a body into the file at its offset as it arrives, computing the CRC-64 of each
/// part (`part_size` bytes, aligned on multiples of it) on the bytes while they are fresh.
/// One write is in flight on a blocking thread while the next buffer fills.
struct Sink<'r, 'a> {
    run: &'r Run<'a>,
    file: Arc<File>,
    /// File offset of the first byte of `buf`.
    at: u64,
    start: u64,
    buf: Vec<u8>,
    writing: Option<tokio::task::JoinHandle<std::io::Result<Vec<u8>>>>,
    crc: crc64::Crc64,
    /// Parts completed: number, CRC-64, length.
    parts: Vec<(u32, u64, u64)>,
}

impl<'r, 'a> Sink<'r, 'a> {
    fn new(run: &'r Run<'a>, file: Arc<File>, start: u64) -> Self {
        Sink {
            run,
            file,
            at: start,
            start,
            buf: run.take_buffer(),
            writing: None,
            crc: crc64::Crc64::new(),
            parts: Vec::new(),
        }
    }

    /// Bytes taken so far.
    fn received(&self) -> u64 {
        self.at + self.buf.len() as u64 - self.start
    }

    /// Takes the body until its end (or its first error).
    async fn copy(&mut self, body: &mut BodyStream) -> Result<()> {
        while let Some(chunk) = body.chunk().await? {
            self.run
                .fetched
                .fetch_add(chunk.len() as u64, Ordering::Relaxed);
            self.take(&chunk).await.map_err(Error::Io)?;
        }
        Ok(())
    }

    async fn take(&mut self, mut data: &[u8]) -> std::io::Result<()> {
        while !data.is_empty() {
            // Up to the end of the current part, of the buffer, and of the data.
            let offset = self.at + self.buf.len() as u64;
            let part_size = self.run.part_size;
            let part_end = ((offset / part_size + 1) * part_size).min(self.run.size);
            if offset >= part_end {
                return Err(std::io::Error::other("the body runs past the object's end"));
            }
            let n = data
                .len()
                .min((part_end - offset) as usize)
                .min(SINK_BUFFER - self.buf.len());
            let (now, rest) = data.split_at(n);
            self.crc.update(now);
            self.buf.extend_from_slice(now);
            data = rest;
            if offset + n as u64 == part_end {
                self.end_part();
            }
            if self.buf.len() == SINK_BUFFER {
                self.flush().await?;
            }
        }
        Ok(())
    }

    fn end_part(&mut self) {
        let len = self.crc.len();
        let end = self.at + self.buf.len() as u64;
        // A part counts only when all of it passed through this sink.
        if (end - len).is_multiple_of(self.run.part_size) {
            let number = (end - len) / self.run.part_size + 1;
            self.parts.push((number as u32, self.crc.value(), len));
        }
        self.crc = crc64::Crc64::new();
    }

    /// Hands the full buffer to a blocking write, after the previous one finished.
    async fn flush(&mut self) -> std::io::Result<()> {
        let spare = match self.writing.take() {
            Some(w) => w.await.map_err(std::io::Error::other)??,
            None => self.run.take_buffer(),
        };
        let full = std::mem::replace(&mut self.buf, spare);
        self.buf.clear();
        let at = self.at;
        self.at += full.len() as u64;
        let file = self.file.clone();
        self.writing = Some(tokio::task::spawn_blocking(move || {
            write_all_at(&file, &full, at).map(|()| full)
        }));
        Ok(())
    }

    /// Writes what is left and returns the parts completed. A part cut short (the body
    /// ended early) is not among them; its bytes are written but not vouched for.
    async fn finish(mut self) -> std::io::Result<Vec<(u32, u64, u64)>> {
        if !self.buf.is_empty() {
            self.flush().await?;
        }
        if let Some(w) = self.writing.take() {
            let buf = w.await.map_err(std::io::Error::other)??;
            self.run.return_buffer(buf);
        }
        self.run.return_buffer(std::mem::take(&mut self.buf));
        Ok(std::mem::take(&mut self.parts))
    }
}

fn cancel_mode(options: &DownloadOptions) -> Option<CancelMode> {
    options.cancel.as_ref().and_then(CancelHandle::mode)
}

async fn acquire(options: &DownloadOptions, bytes: u64) -> Option<crate::upload::BudgetPermit> {
    match &options.budget {
        Some(b) => Some(b.acquire(bytes).await),
        None => None,
    }
}

/// Removes the temporary file and the checkpoint of a download that cannot be resumed.
fn forget(options: &DownloadOptions, temp: &Path) {
    let _ = std::fs::remove_file(temp);
    if let Some(path) = &options.checkpoint {
        let _ = std::fs::remove_file(path);
    }
}

async fn blocking(f: impl FnOnce() -> std::io::Result<()> + Send + 'static) -> Result<()> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Io(std::io::Error::other(e)))??;
    Ok(())
}

fn progress_of(
    done: u64,
    total: u64,
    parts_total: Option<u32>,
    parts_done: u32,
    event: ProgressEvent,
) -> Progress {
    Progress {
        fraction: if total == 0 {
            1.0
        } else {
            done as f64 / total as f64
        },
        bytes_acknowledged: done,
        bytes_sent: done,
        total_bytes: Some(total),
        parts_done,
        parts_total,
        event,
        checkpoint: None,
    }
}
