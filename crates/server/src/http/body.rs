//! Reading request bodies: streamed into a blob (objects, parts) or collected (XML), with the
//! length, Content-MD5 and payload-hash checks that decide whether anything is recorded.

use std::collections::VecDeque;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use md5::{Digest, Md5};
use osspart_protocol::operation::Payload;
use osspart_protocol::ErrorCode;
use sha2::Sha256;

use super::error::ApiError;
use crate::store::{
    BlobWriter, BodyHashes, FinishedBlob, Md5Chain, Store, StoreError, WrittenBlock,
};

tokio::task_local! {
    /// How long a body may stall between two chunks before the request fails; set for each
    /// request from the server's limits.
    pub static BODY_STALL_TIMEOUT: Duration;
}

/// The stall timeout outside a request scope (unit tests, tools).
const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// What the headers promise about a body.
#[derive(Debug, Clone, Default)]
pub struct BodyChecks {
    /// Declared `Content-Length`, absent for chunked bodies.
    pub content_length: Option<u64>,
    /// Decoded `Content-MD5`.
    pub content_md5: Option<[u8; 16]>,
    /// Hex SHA-256 from `x-oss-content-sha256`, unless `UNSIGNED-PAYLOAD`.
    pub content_sha256: Option<[u8; 32]>,
}

impl BodyChecks {
    /// The promises of the operation's payload, read with the operation; a malformed one
    /// (Content-MD5 is `InvalidDigest`) is refused here, as the body is about to be read.
    pub fn from_payload(payload: &Payload) -> Result<Self, ApiError> {
        if let Some(e) = &payload.malformed {
            return Err(e.clone().into());
        }
        Ok(BodyChecks {
            content_length: payload.content_length,
            content_md5: payload.content_md5,
            content_sha256: payload.content_sha256,
        })
    }

    /// Rejects a declared length above `max` before anything is read.
    pub fn check_declared(&self, max: u64) -> Result<(), ApiError> {
        match self.content_length {
            Some(n) if n > max => Err(too_large(n, max)),
            _ => Ok(()),
        }
    }

    /// Compares the promises with what was received; `md5` is needed only when Content-MD5
    /// was sent, `sha256` only when a payload hash was.
    fn verify(&self, md5: Option<[u8; 16]>, sha256: Option<[u8; 32]>) -> Result<(), ApiError> {
        if let (Some(want), Some(md5)) = (self.content_md5, md5) {
            if want != md5 {
                return Err(ApiError::new(ErrorCode::InvalidDigest)
                    .with_message("The Content-MD5 you specified did not match what was received.")
                    .with("Content-MD5", STANDARD.encode(want))
                    .with("CalculatedMD5", STANDARD.encode(md5)));
            }
        }
        if let (Some(want), Some(got)) = (self.content_sha256, sha256) {
            if want != got {
                return Err(ApiError::new(ErrorCode::InvalidDigest).with_message(
                    "The x-oss-content-sha256 you specified did not match what was received.",
                ));
            }
        }
        Ok(())
    }
}

fn too_large(n: u64, max: u64) -> ApiError {
    ApiError::new(ErrorCode::EntityTooLarge)
        .with("MaxSizeAllowed", max.to_string())
        .with("ProposedSize", n.to_string())
}

async fn next_chunk(body: &mut Incoming) -> Result<Option<Bytes>, ApiError> {
    loop {
        let stall = BODY_STALL_TIMEOUT
            .try_with(|d| *d)
            .unwrap_or(DEFAULT_STALL_TIMEOUT);
        let frame = tokio::time::timeout(stall, body.frame())
            .await
            .map_err(|_| ApiError::new(ErrorCode::RequestTimeout))?;
        match frame {
            None => return Ok(None),
            Some(Err(e)) => {
                return Err(ApiError::new(ErrorCode::IncompleteBody)
                    .with_message(format!("The request body could not be read whole: {e}.")));
            }
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    return Ok(Some(data));
                }
            }
        }
    }
}

/// Streams a body into a new blob, checking its length against `max` and the headers'
/// promises. On any failure the partial blob is discarded and nothing is recorded.
pub async fn ingest(
    store: &Store,
    body: &mut Incoming,
    checks: &BodyChecks,
    max: u64,
) -> Result<FinishedBlob, ApiError> {
    ingest_chained(store, body, checks, max, None).await
}

