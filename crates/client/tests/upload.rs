//! The managed multipart upload: one test per option of `UploadOptions`, and every kind of
//! source.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use osspart::upload::CheckpointLock;
use osspart::{
    CancelHandle, Checkpoint, CheckpointSpec, Client, Error, Progress, ProgressCallback,
    ProgressEvent, SignatureVersion, Source, UploadOptions,
};
use osspart_protocol::crc64;

use crate::support::{client_for, pattern, FaultProxy, ProxyFaults, Server, PART};

/// Every progress report of one upload, in order.
#[derive(Clone, Default)]
pub struct Recorder(pub Arc<Mutex<Vec<Progress>>>);

impl Recorder {
    /// A plain callback that records.
    pub fn callback(&self) -> ProgressCallback {
        let me = self.clone();
        ProgressCallback::new(move |p| me.0.lock().unwrap().push(p.clone()))
    }

    /// A plain callback that records and pauses `cancel` once `k` parts are done.
    pub fn pausing_after(&self, k: u32, cancel: &CancelHandle) -> ProgressCallback {
        let me = self.clone();
        let cancel = cancel.clone();
        ProgressCallback::new(move |p| {
            me.0.lock().unwrap().push(p.clone());
            if matches!(p.event, ProgressEvent::PartDone { .. }) && p.parts_done >= k {
                cancel.pause();
            }
        })
    }

    pub fn all(&self) -> Vec<Progress> {
        self.0.lock().unwrap().clone()
    }

    pub fn events(&self) -> Vec<ProgressEvent> {
        self.all().into_iter().map(|p| p.event).collect()
    }

    pub fn warnings(&self) -> Vec<String> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                ProgressEvent::Warning(w) => Some(w),
                _ => None,
            })
            .collect()
    }
}

/// Checks the shape of a successful upload's reports: Initiated first, one PartDone per part,
/// then Completing and Completed; fractions never fall, stay within 0..=1 and end at 1.
fn assert_complete_story(reports: &[Progress], parts: u32, total: u64) {
    let events: Vec<&ProgressEvent> = reports.iter().map(|p| &p.event).collect();
    assert!(
        matches!(events.first(), Some(ProgressEvent::Initiated { upload_id }) if !upload_id.is_empty()),
        "{events:?}"
    );
    let done = events
        .iter()
        .filter(|e| matches!(e, ProgressEvent::PartDone { .. }))
        .count();
    assert_eq!(done as u32, parts, "{events:?}");
    let n = events.len();
    assert!(matches!(events[n - 2], ProgressEvent::Completing));
    assert!(matches!(events[n - 1], ProgressEvent::Completed { .. }));
    let fractions: Vec<f64> = reports.iter().map(|p| p.fraction).collect();
    assert!(
        fractions.windows(2).all(|w| w[0] <= w[1]),
        "fractions went backwards: {fractions:?}"
    );
    assert!(fractions.iter().all(|f| (0.0..=1.0).contains(f)));
    assert_eq!(fractions[0], 0.0);
    assert_eq!(*fractions.last().unwrap(), 1.0);
    assert!(fractions[..n - 1].iter().all(|f| *f < 1.0));
    let last = reports.last().unwrap();
    assert_eq!(last.bytes_acknowledged, total);
    assert_eq!(last.parts_done, parts);
    assert_eq!(last.total_bytes, Some(total));
    assert!(last.bytes_sent >= total);
}

pub fn small_parts() -> UploadOptions {
    UploadOptions::default()
        .with_part_size(PART as u64)
        .with_parallel(3)
}

pub async fn assert_object(client: &Client, key: &str, data: &[u8]) {
    let (info, body) = client.get_object(key, None).await.unwrap();
    assert_eq!(body.len(), data.len());
    assert!(body[..] == data[..], "object {key} differs from the source");
    assert_eq!(info.crc64, Some(crc64::checksum(data)));
}

/// Runs an upload (100 KiB parts, `parallel` in flight) that pauses itself once `k` parts are
/// done, and checks it stopped with `Error::Cancelled`.
pub async fn pause_after_parts(
    client: &Client,
    key: &str,
    source: impl Into<Source>,
    checkpoint: CheckpointSpec,
    k: u32,
    parallel: usize,
) {
    let cancel = CancelHandle::new();
    let rec = Recorder::default();
    let options = small_parts()
        .with_checkpoint(checkpoint)
        .with_cancel(cancel.clone())
        .with_progress(rec.pausing_after(k, &cancel))
        .with_parallel(parallel);
    let err = client
        .multipart_upload(key, source, options)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err}");
}

