//! The fault scenario: uploads of seeded random sizes (some over 100 parts), each
//! through its own fault proxy injecting one or more fault kinds, with a client whose requests
//! time out after 1 s so stalls surface as timeouts. Every upload must complete, every object
//! must read back (directly from the server) with the source's bytes and CRC-64, and the only
//! in-progress uploads left may be those whose InitiateMultipartUpload answer was lost.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use osspart::{Client, ListUploadsQuery, RetryPolicy, UploadOptions};
use osspart_protocol::crc64;
use osspart_testkit::{
    object_bytes, Cut, Fault, FaultKind, FaultProxy, FaultRule, FaultStats, InjectedError,
    LocalServer, Phase, SeededSizes,
};

use crate::rig::{env_u64, mib_per_s};

const PART: u64 = 100 * 1024;
const BUCKET: &str = "faults";

/// The client's limit for a request without a body, and (for a 100 KiB part) with one.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);
/// Longer than [`REQUEST_TIMEOUT`], so every stall costs the client a timeout.
const STALL: Duration = Duration::from_millis(1500);

/// The rule for a fault kind; `fraction` of the requests of an upload meet it. Stalls are
/// capped per upload: each one costs a full timeout.
fn rule_for(kind: FaultKind, fraction: f64) -> FaultRule {
    let fault = match kind {
        FaultKind::ResetRequest => Fault::Reset {
            phase: Phase::Request,
            after: Cut::Random,
        },
        FaultKind::ResetResponse => Fault::Reset {
            phase: Phase::Response,
            after: Cut::Random,
        },
        FaultKind::StallRequest => Fault::Stall {
            phase: Phase::Request,
            duration: STALL,
        },
        FaultKind::StallResponse => Fault::Stall {
            phase: Phase::Response,
            duration: STALL,
        },
        FaultKind::TruncateResponse => Fault::Truncate { after: Cut::Random },
        FaultKind::ServiceUnavailable => Fault::Respond(InjectedError::service_unavailable()),
        FaultKind::InternalError => Fault::Respond(InjectedError::internal_error()),
        FaultKind::SlowDown => Fault::Respond(InjectedError::slow_down()),
        _ => Fault::Delay {
            phase: Phase::Request,
            duration: Duration::from_millis(15),
        },
    };
    let rule = FaultRule::new(fault).fraction(fraction);
    match kind {
        FaultKind::StallRequest | FaultKind::StallResponse => rule.times(2),
        _ => rule,
    }
}

/// The kinds the scenario cycles through; every upload meets the kind at its index, plus a
/// seeded extra one.
const KINDS: &[FaultKind] = &[
    FaultKind::ResetRequest,
    FaultKind::ResetResponse,
    FaultKind::StallRequest,
    FaultKind::StallResponse,
    FaultKind::TruncateResponse,
    FaultKind::ServiceUnavailable,
    FaultKind::InternalError,
    FaultKind::SlowDown,
    FaultKind::Delay,
];

/// One upload of the scenario, decided up front from the seed.
#[derive(Debug, Clone)]
struct Case {
    index: usize,
    size: u64,
    data_seed: u64,
    proxy_seed: u64,
    kinds: Vec<(FaultKind, f64)>,
    parallel: usize,
}

/// What one upload did.
struct Outcome {
    case: Case,
    stats: FaultStats,
    client_bytes_sent: u64,
    /// The Complete answer was lost and the object was confirmed by HEAD instead.
    confirmed_by_head: bool,
    elapsed: Duration,
}

fn cases(seed: u64, count: usize) -> Vec<Case> {
    let mut g = SeededSizes::new(seed);
    (0..count)
        .map(|index| {
            let size = match index % 5 {
                // Over 100 parts of 100 KiB.
                0 => g.between(101 * PART + 1, 115 * PART),
                1 => g.between(1, 4 * PART) + 4096,
                _ => g.log_between(4096, 40 * PART),
            };
            let mut kinds = vec![(KINDS[index % KINDS.len()], 0.25)];
            let extra = KINDS[g.below(KINDS.len() as u64) as usize];
            if extra != kinds[0].0 {
                kinds.push((extra, 0.1));
            }
            Case {
                index,
                size,
                data_seed: g.seed(),
                proxy_seed: g.seed(),
                kinds,
                parallel: 1 + g.below(5) as usize,
            }
        })
        .collect()
}

