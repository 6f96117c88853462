//! Load test: 32 concurrent uploads of mixed sizes (4 parts in flight each) against
//! one server, while ListObjects, ListMultipartUploads, HeadObject and GetObject loops run
//! beside them. No request may fail (the clients never retry, so nothing is hidden), no
//! listing may show an object of the wrong size (nothing half-visible), and every object must
//! read back with its source's bytes and CRC-64. Throughput and p99 latencies are printed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use osspart::{
    Client, ListObjectsQuery, ListUploadsQuery, ObjectOptions, ProgressCallback, ProgressEvent,
    RetryPolicy, UploadOptions,
};
use osspart_protocol::crc64;
use osspart_testkit::{object_bytes, LocalServer, SeededSizes};

use crate::rig::{env_u64, mib_per_s, Latencies};

const BUCKET: &str = "load";
const UPLOADS: usize = 32;
const PARALLEL: usize = 4;
const FIXTURES: usize = 6;

/// An object whose content the loops may check: key, size, CRC-64.
type Known = (String, u64, u64);

/// Everything the loops share.
#[derive(Default)]
struct Board {
    /// Objects that exist for sure (fixtures and acknowledged uploads).
    known: Mutex<Vec<Known>>,
    /// The size each upload key will have, for checking listings.
    planned: Mutex<HashMap<String, u64>>,
    /// Failed requests and broken invariants, with what happened.
    errors: Mutex<Vec<String>>,
    latencies: Mutex<HashMap<&'static str, Latencies>>,
    got_bytes: AtomicU64,
    done: AtomicBool,
}

impl Board {
    fn fail(&self, what: String) {
        self.errors.lock().unwrap().push(what);
    }

    fn record(&self, op: &'static str, took: Duration) {
        self.latencies
            .lock()
            .unwrap()
            .entry(op)
            .or_default()
            .0
            .push(took);
    }

    fn pick(&self, n: usize) -> Option<Known> {
        let known = self.known.lock().unwrap();
        (!known.is_empty()).then(|| known[n % known.len()].clone())
    }
}

/// Times one request of `op`; a failure is recorded and yields `None`.
async fn timed<T>(
    board: &Board,
    op: &'static str,
    call: impl std::future::Future<Output = osspart::Result<T>>,
) -> Option<T> {
    let t = Instant::now();
    match call.await {
        Ok(v) => {
            board.record(op, t.elapsed());
            Some(v)
        }
        Err(e) => {
            board.fail(format!("{op}: {e}"));
            None
        }
    }
}

async fn list_objects_loop(client: Client, board: Arc<Board>) {
    while !board.done.load(Ordering::SeqCst) {
        let mut q = ListObjectsQuery::default()
            .with_prefix("load/")
            .with_max_keys(25);
        loop {
            let Some(page) = timed(&board, "ListObjects", client.list_objects(&q)).await else {
                break;
            };
            let planned = board.planned.lock().unwrap().clone();
            for o in &page.objects {
                if planned.get(&o.key) != Some(&o.size) {
                    board.fail(format!("listed {} with {} bytes", o.key, o.size));
                }
            }
            match (page.is_truncated, page.next_marker) {
                (true, Some(m)) => q.marker = Some(m),
                _ => break,
            }
        }
    }
}

async fn list_uploads_loop(client: Client, board: Arc<Board>) {
    while !board.done.load(Ordering::SeqCst) {
        let mut q = ListUploadsQuery::default().with_max_uploads(25);
        loop {
            let Some(page) = timed(&board, "ListMultipartUploads", client.list_uploads(&q)).await
            else {
                break;
            };
            for u in &page.uploads {
                if !board.planned.lock().unwrap().contains_key(&u.key) {
                    board.fail(format!("unexpected upload of {}", u.key));
                }
            }
            if !page.is_truncated {
                break;
            }
            q.key_marker = Some(page.next_key_marker);
            q.upload_id_marker = Some(page.next_upload_id_marker);
        }
    }
}