#[tokio::test]
async fn uploads_a_file_with_progress_and_meta() {
    let server = Server::start().await;
    for sig in [SignatureVersion::V4, SignatureVersion::V1] {
        let client = server.client("up1", sig).await;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("five.bin");
        let data = pattern(5 * 1024 * 1024 + 123, 7);
        std::fs::write(&path, &data).unwrap();
        let fractions = Arc::new(Mutex::new(Vec::new()));
        let f = fractions.clone();
        let mut options = UploadOptions::default().with_parallel(3);
        options.progress = Some(ProgressCallback::new(move |p| {
            f.lock().unwrap().push(p.fraction)
        }));
        options.object.meta = vec![
            ("year".into(), "2020".into()),
            ("people".into(), "test".into()),
        ];
        let out = client
            .multipart_upload("dir/five.bin", path.as_path(), options)
            .await
            .unwrap();
        assert_eq!(out.crc64, crc64::checksum(&data));
        assert_eq!(out.parts_sent, 6);
        let fr = fractions.lock().unwrap().clone();
        assert!(fr.windows(2).all(|w| w[0] <= w[1]), "{fr:?}");
        assert_eq!(fr.last(), Some(&1.0));
        let info = client.head_object("dir/five.bin").await.unwrap();
        assert_eq!(info.size, data.len() as u64);
        assert!(info.is_multipart_etag());
        assert_eq!(
            info.meta,
            vec![
                ("people".into(), "test".into()),
                ("year".into(), "2020".into())
            ]
        );
        let (_, body) = client.get_object("dir/five.bin", None).await.unwrap();
        assert_eq!(&body[..], &data[..]);
    }
}

#[tokio::test]
async fn progress_sync_callback_tells_the_whole_story() {
    let server = Server::start().await;
    let client = server.client("progress", SignatureVersion::V4).await;
    let data = pattern(7 * PART + 5, 1);
    let rec = Recorder::default();
    let options = small_parts().with_progress(rec.callback());
    let out = client
        .multipart_upload("p.bin", Bytes::from(data.clone()), options)
        .await
        .unwrap();
    let reports = rec.all();
    assert_complete_story(&reports, 8, data.len() as u64);
    // Every PartDone carries the part's own CRC-64 and size.
    for p in &reports {
        if let ProgressEvent::PartDone {
            number,
            crc64: crc,
            bytes,
            etag,
        } = &p.event
        {
            let start = (*number as usize - 1) * PART;
            let end = (start + PART).min(data.len());
            assert_eq!(*bytes, (end - start) as u64);
            assert_eq!(*crc, crc64::checksum(&data[start..end]));
            assert!(etag.starts_with('"'));
            // The checkpoint handed to the callback already holds the part.
            let cp = p.checkpoint.as_ref().unwrap();
            assert!(cp.parts.iter().any(|d| d.number == *number));
        }
    }
    match &reports.last().unwrap().event {
        ProgressEvent::Completed { etag } => assert_eq!(etag, &out.etag),
        e => panic!("{e:?}"),
    }
    assert_object(&client, "p.bin", &data).await;
}

#[tokio::test]
async fn progress_async_callback_is_awaited() {
    let server = Server::start().await;
    let client = server.client("progress-async", SignatureVersion::V4).await;
    let data = pattern(4 * PART, 2);
    let seen: Arc<Mutex<Vec<Progress>>> = Arc::default();
    let s = seen.clone();
    let options = small_parts().with_progress(ProgressCallback::new_async(move |p: Progress| {
        let s = s.clone();
        async move {
            // Yield and sleep before recording: only an awaited callback has recorded by
            // the time the upload returns.
            tokio::time::sleep(Duration::from_millis(15)).await;
            s.lock().unwrap().push(p);
        }
    }));
    client
        .multipart_upload("a.bin", Bytes::from(data.clone()), options)
        .await
        .unwrap();
    let reports = seen.lock().unwrap().clone();
    assert_complete_story(&reports, 4, data.len() as u64);
}

