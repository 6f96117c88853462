//! `small_put_bench`: PutObject of many small objects (a tree of files) against an in-process
//! `osspart serve`, C requests in flight over kept-alive HTTP/1.1 connections. Prints
//! objects/s, p50/p99 latency and the server's CPU time per object (from `/proc`: every thread
//! but the load generator's, which runs on the main thread).
//!
//! Usage: `cargo run --release -p osspart-bench --bin small_put_bench -- [--objects N]
//! [--size BYTES|NKiB|NMiB] [--inflight C[,C..]] [--dir PATH] [--parts]` (defaults 10000, 4096, 16, the system
//! temp dir). Each in-flight count gets a fresh server over a fresh data dir. Every answer
//! must be 200 with the right `x-oss-hash-crc64ecma`. `--parts` sends the same bodies as
//! UploadPart (parts 1..=N of one upload), to compare the two ingest paths.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use bytes::Bytes;
use osspart_bench::client::{self, Connection, Endpoint, OssRequest};
use osspart_bench::cpu::{self, CpuMark};
use osspart_bench::payload::PartBodies;
use osspart_bench::server::{self, BenchServer};
use osspart_protocol::crc64;

const BUCKET: &str = "small";
/// Key of the upload that `--parts` sends its bodies to.
const PART_KEY: &str = "parts/object";

struct Settings {
    objects: u32,
    size: usize,
    inflight: Vec<usize>,
    dir: PathBuf,
    /// Send the bodies as UploadPart (parts 1..=N of one upload) instead of PutObject.
    parts: bool,
}

/// Bytes, with an optional `KiB`/`K` or `MiB`/`M` suffix.
fn parse_size(text: &str) -> anyhow::Result<usize> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: usize = number.parse().with_context(|| format!("--size {text:?}"))?;
    let factor = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1024,
        "m" | "mib" => 1024 * 1024,
        _ => bail!("--size {text:?}: use B, KiB or MiB"),
    };
    Ok(n * factor)
}

fn settings() -> anyhow::Result<Settings> {
    let mut s = Settings {
        objects: 10_000,
        size: 4096,
        inflight: vec![16],
        dir: std::env::temp_dir(),
        parts: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--objects" => s.objects = value()?.parse().context("--objects")?,
            "--size" => s.size = parse_size(&value()?)?,
            "--inflight" => {
                s.inflight = value()?
                    .split(',')
                    .map(|c| c.trim().parse().context("--inflight"))
                    .collect::<anyhow::Result<_>>()?
            }
            "--dir" => s.dir = value()?.into(),
            "--parts" => s.parts = true,
            "--help" | "-h" => {
                println!(
                    "usage: small_put_bench [--objects N] [--size BYTES|NKiB|NMiB] [--inflight C[,C..]] [--dir PATH] [--parts]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown flag {other}"),
        }
    }
    ensure!(s.size >= 4, "--size must be at least 4");
    ensure!(s.objects > 0 && !s.inflight.is_empty() && !s.inflight.contains(&0));
    ensure!(
        !s.parts || s.objects <= 10_000,
        "--parts sends at most 10,000 parts"
    );
    Ok(s)
}

/// One measured run.
struct Run {
    inflight: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
    server_cpu: Option<Duration>,
    client_cpu: Option<Duration>,
}

/// Key of object `n`: a tree of 100 files per directory.
fn key_of(n: u32) -> String {
    format!("tree/d{:03}/f{n:05}.bin", n / 100)
}

async fn put_all(
    conns: Vec<Connection>,
    upload_id: Option<String>,
    count: u32,
    bodies: Arc<Vec<Bytes>>,
    crcs: Arc<Vec<u64>>,
) -> anyhow::Result<Vec<Duration>> {
    let next = Arc::new(AtomicU32::new(0));
    let mut tasks = Vec::new();
    for mut conn in conns {
        let (next, bodies, crcs) = (next.clone(), bodies.clone(), crcs.clone());
        let upload_id = upload_id.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    return anyhow::Ok(latencies);
                }
                let started = Instant::now();
                let (key, query) = match &upload_id {
                    None => (key_of(n), Vec::new()),
                    Some(id) => (
                        PART_KEY.to_owned(),
                        vec![
                            ("partNumber".to_owned(), (n + 1).to_string()),
                            ("uploadId".to_owned(), id.clone()),
                        ],
                    ),
                };
                let resp = conn
                    .send(OssRequest {
                        method: "PUT",
                        bucket: BUCKET.into(),
                        key: Some(key),
                        query,
                        body: bodies[n as usize].clone(),
                    })
                    .await?
                    .expect_ok(if upload_id.is_some() {
                        "UploadPart"
                    } else {
                        "PutObject"
                    })?;
                latencies.push(started.elapsed());
                let crc = resp
                    .header("x-oss-hash-crc64ecma")
                    .and_then(crc64::parse)
                    .with_context(|| format!("PUT {n}: no CRC-64"))?;
                ensure!(
                    crc == crcs[n as usize],
                    "PUT {n}: server CRC-64 {crc} differs from the local one"
                );
            }
        }));
    }
    let mut all = Vec::with_capacity(count as usize);
    for t in tasks {
        all.extend(t.await??);
    }
    Ok(all)
}

