//! `Client::download` against the real server: one GET for small objects, parallel ranges for
//! large ones, the CRC-64 checked before the temporary file replaces the destination, a paused
//! download resuming from its checkpoint (parts re-read and re-checked), an object replaced
//! midway, a range corrupted on the wire, and abort.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use osspart::download::partial_path;
use osspart::{
    CancelHandle, Client, Config, DownloadCheckpoint, DownloadOptions, DownloadOutput, Error,
    ObjectOptions, ProgressCallback, ProgressEvent, SignatureVersion,
};
use osspart_protocol::crc64;
use osspart_testkit::{Cut, Fault, FaultRule};

use crate::support::{client_for, credentials, pattern, FaultProxy, Server};

/// Part size of the multipart cases: 3 MiB objects take 12 ranges.
const PART: u64 = 256 * 1024;
const BIG: usize = 3 << 20;
const PARTS: u32 = (BIG as u64).div_ceil(PART) as u32;

fn options() -> DownloadOptions {
    DownloadOptions::default()
        .with_part_size(PART)
        .with_parallel(4)
}

async fn put(client: &Client, key: &str, data: &[u8]) {
    client
        .put_object(key, Bytes::copy_from_slice(data), &ObjectOptions::default())
        .await
        .unwrap();
}

/// Names of the entries of `dir`, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The output describes `data`, checked against the service's CRC-64.
#[track_caller]
fn assert_whole(out: &DownloadOutput, dest: &Path, data: &[u8]) {
    assert_eq!(out.size, data.len() as u64);
    assert_eq!(out.crc64, crc64::checksum(data));
    assert!(out.verified, "the service reported a CRC-64 and it matched");
    assert_eq!(out.info.crc64, Some(out.crc64));
    assert!(std::fs::read(dest).unwrap() == data, "content differs");
    assert!(!partial_path(dest).exists(), "no temporary file is left");
}

/// A progress callback that pauses (or aborts) `cancel` once `after` parts are done.
fn cancel_after(after: u32, cancel: &CancelHandle, abort: bool) -> ProgressCallback {
    let done = AtomicU32::new(0);
    let cancel = cancel.clone();
    ProgressCallback::new(move |p| {
        if matches!(p.event, ProgressEvent::PartDone { .. })
            && done.fetch_add(1, Ordering::SeqCst) + 1 == after
        {
            if abort {
                cancel.abort();
            } else {
                cancel.pause();
            }
        }
    })
}

/// Downloads `key` into `dest` and pauses after `after` parts; returns the saved checkpoint.
async fn paused_download(
    client: &Client,
    key: &str,
    dest: &Path,
    checkpoint: &Path,
    after: u32,
) -> DownloadCheckpoint {
    let cancel = CancelHandle::new();
    let err = client
        .download(
            key,
            dest,
            options()
                .with_checkpoint(checkpoint.to_owned())
                .with_progress(cancel_after(after, &cancel, false))
                .with_cancel(cancel.clone()),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err:?}");
    assert!(!dest.exists(), "a paused download writes no destination");
    assert!(
        partial_path(dest).exists(),
        "pause keeps the temporary file"
    );
    let cp = DownloadCheckpoint::load(checkpoint)
        .unwrap()
        .expect("pause keeps the checkpoint");
    assert_eq!(cp.key, key);
    assert_eq!(cp.size, BIG as u64);
    assert_eq!(cp.temp_path, partial_path(dest));
    assert!(
        (after as usize..PARTS as usize).contains(&cp.parts.len()),
        "{} parts saved, paused after {after}",
        cp.parts.len()
    );
    cp
}