async fn head_loop(client: Client, board: Arc<Board>) {
    let mut n = 0;
    while !board.done.load(Ordering::SeqCst) {
        n += 7;
        let Some((key, size, crc)) = board.pick(n) else {
            continue;
        };
        if let Some(info) = timed(&board, "HeadObject", client.head_object(&key)).await {
            if info.size != size || info.crc64 != Some(crc) {
                board.fail(format!(
                    "HEAD {key}: {} bytes, crc {:?}",
                    info.size, info.crc64
                ));
            }
        }
    }
}

async fn get_loop(client: Client, board: Arc<Board>) {
    let mut n = 0;
    while !board.done.load(Ordering::SeqCst) {
        n += 5;
        let Some((key, size, crc)) = board.pick(n) else {
            continue;
        };
        if let Some((_, body)) = timed(&board, "GetObject", client.get_object(&key, None)).await {
            board
                .got_bytes
                .fetch_add(body.len() as u64, Ordering::Relaxed);
            if body.len() as u64 != size || crc64::checksum(&body) != crc {
                board.fail(format!("GET {key}: {} bytes, wrong content", body.len()));
            }
        }
    }
}

/// Per-part latencies of one upload, estimated from its progress events: parts start in
/// order, the first `parallel` at once and each later one when an earlier part's completion
/// frees its slot; a part's latency runs from its start to its PartDone.
fn part_latencies(events: &[(Instant, ProgressEvent)], parallel: usize) -> Vec<Duration> {
    let Some(t0) = events
        .iter()
        .find(|(_, e)| matches!(e, ProgressEvent::Initiated { .. }))
        .map(|(t, _)| *t)
    else {
        return Vec::new();
    };
    let done: Vec<(Instant, u32)> = events
        .iter()
        .filter_map(|(t, e)| match e {
            ProgressEvent::PartDone { number, .. } => Some((*t, *number)),
            _ => None,
        })
        .collect();
    done.iter()
        .map(|(t, number)| {
            let k = *number as usize;
            let start = if k <= parallel {
                t0
            } else {
                done.get(k - parallel - 1).map_or(t0, |(s, _)| *s)
            };
            t.saturating_duration_since(start)
        })
        .collect()
}

struct Planned {
    key: String,
    seed: u64,
    size: u64,
    part_size: u64,
}

