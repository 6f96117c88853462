//! Checkpoints: what a resumable upload has achieved, saved atomically after parts complete,
//! so that another run (even another process) can finish it. A lock file beside the
//! checkpoint stops two processes from driving one upload.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Current checkpoint format version.
pub const CHECKPOINT_VERSION: u32 = 1;

/// Identity of the local source, to notice when it changed between runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SourceIdentity {
    /// File path, when the source is a file.
    pub path: Option<String>,
    /// Size in bytes, when known.
    pub size: Option<u64>,
    /// Modification time in nanoseconds since the Unix epoch, when known.
    pub mtime_unix_nanos: Option<i128>,
}

impl SourceIdentity {
    /// The identity of the file at `path` now.
    pub fn of_file(path: &Path) -> Result<SourceIdentity> {
        let meta = std::fs::metadata(path)?;
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos() as i128);
        Ok(SourceIdentity {
            path: Some(path.to_string_lossy().into_owned()),
            size: Some(meta.len()),
            mtime_unix_nanos: mtime,
        })
    }
}

/// A part the service acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DonePart {
    /// Part number.
    pub number: u32,
    /// Size in bytes.
    pub size: u64,
    /// ETag the service returned.
    pub etag: String,
    /// CRC-64 of the part (`None` for parts imported from an ali-oss checkpoint).
    pub crc64: Option<u64>,
}

/// Progress of one multipart upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Format version ([`CHECKPOINT_VERSION`]).
    pub version: u32,
    /// Bucket.
    pub bucket: String,
    /// Object key.
    pub key: String,
    /// Upload id.
    pub upload_id: String,
    /// The source the parts were read from.
    pub source: SourceIdentity,
    /// Part size used to cut the source.
    pub part_size: u64,
    /// Acknowledged parts, ascending by number.
    pub parts: Vec<DonePart>,
    /// Set, with `upload_id` empty, while a run initiates the upload: when it began (Unix
    /// seconds, local clock). A run killed between InitiateMultipartUpload and its first save
    /// leaves this behind, so the next run can adopt the upload it lost instead of orphaning it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initiating_since: Option<i64>,
}

/// The checkpoint shape of ali-oss's `multipartUpload` (`file, name, fileSize, partSize,
/// uploadId, doneParts[{number, etag}]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AliOssCheckpoint {
    /// Path of the file being uploaded.
    pub file: serde_json::Value,
    /// Object name.
    pub name: String,
    /// File size.
    pub file_size: u64,
    /// Part size.
    pub part_size: u64,
    /// Upload id.
    pub upload_id: String,
    /// Parts done.
    pub done_parts: Vec<AliOssPart>,
}

/// One part of an ali-oss checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliOssPart {
    /// Part number.
    pub number: u32,
    /// ETag.
    pub etag: String,
}

impl Checkpoint {
    /// A fresh checkpoint for a new upload.
    pub fn new(
        bucket: &str,
        key: &str,
        upload_id: &str,
        source: SourceIdentity,
        part_size: u64,
    ) -> Checkpoint {
        Checkpoint {
            version: CHECKPOINT_VERSION,
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            upload_id: upload_id.to_owned(),
            source,
            part_size,
            parts: Vec::new(),
            initiating_since: None,
        }
    }

    /// A checkpoint saved just before InitiateMultipartUpload: no upload id yet, only the
    /// time the run began initiating (see [`Checkpoint::initiating_since`]).
    pub fn initiating(
        bucket: &str,
        key: &str,
        source: SourceIdentity,
        part_size: u64,
        since_unix_seconds: i64,
    ) -> Checkpoint {
        Checkpoint {
            initiating_since: Some(since_unix_seconds),
            ..Checkpoint::new(bucket, key, "", source, part_size)
        }
    }

    /// Whether this checkpoint was saved before its upload was initiated.
    pub fn is_initiating(&self) -> bool {
        self.upload_id.is_empty()
    }

    /// Records an acknowledged part (replacing one with the same number).
    pub fn record(&mut self, part: DonePart) {
        match self.parts.binary_search_by_key(&part.number, |p| p.number) {
            Ok(i) => self.parts[i] = part,
            Err(i) => self.parts.insert(i, part),
        }
    }