#[tokio::test]
async fn small_and_multipart_objects_arrive_whole_and_verified() {
    let server = Server::start().await;
    let client = server.client("down", SignatureVersion::V4).await;
    let dir = tempfile::tempdir().unwrap();

    // Small: the first range is the whole object, one GET.
    let small = pattern(1000, 1);
    put(&client, "small.txt", &small).await;
    let gets = server.count("GetObject");
    let dest = dir.path().join("small.txt");
    let out = client
        .download("small.txt", &dest, options())
        .await
        .unwrap();
    assert_whole(&out, &dest, &small);
    assert_eq!(server.count("GetObject") - gets, 1);
    assert_eq!((out.parts_fetched, out.parts_kept), (1, 0));
    assert_eq!(out.bytes_fetched, 1000);

    // Multipart, into a sub-directory that does not exist yet.
    let big = pattern(BIG, 2);
    put(&client, "big.bin", &big).await;
    let gets = server.count("GetObject");
    let dest = dir.path().join("sub/dir/big.bin");
    let out = client.download("big.bin", &dest, options()).await.unwrap();
    assert_whole(&out, &dest, &big);
    assert_eq!(server.count("GetObject") - gets, u64::from(PARTS));
    assert_eq!((out.parts_fetched, out.parts_kept), (PARTS, 0));
    assert_eq!(out.bytes_fetched, BIG as u64);
    assert_eq!(entries(&dir.path().join("sub/dir")), vec!["big.bin"]);

    // A last part shorter than the others.
    let odd = pattern(BIG + 12_345, 3);
    put(&client, "odd.bin", &odd).await;
    let dest = dir.path().join("odd.bin");
    let out = client.download("odd.bin", &dest, options()).await.unwrap();
    assert_whole(&out, &dest, &odd);
    assert_eq!(out.parts_fetched, PARTS + 1);

    // A destination that exists is left alone by a failed download and replaced by a good one.
    let dest = dir.path().join("existing.bin");
    std::fs::write(&dest, b"old contents").unwrap();
    let err = client
        .download("missing.bin", &dest, options())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("NoSuchKey"), "{err:?}");
    assert_eq!(std::fs::read(&dest).unwrap(), b"old contents");
    let out = client.download("big.bin", &dest, options()).await.unwrap();
    assert_whole(&out, &dest, &big);

    let everything = entries(dir.path());
    assert_eq!(
        everything,
        vec!["existing.bin", "odd.bin", "small.txt", "sub"],
        "no temporary file anywhere"
    );

    // Nonsense options are refused before any request.
    let gets = server.count("GetObject");
    for (parallel, part_size) in [(0, PART), (1, 0)] {
        let err = client
            .download(
                "big.bin",
                dir.path().join("x"),
                DownloadOptions::default()
                    .with_parallel(parallel)
                    .with_part_size(part_size),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
    }
    assert_eq!(server.count("GetObject"), gets);
}

#[tokio::test]
async fn an_empty_object_becomes_an_empty_file() {
    let server = Server::start().await;
    let client = server.client("empty", SignatureVersion::V1).await;
    let dir = tempfile::tempdir().unwrap();
    put(&client, "empty", b"").await;
    let dest = dir.path().join("empty");
    std::fs::write(&dest, b"something").unwrap();
    let out = client.download("empty", &dest, options()).await.unwrap();
    assert_whole(&out, &dest, b"");
    assert_eq!(out.crc64, 0);
    assert_eq!(
        (out.parts_fetched, out.parts_kept, out.bytes_fetched),
        (0, 0, 0)
    );
    assert_eq!(entries(dir.path()), vec!["empty"]);
}

#[tokio::test]
async fn a_paused_download_resumes_with_the_parts_it_wrote() {
    let server = Server::start().await;
    let client = server.client("resume", SignatureVersion::V4).await;
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = dir.path().join("state/big.json");
    let data = pattern(BIG, 4);
    put(&client, "big.bin", &data).await;
    let dest = dir.path().join("big.bin");

    let cp = paused_download(&client, "big.bin", &dest, &checkpoint, 5).await;
    let saved = cp.parts.len() as u32;

    let gets = server.count("GetObject");
    let out = client
        .download(
            "big.bin",
            &dest,
            options().with_checkpoint(checkpoint.clone()),
        )
        .await
        .unwrap();
    assert_whole(&out, &dest, &data);
    assert_eq!(out.parts_kept, saved, "every saved part read back intact");
    assert!(out.parts_kept >= 5);
    assert_eq!(out.parts_fetched, PARTS - saved);
    assert_eq!(out.bytes_fetched, BIG as u64 - u64::from(saved) * PART);
    assert!(
        out.bytes_fetched * 4 < BIG as u64 * 3,
        "resuming fetched {} of {BIG} bytes",
        out.bytes_fetched
    );
    // Only the missing ranges were asked for (the resume starts with a HEAD, not a GET).
    assert_eq!(server.count("GetObject") - gets, u64::from(PARTS - saved));
    assert!(!checkpoint.exists(), "the checkpoint is removed on success");
    assert_eq!(entries(&dir.path().join("state")), Vec::<String>::new());
    assert_eq!(entries(dir.path()), vec!["big.bin", "state"]);
}