/// [`ingest`] for a part of a sequential upload: the body also continues `chain`, the MD5 of
/// the parts before it.
pub async fn ingest_chained(
    store: &Store,
    body: &mut Incoming,
    checks: &BodyChecks,
    max: u64,
    chain: Option<Md5Chain>,
) -> Result<FinishedBlob, ApiError> {
    checks.check_declared(max)?;
    let mut writer = store.blob_writer_for(checks.content_length)?;
    if let Some(chain) = chain {
        writer.continue_chain(chain);
    }
    let mut sha = checks.content_sha256.map(|_| Sha256::new());
    // Full blocks go to blocking threads that hash them, hand the digests back (the next
    // block is hashed only then, so the bytes are hashed in order) and write them. Up to
    // WRITES_IN_FLIGHT blocks per body may still be being written.
    let mut hashing: Option<tokio::sync::oneshot::Receiver<BodyHashes>> = None;
    let mut writes: VecDeque<tokio::task::JoinHandle<Result<WrittenBlock, StoreError>>> =
        VecDeque::new();
    while let Some(chunk) = next_chunk(body).await? {
        if writer.len() + chunk.len() as u64 > max {
            return Err(too_large(writer.len() + chunk.len() as u64, max));
        }
        if let Some(h) = sha.as_mut() {
            h.update(&chunk);
        }
        let mut rest: &[u8] = &chunk;
        while !rest.is_empty() {
            let n = writer.buffer(rest)?;
            rest = rest.get(n..).unwrap_or_default();
            if writer.has_full_block() {
                take_hashes_back(&mut writer, &mut hashing, &mut writes).await?;
                while writes.len() >= WRITES_IN_FLIGHT {
                    if let Some(done) = writes.pop_front() {
                        writer.block_written(join_block(done).await?)?;
                    }
                }
                if let Some(job) = writer.take_full_block()? {
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    writes.push_back(tokio::task::spawn_blocking(move || {
                        job.run(|h| {
                            let _ = tx.send(h);
                        })
                    }));
                    hashing = Some(rx);
                }
            }
        }
    }
    take_hashes_back(&mut writer, &mut hashing, &mut writes).await?;
    while let Some(done) = writes.pop_front() {
        writer.block_written(join_block(done).await?)?;
    }
    if let Some(n) = checks.content_length {
        if writer.len() != n {
            return Err(ApiError::new(ErrorCode::IncompleteBody));
        }
    }
    let blob = if writer.is_inline() {
        // Kept in memory for the database: finishing does no I/O.
        writer.finish()?
    } else {
        tokio::task::spawn_blocking(move || writer.finish())
            .await
            .map_err(|_| ApiError::new(ErrorCode::InternalError))??
    };
    checks.verify(Some(blob.md5), sha.map(|h| h.finalize().into()))?;
    Ok(blob)
}

/// Blocks of one body that may be being written at once (beside the one being hashed).
const WRITES_IN_FLIGHT: usize = 2;

/// Waits until the block being hashed hands the body's digests back. Should its task have
/// failed first, the failure comes from its write's result.
async fn take_hashes_back(
    writer: &mut BlobWriter,
    hashing: &mut Option<tokio::sync::oneshot::Receiver<BodyHashes>>,
    writes: &mut VecDeque<tokio::task::JoinHandle<Result<WrittenBlock, StoreError>>>,
) -> Result<(), ApiError> {
    let Some(rx) = hashing.take() else {
        return Ok(());
    };
    match rx.await {
        Ok(hashes) => {
            writer.hashes_back(hashes);
            Ok(())
        }
        Err(_) => {
            while let Some(done) = writes.pop_front() {
                join_block(done).await?;
            }
            Err(ApiError::new(ErrorCode::InternalError))
        }
    }
}

/// Waits for a block write on the blocking pool.
async fn join_block(
    handle: tokio::task::JoinHandle<Result<WrittenBlock, StoreError>>,
) -> Result<WrittenBlock, ApiError> {
    let done = handle
        .await
        .map_err(|_| ApiError::new(ErrorCode::InternalError))??;
    Ok(done)
}

/// Collects a small body (XML) of at most `max` bytes, checking the headers' promises.
pub async fn collect(
    body: &mut Incoming,
    checks: &BodyChecks,
    max: usize,
) -> Result<Bytes, ApiError> {
    let malformed = || {
        ApiError::new(ErrorCode::MalformedXML)
            .with_message(format!("The XML body exceeds {max} bytes."))
    };
    if checks.content_length.is_some_and(|n| n > max as u64) {
        return Err(malformed());
    }
    let mut buf = BytesMut::new();
    while let Some(chunk) = next_chunk(body).await? {
        if buf.len() + chunk.len() > max {
            return Err(malformed());
        }
        buf.extend_from_slice(&chunk);
    }
    let md5 = checks.content_md5.map(|_| Md5::digest(&buf).into());
    let sha = checks.content_sha256.map(|_| Sha256::digest(&buf).into());
    checks.verify(md5, sha)?;
    Ok(buf.freeze())
}

/// Reads and drops what is left of a body (bounded), so a kept-alive connection stays usable
/// after an early error.
pub async fn drain(body: &mut Incoming, limit: u64) {
    let mut seen = 0u64;
    while seen < limit {
        match tokio::time::timeout(Duration::from_secs(5), body.frame()).await {
            Ok(Some(Ok(frame))) => {
                if let Some(d) = frame.data_ref() {
                    seen += d.len() as u64;
                }
            }
            _ => return,
        }
    }
}
