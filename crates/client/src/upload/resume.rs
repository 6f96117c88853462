//! Which upload a run continues: the checkpoint's or a given upload id when it still exists
//! (its parts reconciled with the service's), an upload an interrupted run initiated, or a
//! new one.

use std::collections::BTreeMap;

use osspart_protocol::{time_fmt, ErrorCode};
use time::OffsetDateTime;

use super::checkpoint::{Checkpoint, CheckpointLock, DonePart, SourceIdentity};
use super::checkpoint_store::CheckpointStore;
use super::pipeline::combined_crc;
use super::plan::Plan;
use super::run::UploadOptions;
use crate::client::Client;
use crate::error::{Error, Result};
use crate::ops::multipart::{ListUploadsQuery, PartInfo, UploadInfo};

/// Which upload this run continues, and what of it is already done.
pub(super) struct Start {
    pub(super) upload_id: String,
    pub(super) done: BTreeMap<u32, DonePart>,
    /// Parts the service holds that must be compared with local bytes before being kept.
    pub(super) candidates: BTreeMap<u32, PartInfo>,
    pub(super) resumed: bool,
    /// The object's ETag when an earlier run's Complete already made the object (its reply
    /// was lost): nothing is left to send or complete.
    pub(super) finished: Option<(String, u64)>,
}

impl Client {
    /// Picks the upload to continue (checkpoint or given id, when they still exist) or starts
    /// a new one.
    pub(super) async fn choose_start(
        &self,
        name: &str,
        identity: &SourceIdentity,
        plan: &mut Plan,
        options: &UploadOptions,
        store: &CheckpointStore,
        warnings: &mut Vec<String>,
    ) -> Result<Start> {
        // Streams cannot be read twice, so nothing of an earlier run of one can be kept.
        let saved = store.load()?.filter(|_| identity.size.is_some());
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
        store.save(&marker).await?;
        let mut attempts = self.retrier().attempts();
        let upload_id = loop {
            match self.initiate(name, &options.object, false).await {
                Ok(id) => break id,
                Err(e) => {
                    // A refusal (no bucket, no access, bad argument) created nothing to follow.
                    if !e.is_retryable() {
                        store.forget();
                        return Err(e);
                    }
                    let Some(delay) = attempts.next_delay(&e) else {
                        return Err(e);
                    };
                    tokio::time::sleep(delay).await;
                    // The failed attempt may have created an upload whose answer was lost:
                    // continue that one instead of leaving it orphaned.
                    if let Some(id) = self.lost_upload(name, since).await? {
                        break id;
                    }
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

    /// The upload a run killed between InitiateMultipartUpload and its first checkpoint save
    /// left behind: the newest upload of `name` initiated since `since` (Unix seconds, less
    /// the 15 minutes of clock difference OSS tolerates) that has no parts yet. Such a run
    /// never sent a part, so an upload with parts is someone else's.
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
