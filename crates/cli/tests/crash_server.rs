//! Server crash rig: `osspart serve` runs as a child process and is SIGKILLed while
//! several tasks upload parts concurrently with the osspart client, or while a
//! CompleteMultipartUpload is in flight; then it is restarted on the same data directory.
//!
//! Invariants checked after every restart:
//! - every part the server acknowledged is listed by ListParts with the same ETag and CRC-64,
//!   and every listed part holds bytes the client sent for that number;
//! - no object is visible unless its Complete was acknowledged or was in flight;
//! - a Complete in flight either fully happened (object with the right bytes and CRC-64,
//!   upload gone) or not at all (upload still there with its parts, object absent);
//! - `tmp/` is empty, and after a clean stop the store has nothing to repair (no unreferenced
//!   blob file, no wrong reference count: [`Store::recovery_report`] is empty).
//!
//! The unfinished uploads are then finished, and their objects verified too.
//! `OSSPART_STRESS_ITERATIONS` sets the number of crashes (default 12) and
//! `OSSPART_STRESS_SEED` the seed.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use osspart::{Client, ListObjectsQuery, ListUploadsQuery, ObjectOptions, PartEtag};
use osspart_protocol::{crc64, ErrorCode};
use osspart_server::store::{RecoveryReport, Store};

use crate::crash_client::{quick_client, stress_iterations, stress_seed, Rng};
use crate::support::{ServerOptions, ServerProcess};

const PART_SIZE: usize = 100 * 1024;
const BUCKET: &str = "crash-server";
/// Uploads driven at once in each round.
const UPLOADS_PER_ROUND: usize = 4;
/// Parts of one upload in flight at once.
const PARTS_IN_FLIGHT: usize = 3;

/// What the client knows of one part.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PartState {
    /// Sent; no answer (the server may or may not hold it).
    InFlight,
    /// The server answered 200 with this ETag.
    Acknowledged(String),
}

/// What the client knows of one upload's Complete.
#[derive(Debug, Clone, PartialEq, Eq)]
enum CompleteState {
    NotSent,
    /// Sent; no answer.
    InFlight,
    /// The server answered 200.
    Acknowledged,
    /// The server answered with an error: it did not happen.
    Refused,
}

/// One upload as the client saw it.
struct Upload {
    key: String,
    data: Bytes,
    /// `None` until InitiateMultipartUpload was acknowledged.
    upload_id: Option<String>,
    parts: BTreeMap<u32, PartState>,
    complete: CompleteState,
}

impl Upload {
    fn part_count(&self) -> u32 {
        self.data.len().div_ceil(PART_SIZE).max(1) as u32
    }

    fn part(&self, number: u32) -> Bytes {
        let start = (number as usize - 1) * PART_SIZE;
        self.data
            .slice(start..(start + PART_SIZE).min(self.data.len()))
    }
}

type Ledger = Arc<Mutex<Vec<Upload>>>;

/// Drives upload `index` of the ledger until done or until a request fails.
async fn drive(client: Client, ledger: Ledger, index: usize) {
    let key = ledger.lock().unwrap()[index].key.clone();
    let upload_id = match client
        .init_multipart_upload(&key, &ObjectOptions::default())
        .await
    {
        Ok(id) => id,
        Err(_) => return,
    };
    let count = {
        let mut l = ledger.lock().unwrap();
        l[index].upload_id = Some(upload_id.clone());
        l[index].part_count()
    };
    let results: Vec<bool> = futures_util::stream::iter(1..=count)
        .map(|number| {
            let (client, ledger, key, upload_id) = (
                client.clone(),
                ledger.clone(),
                key.clone(),
                upload_id.clone(),
            );
            async move {
                let body = {
                    let mut l = ledger.lock().unwrap();
                    l[index].parts.insert(number, PartState::InFlight);
                    l[index].part(number)
                };
                let crc = crc64::checksum(&body);
                match client
                    .upload_part(&key, &upload_id, number, body, false)
                    .await
                {
                    Ok(out) => {
                        assert_eq!(
                            out.crc64,
                            Some(crc),
                            "CRC-64 acknowledged for part {number}"
                        );
                        ledger.lock().unwrap()[index]
                            .parts
                            .insert(number, PartState::Acknowledged(out.etag));
                        true
                    }
                    Err(_) => false,
                }
            }
        })
        .buffer_unordered(PARTS_IN_FLIGHT)
        .collect()
        .await;
    if results.contains(&false) {
        return;
    }
    let parts: Vec<PartEtag> = {
        let mut l = ledger.lock().unwrap();
        l[index].complete = CompleteState::InFlight;
        l[index]
            .parts
            .iter()
            .map(|(n, s)| match s {
                PartState::Acknowledged(etag) => PartEtag {
                    number: *n,
                    etag: etag.clone(),
                },
                PartState::InFlight => unreachable!("every part was acknowledged"),
            })
            .collect()
    };
    let outcome = client
        .complete_multipart_upload(&key, &upload_id, &parts)
        .await;
    let state = match outcome {
        Ok(out) => {
            assert_eq!(
                out.crc64,
                Some(crc64::checksum(&ledger.lock().unwrap()[index].data)),
                "CRC-64 acknowledged by Complete of {key}"
            );
            CompleteState::Acknowledged
        }
        Err(osspart::Error::Service { .. }) => CompleteState::Refused,
        Err(_) => CompleteState::InFlight,
    };
    ledger.lock().unwrap()[index].complete = state;
}

