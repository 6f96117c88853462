//! [`Client::upload`]: one entry point that sends a small source as a single PutObject
//! (checked by CRC-64 like every multipart part) and hands anything larger, of unknown size,
//! or with a checkpoint to resume, to [`Client::multipart_upload`].

use std::io::Read;

use bytes::Bytes;
use osspart_protocol::crc64;
use tokio::io::AsyncReadExt;

use super::progress::{Progress, ProgressEvent};
use super::run::{CheckpointSpec, UploadOptions, UploadOutput};
use super::source::Source;
use crate::client::Client;
use crate::error::{Error, Result};
use crate::ops::object::ObjectOptions;

/// Files up to this size are read on the calling task: a few KiB from the page cache cost
/// less than handing the read to a blocking thread and back (in a profile of 10,000 small
/// files those hand-offs were a fifth of the client's time).
const READ_IN_PLACE: u64 = 64 * 1024;

impl Client {
    /// Uploads `source` as object `name`: below `options.multipart_threshold` as one PutObject
    /// whose CRC-64 is compared with the local bytes, otherwise as a resumable
    /// [`Client::multipart_upload`]. Streams are read up to the threshold first to decide. A
    /// file whose checkpoint already exists always resumes its multipart upload.
    pub async fn upload(
        &self,
        name: &str,
        source: impl Into<Source>,
        mut options: UploadOptions,
    ) -> Result<UploadOutput> {
        let source = source.into();
        let threshold = options.multipart_threshold;
        let checkpointed =
            matches!(&options.checkpoint, Some(CheckpointSpec::File(p)) if p.exists());
        let source = match source {
            Source::Bytes(b) if (b.len() as u64) < threshold => {
                return self.put_whole(name, b, &options).await;
            }
            Source::File(path) if !checkpointed => {
                let size = std::fs::metadata(&path)?.len();
                if size >= threshold {
                    Source::File(path)
                } else {
                    guess_mime(&mut options.object, name, &path);
                    let _permit = match &options.budget {
                        Some(b) => Some(b.acquire(size).await),
                        None => None,
                    };
                    let data = if size <= READ_IN_PLACE {
                        std::fs::read(&path)?
                    } else {
                        tokio::task::spawn_blocking(move || std::fs::read(path))
                            .await
                            .map_err(|e| Error::Io(std::io::Error::other(e)))??
                    };
                    return self.put_whole(name, Bytes::from(data), &options).await;
                }
            }
            Source::Reader(mut r) => {
                let mut head = Vec::new();
                AsyncReadExt::take(&mut r, threshold)
                    .read_to_end(&mut head)
                    .await?;
                if (head.len() as u64) < threshold {
                    return self.put_whole(name, Bytes::from(head), &options).await;
                }
                Source::reader(AsyncReadExt::chain(std::io::Cursor::new(head), r))
            }
            Source::BlockingReader(r) => {
                let (r, head) = tokio::task::spawn_blocking(move || {
                    let mut head = Vec::new();
                    let mut r = r;
                    Read::take(&mut r, threshold)
                        .read_to_end(&mut head)
                        .map(|_| (r, head))
                })
                .await
                .map_err(|e| Error::Io(std::io::Error::other(e)))??;
                if (head.len() as u64) < threshold {
                    return self.put_whole(name, Bytes::from(head), &options).await;
                }
                Source::blocking_reader(Read::chain(std::io::Cursor::new(head), r))
            }
            other => other,
        };
        self.multipart_upload(name, source, options).await
    }

    /// One PutObject of `data`, retried while the service's CRC-64 disagrees with ours
    /// (`Content-MD5` only when asked for, as for parts: the CRC-64 already guards the data).
    async fn put_whole(
        &self,
        name: &str,
        data: Bytes,
        options: &UploadOptions,
    ) -> Result<UploadOutput> {
        if options.cancel.as_ref().and_then(|c| c.mode()).is_some() {
            return Err(Error::Cancelled);
        }
        let size = data.len() as u64;
        let crc = crc64::checksum(&data);
        let retrier = match options.part_retries {
            Some(n) => self.retrier().clone().with_max_retries(n),
            None => self.retrier().clone(),
        };
        let mut attempts = retrier.attempts();
        let out = loop {
            let out = self
                .put_object_checked(name, data.clone(), &options.object, options.content_md5)
                .await?;
            match out.crc64 {
                Some(theirs) if theirs != crc => {
                    let err = Error::Checksum {
                        what: format!("object {name}"),
                        expected: crc,
                        actual: theirs,
                    };
                    match attempts.next_delay(&err) {
                        Some(delay) => tokio::time::sleep(delay).await,
                        None => return Err(err),
                    }
                }
                _ => break out,
            }
        };
        let attempt = attempts.retries();
        if let Some(cb) = &options.progress {
            cb.call(Progress {
                fraction: 1.0,
                bytes_acknowledged: size,
                bytes_sent: size * (u64::from(attempt) + 1),
                total_bytes: Some(size),
                parts_done: 0,
                parts_total: None,
                event: ProgressEvent::Completed {
                    etag: out.etag.clone(),
                },
                checkpoint: None,
            })
            .await;
        }
        Ok(UploadOutput {
            bucket: self.bucket().to_owned(),
            name: name.to_owned(),
            etag: out.etag,
            crc64: crc,
            size,
            upload_id: None,
            response: Some(out.response),
            parts_sent: 0,
            parts_kept: 0,
            bytes_sent: size * (u64::from(attempt) + 1),
        })
    }
}

/// The MIME type comes from the key's extension, else from the source file's.
pub(crate) fn guess_mime(object: &mut ObjectOptions, name: &str, path: &std::path::Path) {
    if object.mime.is_none() && mime_guess::from_path(name).first_raw().is_none() {
        object.mime = mime_guess::from_path(path).first_raw().map(str::to_owned);
    }
}