#[tokio::test]
async fn a_damaged_part_in_the_temporary_file_is_fetched_again() {
    let server = Server::start().await;
    let client = server.client("damaged", SignatureVersion::V4).await;
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = dir.path().join("cp.json");
    let data = pattern(BIG, 5);
    put(&client, "big.bin", &data).await;
    let dest = dir.path().join("big.bin");

    let cp = paused_download(&client, "big.bin", &dest, &checkpoint, 4).await;
    let saved = cp.parts.len() as u32;
    // Flip one byte inside the last part the checkpoint vouches for.
    let (&victim, _) = cp.parts.iter().next_back().unwrap();
    let offset = u64::from(victim - 1) * PART + 1234;
    let temp = partial_path(&dest);
    let mut bytes = std::fs::read(&temp).unwrap();
    assert_eq!(bytes.len(), BIG);
    assert_eq!(bytes[offset as usize], data[offset as usize]);
    bytes[offset as usize] ^= 0x5A;
    std::fs::write(&temp, &bytes).unwrap();

    let out = client
        .download(
            "big.bin",
            &dest,
            options().with_checkpoint(checkpoint.clone()),
        )
        .await
        .unwrap();
    assert_whole(&out, &dest, &data);
    assert_eq!(out.parts_kept, saved - 1, "the damaged part is not kept");
    assert_eq!(out.parts_fetched, PARTS - saved + 1);
    assert_eq!(out.bytes_fetched, u64::from(PARTS - saved + 1) * PART);
    assert!(!checkpoint.exists());
}

/// A progress callback that replaces `key` with `new` (once, through a clone of the client)
/// when the first part is done; also records every event.
fn replace_on_first_part(
    client: &Client,
    key: &'static str,
    new: Bytes,
    events: &Arc<Mutex<Vec<ProgressEvent>>>,
) -> ProgressCallback {
    let client = client.clone();
    let replaced = Arc::new(AtomicBool::new(false));
    let events = events.clone();
    ProgressCallback::new_async(move |p| {
        let client = client.clone();
        let replaced = replaced.clone();
        let new = new.clone();
        events.lock().unwrap().push(p.event.clone());
        async move {
            if matches!(p.event, ProgressEvent::PartDone { .. })
                && !replaced.swap(true, Ordering::SeqCst)
            {
                client
                    .put_object(key, new, &ObjectOptions::default())
                    .await
                    .unwrap();
            }
        }
    })
}