/// When a round's server is killed.
#[derive(Debug, Clone, Copy)]
enum KillAt {
    /// Once this many parts (over all uploads) were acknowledged, plus a delay in µs.
    Parts(usize, u64),
    /// Once a Complete is in flight, plus a delay in µs.
    Complete(u64),
}

#[derive(Default, Debug)]
struct Figures {
    crashes: u32,
    crashes_during_parts: u32,
    crashes_during_complete: u32,
    uploads: u32,
    parts_acknowledged_before_crash: u32,
    parts_in_flight_at_crash: u32,
    in_flight_parts_kept: u32,
    completes_in_flight: u32,
    in_flight_completes_done: u32,
    tmp_files_at_crash: usize,
    /// What the restarted server's recovery removed (from its log).
    tmp_files_swept: u64,
    orphan_blobs_swept: u64,
    stray_uploads: u32,
    objects_verified: u32,
}

fn count_files(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .map(|e| {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                count_files(&e.path())
            } else {
                1
            }
        })
        .sum()
}

/// `(tmp_files_removed, orphan_blobs_removed)` of the recovery report in a server's log.
fn recovery_figures(log: &str) -> (u64, u64) {
    let field = |name: &str| -> u64 {
        log.find(name)
            .map(|at| {
                log[at + name.len()..]
                    .trim_start_matches([':', ' '])
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
            })
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    (field("tmp_files_removed"), field("orphan_blobs_removed"))
}

fn same_etag(a: &str, b: &str) -> bool {
    a.trim_matches('"')
        .eq_ignore_ascii_case(b.trim_matches('"'))
}

async fn assert_object(client: &Client, upload: &Upload) {
    let (info, body) = client
        .get_object(&upload.key, None)
        .await
        .unwrap_or_else(|e| panic!("GET {}: {e}", upload.key));
    assert!(
        body == upload.data,
        "object {} does not hold the uploaded bytes",
        upload.key
    );
    assert_eq!(
        info.crc64,
        Some(crc64::checksum(&upload.data)),
        "CRC-64 of {}",
        upload.key
    );
    assert!(info.is_multipart_etag(), "ETag of {}", upload.key);
}

/// Checks one upload after a restart; returns whether its upload is still in progress.
async fn check_upload(client: &Client, upload: &Upload, figures: &mut Figures) -> bool {
    let Some(upload_id) = &upload.upload_id else {
        return false;
    };
    let listed = client
        .list_all_parts(&upload.key, upload_id)
        .try_collect::<Vec<_>>()
        .await;
    let object = client
        .object_exists(&upload.key)
        .await
        .expect("HEAD object");
    let completed = match upload.complete {
        CompleteState::Acknowledged => true,
        CompleteState::NotSent | CompleteState::Refused => false,
        CompleteState::InFlight => {
            figures.completes_in_flight += 1;
            object.is_some()
        }
    };
    if completed {
        figures.in_flight_completes_done += u32::from(upload.complete == CompleteState::InFlight);
        assert!(
            object.is_some(),
            "{}: acknowledged Complete, no object",
            upload.key
        );
        assert!(
            matches!(&listed, Err(e) if e.has_code(ErrorCode::NoSuchUpload)),
            "{}: object present but its upload is still listed: {listed:?}",
            upload.key
        );
        assert_object(client, upload).await;
        figures.objects_verified += 1;
        return false;
    }
    assert!(
        object.is_none(),
        "{}: object visible although its Complete was not acknowledged ({:?})",
        upload.key,
        upload.complete
    );
    let listed = listed.unwrap_or_else(|e| {
        panic!(
            "{}: upload {upload_id} is gone but its object is absent: {e}",
            upload.key
        )
    });
    let listed: BTreeMap<u32, _> = listed.into_iter().map(|p| (p.number, p)).collect();
    for (number, state) in &upload.parts {
        let bytes = upload.part(*number);
        let crc = crc64::checksum(&bytes);
        match (state, listed.get(number)) {
            (PartState::Acknowledged(etag), Some(p)) => {
                assert!(
                    same_etag(etag, &p.etag),
                    "{} part {number}: ETag {} listed, {etag} acknowledged",
                    upload.key,
                    p.etag
                );
                assert_eq!(p.crc64, Some(crc), "{} part {number}: CRC-64", upload.key);
                assert_eq!(p.size, bytes.len() as u64, "{} part {number}", upload.key);
            }
            (PartState::Acknowledged(_), None) => {
                panic!("{} part {number} was acknowledged but is lost", upload.key)
            }
            (PartState::InFlight, Some(p)) => {
                figures.in_flight_parts_kept += 1;
                assert_eq!(p.crc64, Some(crc), "{} part {number}: CRC-64", upload.key);
                assert_eq!(p.size, bytes.len() as u64, "{} part {number}", upload.key);
            }
            (PartState::InFlight, None) => {}
        }
    }
    for number in listed.keys() {
        assert!(
            upload.parts.contains_key(number),
            "{}: part {number} listed but never sent",
            upload.key
        );
    }
    true
}

/// Sends the parts the server lacks and completes the upload.
async fn finish_upload(client: &Client, upload: &Upload) {
    let upload_id = upload.upload_id.as_deref().expect("initiated");
    let listed: BTreeSet<u32> = client
        .list_all_parts(&upload.key, upload_id)
        .map_ok(|p| p.number)
        .try_collect()
        .await
        .expect("ListParts");
    for number in 1..=upload.part_count() {
        if !listed.contains(&number) {
            client
                .upload_part(&upload.key, upload_id, number, upload.part(number), false)
                .await
                .expect("UploadPart after the restart");
        }
    }
    client
        .complete_all(&upload.key, upload_id)
        .await
        .expect("Complete after the restart");
}

fn wait_for_kill(ledger: &Ledger, kill: KillAt, deadline: Instant) {
    let mut fired: Option<Instant> = None;
    let delay = Duration::from_micros(match kill {
        KillAt::Parts(_, us) | KillAt::Complete(us) => us,
    });
    while Instant::now() < deadline {
        if let Some(at) = fired {
            if at.elapsed() >= delay {
                return;
            }
        } else {
            let l = ledger.lock().unwrap();
            let now = match kill {
                KillAt::Parts(n, _) => {
                    l.iter()
                        .flat_map(|u| u.parts.values())
                        .filter(|s| matches!(s, PartState::Acknowledged(_)))
                        .count()
                        >= n
                }
                KillAt::Complete(_) => l.iter().any(|u| u.complete == CompleteState::InFlight),
            };
            let idle = l.iter().all(|u| u.complete == CompleteState::Acknowledged);
            drop(l);
            if idle {
                return;
            }
            if now {
                fired = Some(Instant::now());
            }
        }
        thread::yield_now();
    }
}

#[test]
fn killed_server_keeps_every_acknowledged_part_and_no_half_object() {
    let crashes = stress_iterations(12);
    let seed = stress_seed(0x5E_4BE4);
    let mut rng = Rng::new(seed);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    // At `info` the server logs what start-up recovery repaired, and nothing else.
    let mut server = ServerProcess::start_with(ServerOptions::new().env("OSSPART_LOG", "info"));
    let data_dir = server.data_dir.clone();
    runtime
        .block_on(quick_client(&server.endpoint, BUCKET).create_bucket())
        .expect("create bucket");
    let mut figures = Figures::default();
    let started = Instant::now();

    for round in 0..crashes {
        // Uploads of 1 to 12 parts, some ending in a short part.
        let ledger: Ledger = Arc::new(Mutex::new(
            (0..UPLOADS_PER_ROUND)
                .map(|i| {
                    let parts = rng.range(1, 13) as usize;
                    let size = parts * PART_SIZE - rng.range(0, PART_SIZE as u64 / 2) as usize;
                    Upload {
                        key: format!("round-{round}/upload-{i}"),
                        data: Bytes::from(rng.bytes(size)),
                        upload_id: None,
                        parts: BTreeMap::new(),
                        complete: CompleteState::NotSent,
                    }
                })
                .collect(),
        ));
        figures.uploads += UPLOADS_PER_ROUND as u32;
        let total_parts: u32 = ledger.lock().unwrap().iter().map(Upload::part_count).sum();
        let kill = if rng.range(0, 2) == 0 {
            KillAt::Parts(
                rng.range(0, u64::from(total_parts) * 3 / 4) as usize,
                rng.range(0, 3000),
            )
        } else {
            KillAt::Complete(rng.range(0, 8000))
        };

        let client = quick_client(&server.endpoint, BUCKET);
        let tasks: Vec<_> = (0..UPLOADS_PER_ROUND)
            .map(|i| runtime.spawn(drive(client.clone(), ledger.clone(), i)))
            .collect();
        wait_for_kill(&ledger, kill, Instant::now() + Duration::from_secs(60));
        server.kill();
        figures.crashes += 1;
        match kill {
            KillAt::Parts(..) => figures.crashes_during_parts += 1,
            KillAt::Complete(_) => figures.crashes_during_complete += 1,
        }
        runtime.block_on(async {
            for t in tasks {
                t.await.expect("upload task panicked");
            }
        });
        {
            let l = ledger.lock().unwrap();
            for u in l.iter() {
                for s in u.parts.values() {
                    match s {
                        PartState::Acknowledged(_) => figures.parts_acknowledged_before_crash += 1,
                        PartState::InFlight => figures.parts_in_flight_at_crash += 1,
                    }
                }
            }
        }
        figures.tmp_files_at_crash += count_files(&data_dir.join("tmp"));

        let log_before = server.logs().len();
        server.restart();

        let tmp_left = count_files(&data_dir.join("tmp"));
        assert_eq!(
            tmp_left, 0,
            "round {round}: tmp/ not emptied by the restart"
        );

        let client = quick_client(&server.endpoint, BUCKET);
        let uploads = std::mem::take(&mut *ledger.lock().unwrap());
        runtime.block_on(async {
            // Visible objects: only those whose Complete was acknowledged or in flight.
            let prefix = format!("round-{round}/");
            let visible: Vec<String> = client
                .list_all_objects(ListObjectsQuery::default().with_prefix(prefix.clone()))
                .map_ok(|o| o.key)
                .try_collect()
                .await
                .expect("ListObjects");
            for key in &visible {
                let u = uploads.iter().find(|u| &u.key == key).expect("known key");
                assert!(
                    matches!(
                        u.complete,
                        CompleteState::Acknowledged | CompleteState::InFlight
                    ),
                    "round {round}: {key} is visible but its Complete was {:?}",
                    u.complete
                );
            }
            let mut unfinished = Vec::new();
            for u in &uploads {
                if check_upload(&client, u, &mut figures).await {
                    unfinished.push(u);
                }
            }
            // Uploads nobody knows the id of come from initiates in flight at the crash; they
            // hold no part. Abort them.
            let known: BTreeSet<&str> = uploads
                .iter()
                .filter_map(|u| u.upload_id.as_deref())
                .collect();
            let listed: Vec<(String, String)> = client
                .list_all_uploads(ListUploadsQuery::default().with_prefix(prefix.clone()))
                .map_ok(|u| (u.key, u.upload_id))
                .try_collect()
                .await
                .expect("ListMultipartUploads");
            for (key, id) in &listed {
                if known.contains(id.as_str()) {
                    continue;
                }
                let page = client.list_parts(key, id, None, None).await.unwrap();
                assert!(
                    page.parts.is_empty(),
                    "round {round}: unknown upload {id} of {key} holds parts"
                );
                client.abort_multipart_upload(key, id).await.unwrap();
                figures.stray_uploads += 1;
            }
            for u in unfinished {
                finish_upload(&client, u).await;
                assert_object(&client, u).await;
                figures.objects_verified += 1;
            }
        });

        // By now the log holds what the restart's recovery repaired.
        let (tmp_swept, orphans_swept) = recovery_figures(&server.logs()[log_before..]);
        figures.tmp_files_swept += tmp_swept;
        figures.orphan_blobs_swept += orphans_swept;

        // A clean stop must leave nothing for recovery to repair.
        server.stop();
        let store = Store::open(&data_dir).expect("open the store");
        assert_eq!(
            store.recovery_report(),
            RecoveryReport::default(),
            "round {round}: the store needed repair after a clean stop"
        );
        drop(store);
        server.restart();
    }

    println!(
        "server crash rig (seed {seed}): {} crashes ({} during parts, {} during Complete), {} \
         uploads; at the crashes {} parts acknowledged (all kept) and {} in flight ({} of those \
         kept), {} Completes in flight ({} had happened), {} tmp files on disk; recovery swept \
         {} tmp files and {} unreferenced blobs; {} stray uploads from initiates in flight; {} objects verified; {:.1} s",
        figures.crashes,
        figures.crashes_during_parts,
        figures.crashes_during_complete,
        figures.uploads,
        figures.parts_acknowledged_before_crash,
        figures.parts_in_flight_at_crash,
        figures.in_flight_parts_kept,
        figures.completes_in_flight,
        figures.in_flight_completes_done,
        figures.tmp_files_at_crash,
        figures.tmp_files_swept,
        figures.orphan_blobs_swept,
        figures.stray_uploads,
        figures.objects_verified,
        started.elapsed().as_secs_f64()
    );
}