#[tokio::test]
async fn checkpoint_file_is_written_during_and_removed_after() {
    let server = Server::start().await;
    let client = server.client("cpfile", SignatureVersion::V4).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("src.bin");
    let data = pattern(6 * PART, 3);
    std::fs::write(&path, &data).unwrap();
    let cp_path = dir.path().join("state/cp.json");
    let snapshots: Arc<Mutex<Vec<Option<Checkpoint>>>> = Arc::default();
    let (s, p) = (snapshots.clone(), cp_path.clone());
    let options = small_parts()
        .with_checkpoint(CheckpointSpec::File(cp_path.clone()))
        .with_parallel(1)
        .with_progress(ProgressCallback::new(move |pr| {
            if matches!(pr.event, ProgressEvent::PartDone { .. }) {
                s.lock().unwrap().push(Checkpoint::load(&p).unwrap());
            }
        }));
    let out = client
        .multipart_upload("cp.bin", path.as_path(), options)
        .await
        .unwrap();
    let snaps = snapshots.lock().unwrap().clone();
    assert_eq!(snaps.len(), 6);
    // The file exists from the start and names the upload, the source and the part size.
    let first = snaps[0]
        .as_ref()
        .expect("checkpoint saved before parts finish");
    assert_eq!(first.upload_id, out.upload_id.clone().unwrap());
    assert_eq!(first.key, "cp.bin");
    assert_eq!(first.bucket, "cpfile");
    assert_eq!(first.part_size, PART as u64);
    assert_eq!(first.source.size, Some(data.len() as u64));
    assert!(first.source.mtime_unix_nanos.is_some());
    // Later snapshots hold acknowledged parts with ETag and CRC-64.
    let last = snaps.iter().rev().flatten().next().unwrap();
    assert!(!last.parts.is_empty());
    for part in &last.parts {
        let start = (part.number as usize - 1) * PART;
        assert_eq!(
            part.crc64,
            Some(crc64::checksum(&data[start..start + PART]))
        );
        assert!(!part.etag.is_empty());
    }
    assert!(!cp_path.exists(), "checkpoint is deleted after success");
    assert!(
        !dir.path().join("state/cp.json.lock").exists(),
        "lock file is removed"
    );
    assert_object(&client, "cp.bin", &data).await;
}

