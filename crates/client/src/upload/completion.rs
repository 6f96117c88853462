//! The end of a run: CompleteMultipartUpload with the whole object's CRC-64 checked (a lost
//! reply recovered by HEAD), or, after an abort, the upload deleted and checked gone.

use osspart_protocol::ErrorCode;

use super::cancel::CancelMode;
use super::pipeline::{combined_crc, Shared};
use super::progress::ProgressEvent;
use crate::client::{Client, Response};
use crate::error::{Error, Result};
use crate::ops::multipart::PartEtag;

impl Client {
    /// Ends a run that stopped early: pause keeps everything; abort deletes the upload and
    /// checks it is gone.
    pub(super) async fn finish_cancelled(&self, shared: &Shared, err: Error) -> Error {
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
        shared.store.forget();
        Error::Cancelled
    }

    /// Completes the upload and checks the object's CRC-64. A lost reply is recovered by HEAD:
    /// the object counts as complete when its ETag has the multipart form and its CRC-64
    /// matches. Returns (etag, crc64, response).
    pub(super) async fn complete_checked(
        &self,
        shared: &Shared,
    ) -> Result<(String, u64, Option<Response>)> {
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
        let mut attempts = self.retrier().attempts();
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
                || (attempts.retries() > 0 && failure.has_code(ErrorCode::NoSuchUpload));
            if !reply_may_be_lost {
                return Err(failure);
            }
            if let Ok(Some(info)) = self.object_exists(&shared.key).await {
                if info.is_multipart_etag() && info.crc64 == Some(expected) {
                    return Ok((info.etag, expected, None));
                }
            }
            match attempts.next_delay(&failure) {
                Some(delay) => tokio::time::sleep(delay).await,
                None => return Err(failure),
            }
        }
    }
}
