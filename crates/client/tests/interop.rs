//! Checkpoint interop with ali-oss (Node): an upload one SDK started and cancelled is finished
//! by the other from the ali-oss checkpoint shape, and the object is byte-identical.
//!
//! The Node side is `compat/node/interop.js`; its SDK is installed by `scripts/test`. The
//! server counts UploadPart calls, so each test checks that the finishing side sent exactly
//! the parts that were missing.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use osspart::{
    CancelHandle, Checkpoint, CheckpointSpec, Client, Error, ProgressCallback, ProgressEvent,
    SignatureVersion, UploadOptions,
};
use osspart_protocol::crc64;

use crate::support::{credentials, pattern, Server};

/// Part size both SDKs use here (ali-oss's minimum is 100 KiB).
const PART: u64 = 128 * 1024;
/// Parts in the test file; the last one is short.
const PARTS: u64 = 24;

fn node_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../compat/node")
}

fn require_ali_oss() {
    let sdk = node_dir().join("node_modules/ali-oss/package.json");
    assert!(
        sdk.is_file(),
        "ali-oss is not installed ({} is missing): run scripts/test, which installs the \
         compatibility-test SDKs (npm ci in compat/node)",
        sdk.display()
    );
}

/// Runs `node interop.js ARGS` against `server` and returns its last stdout line as JSON.
async fn run_interop_js(server: &Server, args: &[&str]) -> serde_json::Value {
    require_ali_oss();
    let creds = credentials();
    let out = tokio::process::Command::new("node")
        .arg("interop.js")
        .args(args)
        .current_dir(node_dir())
        .env("OSSPART_ENDPOINT", server.endpoint())
        .env("OSSPART_REGION", "cn-hangzhou")
        .env("OSS_ACCESS_KEY_ID", &creds.access_key_id)
        .env("OSS_ACCESS_KEY_SECRET", &creds.access_key_secret)
        .env_remove("OSS_SESSION_TOKEN")
        .kill_on_drop(true)
        .output()
        .await
        .expect("cannot run node (is Node.js installed?)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "node interop.js {args:?} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("interop.js printed no JSON summary ({e}):\n{stdout}\n{stderr}"))
}

fn upload_parts_counted(server: &Server) -> u64 {
    let ops = server.server.as_ref().unwrap().completed_operations();
    ops.get("UploadPart").copied().unwrap_or(0)
}

/// Writes the test file and returns its path and bytes.
fn test_file(dir: &Path, seed: usize) -> (PathBuf, Vec<u8>) {
    let data = pattern((PARTS * PART - 4321) as usize, seed);
    let path = dir.join("interop.bin");
    std::fs::write(&path, &data).unwrap();
    (path, data)
}

async fn assert_object_is(client: &Client, key: &str, data: &[u8]) {
    let info = client.head_object(key).await.unwrap();
    assert_eq!(info.size, data.len() as u64);
    assert!(info.is_multipart_etag(), "etag {}", info.etag);
    assert_eq!(info.crc64, Some(crc64::checksum(data)));
    let (_, body) = client.get_object(key, None).await.unwrap();
    assert!(
        body[..] == data[..],
        "the object's bytes differ from the file"
    );
}