#[tokio::test]
async fn checkpoint_in_memory_resumes_and_clears() {
    let server = Server::start().await;
    let client = server.client("cpmem", SignatureVersion::V4).await;
    let data = Bytes::from(pattern(10 * PART, 4));
    let memory: Arc<Mutex<Option<Checkpoint>>> = Arc::default();
    let memory_spec = CheckpointSpec::Memory(memory.clone());
    pause_after_parts(&client, "m.bin", data.clone(), memory_spec, 3, 2).await;
    let cp = memory
        .lock()
        .unwrap()
        .clone()
        .expect("paused run keeps its checkpoint");
    assert!(
        cp.parts.len() >= 3 && cp.parts.len() < 10,
        "{}",
        cp.parts.len()
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let on_server = client
        .list_parts("m.bin", &cp.upload_id, None, None)
        .await
        .unwrap()
        .parts
        .len() as u64;
    let before = server.count("UploadPart");
    let options = small_parts().with_checkpoint(CheckpointSpec::Memory(memory.clone()));
    let out = client
        .multipart_upload("m.bin", data.clone(), options)
        .await
        .unwrap();
    assert_eq!(out.upload_id.clone().unwrap(), cp.upload_id);
    assert_eq!(server.count("UploadPart") - before, 10 - on_server);
    assert_eq!(u64::from(out.parts_sent), 10 - on_server);
    assert_eq!(u64::from(out.parts_kept), on_server);
    assert!(memory.lock().unwrap().is_none(), "cleared after success");
    assert_object(&client, "m.bin", &data).await;
}

#[tokio::test]
async fn parallel_bounds_parts_in_flight() {
    let server = Server::start().await;
    let client = server.client("parallel", SignatureVersion::V4).await;
    let data = Bytes::from(pattern(9 * PART, 5));
    let mut peaks = Vec::new();
    for parallel in [1, 3] {
        let proxy = FaultProxy::start(server.addr()).await.unwrap();
        proxy.delay_parts(Duration::from_millis(40));
        let mut config = server.config("parallel");
        config.endpoint = proxy.endpoint();
        let client = Client::new(config).unwrap();
        let options = small_parts().with_parallel(parallel);
        client
            .multipart_upload("par.bin", data.clone(), options)
            .await
            .unwrap();
        let parts = proxy.seen().iter().filter(|r| r.is_upload_part()).count();
        assert_eq!(parts, 9);
        peaks.push(proxy.peak_parts_in_flight());
    }
    assert_eq!(peaks[0], 1, "parallel 1 sends one part at a time");
    assert!(
        (2..=3).contains(&peaks[1]),
        "parallel 3: peak {} parts in flight",
        peaks[1]
    );
    assert_object(&client, "par.bin", &data).await;
}

#[tokio::test]
async fn part_size_is_checked_and_raised_beyond_ten_thousand_parts() {
    let server = Server::start().await;
    let client = server.client("partsize", SignatureVersion::V4).await;
    for bad in [PART as u64 - 1, 5 * 1024 * 1024 * 1024 + 1] {
        let options = UploadOptions::default().with_part_size(bad);
        let err = client
            .multipart_upload("bad.bin", Bytes::from_static(b"x"), options)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    }
    assert_eq!(server.count("InitiateMultipartUpload"), 0);

    // A sparse file one byte larger than 10,000 parts of 100 KiB: the plan must raise the
    // part size. Abort as soon as the warning arrives, so nothing is sent.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sparse.bin");
    let total = 10_000 * PART as u64 + 1;
    std::fs::File::create(&path)
        .unwrap()
        .set_len(total)
        .unwrap();
    let cancel = CancelHandle::new();
    let rec = Recorder::default();
    let (r, c) = (rec.clone(), cancel.clone());
    let options = small_parts()
        .with_cancel(cancel.clone())
        .with_progress(ProgressCallback::new(move |p| {
            r.0.lock().unwrap().push(p.clone());
            if matches!(p.event, ProgressEvent::Warning(_)) {
                c.abort();
            }
        }));
    let err = client
        .multipart_upload("sparse.bin", path.as_path(), options)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err}");
    let warnings = rec.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("raised"), "{}", warnings[0]);
    let report = &rec.all()[0];
    let raised = report.checkpoint.as_ref().unwrap().part_size;
    assert!(raised > PART as u64 && raised >= total.div_ceil(10_000));
    assert_eq!(raised % 1024, 0);
    assert!(report.parts_total.unwrap() <= 10_000);
    assert_eq!(server.count("UploadPart"), 0);
    assert_eq!(server.count("AbortMultipartUpload"), 1);
}

#[tokio::test]
async fn mime_meta_and_headers_reach_the_object() {
    let server = Server::start().await;
    let client = server.client("headers", SignatureVersion::V4).await;
    let data = Bytes::from(pattern(2 * PART + 1, 6));
    // The content type defaults from the extension.
    client
        .multipart_upload("doc/data.json", data.clone(), small_parts())
        .await
        .unwrap();
    let info = client.head_object("doc/data.json").await.unwrap();
    assert_eq!(info.content_type.as_deref(), Some("application/json"));
    client
        .multipart_upload("doc/page.html", data.clone(), small_parts())
        .await
        .unwrap();
    let info = client.head_object("doc/page.html").await.unwrap();
    assert_eq!(info.content_type.as_deref(), Some("text/html"));
    // A key without an extension takes the file's.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("picture.png");
    std::fs::write(&file, &data).unwrap();
    client
        .multipart_upload("doc/noext", file.as_path(), small_parts())
        .await
        .unwrap();
    let info = client.head_object("doc/noext").await.unwrap();
    assert_eq!(info.content_type.as_deref(), Some("image/png"));

    let mut options = small_parts();
    options.object.mime = Some("application/x-custom".into());
    options.object.meta = vec![("Owner".into(), "alice".into())];
    options.object.headers = vec![
        ("Cache-Control".into(), "no-cache".into()),
        (
            "Content-Disposition".into(),
            "attachment; filename=\"r.json\"".into(),
        ),
        ("Content-Encoding".into(), "identity".into()),
        ("Expires".into(), "Wed, 21 Oct 2037 07:28:00 GMT".into()),
    ];
    client
        .multipart_upload("doc/r.json", data.clone(), options)
        .await
        .unwrap();
    let info = client.head_object("doc/r.json").await.unwrap();
    assert_eq!(info.content_type.as_deref(), Some("application/x-custom"));
    assert_eq!(info.meta, vec![("owner".into(), "alice".into())]);
    let r = &info.response;
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"r.json\"")
    );
    assert_eq!(r.header("content-encoding"), Some("identity"));
    assert_eq!(r.header("expires"), Some("Wed, 21 Oct 2037 07:28:00 GMT"));
}