async fn run_case(server: Arc<LocalServer>, case: Case) -> Outcome {
    let data = Bytes::from(object_bytes(case.data_seed, case.size as usize));
    let proxy = FaultProxy::start_seeded(server.addr(), case.proxy_seed)
        .await
        .unwrap();
    // The case's main kind hits its first part for certain, then a fraction of all requests.
    let main = case.kinds[0].0;
    proxy.add(rule_for(main, 1.0).when(|r| r.is_upload_part()).times(1));
    for (kind, fraction) in &case.kinds {
        proxy.add(rule_for(*kind, *fraction));
    }
    let mut config = server.config_at(&proxy.endpoint(), BUCKET);
    config.request_timeout = REQUEST_TIMEOUT;
    config.retry = RetryPolicy::default()
        .with_max_retries(12)
        .with_base_delay(Duration::from_millis(20))
        .with_max_delay(Duration::from_millis(250));
    let client = Client::new(config).unwrap();
    let key = format!("scenario/{:03}-{}", case.index, case.size);
    let options = UploadOptions::default()
        .with_part_size(PART)
        .with_parallel(case.parallel)
        .with_part_retries(12);
    let started = Instant::now();
    let out = client
        .multipart_upload(&key, data.clone(), options)
        .await
        .unwrap_or_else(|e| panic!("upload {} ({:?}) failed: {e}", case.index, case.kinds));
    let elapsed = started.elapsed();
    assert_eq!(out.size, case.size);
    assert_eq!(out.crc64, crc64::checksum(&data));
    Outcome {
        case,
        stats: proxy.stats(),
        client_bytes_sent: out.bytes_sent,
        confirmed_by_head: out.response.is_none(),
        elapsed,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn uploads_survive_every_fault_kind() {
    let count = env_u64("OSSPART_STRESS_ITERATIONS", 20) as usize;
    let seed = env_u64("OSSPART_STRESS_SEED", 0x5EED_0005);
    let server = Arc::new(LocalServer::start().await.unwrap());
    let direct = server.client(BUCKET).await.unwrap();
    let cases = cases(seed, count);
    let started = Instant::now();
    // A few uploads at once: a stall or backoff in one does not idle the machine.
    let outcomes: Vec<Outcome> = futures_util::stream::iter(cases.clone())
        .map(|case| tokio::spawn(run_case(server.clone(), case)))
        .buffer_unordered(4)
        .map(|joined| joined.expect("upload task panicked"))
        .collect()
        .await;
    let elapsed = started.elapsed();

    // Every object reads back, directly from the server, with the source's bytes and CRC-64.
    let mut object_bytes_total = 0;
    for case in &cases {
        let key = format!("scenario/{:03}-{}", case.index, case.size);
        let data = object_bytes(case.data_seed, case.size as usize);
        let (info, got) = direct.get_object(&key, None).await.unwrap();
        assert_eq!(got.len() as u64, case.size, "{key}: size");
        assert!(got == data, "{key}: bytes differ from the source");
        assert_eq!(info.crc64, Some(crc64::checksum(&data)), "{key}: CRC-64");
        assert!(info.is_multipart_etag(), "{key}: {}", info.etag);
        object_bytes_total += case.size;
    }

    // When an InitiateMultipartUpload answer is lost the client looks for the upload it created
    // and continues it; one is left behind only if that Initiate reached the server after the
    // client looked (a stalled request). The client never learnt its id, so it holds no parts.
    // A stalled Initiate may still be reaching the server, so let the counts settle.
    let settle = Instant::now();
    let left = loop {
        let initiated = server.count("InitiateMultipartUpload");
        let left: Vec<_> = direct
            .list_all_uploads(ListUploadsQuery::default())
            .try_collect()
            .await
            .unwrap();
        if left.len() as u64 == initiated - count as u64 {
            break left;
        }
        assert!(
            settle.elapsed() < Duration::from_secs(10),
            "{} uploads left, {initiated} initiated for {count} objects: {left:?}",
            left.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for u in &left {
        let parts = direct
            .list_parts(&u.key, &u.upload_id, None, None)
            .await
            .unwrap();
        assert!(
            parts.parts.is_empty(),
            "abandoned upload {} holds parts",
            u.upload_id
        );
    }
    assert_eq!(server.count("CompleteMultipartUpload") as usize, count);

    let mut total = FaultStats::default();
    let mut client_sent = 0;
    println!("fault scenario: seed {seed:#x}, {count} uploads");
    for o in &outcomes {
        total.add(&o.stats);
        client_sent += o.client_bytes_sent;
        let kinds: Vec<String> = o.case.kinds.iter().map(|(k, _)| k.to_string()).collect();
        println!(
            "  #{:02} {:>9} B {:>3} parts p{} {:<40} {:>5.1}s resent {:>8} B  {}",
            o.case.index,
            o.case.size,
            o.case.size.div_ceil(PART),
            o.case.parallel,
            kinds.join("+"),
            o.elapsed.as_secs_f64(),
            o.stats.put_body_bytes_forwarded as i64 - o.case.size as i64,
            o.stats
        );
    }
    let resent = total
        .put_body_bytes_forwarded
        .saturating_sub(object_bytes_total);
    println!("  faults injected: {}", total.total_injected());
    for kind in FaultKind::ALL {
        if total.count(*kind) > 0 {
            println!("    {:<24} {}", kind.as_str(), total.count(*kind));
        }
    }
    println!(
        "  objects verified: {count} ({object_bytes_total} B); part bytes forwarded by the proxies: {}; \
         re-sent: {resent} B ({:.1}% of the data); client bytes_sent: {client_sent}; server ingested: {}",
        total.put_body_bytes_forwarded,
        100.0 * resent as f64 / object_bytes_total.max(1) as f64,
        server.ingested(),
    );
    println!(
        "  completes whose answer was lost, confirmed by HEAD: {}",
        outcomes.iter().filter(|o| o.confirmed_by_head).count()
    );
    println!(
        "  uploads left by lost initiations: {}; wall time {:.1}s ({:.1} MiB/s through faults)",
        left.len(),
        elapsed.as_secs_f64(),
        mib_per_s(object_bytes_total, elapsed)
    );

    // Every kind the cases named was injected at least once across the run (a fault that
    // never fires would make the scenario prove nothing about it).
    if count >= KINDS.len() {
        for kind in KINDS {
            assert!(total.count(*kind) > 0, "no {kind} fault was injected");
        }
    }
    assert!(total.put_body_bytes_forwarded >= object_bytes_total);
    assert!(server.ingested() >= object_bytes_total);
}