async fn upload_one(client: Client, board: Arc<Board>, p: Planned) -> u64 {
    let data = Bytes::from(object_bytes(p.seed, p.size as usize));
    let events: Arc<Mutex<Vec<(Instant, ProgressEvent)>>> = Arc::default();
    let sink = events.clone();
    let options = UploadOptions::default()
        .with_part_size(p.part_size)
        .with_parallel(PARALLEL)
        .with_part_retries(0)
        .with_progress(ProgressCallback::new(move |pr| {
            sink.lock()
                .unwrap()
                .push((Instant::now(), pr.event.clone()))
        }));
    match client.multipart_upload(&p.key, data.clone(), options).await {
        Ok(out) => {
            if out.crc64 != crc64::checksum(&data) || out.size != p.size {
                board.fail(format!("upload {}: crc or size differs", p.key));
            }
            board
                .known
                .lock()
                .unwrap()
                .push((p.key.clone(), p.size, out.crc64));
        }
        Err(e) => board.fail(format!("upload {}: {e}", p.key)),
    }
    let lat = part_latencies(&events.lock().unwrap(), PARALLEL);
    board
        .latencies
        .lock()
        .unwrap()
        .entry("UploadPart")
        .or_default()
        .0
        .extend(lat);
    p.size
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_uploads_listings_heads_and_gets() {
    let rounds = env_u64("OSSPART_LOAD_ROUNDS", 1);
    let seed = env_u64("OSSPART_STRESS_SEED", 0x5EED_0005) ^ 0x10AD;
    let server = LocalServer::start().await.unwrap();
    let mut config = server.config(BUCKET);
    config.retry = RetryPolicy::none();
    let client = osspart_testkit::local_server::client_with_bucket(config)
        .await
        .unwrap();
    let board = Arc::new(Board::default());
    let mut g = SeededSizes::new(seed);

    for i in 0..FIXTURES {
        let key = format!("fixture/{i}");
        let data = Bytes::from(object_bytes(
            g.seed(),
            g.log_between(1024, 2 << 20) as usize,
        ));
        let out = client
            .put_object(&key, data.clone(), &ObjectOptions::default())
            .await
            .unwrap();
        assert_eq!(out.crc64, Some(crc64::checksum(&data)));
        board
            .known
            .lock()
            .unwrap()
            .push((key, data.len() as u64, crc64::checksum(&data)));
    }

    let loops = vec![
        tokio::spawn(list_objects_loop(client.clone(), board.clone())),
        tokio::spawn(list_uploads_loop(client.clone(), board.clone())),
        tokio::spawn(head_loop(client.clone(), board.clone())),
        tokio::spawn(get_loop(client.clone(), board.clone())),
    ];

    let mut uploaded = 0u64;
    let mut upload_time = Duration::ZERO;
    let mut all = Vec::new();
    let started = Instant::now();
    for round in 0..rounds {
        let planned: Vec<Planned> = (0..UPLOADS)
            .map(|i| {
                let size = if i % 4 == 0 {
                    g.log_between(4 << 20, 12 << 20)
                } else {
                    g.log_between(16 << 10, 4 << 20)
                };
                Planned {
                    key: format!("load/r{round}/{i:02}"),
                    seed: g.seed(),
                    size,
                    part_size: [100 << 10, 256 << 10, 1 << 20][i % 3],
                }
            })
            .collect();
        {
            let mut plan = board.planned.lock().unwrap();
            for p in &planned {
                plan.insert(p.key.clone(), p.size);
            }
        }
        let t = Instant::now();
        let tasks: Vec<_> = planned
            .into_iter()
            .map(|p| {
                all.push((p.key.clone(), p.seed, p.size));
                tokio::spawn(upload_one(client.clone(), board.clone(), p))
            })
            .collect();
        for task in tasks {
            uploaded += task.await.expect("upload task panicked");
        }
        upload_time += t.elapsed();
    }
    board.done.store(true, Ordering::SeqCst);
    for l in loops {
        l.await.expect("loop task panicked");
    }
    let elapsed = started.elapsed();

    // Every object reads back with its source's bytes.
    for (key, seed, size) in &all {
        let data = object_bytes(*seed, *size as usize);
        match client.get_object(key, None).await {
            Ok((info, got)) => {
                if got != data || info.crc64 != Some(crc64::checksum(&data)) {
                    board.fail(format!("final GET {key}: content differs"));
                }
            }
            Err(e) => board.fail(format!("final GET {key}: {e}")),
        }
    }
    let left = client
        .list_uploads(&ListUploadsQuery::default())
        .await
        .unwrap();
    assert!(left.uploads.is_empty(), "uploads left: {:?}", left.uploads);

    let latencies = board.latencies.lock().unwrap().clone();
    let mut every = Latencies::default();
    println!(
        "load: {rounds} round(s) of {UPLOADS} uploads (parallel {PARALLEL}) with list/head/get loops, {:.1}s",
        elapsed.as_secs_f64()
    );
    println!(
        "  uploaded {} objects, {:.1} MiB in {:.1}s: {:.1} MiB/s; loops read {:.1} MiB",
        all.len(),
        uploaded as f64 / 1048576.0,
        upload_time.as_secs_f64(),
        mib_per_s(uploaded, upload_time),
        board.got_bytes.load(Ordering::Relaxed) as f64 / 1048576.0
    );
    let mut ops: Vec<_> = latencies.iter().collect();
    ops.sort_by_key(|(op, _)| *op);
    for (op, l) in ops {
        println!("  {op:<22} {}", l.summary());
        every.0.extend(&l.0);
    }
    println!("  {:<22} {}", "all requests", every.summary());
    let errors = board.errors.lock().unwrap().clone();
    println!("  failed requests / broken invariants: {}", errors.len());
    assert!(
        errors.is_empty(),
        "{} failures: {:#?}",
        errors.len(),
        errors
    );
    for op in [
        "UploadPart",
        "ListObjects",
        "ListMultipartUploads",
        "HeadObject",
        "GetObject",
    ] {
        assert!(
            latencies.get(op).is_some_and(|l| !l.0.is_empty()),
            "no {op} request was measured"
        );
    }
    assert_eq!(server.count("CompleteMultipartUpload"), all.len() as u64);
}