#[tokio::test]
async fn content_md5_goes_with_every_part_only_when_asked() {
    let server = Server::start().await;
    let data = Bytes::from(pattern(3 * PART + 9, 8));
    for content_md5 in [false, true] {
        let proxy = FaultProxy::start(server.addr()).await.unwrap();
        let mut config = server.config("md5");
        config.endpoint = proxy.endpoint();
        let client = client_for(config).await;
        let options = small_parts().with_content_md5(content_md5);
        client
            .multipart_upload("md5.bin", data.clone(), options)
            .await
            .unwrap();
        let parts: Vec<_> = proxy
            .seen()
            .into_iter()
            .filter(|r| r.is_upload_part())
            .collect();
        assert_eq!(parts.len(), 4);
        for p in &parts {
            let number: usize = p
                .target
                .split(['?', '&'])
                .find_map(|q| q.strip_prefix("partNumber="))
                .unwrap()
                .parse()
                .unwrap();
            let start = (number - 1) * PART;
            let end = (start + PART).min(data.len());
            let expected = {
                use base64::Engine;
                use md5::Digest;
                base64::engine::general_purpose::STANDARD
                    .encode(md5::Md5::digest(&data[start..end]))
            };
            match content_md5 {
                true => assert_eq!(p.header("content-md5"), Some(expected.as_str())),
                false => assert_eq!(p.header("content-md5"), None),
            }
        }
    }
}

#[tokio::test]
async fn cancel_pause_keeps_parts_and_abort_removes_the_upload() {
    let server = Server::start().await;
    let client = server.client("cancel", SignatureVersion::V4).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.bin");
    let data = pattern(10 * PART, 9);
    std::fs::write(&path, &data).unwrap();
    let cp_path = dir.path().join("c.cp");

    // Pause: the parts stay on the server and in the checkpoint.
    let file_spec = CheckpointSpec::File(cp_path.clone());
    pause_after_parts(&client, "c.bin", path.as_path(), file_spec, 2, 2).await;
    let cp = Checkpoint::load(&cp_path)
        .unwrap()
        .expect("pause keeps the checkpoint");
    assert!(cp.parts.len() >= 2);
    let listed = client
        .list_parts("c.bin", &cp.upload_id, None, None)
        .await
        .unwrap();
    for done in &cp.parts {
        assert!(listed
            .parts
            .iter()
            .any(|p| p.number == done.number && p.etag == done.etag));
    }
    assert_eq!(
        client.object_exists("c.bin").await.unwrap().map(|_| ()),
        None
    );

    // Abort (from another task while the run is under way): the upload is gone.
    let cancel = CancelHandle::new();
    let c = cancel.clone();
    let options = small_parts()
        .with_checkpoint(CheckpointSpec::File(cp_path.clone()))
        .with_cancel(cancel.clone())
        .with_progress(ProgressCallback::new(move |p| {
            if matches!(p.event, ProgressEvent::PartDone { .. }) {
                c.abort();
            }
        }))
        .with_parallel(1);
    let err = client
        .multipart_upload("c.bin", path.as_path(), options)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err}");
    let err = client
        .list_parts("c.bin", &cp.upload_id, None, None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("NoSuchUpload"));
    assert!(!cp_path.exists(), "abort deletes the checkpoint");
    let uploads = client.list_uploads(&Default::default()).await.unwrap();
    assert!(uploads.uploads.is_empty(), "{uploads:?}");
    assert!(client.object_exists("c.bin").await.unwrap().is_none());
}