    /// Loads a checkpoint file (our format, or ali-oss's, which is converted).
    pub fn load(path: &Path) -> Result<Option<Checkpoint>> {
        let text = match std::fs::read(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        Checkpoint::from_json(&text).map(Some)
    }

    /// Parses our JSON form or the ali-oss form.
    pub fn from_json(text: &[u8]) -> Result<Checkpoint> {
        let value: serde_json::Value = serde_json::from_slice(text)
            .map_err(|e| Error::Checkpoint(format!("not valid JSON: {e}")))?;
        if value.get("uploadId").is_some() {
            let ali: AliOssCheckpoint = serde_json::from_value(value)
                .map_err(|e| Error::Checkpoint(format!("not an ali-oss checkpoint: {e}")))?;
            return Ok(Checkpoint::from_ali_oss(ali, ""));
        }
        let cp: Checkpoint = serde_json::from_value(value)
            .map_err(|e| Error::Checkpoint(format!("unreadable checkpoint: {e}")))?;
        if cp.version != CHECKPOINT_VERSION {
            return Err(Error::Checkpoint(format!(
                "checkpoint version {} is not supported (expected {CHECKPOINT_VERSION})",
                cp.version
            )));
        }
        Ok(cp)
    }

    /// Converts an ali-oss checkpoint. Its parts carry no size or CRC; a resume verifies them
    /// against the service and the local bytes before keeping them.
    pub fn from_ali_oss(ali: AliOssCheckpoint, bucket: &str) -> Checkpoint {
        let path = match &ali.file {
            serde_json::Value::String(s) => Some(s.clone()),
            _ => None,
        };
        let mut cp = Checkpoint::new(
            bucket,
            &ali.name,
            &ali.upload_id,
            SourceIdentity {
                path,
                size: Some(ali.file_size),
                mtime_unix_nanos: None,
            },
            ali.part_size,
        );
        for p in ali.done_parts {
            let offset = u64::from(p.number.saturating_sub(1)) * ali.part_size;
            let size = ali.part_size.min(ali.file_size.saturating_sub(offset));
            cp.record(DonePart {
                number: p.number,
                size,
                etag: p.etag,
                crc64: None,
            });
        }
        cp
    }

    /// The ali-oss form of this checkpoint, for finishing the upload with ali-oss.
    pub fn to_ali_oss(&self) -> AliOssCheckpoint {
        AliOssCheckpoint {
            file: self
                .source
                .path
                .clone()
                .map(serde_json::Value::String)
                .unwrap_or(serde_json::Value::Null),
            name: self.key.clone(),
            file_size: self.source.size.unwrap_or(0),
            part_size: self.part_size,
            upload_id: self.upload_id.clone(),
            done_parts: self
                .parts
                .iter()
                .map(|p| AliOssPart {
                    number: p.number,
                    etag: p.etag.clone(),
                })
                .collect(),
        }
    }

    /// Saves atomically: write a temporary file, fsync it, rename it over `path`, fsync the
    /// directory. A crash leaves either the old or the new checkpoint, never a torn one.
    pub fn save(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_vec(self)
            .map_err(|e| Error::Checkpoint(format!("cannot encode: {e}")))?;
        write_atomically(path, &json)
    }

    /// Checks that this checkpoint belongs to `bucket/key` and that the source did not change.
    pub fn validate(&self, bucket: &str, key: &str, source: &SourceIdentity) -> Result<()> {
        if (!self.bucket.is_empty() && self.bucket != bucket) || self.key != key {
            return Err(Error::Checkpoint(format!(
                "checkpoint is for {}/{}, not {bucket}/{key}",
                self.bucket, self.key
            )));
        }
        if self.source.size != source.size {
            return Err(Error::Checkpoint(format!(
                "the source changed since the checkpoint was written: size {:?} is now {:?}",
                self.source.size, source.size
            )));
        }
        if let (Some(a), Some(b)) = (self.source.mtime_unix_nanos, source.mtime_unix_nanos) {
            if a != b {
                return Err(Error::Checkpoint("the source changed since the checkpoint was written: its modification time differs".into()));
            }
        }
        Ok(())
    }
}

/// Writes `data` to `path` through a temporary file, fsync and rename.
pub(crate) fn write_atomically(path: &Path, data: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = tmp_path(path);
    let mut f = File::create(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// A temporary name beside `path`, unique per process and per save, so concurrent saves
/// never write or rename each other's file.
fn tmp_path(path: &Path) -> PathBuf {
    static SAVES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = SAVES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp{}.{n}", std::process::id()));
    path.with_file_name(name)
}

/// Removes the temporary files of saves that a killed process never renamed into place.
/// Only the lock holder saves this checkpoint, so once the lock is ours none of them is live.
fn remove_stale_saves(checkpoint: &Path) {
    let Some(name) = checkpoint.file_name() else {
        return;
    };
    let mut prefix = name.to_os_string();
    prefix.push(".tmp");
    let prefix = prefix.to_string_lossy().into_owned();
    let dir = checkpoint
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Whether `path` still names the open `file` (same device and inode).
#[cfg(unix)]
fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_file(_file: &File, path: &Path) -> bool {
    path.exists()
}

/// An exclusive lock on a checkpoint, held while an upload runs.
#[derive(Debug)]
pub struct CheckpointLock {
    _file: File,
    path: PathBuf,
}

impl CheckpointLock {
    /// Takes the lock beside `checkpoint` (`<checkpoint>.lock`); fails at once when another
    /// process holds it.
    pub fn acquire(checkpoint: &Path) -> Result<CheckpointLock> {
        let mut name = checkpoint.file_name().unwrap_or_default().to_os_string();
        name.push(".lock");
        let path = checkpoint.with_file_name(name);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        // The holder deletes the lock file when it releases it; a lock taken on a file that was
        // deleted meanwhile guards nothing, so check the path still names the locked file.
        for _ in 0..8 {
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)?;
            match file.try_lock() {
                Ok(()) if same_file(&file, &path) => {
                    remove_stale_saves(checkpoint);
                    return Ok(CheckpointLock { _file: file, path });
                }
                Ok(()) => continue,
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(Error::Checkpoint(format!(
                        "another process is resuming this upload (lock {} is held)",
                        path.display()
                    )))
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(e.into()),
            }
        }
        Err(Error::Checkpoint(format!(
            "the lock {} keeps being replaced",
            path.display()
        )))
    }

    /// Releases the lock and removes the lock file.
    pub fn release(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_and_validate() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp.json");
        let src = SourceIdentity {
            path: Some("/f".into()),
            size: Some(10),
            mtime_unix_nanos: Some(5),
        };
        let mut cp = Checkpoint::new("b", "k", "U", src.clone(), 102400);
        cp.record(DonePart {
            number: 2,
            size: 1,
            etag: "\"B\"".into(),
            crc64: Some(2),
        });
        cp.record(DonePart {
            number: 1,
            size: 1,
            etag: "\"A\"".into(),
            crc64: Some(1),
        });
        cp.record(DonePart {
            number: 2,
            size: 1,
            etag: "\"C\"".into(),
            crc64: Some(3),
        });
        cp.save(&path).unwrap();
        let back = Checkpoint::load(&path).unwrap().unwrap();
        assert_eq!(back, cp);
        assert_eq!(
            back.parts.iter().map(|p| p.number).collect::<Vec<_>>(),
            vec![1, 2]
        );
        back.validate("b", "k", &src).unwrap();
        assert!(back.validate("b", "other", &src).is_err());
        let changed = SourceIdentity {
            size: Some(11),
            ..src.clone()
        };
        assert!(
            matches!(back.validate("b", "k", &changed), Err(Error::Checkpoint(m)) if m.contains("changed"))
        );
        let touched = SourceIdentity {
            mtime_unix_nanos: Some(6),
            ..src
        };
        assert!(back.validate("b", "k", &touched).is_err());
        assert!(Checkpoint::load(&dir.path().join("none.json"))
            .unwrap()
            .is_none());
    }

    #[test]
    fn ali_oss_round_trip() {
        let json = br#"{"file":"/tmp/x.bin","name":"x.bin","fileSize":250000,"partSize":102400,"uploadId":"U1","doneParts":[{"number":1,"etag":"\"E1\""},{"number":3,"etag":"\"E3\""}]}"#;
        let cp = Checkpoint::from_json(json).unwrap();
        assert_eq!(cp.upload_id, "U1");
        assert_eq!(cp.parts[1].size, 250000 - 2 * 102400);
        assert_eq!(cp.parts[1].crc64, None);
        let ali = cp.to_ali_oss();
        assert_eq!(
            serde_json::to_value(&ali).unwrap()["doneParts"][1]["etag"],
            "\"E3\""
        );
        assert_eq!(ali.file_size, 250000);
    }

    #[test]
    fn a_lock_on_a_deleted_file_is_not_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp.json.lock");
        let file = File::create(&path).unwrap();
        assert!(same_file(&file, &path));
        std::fs::remove_file(&path).unwrap();
        assert!(!same_file(&file, &path));
        File::create(&path).unwrap();
        assert!(
            !same_file(&file, &path),
            "a new file at the path is another lock"
        );
    }

    #[test]
    fn lock_is_exclusive() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp.json");
        let lock = CheckpointLock::acquire(&path).unwrap();
        assert!(CheckpointLock::acquire(&path).is_err());
        lock.release();
        CheckpointLock::acquire(&path).unwrap().release();
    }

    #[test]
    fn taking_the_lock_removes_saves_a_killed_process_left() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp.json");
        let stale = dir.path().join("cp.json.tmp4242.7");
        let other = dir.path().join("other.json.tmp4242.7");
        std::fs::write(&stale, b"{").unwrap();
        std::fs::write(&other, b"{").unwrap();
        let lock = CheckpointLock::acquire(&path).unwrap();
        assert!(!stale.exists());
        assert!(
            other.exists(),
            "another checkpoint's save is not ours to remove"
        );
        lock.release();
    }
}
