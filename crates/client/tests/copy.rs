//! `Client::copy`: one CopyObject below the threshold, a parallel UploadPartCopy multipart
//! copy above it (across buckets, metadata kept or replaced), resumed after a pause from its
//! checkpoint, and refused when the source is replaced midway.

use std::sync::Arc;

use bytes::Bytes;
use osspart::{
    CancelHandle, CopyOptions, Error, ObjectOptions, ProgressCallback, ProgressEvent,
    SignatureVersion,
};
use osspart_protocol::crc64;

use crate::support::{pattern, Server};

fn small_parts() -> CopyOptions {
    CopyOptions::default()
        .with_multipart_threshold(300 * 1024)
        .with_part_size(100 * 1024)
        .with_parallel(3)
}

fn source_options() -> ObjectOptions {
    ObjectOptions::default()
        .with_mime("application/x-test")
        .with_meta(vec![("owner".into(), "alice".into())])
        .with_headers(vec![("Cache-Control".into(), "no-cache".into())])
        .with_forbid_overwrite(false)
}

#[tokio::test]
async fn small_and_multipart_copies_keep_or_replace_metadata() {
    let server = Server::start().await;
    let src = server.client("copy-src", SignatureVersion::V4).await;
    let dst = server.client("copy-dst", SignatureVersion::V4).await;
    for (name, len) in [("small.bin", 1000usize), ("large.bin", 1024 * 1024 + 7)] {
        let data = pattern(len, len);
        src.put_object(name, Bytes::from(data.clone()), &source_options())
            .await
            .unwrap();
        let copies = server.count("UploadPartCopy");
        let out = dst
            .copy("copy-src", name, &format!("kept/{name}"), small_parts())
            .await
            .unwrap();
        let multipart = len >= 300 * 1024;
        assert_eq!(out.upload_id.is_some(), multipart, "{name}");
        if multipart {
            assert_eq!(out.parts_copied, 11);
            assert_eq!(server.count("UploadPartCopy") - copies, 11);
        }
        assert_eq!(out.crc64, Some(crc64::checksum(&data)), "{name}");
        let (info, body) = dst.get_object(&format!("kept/{name}"), None).await.unwrap();
        assert_eq!(&body[..], &data[..], "{name}");
        assert_eq!(info.is_multipart_etag(), multipart, "{name}");
        assert_eq!(
            info.content_type.as_deref(),
            Some("application/x-test"),
            "{name}"
        );
        assert_eq!(info.meta, vec![("owner".into(), "alice".into())], "{name}");
        assert_eq!(
            info.response.header("cache-control"),
            Some("no-cache"),
            "{name}"
        );
        // Replaced metadata.
        let replaced = small_parts()
            .with_object(ObjectOptions::default().with_meta(vec![("owner".into(), "bob".into())]));
        dst.copy("copy-src", name, &format!("new/{name}"), replaced)
            .await
            .unwrap();
        let info = dst.head_object(&format!("new/{name}")).await.unwrap();
        assert_eq!(info.meta, vec![("owner".into(), "bob".into())], "{name}");
    }
}

#[tokio::test]
async fn a_paused_multipart_copy_resumes_from_its_checkpoint() {
    let server = Server::start().await;
    let client = server.client("copy-resume", SignatureVersion::V1).await;
    let data = pattern(2 * 1024 * 1024, 9);
    client
        .put_object("src", Bytes::from(data.clone()), &ObjectOptions::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cp = dir.path().join("copy.json");
    let cancel = CancelHandle::new();
    let pause = cancel.clone();
    let options = small_parts()
        .with_checkpoint(cp.clone())
        .with_cancel(cancel)
        .with_parallel(1)
        .with_progress(ProgressCallback::new(move |p| {
            if matches!(p.event, ProgressEvent::PartDone { .. }) && p.parts_done >= 5 {
                pause.pause();
            }
        }));
    let err = client
        .copy("copy-resume", "src", "dst", options)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err}");
    assert!(cp.exists(), "the checkpoint is kept");
    assert_eq!(
        client
            .list_uploads(&Default::default())
            .await
            .unwrap()
            .uploads
            .len(),
        1
    );
    let before = server.count("UploadPartCopy");
    let out = client
        .copy(
            "copy-resume",
            "src",
            "dst",
            small_parts().with_checkpoint(cp.clone()),
        )
        .await
        .unwrap();
    assert!(out.parts_kept >= 5, "{out:?}");
    assert_eq!(out.parts_kept + out.parts_copied, 21);
    assert_eq!(
        server.count("UploadPartCopy") - before,
        u64::from(out.parts_copied)
    );
    assert!(!cp.exists());
    let (_, body) = client.get_object("dst", None).await.unwrap();
    assert_eq!(&body[..], &data[..]);
    assert!(client
        .list_uploads(&Default::default())
        .await
        .unwrap()
        .uploads
        .is_empty());
}

#[tokio::test]
async fn a_source_replaced_midway_stops_the_copy() {
    let server = Server::start().await;
    let client = server.client("copy-changed", SignatureVersion::V4).await;
    client
        .put_object(
            "src",
            Bytes::from(pattern(1024 * 1024, 1)),
            &ObjectOptions::default(),
        )
        .await
        .unwrap();
    let replacer = client.clone();
    let replaced = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let once = replaced.clone();
    let options = small_parts()
        .with_parallel(1)
        .with_progress(ProgressCallback::new_async(move |p| {
            let replacer = replacer.clone();
            let once = once.clone();
            async move {
                if matches!(p.event, ProgressEvent::PartDone { .. })
                    && !once.swap(true, std::sync::atomic::Ordering::SeqCst)
                {
                    replacer
                        .put_object(
                            "src",
                            Bytes::from(pattern(1024 * 1024, 2)),
                            &ObjectOptions::default(),
                        )
                        .await
                        .unwrap();
                }
            }
        }));
    let err = client
        .copy("copy-changed", "src", "dst", options)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::SourceChanged(_)), "{err}");
    assert!(client.object_exists("dst").await.unwrap().is_none());
    assert!(client
        .list_uploads(&Default::default())
        .await
        .unwrap()
        .uploads
        .is_empty());
}