#[tokio::test]
async fn an_object_replaced_midway_fails_or_starts_over() {
    let server = Server::start().await;
    let client = server.client("changed", SignatureVersion::V4).await;
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = dir.path().join("cp.json");
    let old = pattern(BIG, 6);
    let new = Bytes::from(pattern(2 * BIG / 3 + 17, 7));
    let dest = dir.path().join("obj.bin");
    std::fs::write(&dest, b"previous").unwrap();

    // Without restart: SourceChanged, nothing mixed into the destination, nothing left over.
    put(&client, "obj.bin", &old).await;
    let events = Arc::new(Mutex::new(Vec::new()));
    let err = client
        .download(
            "obj.bin",
            &dest,
            options()
                .with_checkpoint(checkpoint.clone())
                .with_progress(replace_on_first_part(
                    &client,
                    "obj.bin",
                    new.clone(),
                    &events,
                )),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::SourceChanged(_)), "{err:?}");
    assert_eq!(std::fs::read(&dest).unwrap(), b"previous");
    assert!(
        !partial_path(&dest).exists(),
        "the temporary file is removed"
    );
    assert!(
        !checkpoint.exists(),
        "a checkpoint of a replaced object is useless"
    );
    assert_eq!(entries(dir.path()), vec!["obj.bin"]);

    // With restart: the new content, whole.
    put(&client, "obj.bin", &old).await;
    let events = Arc::new(Mutex::new(Vec::new()));
    let out = client
        .download(
            "obj.bin",
            &dest,
            options()
                .with_checkpoint(checkpoint.clone())
                .with_progress(replace_on_first_part(
                    &client,
                    "obj.bin",
                    new.clone(),
                    &events,
                ))
                .with_restart_on_change(true),
        )
        .await
        .unwrap();
    assert_whole(&out, &dest, &new);
    assert_eq!(out.parts_kept, 0);
    let events = events.lock().unwrap().clone();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ProgressEvent::Warning(w) if w.contains("starting over"))),
        "{events:?}"
    );
    assert!(matches!(
        events.last(),
        Some(ProgressEvent::Completed { .. })
    ));
    assert!(!checkpoint.exists());
    assert_eq!(entries(dir.path()), vec!["obj.bin"]);

    // Replaced between a pause and the resume: the resume refuses the stale parts and drops
    // them with the checkpoint, so the next run starts afresh on the new object.
    put(&client, "big.bin", &old).await;
    let dest = dir.path().join("big.bin");
    paused_download(&client, "big.bin", &dest, &checkpoint, 3).await;
    put(&client, "big.bin", &new).await;
    let resume = || options().with_checkpoint(checkpoint.clone());
    let err = client
        .download("big.bin", &dest, resume())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::SourceChanged(_)), "{err:?}");
    assert!(!dest.exists());
    assert_eq!(entries(dir.path()), vec!["obj.bin"]);
    let out = client.download("big.bin", &dest, resume()).await.unwrap();
    assert_whole(&out, &dest, &new);
    assert_eq!(out.parts_kept, 0);
}

/// A client through a fresh proxy in front of `server`; the bucket exists.
async fn proxied(server: &Server, bucket: &str) -> (FaultProxy, Client, Client) {
    let direct = server.client(bucket, SignatureVersion::V4).await;
    let proxy = FaultProxy::start(server.addr()).await.unwrap();
    let config = Config::new(proxy.endpoint(), "cn-hangzhou", bucket, credentials());
    (proxy, client_for(config).await, direct)
}

