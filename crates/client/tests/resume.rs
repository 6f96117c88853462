//! Resuming: what a second run sends is counted on the server, and every way a resume can go
//! wrong ends in a clear error or a fresh upload, never in a corrupt object.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::TryStreamExt;
use osspart::{
    Checkpoint, CheckpointSpec, Client, Error, ProgressEvent, SignatureVersion, UploadOptions,
};

use crate::support::{pattern, Server, PART};
use crate::upload::{assert_object, small_parts, Recorder};

/// Parts of every resume test's source: 11 full parts and a short last one.
const PARTS: u64 = 12;

struct Paused {
    dir: tempfile::TempDir,
    path: PathBuf,
    cp_path: PathBuf,
    data: Vec<u8>,
    checkpoint: Checkpoint,
    /// Parts the server holds after the pause (a part whose answer was cut off by the pause
    /// may be stored yet missing from the checkpoint).
    on_server: u64,
}

/// Uploads a 12-part file with a checkpoint and pauses once `k` parts are done.
async fn upload_and_pause(client: &Client, key: &str, k: u32) -> Paused {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("source.bin");
    let data = pattern(PARTS as usize * PART - 1000, 21);
    std::fs::write(&path, &data).unwrap();
    let cp_path = dir.path().join("upload.cp");
    let spec = CheckpointSpec::File(cp_path.clone());
    crate::upload::pause_after_parts(client, key, path.as_path(), spec, k, 2).await;
    let checkpoint = Checkpoint::load(&cp_path).unwrap().unwrap();
    assert!(checkpoint.parts.len() >= k as usize);
    assert!((checkpoint.parts.len() as u64) < PARTS);
    // Let requests the pause cut off finish (or fail) on the server before counting.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let on_server = parts_on_server(client, key, &checkpoint.upload_id).await;
    Paused {
        dir,
        path,
        cp_path,
        data,
        checkpoint,
        on_server,
    }
}

async fn parts_on_server(client: &Client, key: &str, upload_id: &str) -> u64 {
    let parts: Vec<_> = client
        .list_all_parts(key, upload_id)
        .try_collect()
        .await
        .unwrap();
    parts.len() as u64
}

fn resume_options(cp_path: &Path, rec: &Recorder) -> UploadOptions {
    small_parts()
        .with_checkpoint(CheckpointSpec::File(cp_path.to_owned()))
        .with_progress(rec.callback())
}

#[tokio::test]
async fn pause_then_resume_sends_only_the_missing_parts() {
    let server = Server::start().await;
    let client = server.client("resume", SignatureVersion::V4).await;
    let p = upload_and_pause(&client, "r.bin", 4).await;
    let (parts_before, bytes_before) = (server.count("UploadPart"), server.ingested());
    let rec = Recorder::default();
    let out = client
        .multipart_upload("r.bin", p.path.as_path(), resume_options(&p.cp_path, &rec))
        .await
        .unwrap();
    let sent = server.count("UploadPart") - parts_before;
    assert_eq!(sent, PARTS - p.on_server, "only missing parts are sent");
    assert_eq!(u64::from(out.parts_sent), sent);
    assert_eq!(u64::from(out.parts_kept), p.on_server);
    // The bytes received match the parts sent: the last (short) part is always among them.
    let kept_bytes = p.on_server * PART as u64;
    assert_eq!(
        server.ingested() - bytes_before,
        p.data.len() as u64 - kept_bytes
    );
    assert_eq!(out.upload_id.clone().unwrap(), p.checkpoint.upload_id);
    let events = rec.events();
    match &events[0] {
        ProgressEvent::Resumed {
            upload_id,
            kept_parts,
            kept_bytes,
            parts_to_check,
        } => {
            // Parts stored after the pause cut off their answers are checked, not vouched for.
            assert_eq!(
                u64::from(*parts_to_check),
                p.on_server - p.checkpoint.parts.len() as u64
            );
            assert_eq!(upload_id, &p.checkpoint.upload_id);
            assert_eq!(*kept_parts as usize, p.checkpoint.parts.len());
            assert_eq!(*kept_bytes, p.checkpoint.parts.len() as u64 * PART as u64);
        }
        e => panic!("first event {e:?}"),
    }
    let fractions: Vec<f64> = rec.all().iter().map(|r| r.fraction).collect();
    assert!(fractions[0] > 0.0, "a resume starts from the kept parts");
    assert!(fractions.windows(2).all(|w| w[0] <= w[1]));
    assert!(!p.cp_path.exists());
    assert_object(&client, "r.bin", &p.data).await;
    drop(p.dir);
}

#[tokio::test]
async fn lost_checkpoint_adopts_parts_by_upload_id_and_crc() {
    let server = Server::start().await;
    let client = server.client("adopt", SignatureVersion::V4).await;
    let p = upload_and_pause(&client, "a.bin", 5).await;
    std::fs::remove_file(&p.cp_path).unwrap();
    let id = p.checkpoint.upload_id.clone();

    // Replace part 1 on the server with other bytes of the same size: its CRC-64 no longer
    // matches the file, so it must not be adopted.
    client
        .upload_part("a.bin", &id, 1, Bytes::from(pattern(PART, 99)), false)
        .await
        .unwrap();
    let on_server = parts_on_server(&client, "a.bin", &id).await;
    let before = server.count("UploadPart");
    let rec = Recorder::default();
    let options = small_parts()
        .with_upload_id(id.clone())
        .with_progress(rec.callback());
    let out = client
        .multipart_upload("a.bin", p.path.as_path(), options)
        .await
        .unwrap();
    let adopted = on_server - 1;
    assert_eq!(server.count("UploadPart") - before, PARTS - adopted);
    assert_eq!(u64::from(out.parts_kept), adopted);
    assert_eq!(out.upload_id.clone().unwrap(), id);
    assert!(matches!(
        &rec.events()[0],
        ProgressEvent::Resumed { kept_parts: 0, .. }
    ));
    assert_object(&client, "a.bin", &p.data).await;
}