fn is_upload_part(r: &crate::support::SeenRequest) -> bool {
    r.is_upload_part()
}

#[tokio::test]
async fn part_retries_resend_failed_parts_within_budget() {
    let server = Server::start().await;
    let proxy = FaultProxy::start(server.addr()).await.unwrap();
    let mut config = server.config("retries");
    config.endpoint = proxy.endpoint();
    let client = client_for(config).await;
    let data = Bytes::from(pattern(4 * PART, 10));

    proxy.fail(is_upload_part, 2, 503, "ServiceUnavailable");
    let rec = Recorder::default();
    let options = small_parts().with_progress(rec.callback()).with_parallel(1);
    let out = client
        .multipart_upload("r.bin", data.clone(), options)
        .await
        .unwrap();
    assert_eq!(proxy.faults_served(), 2);
    assert_eq!(server.count("UploadPart"), 4);
    assert_eq!(out.parts_sent, 4);
    let retries: Vec<_> = rec
        .events()
        .into_iter()
        .filter_map(|e| match e {
            ProgressEvent::Retrying {
                number,
                attempt,
                error,
            } => Some((number, attempt, error)),
            _ => None,
        })
        .collect();
    assert_eq!(retries.len(), 2, "{retries:?}");
    assert_eq!((retries[0].0, retries[0].1), (1, 1));
    assert_eq!((retries[1].0, retries[1].1), (1, 2));
    assert!(retries[0].2.contains("ServiceUnavailable"));
    assert_object(&client, "r.bin", &data).await;

    // No budget: the first failure ends the upload with the service's error.
    proxy.fail(is_upload_part, 1, 503, "ServiceUnavailable");
    let options = small_parts().with_part_retries(0).with_parallel(1);
    let err = client
        .multipart_upload("r2.bin", data.clone(), options)
        .await
        .unwrap_err();
    match &err {
        Error::Service { status, code, .. } => {
            assert_eq!((*status, code.as_str()), (503, "ServiceUnavailable"))
        }
        e => panic!("{e:?}"),
    }
    assert!(err.is_retryable());

    // A client error is not retried even with budget left.
    proxy.fail(is_upload_part, 1, 403, "AccessDenied");
    let before = proxy.seen().len();
    let err = client
        .multipart_upload("r3.bin", data.clone(), small_parts())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AccessDenied"));
    let part_requests = proxy.seen()[before..]
        .iter()
        .filter(|r| r.is_upload_part())
        .count();
    assert!(part_requests <= 3, "403 was retried: {part_requests} parts");
}

#[tokio::test]
async fn upload_id_lock_and_restart_on_source_change() {
    let server = Server::start().await;
    let client = server.client("restart", SignatureVersion::V4).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.bin");
    std::fs::write(&path, pattern(6 * PART, 11)).unwrap();
    let cp_path = dir.path().join("s.cp");

    // A second process holding the lock stops the run before anything is sent.
    let lock = CheckpointLock::acquire(&cp_path).unwrap();
    let options = small_parts().with_checkpoint(CheckpointSpec::File(cp_path.clone()));
    let err = client
        .multipart_upload("s.bin", path.as_path(), options)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Checkpoint(m) if m.contains("another process")),
        "{err}"
    );
    assert_eq!(server.count("InitiateMultipartUpload"), 0);
    lock.release();

    // Pause after two parts, then change the file and ask for a restart.
    let file_spec = CheckpointSpec::File(cp_path.clone());
    pause_after_parts(&client, "s.bin", path.as_path(), file_spec, 2, 1).await;
    let old = Checkpoint::load(&cp_path).unwrap().unwrap();
    let changed = pattern(5 * PART + 77, 12);
    std::fs::write(&path, &changed).unwrap();
    let rec = Recorder::default();
    let options = small_parts()
        .with_checkpoint(CheckpointSpec::File(cp_path.clone()))
        .with_restart_on_source_change(true)
        .with_progress(rec.callback());
    let out = client
        .multipart_upload("s.bin", path.as_path(), options)
        .await
        .unwrap();
    assert_ne!(out.upload_id.clone().unwrap(), old.upload_id);
    assert_eq!(out.parts_sent, 6);
    let warnings = rec.warnings();
    assert!(
        warnings.iter().any(|w| w.contains(&old.upload_id)),
        "{warnings:?}"
    );
    let err = client
        .list_parts("s.bin", &old.upload_id, None, None)
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some("NoSuchUpload"),
        "the old upload is aborted"
    );
    assert_object(&client, "s.bin", &changed).await;
}

