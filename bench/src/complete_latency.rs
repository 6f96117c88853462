//! CompleteMultipartUpload latency by part count and by object size. Complete is one metadata
//! transaction over stored per-part MD5s and CRCs, so it should grow gently with the part
//! count and not at all with the bytes behind each part.

use std::sync::Arc;
use std::time::Duration;

use anyhow::ensure;
use osspart_protocol::crc64;

use crate::client::{self, Connection, UploadTarget};
use crate::ingest::complete_timed;
use crate::payload::PartBodies;

/// Timed Completes of one shape.
#[derive(Debug, Clone)]
pub struct CompleteSample {
    /// Parts listed in each Complete.
    pub parts: u32,
    /// Size of each part, bytes.
    pub part_size: u64,
    /// One latency per run, in run order.
    pub latencies: Vec<Duration>,
    /// Time spent uploading the parts of the first run (not part of the latency).
    pub upload_time: Duration,
}

impl CompleteSample {
    /// The median latency (the lower middle one for an even run count).
    pub fn median(&self) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        sorted[(sorted.len() - 1) / 2]
    }
}

/// For each of `runs` runs: starts an upload of `parts` parts of `bodies` under a fresh key,
/// uploads them over `conns`, then times its Complete (checking the CRC-64 it reports).
pub async fn measure(
    conns: Vec<Connection>,
    bucket: &str,
    bodies: &PartBodies,
    parts: u32,
    runs: usize,
) -> anyhow::Result<(Vec<Connection>, CompleteSample)> {
    let mut conns = conns;
    let mut sample = CompleteSample {
        parts,
        part_size: bodies.size(),
        latencies: Vec::with_capacity(runs),
        upload_time: Duration::ZERO,
    };
    let shared = Arc::new(bodies.clone());
    for run in 0..runs {
        let key = format!("complete/{parts}x{}/run-{run}", bodies.size());
        let target = UploadTarget {
            bucket: bucket.into(),
            upload_id: client::initiate(&mut conns[0], bucket, &key).await?,
            key,
        };
        let body_of = {
            let b = shared.clone();
            Arc::new(move |n: u32| b.body(n))
        };
        let crc_of = {
            let b = shared.clone();
            Arc::new(move |n: u32| b.crc64(n))
        };
        let started = std::time::Instant::now();
        let (back, uploaded) = client::upload_parts(conns, &target, parts, body_of, crc_of).await?;
        if run == 0 {
            sample.upload_time = started.elapsed();
        }
        conns = back;

        let (completed, latency) = complete_timed(&mut conns[0], &target, &uploaded).await?;
        let expected = crc64::combine_all(uploaded.iter().map(|p| (p.crc64, bodies.size())));
        ensure!(
            completed.crc64 == expected,
            "Complete of {parts} parts: CRC-64 {} differs from the combined {expected}",
            completed.crc64
        );
        sample.latencies.push(latency);
    }
    Ok((conns, sample))
}