#[tokio::test]
async fn changed_source_is_refused_and_nothing_is_corrupted() {
    let server = Server::start().await;
    let client = server.client("changed", SignatureVersion::V4).await;
    let p = upload_and_pause(&client, "c.bin", 3).await;

    // Same size, new modification time.
    let f = std::fs::File::options().write(true).open(&p.path).unwrap();
    f.set_modified(SystemTime::now() + Duration::from_secs(3600))
        .unwrap();
    drop(f);
    let rec = Recorder::default();
    let err = client
        .multipart_upload("c.bin", p.path.as_path(), resume_options(&p.cp_path, &rec))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Checkpoint(m) if m.contains("changed") && m.contains("modification time")),
        "{err}"
    );

    // Larger.
    let mut grown = p.data.clone();
    grown.extend_from_slice(b"more");
    std::fs::write(&p.path, &grown).unwrap();
    let err = client
        .multipart_upload("c.bin", p.path.as_path(), resume_options(&p.cp_path, &rec))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Checkpoint(m) if m.contains("changed") && m.contains("size")),
        "{err}"
    );

    // Nothing was sent, no object appeared, the upload and its checkpoint are intact.
    assert!(rec.events().is_empty());
    assert!(client.object_exists("c.bin").await.unwrap().is_none());
    let uploads = client.list_uploads(&Default::default()).await.unwrap();
    assert_eq!(uploads.uploads.len(), 1);
    assert_eq!(uploads.uploads[0].upload_id, p.checkpoint.upload_id);
    assert_eq!(
        parts_on_server(&client, "c.bin", &p.checkpoint.upload_id).await,
        p.on_server
    );
    assert_eq!(
        Checkpoint::load(&p.cp_path).unwrap().unwrap(),
        p.checkpoint,
        "the checkpoint is left as it was"
    );
}

#[tokio::test]
async fn upload_aborted_elsewhere_starts_a_new_one() {
    let server = Server::start().await;
    let client = server.client("gone", SignatureVersion::V4).await;
    let p = upload_and_pause(&client, "g.bin", 2).await;
    client
        .abort_multipart_upload("g.bin", &p.checkpoint.upload_id)
        .await
        .unwrap();
    let before = server.count("UploadPart");
    let rec = Recorder::default();
    let out = client
        .multipart_upload("g.bin", p.path.as_path(), resume_options(&p.cp_path, &rec))
        .await
        .unwrap();
    assert_ne!(out.upload_id.clone().unwrap(), p.checkpoint.upload_id);
    assert_eq!(server.count("UploadPart") - before, PARTS);
    assert_eq!(out.parts_kept, 0);
    let events = rec.events();
    assert!(
        matches!(&events[0], ProgressEvent::Warning(w) if w.contains(&p.checkpoint.upload_id) && w.contains("new upload")),
        "{events:?}"
    );
    assert!(
        matches!(&events[1], ProgressEvent::Initiated { upload_id } if *upload_id == out.upload_id.clone().unwrap())
    );
    assert_object(&client, "g.bin", &p.data).await;
}

#[tokio::test]
async fn a_held_lock_stops_a_second_resumer() {
    let server = Server::start().await;
    let client = server.client("locked", SignatureVersion::V4).await;
    let p = upload_and_pause(&client, "l.bin", 2).await;
    // Another process is resuming: it holds the lock.
    let lock = osspart::upload::CheckpointLock::acquire(&p.cp_path).unwrap();
    let before = server.count("UploadPart");
    let rec = Recorder::default();
    let err = client
        .multipart_upload("l.bin", p.path.as_path(), resume_options(&p.cp_path, &rec))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Checkpoint(m) if m.contains("lock")),
        "{err}"
    );
    assert_eq!(server.count("UploadPart"), before);
    assert!(rec.events().is_empty());
    lock.release();
    client
        .multipart_upload("l.bin", p.path.as_path(), resume_options(&p.cp_path, &rec))
        .await
        .unwrap();
    assert_object(&client, "l.bin", &p.data).await;
}

#[tokio::test]
async fn ali_oss_checkpoint_is_resumed() {
    let server = Server::start().await;
    let client = server.client("alioss", SignatureVersion::V4).await;
    let p = upload_and_pause(&client, "x.bin", 3).await;
    // Rewrite the checkpoint in ali-oss's shape: parts carry only number and ETag, so the
    // resume must verify them against the service and the local bytes.
    let ali = serde_json::to_vec(&p.checkpoint.to_ali_oss()).unwrap();
    std::fs::write(&p.cp_path, ali).unwrap();
    let before = server.count("UploadPart");
    let out = client
        .multipart_upload(
            "x.bin",
            p.path.as_path(),
            resume_options(&p.cp_path, &Recorder::default()),
        )
        .await
        .unwrap();
    assert_eq!(out.upload_id.clone().unwrap(), p.checkpoint.upload_id);
    assert_eq!(server.count("UploadPart") - before, PARTS - p.on_server);
    assert_object(&client, "x.bin", &p.data).await;
}
