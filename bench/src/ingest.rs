//! UploadPart ingest throughput, and the single-core MD5 rate it is judged against: the server
//! MD5-hashes every byte it receives, so one core's MD5 speed is the natural ceiling for one
//! body, and an ingest rate near it means the rest of the path (HTTP, CRC-64, file writes,
//! fsync, metadata) costs little.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::ensure;
use bytes::Bytes;
use md5::{Digest, Md5};
use osspart_protocol::crc64;

use crate::client::{self, Connection, Endpoint, UploadTarget};
use crate::cpu::{CpuMark, CpuSplit};
use crate::payload::PartBodies;

/// The measured ingest run.
#[derive(Debug, Clone)]
pub struct IngestResult {
    /// Bytes uploaded.
    pub bytes: u64,
    /// Parts uploaded.
    pub parts: u32,
    /// Part size, bytes.
    pub part_size: u64,
    /// Requests in flight.
    pub inflight: usize,
    /// From the first UploadPart sent to the last answer received.
    pub elapsed: Duration,
    /// Latency of the CompleteMultipartUpload that followed.
    pub complete: Duration,
    /// CPU used while the parts were uploaded: the load generator's thread and the rest
    /// (the server), if `/proc` could be read.
    pub cpu: Option<CpuSplit>,
}

impl IngestResult {
    /// Throughput, MiB/s.
    pub fn mib_per_sec(&self) -> f64 {
        mib_per_sec(self.bytes, self.elapsed)
    }
}

/// `bytes` over `elapsed`, in MiB/s.
pub fn mib_per_sec(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / elapsed.as_secs_f64()
}

/// Uploads `parts` parts of `bodies` over `inflight` fresh connections, times it, then
/// completes the upload and checks the object's CRC-64 against the locally combined one.
pub async fn run(
    endpoint: &Arc<Endpoint>,
    bucket: &str,
    bodies: &PartBodies,
    parts: u32,
    inflight: usize,
) -> anyhow::Result<IngestResult> {
    // Every body exists before the clock starts, so only the transfer is timed.
    let prepared: Arc<Vec<Bytes>> = Arc::new((1..=parts).map(|n| bodies.body(n)).collect());
    let crcs: Arc<Vec<u64>> = Arc::new((1..=parts).map(|n| bodies.crc64(n)).collect());

    let mut conns = client::open_connections(endpoint, inflight).await?;
    let target = UploadTarget {
        bucket: bucket.into(),
        key: "ingest/object".into(),
        upload_id: client::initiate(&mut conns[0], bucket, "ingest/object").await?,
    };
    let body_of = {
        let prepared = prepared.clone();
        Arc::new(move |n: u32| prepared[n as usize - 1].clone())
    };
    let crc_of = {
        let crcs = crcs.clone();
        Arc::new(move |n: u32| crcs[n as usize - 1])
    };

    let cpu_mark = CpuMark::now();
    let started = Instant::now();
    let (mut conns, uploaded) =
        client::upload_parts(conns, &target, parts, body_of, crc_of).await?;
    let elapsed = started.elapsed();
    let cpu = cpu_mark.since();
    drop(prepared);

    let (completed, complete) = complete_timed(&mut conns[0], &target, &uploaded).await?;
    let expected = crc64::combine_all(crcs.iter().map(|&c| (c, bodies.size())));
    ensure!(
        completed.crc64 == expected,
        "object CRC-64 {} differs from the locally combined {expected}",
        completed.crc64
    );
    ensure!(
        completed.etag.ends_with(&format!("-{parts}\"")),
        "unexpected multipart ETag {}",
        completed.etag
    );
    Ok(IngestResult {
        bytes: bodies.size() * u64::from(parts),
        parts,
        part_size: bodies.size(),
        inflight,
        elapsed,
        complete,
        cpu,
    })
}

/// Sends a CompleteMultipartUpload for `parts` (request built before timing) and returns the
/// answer and the time from sending it to having read the whole response.
pub async fn complete_timed(
    conn: &mut Connection,
    target: &UploadTarget,
    parts: &[client::UploadedPart],
) -> anyhow::Result<(client::Completed, Duration)> {
    let request = client::complete_request(target, parts);
    let started = Instant::now();
    let response = conn.send(request).await?;
    let elapsed = started.elapsed();
    Ok((client::completed(response)?, elapsed))
}

/// The single-core MD5 baseline.
#[derive(Debug, Clone)]
pub struct Md5Result {
    /// Bytes hashed.
    pub bytes: u64,
    /// Time taken on one thread.
    pub elapsed: Duration,
}

impl Md5Result {
    /// Throughput, MiB/s.
    pub fn mib_per_sec(&self) -> f64 {
        mib_per_sec(self.bytes, self.elapsed)
    }
}

/// Hashes `total` bytes as repeated `chunk`s on the calling thread (one running digest, like
/// the server's per-body hasher).
pub fn md5_baseline(chunk: &[u8], total: u64) -> Md5Result {
    let rounds = (total / chunk.len() as u64).max(1);
    let mut hasher = Md5::new();
    let started = Instant::now();
    for _ in 0..rounds {
        hasher.update(chunk);
    }
    let digest = hasher.finalize();
    let elapsed = started.elapsed();
    // Keeps the work observable so it cannot be optimised away.
    std::hint::black_box(digest);
    Md5Result {
        bytes: rounds * chunk.len() as u64,
        elapsed,
    }
}
