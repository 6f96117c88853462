//! The part pipeline: parts cut by the plan go out at most `parallel` at once; file parts are
//! read while they are sent, stream parts from reusable buffers; each part's CRC-64 is
//! compared with the service's, and retries follow the transfer's one retrier.
//!
//! A file part gives up its place among the `parallel` as soon as its bytes have all gone
//! out, so the next part is on its way while the service stores the previous one (hashing,
//! syncing, committing: dead time for a connection that waits for the answer). At most
//! [`OPEN_PER_PLACE`] times `parallel` requests are open. A stream part keeps its place until
//! it is answered, because its buffer stays for a retry.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use osspart_protocol::crc64;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use super::budget::BudgetPermit;
use super::cancel::{CancelHandle, CancelMode};
use super::checkpoint::{Checkpoint, DonePart};
use super::checkpoint_store::CheckpointStore;
use super::plan::Plan;
use super::progress::{Progress, ProgressEvent};
use super::resume::Start;
use super::run::UploadOptions;
use super::source::Source;
use crate::client::{Client, FileBody};
use crate::error::{Error, Result};
use crate::ops::multipart::{part_output, PartInfo};

/// The bytes of one part.
pub(super) enum Payload {
    /// Read from a stream (or sliced from memory) into a buffer, with its CRC-64; a retry
    /// sends the same buffer.
    Buffer { data: Bytes, crc: u64 },
    /// A range of the file source, read while it is sent (each attempt reads it again).
    File { len: u64 },
}

/// Bytes read at a time when a file range is only checksummed.
const DIGEST_CHUNK: usize = 256 * 1024;

/// Requests that may be open per place among the parts being sent (see the module doc). On
/// loopback against `osspart serve`, 2 still held the next parts back now and then (an fsync
/// queued behind other bodies' writes makes an answer late): 3 gave 1.30-1.32x OpenDAL's
/// throughput in the same runs where 2 gave 1.19-1.23x.
const OPEN_PER_PLACE: usize = 3;

/// One part, ready to send.
struct Job {
    number: u32,
    offset: u64,
    payload: Payload,
    /// The part the service already holds under this number, when it must be compared with
    /// the local bytes before deciding to send.
    candidate: Option<PartInfo>,
    /// Its place among the parts being sent ([`Shared::places`]), taken in part order for
    /// the first attempt.
    place: Option<OwnedSemaphorePermit>,
    _open: OwnedSemaphorePermit,
    _budget: Option<BudgetPermit>,
}

/// State shared by the pipeline's tasks.
pub(super) struct Shared {
    /// The client, retrying with the transfer's retrier (one budget for every call).
    pub(super) client: Client,
    pub(super) key: String,
    pub(super) upload_id: String,
    pub(super) options: UploadOptions,
    pub(super) file: Option<Arc<std::fs::File>>,
    /// Shared with progress events: a record copies it only while an event still holds the
    /// previous state, so events cost no clone of the part list.
    pub(super) checkpoint: Mutex<Arc<Checkpoint>>,
    pub(super) store: CheckpointStore,
    pub(super) dirty: Notify,
    pub(super) free: Mutex<Vec<Vec<u8>>>,
    pub(super) sent: Arc<AtomicU64>,
    pub(super) acknowledged: AtomicU64,
    pub(super) parts_done: AtomicU32,
    pub(super) parts_sent: AtomicU32,
    pub(super) total: Option<u64>,
    pub(super) parts_total: Option<u32>,
    pub(super) report: tokio::sync::Mutex<f64>,
    /// Places among the parts being sent: `parallel` of them.
    pub(super) places: Arc<Semaphore>,
}

impl Shared {
    /// The checkpoint as it stands (shared, not copied).
    pub(super) fn snapshot(&self) -> Arc<Checkpoint> {
        self.checkpoint.lock().unwrap().clone()
    }

    /// Saves the checkpoint as it stands.
    pub(super) async fn save_checkpoint(&self) -> Result<()> {
        let cp = self.snapshot();
        self.store.save(&cp).await
    }

    pub(super) async fn emit(&self, event: ProgressEvent) {
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
            checkpoint: Some(self.snapshot()),
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
        Arc::make_mut(&mut self.checkpoint.lock().unwrap()).record(part);
        self.dirty.notify_one();
    }

    /// CRC-64 and MD5 of `len` bytes at `offset` of the file source, read in cache-sized
    /// pieces (to compare with a part the service holds, or for a Content-MD5 header).
    /// The MD5 is computed only when `with_md5`.
    async fn digest_range(
        &self,
        offset: u64,
        len: u64,
        with_md5: bool,
    ) -> Result<(u64, Option<[u8; 16]>)> {
        let file = self
            .file
            .clone()
            .ok_or_else(|| Error::InvalidArgument("positioned reads need a file source".into()))?;
        tokio::task::spawn_blocking(move || {
            use md5::Digest;
            let mut crc = crc64::Crc64::new();
            let mut md5 = with_md5.then(md5::Md5::new);
            let mut buf = vec![0u8; DIGEST_CHUNK];
            let mut done = 0;
            while done < len {
                let n = (len - done).min(DIGEST_CHUNK as u64) as usize;
                let piece = &mut buf[..n];
                crate::fileio::read_exact_at(&file, piece, offset + done)?;
                crc.update(piece);
                if let Some(md5) = &mut md5 {
                    md5.update(&*piece);
                }
                done += n as u64;
            }
            Ok((crc.value(), md5.map(|m| m.finalize().into())))
        })
        .await
        .map_err(|e| Error::Io(std::io::Error::other(e)))?
    }

