//! `Client::upload`: one PutObject below the multipart threshold (CRC-64 checked, one request),
//! the multipart upload above it or for a file whose checkpoint exists, streams decided by
//! reading up to the threshold, and a shared `TransferBudget` across many uploads.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use osspart::{
    CheckpointSpec, ProgressCallback, ProgressEvent, SignatureVersion, Source, TransferBudget,
    UploadOptions,
};
use osspart_protocol::crc64;

use crate::support::{pattern, Server};

const THRESHOLD: u64 = 256 * 1024;

fn options() -> UploadOptions {
    UploadOptions::default()
        .with_multipart_threshold(THRESHOLD)
        .with_part_size(100 * 1024)
}

#[tokio::test]
async fn small_sources_take_one_put_and_large_ones_go_multipart() {
    let server = Server::start().await;
    let client = server.client("single", SignatureVersion::V4).await;
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, usize, bool)> = vec![
        ("empty.txt", 0, false),
        ("six.txt", 6, false),
        ("just-below.bin", THRESHOLD as usize - 1, false),
        ("at-threshold.bin", THRESHOLD as usize, true),
        ("large.bin", 3 * THRESHOLD as usize + 17, true),
    ];
    for (i, (name, len, multipart)) in cases.into_iter().enumerate() {
        let data = pattern(len, i);
        let sources: Vec<(&str, Source)> = vec![
            ("file", {
                let p = dir.path().join(name);
                std::fs::write(&p, &data).unwrap();
                Source::File(p)
            }),
            ("bytes", Source::Bytes(Bytes::from(data.clone()))),
            ("reader", Source::reader(std::io::Cursor::new(data.clone()))),
            (
                "blocking reader",
                Source::blocking_reader(std::io::Cursor::new(data.clone())),
            ),
        ];
        for (kind, source) in sources {
            let puts = server.count("PutObject");
            let initiates = server.count("InitiateMultipartUpload");
            let key = format!("{kind}/{name}");
            let events = Arc::new(Mutex::new(Vec::new()));
            let seen = events.clone();
            let mut o = options();
            o.progress = Some(ProgressCallback::new(move |p| {
                seen.lock().unwrap().push(p.event.clone())
            }));
            let out = client.upload(&key, source, o).await.unwrap();
            assert_eq!(out.size, len as u64, "{key}");
            assert_eq!(out.crc64, crc64::checksum(&data), "{key}");
            assert_eq!(out.upload_id.is_some(), multipart, "{key}");
            let (put, init) = if multipart { (0, 1) } else { (1, 0) };
            assert_eq!(server.count("PutObject") - puts, put, "{key}");
            assert_eq!(
                server.count("InitiateMultipartUpload") - initiates,
                init,
                "{key}"
            );
            assert!(
                matches!(
                    events.lock().unwrap().last(),
                    Some(ProgressEvent::Completed { .. })
                ),
                "{key}: the last report says completed"
            );
            let (info, body) = client.get_object(&key, None).await.unwrap();
            assert_eq!(&body[..], &data[..], "{key}");
            assert_eq!(info.is_multipart_etag(), multipart, "{key}");
            assert_eq!(info.crc64, Some(out.crc64), "{key}");
        }
    }
    // The MIME type comes from the key, else from the file name.
    let p = dir.path().join("page.html");
    std::fs::write(&p, b"<p>hi</p>").unwrap();
    client
        .upload("no-extension", Source::File(p), options())
        .await
        .unwrap();
    let info = client.head_object("no-extension").await.unwrap();
    assert_eq!(info.content_type.as_deref(), Some("text/html"));
}

#[tokio::test]
async fn a_file_with_a_checkpoint_resumes_its_multipart_upload_whatever_its_size() {
    let server = Server::start().await;
    let client = server.client("resumes", SignatureVersion::V4).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.bin");
    let data = pattern(400 * 1024, 3);
    std::fs::write(&path, &data).unwrap();
    let cp = dir.path().join("f.json");
    // Pause a multipart upload (threshold below the size) after its first part.
    let cancel = osspart::CancelHandle::new();
    let mut o = options();
    o.checkpoint = Some(CheckpointSpec::File(cp.clone()));
    o.cancel = Some(cancel.clone());
    o.parallel = 1;
    o.progress = Some(ProgressCallback::new(move |p| {
        if matches!(p.event, ProgressEvent::PartDone { .. }) {
            cancel.pause();
        }
    }));
    let err = client
        .upload("f.bin", Source::File(path.clone()), o)
        .await
        .unwrap_err();
    assert!(matches!(err, osspart::Error::Cancelled), "{err}");
    assert!(cp.exists());
    // Now the threshold says "one PUT", but the checkpoint wins: the upload resumes.
    let mut o = options();
    o.multipart_threshold = 1 << 30;
    o.checkpoint = Some(CheckpointSpec::File(cp.clone()));
    let puts = server.count("PutObject");
    let out = client.upload("f.bin", Source::File(path), o).await.unwrap();
    assert!(out.parts_kept >= 1, "{out:?}");
    assert_eq!(server.count("PutObject"), puts);
    assert!(!cp.exists());
    let (_, body) = client.get_object("f.bin", None).await.unwrap();
    assert_eq!(&body[..], &data[..]);
}

#[tokio::test]
async fn many_uploads_share_one_budget() {
    let server = Server::start().await;
    let client = server.client("budget", SignatureVersion::V1).await;
    // Room for two 100 KiB parts at once, one connection at a time.
    let budget = TransferBudget::new(1, 200 * 1024);
    let mut tasks = Vec::new();
    for i in 0..6usize {
        let client = client.clone();
        let budget = budget.clone();
        tasks.push(tokio::spawn(async move {
            let data = pattern(if i % 2 == 0 { 1000 + i } else { 350 * 1024 }, i);
            let mut o = options();
            o.budget = Some(budget);
            o.parallel = 4;
            let out = client
                .upload(
                    &format!("k{i}"),
                    Source::Bytes(Bytes::from(data.clone())),
                    o,
                )
                .await
                .unwrap();
            (out.crc64, crc64::checksum(&data))
        }));
    }
    for t in tasks {
        let (theirs, ours) = t.await.unwrap();
        assert_eq!(theirs, ours);
    }
    assert_eq!(budget.idle_connections(), 1, "every permit came back");
    assert_eq!(budget.buffered_bytes(), 200 * 1024);
}
