//! Benchmarks for osspart (not tests): how fast an in-process `osspart serve` ingests
//! UploadPart bodies over loopback compared with one core's MD5 rate, and how long
//! CompleteMultipartUpload takes by part count and by object size.
//!
//! The `server_bench` binary only reads its settings and prints the [`report::Report`] that
//! [`run`] produces. `client_bench` and `tree_bench` run the real `osspart` binary as a server
//! child ([`server_process`]) and every uploader as a measured child ([`child`]); `tree_bench`
//! uploads generated directory trees ([`tree`], [`tree_uploaders`], [`tree_report`]);
//! `download_bench` downloads one big object ([`download`], [`download_report`], with the data
//! file helpers in [`data_file`]).
#![warn(missing_docs)]
// Only `child::wait_with_usage` (wait4 for a child's own rusage) and
// `data_file::dont_need` (posix_fadvise) opt out.
#![deny(unsafe_code)]

pub mod child;
pub mod client;
pub mod complete_latency;
pub mod config;
pub mod cpu;
pub mod data_file;
pub mod disk;
pub mod download;
pub mod download_report;
pub mod ingest;
pub mod payload;
pub mod report;
pub mod server;
pub mod server_process;
pub mod tree;
pub mod tree_config;
pub mod tree_report;
pub mod tree_uploaders;

use std::sync::Arc;

use client::Endpoint;
use config::{BenchConfig, SMALL_PART};
use payload::PartBodies;
use report::{Machine, Report};
use server::BenchServer;

/// Bucket every measurement uses.
const BUCKET: &str = "bench";

/// Runs every measurement `config` asks for, printing progress to stderr.
pub fn run(config: &BenchConfig) -> anyhow::Result<Report> {
    let machine = Machine::detect(&config.data_parent);
    let ingest_bodies = PartBodies::new(config.ingest_part as usize);

    eprintln!(
        "MD5 baseline: hashing {} bytes on one thread",
        config.md5_bytes
    );
    let md5 = ingest::md5_baseline(ingest_bodies.template(), config.md5_bytes);

    eprintln!(
        "disk: {} durable {}-byte files from {} writers",
        config.ingest_parts(),
        config.ingest_part,
        config.ingest_inflight
    );
    let disk = {
        std::fs::create_dir_all(&config.data_parent)?;
        let scratch = tempfile::Builder::new()
            .prefix("osspart-bench-disk-")
            .tempdir_in(&config.data_parent)?;
        let rate = disk::durable_write_rate(
            scratch.path(),
            ingest_bodies.template(),
            u64::from(config.ingest_parts()),
            config.ingest_inflight,
        )?;
        scratch.close()?;
        rate
    };

    let server = BenchServer::start(&config.data_parent)?;
    eprintln!(
        "server on {} over {}",
        server.addr(),
        server.data_dir().display()
    );
    let endpoint = Arc::new(Endpoint {
        addr: server.addr(),
        credentials: server::credentials(),
        region: server::REGION.into(),
    });
    // The load generator runs on this one thread, leaving the other cores to the server.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (ingest, completes, big_parts) = runtime.block_on(async {
        let mut conns = client::open_connections(&endpoint, 1).await?;
        client::create_bucket(&mut conns[0], BUCKET).await?;
        drop(conns);

        eprintln!(
            "ingest: {} parts of {} bytes, {} in flight",
            config.ingest_parts(),
            config.ingest_part,
            config.ingest_inflight
        );
        let ingest = ingest::run(
            &endpoint,
            BUCKET,
            &ingest_bodies,
            config.ingest_parts(),
            config.ingest_inflight,
        )
        .await?;
        drop(ingest_bodies);

        let mut conns = client::open_connections(&endpoint, config.complete_inflight).await?;
        let small = PartBodies::new(SMALL_PART as usize);
        let mut completes = Vec::new();
        for &count in &config.complete_counts {
            let runs = config.runs_for(count);
            eprintln!("complete: {count} parts of {SMALL_PART} bytes, {runs} run(s)");
            let (back, sample) =
                complete_latency::measure(conns, BUCKET, &small, count, runs).await?;
            conns = back;
            completes.push(sample);
        }
        let big_parts = match (config.big_part, completes.first()) {
            (0, _) | (_, None) => None,
            (part, Some(first)) => {
                let (count, runs) = (first.parts, first.latencies.len());
                eprintln!("complete: {count} parts of {part} bytes, {runs} run(s)");
                let big = PartBodies::new(part as usize);
                let (_, sample) =
                    complete_latency::measure(conns, BUCKET, &big, count, runs).await?;
                Some(sample)
            }
        };
        anyhow::Ok((ingest, completes, big_parts))
    })?;
    drop(runtime);
    drop(server);

    Ok(Report {
        date: time::OffsetDateTime::now_utc().date().to_string(),
        machine,
        md5,
        disk,
        ingest,
        completes,
        big_parts,
    })
}