fn run_one(s: &Settings, inflight: usize) -> anyhow::Result<Run> {
    let template = PartBodies::new(s.size);
    let bodies: Arc<Vec<Bytes>> = Arc::new((0..s.objects).map(|n| template.body(n)).collect());
    let crcs: Arc<Vec<u64>> = Arc::new((0..s.objects).map(|n| template.crc64(n)).collect());

    let server = BenchServer::start(&s.dir)?;
    let endpoint = Arc::new(Endpoint {
        addr: server.addr(),
        credentials: server::credentials(),
        region: server::REGION.into(),
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let run = runtime.block_on(async {
        let mut conns = client::open_connections(&endpoint, inflight).await?;
        client::create_bucket(&mut conns[0], BUCKET).await?;
        let upload_id = match s.parts {
            true => Some(client::initiate(&mut conns[0], BUCKET, PART_KEY).await?),
            false => None,
        };
        let mark = CpuMark::now();
        let started = Instant::now();
        let latencies = put_all(conns, upload_id, s.objects, bodies, crcs).await?;
        let elapsed = started.elapsed();
        let split = mark.since();
        ensure!(
            latencies.len() == s.objects as usize,
            "some PUTs went missing"
        );
        anyhow::Ok(Run {
            inflight,
            elapsed,
            latencies,
            server_cpu: split.map(|c| c.others),
            client_cpu: split.map(|c| c.this_thread),
        })
    })?;
    drop(runtime);
    drop(server);
    Ok(run)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() -> anyhow::Result<()> {
    let s = settings()?;
    if cfg!(debug_assertions) {
        eprintln!("warning: a debug build; run with --release for meaningful numbers");
    }
    println!(
        "small_put_bench: {} objects of {} bytes, {} over kept-alive HTTP/1.1; load average {}",
        s.objects,
        s.size,
        if s.parts { "UploadPart" } else { "PutObject" },
        cpu::load_average().map_or("?".into(), |l| format!("{l:.2}"))
    );
    println!(
        "{:>8}  {:>10}  {:>9}  {:>9}  {:>9}  {:>16}  {:>16}  {:>16}",
        "inflight",
        "objects/s",
        "MiB/s",
        "p50 ms",
        "p99 ms",
        "server CPU-us/obj",
        "server CPU-s/GiB",
        "client CPU-us/obj"
    );
    let gib = f64::from(s.objects) * s.size as f64 / (1u64 << 30) as f64;
    for &c in &s.inflight {
        let mut run = run_one(&s, c)?;
        run.latencies.sort();
        let per_obj = |d: Option<Duration>| {
            d.map_or("?".into(), |d| {
                format!("{:.0}", d.as_secs_f64() * 1e6 / f64::from(s.objects))
            })
        };
        let per_gib = run
            .server_cpu
            .map_or("?".into(), |d| format!("{:.2}", d.as_secs_f64() / gib));
        println!(
            "{:>8}  {:>10.0}  {:>9.1}  {:>9.2}  {:>9.2}  {:>16}  {:>16}  {:>16}",
            run.inflight,
            f64::from(s.objects) / run.elapsed.as_secs_f64(),
            gib * 1024.0 / run.elapsed.as_secs_f64(),
            percentile(&run.latencies, 0.50).as_secs_f64() * 1e3,
            percentile(&run.latencies, 0.99).as_secs_f64() * 1e3,
            per_obj(run.server_cpu),
            per_gib,
            per_obj(run.client_cpu),
        );
    }
    Ok(())
}