#[tokio::test]
async fn osspart_finishes_an_upload_ali_oss_cancelled() {
    let server = Server::start().await;
    let client = server.client("interop-a", SignatureVersion::V4).await;
    let dir = tempfile::tempdir().unwrap();
    let (file, data) = test_file(dir.path(), 3);
    let checkpoint = dir.path().join("ali-oss-checkpoint.json");
    let key = "interop/from-ali-oss.bin";

    let started = run_interop_js(
        &server,
        &[
            "start",
            "interop-a",
            key,
            file.to_str().unwrap(),
            checkpoint.to_str().unwrap(),
            &PART.to_string(),
            "2",
            "5",
        ],
    )
    .await;
    assert_eq!(started["cancelled"], true, "{started}");
    let upload_id = started["uploadId"].as_str().unwrap().to_owned();
    let recorded = started["doneParts"].as_u64().unwrap();
    assert!((5..PARTS).contains(&recorded), "{started}");

    // The file is ali-oss's own shape, with `file` a path string.
    let exported: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&checkpoint).unwrap()).unwrap();
    assert_eq!(exported["file"], file.to_str().unwrap());
    assert_eq!(exported["partSize"], PART);
    assert_eq!(exported["uploadId"], upload_id.as_str());

    // Parts whose reply ali-oss dropped when cancelled may still be on the server; osspart
    // adopts those after comparing CRC-64, so it sends only what the server lacks.
    let on_server = client
        .list_parts(key, &upload_id, None, None)
        .await
        .unwrap()
        .parts
        .len() as u64;
    assert!(on_server >= recorded, "{on_server} < {recorded}");
    let before = upload_parts_counted(&server);

    // A different size on purpose: the checkpoint's cut must win.
    let options = UploadOptions::default()
        .with_checkpoint(CheckpointSpec::File(checkpoint.clone()))
        .with_parallel(3)
        .with_part_size(2 * PART);
    let out = client
        .multipart_upload(key, file.as_path(), options)
        .await
        .unwrap();
    let sent_by_osspart = upload_parts_counted(&server) - before;
    assert_eq!(
        out.upload_id.clone().unwrap(),
        upload_id,
        "osspart must continue the same upload"
    );
    assert_eq!(sent_by_osspart, PARTS - on_server);
    assert_eq!(u64::from(out.parts_sent), PARTS - on_server);
    assert_eq!(u64::from(out.parts_sent + out.parts_kept), PARTS);
    assert_eq!(out.crc64, crc64::checksum(&data));
    assert!(
        !checkpoint.exists(),
        "the checkpoint is removed after success"
    );
    assert_object_is(&client, key, &data).await;
}

#[tokio::test]
async fn ali_oss_finishes_an_upload_osspart_paused() {
    let server = Server::start().await;
    let client = server.client("interop-b", SignatureVersion::V1).await;
    let dir = tempfile::tempdir().unwrap();
    let (file, data) = test_file(dir.path(), 11);
    let key = "interop/from-osspart.bin";

    let cancel = CancelHandle::new();
    let done = Arc::new(AtomicU32::new(0));
    let memory = Arc::new(Mutex::new(None));
    let options = UploadOptions::default()
        .with_checkpoint(CheckpointSpec::Memory(memory.clone()))
        .with_parallel(2)
        .with_part_size(PART)
        .with_cancel(cancel.clone())
        .with_progress({
            let (cancel, done) = (cancel.clone(), done.clone());
            ProgressCallback::new(move |p| {
                if matches!(p.event, ProgressEvent::PartDone { .. })
                    && done.fetch_add(1, Ordering::SeqCst) + 1 >= 7
                {
                    cancel.pause();
                }
            })
        });
    let paused = client.multipart_upload(key, file.as_path(), options).await;
    assert!(matches!(paused, Err(Error::Cancelled)), "{paused:?}");
    let saved: Checkpoint = memory
        .lock()
        .unwrap()
        .clone()
        .expect("a paused upload keeps its checkpoint");
    let kept = saved.parts.len() as u64;
    assert!((7..PARTS).contains(&kept), "{kept} parts in the checkpoint");

    let exported = dir.path().join("osspart-checkpoint.json");
    std::fs::write(&exported, serde_json::to_vec(&saved.to_ali_oss()).unwrap()).unwrap();
    let before = upload_parts_counted(&server);

    let finished = run_interop_js(
        &server,
        &[
            "finish",
            "interop-b",
            key,
            file.to_str().unwrap(),
            exported.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(finished["completed"], true, "{finished}");
    assert_eq!(finished["status"], 200, "{finished}");
    assert_eq!(finished["uploadId"], saved.upload_id.as_str());
    // ali-oss trusts the checkpoint and sends every part it does not list.
    assert_eq!(upload_parts_counted(&server) - before, PARTS - kept);
    assert_object_is(&client, key, &data).await;
    let uploads = client
        .list_uploads(&Default::default())
        .await
        .unwrap()
        .uploads;
    assert!(uploads.is_empty(), "no upload is left behind: {uploads:?}");
}