#[tokio::test]
async fn a_range_corrupted_on_the_wire_fails_the_checksum_and_leaves_nothing() {
    let server = Server::start().await;
    let (proxy, client, direct) = proxied(&server, "corrupt").await;
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = dir.path().join("cp.json");
    let data = pattern(BIG, 8);
    put(&direct, "big.bin", &data).await;
    // One ranged GET after the first (those are pinned with If-Match) has a byte flipped.
    proxy.add(
        FaultRule::new(Fault::Corrupt {
            at: Cut::AfterBytes(4321),
        })
        .when(|r| r.method == "GET" && r.header("if-match").is_some())
        .times(1),
    );
    let dest = dir.path().join("big.bin");
    let err = client
        .download(
            "big.bin",
            &dest,
            options().with_checkpoint(checkpoint.clone()),
        )
        .await
        .unwrap_err();
    match &err {
        Error::Checksum {
            expected, actual, ..
        } => {
            assert_eq!(*actual, crc64::checksum(&data), "the service's CRC-64");
            assert_ne!(expected, actual);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        proxy
            .stats()
            .count(osspart_testkit::FaultKind::CorruptResponse),
        1
    );
    assert!(!dest.exists(), "no destination file");
    assert!(!partial_path(&dest).exists(), "no temporary file");
    assert!(
        !checkpoint.exists(),
        "no checkpoint to resume corrupt bytes from"
    );
    assert_eq!(entries(dir.path()), Vec::<String>::new());

    // Without the fault the same download goes through.
    let out = client.download("big.bin", &dest, options()).await.unwrap();
    assert_whole(&out, &dest, &data);
}

#[tokio::test]
async fn abort_or_a_pause_without_checkpoint_leaves_nothing() {
    let server = Server::start().await;
    let client = server.client("abort", SignatureVersion::V4).await;
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = dir.path().join("cp.json");
    let data = pattern(BIG, 9);
    put(&client, "big.bin", &data).await;
    let dest = dir.path().join("big.bin");

    // A paused download leaves a checkpoint; aborting the resumed one removes everything.
    paused_download(&client, "big.bin", &dest, &checkpoint, 3).await;
    let cancel = CancelHandle::new();
    let err = client
        .download(
            "big.bin",
            &dest,
            options()
                .with_checkpoint(checkpoint.clone())
                .with_progress(cancel_after(1, &cancel, true))
                .with_cancel(cancel.clone())
                .with_parallel(1),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err:?}");
    assert!(!dest.exists());
    assert!(!partial_path(&dest).exists());
    assert!(!checkpoint.exists());
    assert_eq!(entries(dir.path()), Vec::<String>::new());

    // A pause without a checkpoint has nothing to resume with: the bytes go.
    let cancel = CancelHandle::new();
    let err = client
        .download(
            "big.bin",
            &dest,
            options()
                .with_progress(cancel_after(2, &cancel, false))
                .with_cancel(cancel.clone()),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err:?}");
    assert_eq!(entries(dir.path()), Vec::<String>::new());

    // An abort before anything arrived: no request and nothing written.
    let cancel = CancelHandle::new();
    cancel.abort();
    let gets = server.count("GetObject");
    let err = client
        .download(
            "big.bin",
            &dest,
            options()
                .with_checkpoint(checkpoint.clone())
                .with_cancel(cancel),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err:?}");
    assert_eq!(server.count("GetObject"), gets);
    assert_eq!(entries(dir.path()), Vec::<String>::new());
}

#[tokio::test]
async fn ranges_cut_off_midway_resume_from_the_byte_they_stopped_at() {
    let server = Server::start().await;
    let (proxy, client, direct) = proxied(&server, "cutoff").await;
    let dir = tempfile::tempdir().unwrap();
    let data = pattern(BIG, 9);
    put(&direct, "big.bin", &data).await;
    // Three pinned range answers end early (clean close, then a reset): each range goes on
    // from where its body stopped instead of starting over.
    proxy.add(
        FaultRule::new(Fault::Truncate {
            after: Cut::AfterBytes(100_000),
        })
        .when(|r| r.method == "GET" && r.header("if-match").is_some())
        .times(2),
    );
    proxy.add(
        FaultRule::new(Fault::Reset {
            phase: osspart_testkit::Phase::Response,
            after: Cut::AfterBytes(70_000),
        })
        .when(|r| r.method == "GET" && r.header("if-match").is_some())
        .times(1),
    );
    let dest = dir.path().join("big.bin");
    let out = client.download("big.bin", &dest, options()).await.unwrap();
    assert_whole(&out, &dest, &data);
    let stats = proxy.stats();
    assert_eq!(stats.count(osspart_testkit::FaultKind::TruncateResponse), 2);
    assert_eq!(stats.count(osspart_testkit::FaultKind::ResetResponse), 1);
    // Continuations ask for the rest of a range: their first byte is not on a part boundary.
    let resumed = proxy
        .seen()
        .iter()
        .filter_map(|r| r.header("range").map(str::to_owned))
        .filter(|r| {
            let from: u64 = r["bytes=".len()..]
                .split('-')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            !from.is_multiple_of(PART)
        })
        .count();
    assert_eq!(resumed, 3, "each cut range resumed mid-part");
    // No byte was fetched twice.
    assert_eq!(out.bytes_fetched, BIG as u64);
    assert_eq!(entries(dir.path()), vec!["big.bin"]);
}