#[tokio::test]
async fn sources_bytes_streams_and_empty() {
    let server = Server::start().await;
    let client = server.client("sources", SignatureVersion::V4).await;

    // In-memory bytes.
    let data = pattern(3 * PART + 1, 13);
    let out = client
        .multipart_upload("bytes.bin", Bytes::from(data.clone()), small_parts())
        .await
        .unwrap();
    assert_eq!((out.parts_sent, out.size), (4, data.len() as u64));
    assert_object(&client, "bytes.bin", &data).await;

    // A stream of unknown length written by another task through a duplex pipe.
    let (mut writer, reader) = tokio::io::duplex(8 * 1024);
    let feed = data.clone();
    let feeder = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        for chunk in feed.chunks(7_000) {
            writer.write_all(chunk).await.unwrap();
        }
    });
    let out = client
        .multipart_upload("pipe.bin", Source::reader(reader), small_parts())
        .await
        .unwrap();
    feeder.await.unwrap();
    assert_eq!((out.parts_sent, out.size), (4, data.len() as u64));
    assert_eq!(out.crc64, crc64::checksum(&data));
    assert_object(&client, "pipe.bin", &data).await;

    // A stream of exactly three parts: no empty fourth part.
    let exact = pattern(3 * PART, 14);
    let out = client
        .multipart_upload(
            "exact.bin",
            Source::reader(std::io::Cursor::new(exact.clone())),
            small_parts(),
        )
        .await
        .unwrap();
    assert_eq!(out.parts_sent, 3);
    assert_object(&client, "exact.bin", &exact).await;
    let head = client.head_object("exact.bin").await.unwrap();
    assert!(head.etag.ends_with("-3\""), "{}", head.etag);

    // A blocking stream (how the CLI reads stdin), ending mid-part.
    let piped = pattern(2 * PART + 777, 15);
    let out = client
        .multipart_upload(
            "blocking.bin",
            Source::blocking_reader(std::io::Cursor::new(piped.clone())),
            small_parts(),
        )
        .await
        .unwrap();
    assert_eq!((out.parts_sent, out.crc64), (3, crc64::checksum(&piped)));
    assert_object(&client, "blocking.bin", &piped).await;

    // Empty streams and empty bytes: an empty object.
    for (key, source) in [
        ("empty-stream", Source::reader(tokio::io::empty())),
        (
            "empty-blocking-stream",
            Source::blocking_reader(std::io::empty()),
        ),
        ("empty-bytes", Source::from(Bytes::new())),
    ] {
        let out = client
            .multipart_upload(key, source, small_parts())
            .await
            .unwrap();
        assert_eq!(out.size, 0);
        assert_eq!(out.crc64, 0);
        let info = client.head_object(key).await.unwrap();
        assert_eq!(info.size, 0);
    }

    // An empty file.
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, b"").unwrap();
    let out = client
        .multipart_upload("empty.txt", empty.as_path(), small_parts())
        .await
        .unwrap();
    assert_eq!(out.size, 0);
    assert_eq!(
        client
            .head_object("empty.txt")
            .await
            .unwrap()
            .content_type
            .as_deref(),
        Some("text/plain")
    );
}

/// One 503 for InitiateMultipartUpload, one for a part, one for Complete.
fn fail_each_call_once(proxy: &FaultProxy) {
    proxy.fail(|r| r.is_initiate(), 1, 503, "ServiceUnavailable");
    proxy.fail(is_upload_part, 1, 503, "ServiceUnavailable");
    proxy.fail(|r| r.is_complete(), 1, 503, "ServiceUnavailable");
}