    pub(super) fn cancelled(&self) -> Option<CancelMode> {
        self.options.cancel.as_ref().and_then(CancelHandle::mode)
    }
}

/// Reads parts in order into free buffers and runs at most `parallel` sends at once (and at
/// most [`OPEN_PER_PLACE`] times as many open requests).
pub(super) async fn send_parts(
    shared: &Arc<Shared>,
    mut source: Source,
    plan: &Plan,
    start: &Start,
) -> Result<()> {
    let open = Arc::new(Semaphore::new(shared.options.parallel * OPEN_PER_PLACE));
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
            let both = async {
                let open = open.clone().acquire_owned().await;
                let place = shared.places.clone().acquire_owned().await;
                (open, place)
            };
            let (open, place) = tokio::select! {
                (o, p) = both => (
                    o.expect("semaphore is never closed"),
                    p.expect("semaphore is never closed"),
                ),
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
                    place: Some(place),
                    _open: open,
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
pub(super) fn combined_crc<'a>(parts: impl IntoIterator<Item = &'a DonePart>) -> u64 {
    crc64::combine_all(parts.into_iter().map(|p| (p.crc64.unwrap_or(0), p.size)))
}

/// Whether the service's copy of a part holds these bytes: by CRC-64 when the service reports
/// one, else by the part ETag, which is the MD5 of the part.
fn stored_part_matches(stored: &PartInfo, crc: u64, data: &[u8]) -> bool {
    stored_part_matches_with(stored, crc, || {
        use md5::Digest;
        md5::Md5::digest(data).into()
    })
}

/// [`stored_part_matches`] with the part's MD5 asked for only when it is needed.
fn stored_part_matches_with(stored: &PartInfo, crc: u64, md5: impl FnOnce() -> [u8; 16]) -> bool {
    match stored.crc64 {
        Some(stored_crc) => stored_crc == crc,
        None => osspart_protocol::etag::same(&stored.etag, &hex::encode(md5())),
    }
}

/// Reads the part at `offset` of a stream or in-memory source (up to `len` bytes; less at
/// the end of a stream), into a free buffer.
async fn read_part(shared: &Shared, source: &mut Source, offset: u64, len: u64) -> Result<Bytes> {
    if let Source::Bytes(b) = source {
        let start = offset as usize;
        return Ok(b.slice(start..start + len as usize));
    }
    let buf = shared.take_buffer(len as usize);
    source.read_part(buf).await
}

/// Sends one part with its retry budget, or adopts the service's copy when it matches.
async fn send_part(shared: Arc<Shared>, mut job: Job) -> Result<()> {
    let (size, mut known_crc) = match &job.payload {
        Payload::Buffer { data, crc } => (data.len() as u64, Some(*crc)),
        Payload::File { len } => (*len, None),
    };
    if let Some(c) = job.candidate.as_ref().filter(|c| c.size == size) {
        let (crc, matches) = match &job.payload {
            Payload::Buffer { data, crc } => (*crc, stored_part_matches(c, *crc, data)),
            Payload::File { len } => {
                // The MD5 only when the service reports no CRC-64 to compare with.
                let with_md5 = c.crc64.is_none();
                let (crc, md5) = shared.digest_range(job.offset, *len, with_md5).await?;
                let matches = stored_part_matches_with(c, crc, || md5.unwrap_or_default());
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
        Payload::Buffer { data, .. } => client.upload_part_request(
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
            let mut req = client.upload_part_request(
                &shared.key,
                &shared.upload_id,
                job.number,
                Bytes::new(),
                false,
            );
            if shared.options.content_md5 {
                // The header goes before the body: one extra read of the part.
                use base64::Engine;
                let (crc, md5) = shared.digest_range(job.offset, *len, true).await?;
                let md5 = md5.unwrap_or_default();
                known_crc = Some(crc);
                let md5 = base64::engine::general_purpose::STANDARD.encode(md5);
                req = req.header("Content-MD5", md5);
            }
            req.file_body(FileBody::new(file, job.offset, *len))
        }
    };
    req.sent = Some(shared.sent.clone());
    let retrier = match shared.options.part_retries {
        Some(n) => client.retrier().clone().with_max_retries(n),
        None => client.retrier().clone(),
    };
    let mut attempts = retrier.attempts();
    loop {
        let attempt_req = req.clone();
        if let Some(body) = &attempt_req.file_body {
            let place = match job.place.take() {
                Some(p) => p,
                None => (shared.places.clone().acquire_owned().await)
                    .expect("semaphore is never closed"),
            };
            body.hold_while_sending(place);
        }
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
        if let Some(body) = &req.file_body {
            body.stop_holding();
        }
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
            Err(e) => {
                let delay = match shared.cancelled() {
                    None => attempts.next_delay(&e),
                    Some(_) => None,
                };
                let Some(delay) = delay else {
                    return Err(e);
                };
                shared
                    .emit(ProgressEvent::Retrying {
                        number: job.number,
                        attempt: attempts.retries(),
                        error: e.to_string(),
                    })
                    .await;
                tokio::time::sleep(delay).await;
            }
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
