//! What a paused or killed download keeps: the object it is reading (ETag and size), the part
//! size, where the bytes go, and the CRC-64 of each part already written. Parts are trusted
//! only after their bytes in the temporary file are read back with the same CRC-64, so the
//! temporary file is never fsynced per part.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::upload::checkpoint::write_atomically;

/// A resumable download's saved progress (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownloadCheckpoint {
    /// Bucket.
    pub bucket: String,
    /// Object key.
    pub key: String,
    /// ETag of the object being read; ranged reads require it (`If-Match`).
    pub etag: String,
    /// Object size in bytes.
    pub size: u64,
    /// Bytes per ranged read (the last may be shorter).
    pub part_size: u64,
    /// The temporary file the bytes go to.
    pub temp_path: PathBuf,
    /// CRC-64 of each part written, by part number (1-based).
    pub parts: BTreeMap<u32, u64>,
}

impl DownloadCheckpoint {
    /// Reads a checkpoint; `None` when the file does not exist.
    pub fn load(path: &Path) -> Result<Option<DownloadCheckpoint>> {
        match std::fs::read(path) {
            Ok(text) => serde_json::from_slice(&text).map(Some).map_err(|e| {
                Error::Checkpoint(format!(
                    "{} is not a download checkpoint: {e}",
                    path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Saves it atomically (temporary file, fsync, rename).
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_vec(self).map_err(|e| Error::Checkpoint(e.to_string()))?;
        write_atomically(path, &text)
    }

    /// Whether it describes the download of `bucket/key` into `temp_path`.
    pub fn is_for(&self, bucket: &str, key: &str, temp_path: &Path) -> bool {
        self.bucket == bucket && self.key == key && self.temp_path == temp_path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_and_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.json");
        assert_eq!(DownloadCheckpoint::load(&path).unwrap(), None);
        let cp = DownloadCheckpoint {
            bucket: "b".into(),
            key: "k".into(),
            etag: "\"E\"".into(),
            size: 10,
            part_size: 4,
            temp_path: dir.path().join("t"),
            parts: [(1, 7), (3, 9)].into(),
        };
        cp.save(&path).unwrap();
        assert_eq!(DownloadCheckpoint::load(&path).unwrap(), Some(cp.clone()));
        assert!(cp.is_for("b", "k", &dir.path().join("t")));
        assert!(!cp.is_for("b", "other", &dir.path().join("t")));
        std::fs::write(&path, b"{").unwrap();
        assert!(DownloadCheckpoint::load(&path).is_err());
    }
}