#[tokio::test]
async fn one_retry_budget_covers_every_call_of_an_upload() {
    let server = Server::start().await;
    let proxy = FaultProxy::start(server.addr()).await.unwrap();
    let mut config = server.config("budget");
    config.endpoint = proxy.endpoint();
    config.retry.base_delay = Duration::from_millis(1);
    let client = client_for(config).await;
    let data = Bytes::from(pattern(4 * PART, 12));
    let with_budget = |n| small_parts().with_retry_budget(n).with_parallel(1);

    // Initiate and the part take the two retries; Complete's failure finds none left.
    fail_each_call_once(&proxy);
    let err = client
        .multipart_upload("b2.bin", data.clone(), with_budget(2))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ServiceUnavailable"), "{err:?}");
    assert_eq!(proxy.faults_served(), 3);
    assert_eq!(server.count("CompleteMultipartUpload"), 0);

    // Three retries are enough for the same three failures.
    fail_each_call_once(&proxy);
    let out = client
        .multipart_upload("b3.bin", data.clone(), with_budget(3))
        .await
        .unwrap();
    assert_eq!(proxy.faults_served(), 6);
    assert_eq!(out.parts_sent, 4);
    assert_object(&client, "b3.bin", &data).await;

    // The client's policy reaches parts (no separate part setting): without retries, the
    // part's one failure ends the upload.
    let mut config = server.config("budget");
    config.endpoint = proxy.endpoint();
    config.retry = osspart::RetryPolicy::none();
    let strict = client_for(config).await;
    proxy.fail(is_upload_part, 1, 503, "ServiceUnavailable");
    let err = strict
        .multipart_upload("b4.bin", data.clone(), small_parts())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ServiceUnavailable"));
}

/// Descriptors this process holds open on `path`.
#[cfg(target_os = "linux")]
fn open_descriptors(path: &std::path::Path) -> usize {
    let path = path.canonicalize().unwrap();
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| *target == path)
        .count()
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_dropped_upload_stops_its_tasks_and_lets_go_of_the_file() {
    let server = Server::start().await;
    let proxy = FaultProxy::start(server.addr()).await.unwrap();
    let mut config = server.config("dropped");
    config.endpoint = proxy.endpoint();
    let client = client_for(config).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("src.bin");
    // 24 parts answered 200 ms late, at most 6 open at once (2 being sent): 800 ms or more.
    std::fs::write(&file, pattern(24 * PART, 13)).unwrap();
    let checkpoint = dir.path().join("cp.json");
    proxy.delay_parts(Duration::from_millis(200));
    let options = small_parts()
        .with_checkpoint(CheckpointSpec::File(checkpoint.clone()))
        .with_parallel(2);
    let upload = client.multipart_upload("d.bin", file.as_path(), options);
    // Dropped midway, as `timeout` or `select!` do.
    assert!(tokio::time::timeout(Duration::from_millis(500), upload)
        .await
        .is_err());
    // Tasks aborted by the drop finish unwinding on the runtime's next turns.
    let mut open = usize::MAX;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        open = open_descriptors(&file);
        if open == 0 {
            break;
        }
    }
    assert_eq!(open, 0, "the source file is still open");
    // Nothing keeps saving the checkpoint: it stays as the drop left it.
    let before = std::fs::read(&checkpoint).unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(std::fs::read(&checkpoint).unwrap(), before);
    // And the next run resumes from it.
    proxy.clear();
    let out = client
        .multipart_upload(
            "d.bin",
            file.as_path(),
            small_parts().with_checkpoint(CheckpointSpec::File(checkpoint.clone())),
        )
        .await
        .unwrap();
    assert!(out.parts_kept > 0, "{out:?}");
    assert_object(&client, "d.bin", &std::fs::read(&file).unwrap()).await;
}

/// File parts go out by sendfile(2) over plain HTTP by default, and through the regular client
/// (as over TLS) when that is turned off; both give the same object, checked part by part.
#[tokio::test]
async fn file_parts_arrive_whole_with_and_without_sendfile() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("src.bin");
    let data = pattern(5 * PART + 77, 21);
    std::fs::write(&path, &data).unwrap();
    for sendfile in [true, false] {
        let client = client_for(server.config("paths").with_sendfile(sendfile)).await;
        let key = format!("via-{sendfile}.bin");
        let out = client
            .multipart_upload(&key, path.as_path(), small_parts().with_parallel(3))
            .await
            .unwrap();
        assert_eq!(out.crc64, crc64::checksum(&data));
        assert_eq!(out.parts_sent, 6);
        assert_object(&client, &key, &data).await;
    }
}
