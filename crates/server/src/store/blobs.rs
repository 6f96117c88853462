//! Blob files: the bytes of every PutObject body and every part, in immutable files.
//!
//! Invariant: a file appears under `blobs/` only whole and durable. A body is written to `tmp/`,
//! hashed on the way, fsynced, renamed into `blobs/<2 hex>/<id>` and the directory fsynced;
//! only after that may a row name it. Blob names are random hex ids, never derived from an
//! object key, so no key can ever reach the file system.

use std::fmt;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};
use osspart_protocol::crc64::Crc64;

use super::StoreError;

/// Bytes buffered before a write reaches the file.
const WRITE_BUFFER: usize = 256 * 1024;

/// Name of a blob file: 32 lower-case hex characters (128 random bits).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobId(String);

impl BlobId {
    /// A fresh random id.
    pub(crate) fn random() -> BlobId {
        BlobId(hex::encode(rand::random::<[u8; 16]>()))
    }

    /// Accepts only the exact form this store generates, so an id read back from the
    /// database can never name a path outside `blobs/`.
    pub fn parse(s: &str) -> Option<BlobId> {
        let ok = s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        ok.then(|| BlobId(s.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The shard directory name (first two hex characters).
    fn shard(&self) -> &str {
        &self.0[..2]
    }
}

impl fmt::Display for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where things live inside the data directory.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    root: PathBuf,
}

impl Layout {
    pub(crate) fn new(root: &Path) -> Layout {
        Layout {
            root: root.to_path_buf(),
        }
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn db_path(&self) -> PathBuf {
        self.root.join("meta.db")
    }

    pub(crate) fn lock_path(&self) -> PathBuf {
        self.root.join("LOCK")
    }

    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    pub(crate) fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs")
    }

    pub(crate) fn shard_dir(&self, id: &BlobId) -> PathBuf {
        self.blobs_dir().join(id.shard())
    }

    pub(crate) fn blob_path(&self, id: &BlobId) -> PathBuf {
        self.shard_dir(id).join(id.as_str())
    }

    /// Creates `tmp/`, `blobs/` and its 256 shard directories, durably.
    pub(crate) fn create_dirs(&self) -> Result<(), StoreError> {
        fs::create_dir_all(&self.root)?;
        fs::create_dir_all(self.tmp_dir())?;
        let blobs = self.blobs_dir();
        fs::create_dir_all(&blobs)?;
        for shard in 0..=255u8 {
            let dir = blobs.join(hex::encode([shard]));
            if !dir.is_dir() {
                fs::create_dir(&dir)?;
            }
        }
        sync_dir(&blobs)?;
        sync_dir(&self.root)?;
        Ok(())
    }
}

/// Makes a directory's entries (creations, renames, removals) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)?.sync_all()?;
    Ok(())
}

/// Receives one body into `tmp/`, hashing MD5 and CRC-64 as it goes.
///
/// Dropping it without [`finish`](BlobWriter::finish) deletes the temporary file, so a failed
/// or truncated body leaves nothing behind.
pub struct BlobWriter {
    id: BlobId,
    file: Option<BufWriter<File>>,
    tmp_path: PathBuf,
    layout: Layout,
    md5: Md5,
    crc: Crc64,
    /// Bytes handed to a background `fdatasync` so far.
    sync_requested: u64,
    /// The background sync in flight, if any: it pushes received bytes to disk while the
    /// rest of the body arrives, so `finish` waits for little more than the tail.
    background_sync: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

/// Received bytes that trigger a background sync of what is written so far.
const EARLY_SYNC_EVERY: u64 = 2 * 1024 * 1024;

impl fmt::Debug for BlobWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobWriter")
            .field("id", &self.id)
            .field("len", &self.crc.len())
            .finish()
    }
}

impl BlobWriter {
    pub(crate) fn create(layout: &Layout) -> Result<BlobWriter, StoreError> {
        let id = BlobId::random();
        let tmp_path = layout.tmp_dir().join(id.as_str());
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&tmp_path)?;
        Ok(BlobWriter {
            id,
            file: Some(BufWriter::with_capacity(WRITE_BUFFER, file)),
            tmp_path,
            layout: layout.clone(),
            md5: Md5::new(),
            crc: Crc64::new(),
            sync_requested: 0,
            background_sync: None,
        })
    }

    /// Appends `data` to the body.
    pub fn write(&mut self, data: &[u8]) -> Result<(), StoreError> {
        let file = self.file.as_mut().expect("file is present until finish");
        file.write_all(data)?;
        self.md5.update(data);
        self.crc.update(data);
        let idle = self
            .background_sync
            .as_ref()
            .is_none_or(|h| h.is_finished());
        if idle && self.len() - self.sync_requested >= EARLY_SYNC_EVERY {
            self.join_background_sync()?;
            let file = self.file.as_mut().expect("file is present until finish");
            file.flush()?;
            let handle = file.get_ref().try_clone()?;
            self.sync_requested = self.len();
            self.background_sync = Some(std::thread::spawn(move || handle.sync_data()));
        }
        Ok(())
    }

    fn join_background_sync(&mut self) -> Result<(), StoreError> {
        if let Some(h) = self.background_sync.take() {
            h.join()
                .map_err(|_| std::io::Error::other("background sync panicked"))??;
        }
        Ok(())
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.crc.len()
    }

    /// Whether nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.crc.is_empty()
    }

    /// Makes the body durable under `blobs/`: fsync the file, rename it out of `tmp/`, fsync
    /// the shard directory. The blob is not yet referenced by any row; hand it to a `Store`
    /// call, which records it (or deletes it if the call fails).
    pub fn finish(mut self) -> Result<FinishedBlob, StoreError> {
        self.join_background_sync()?;
        let buffered = self.file.take().expect("file is present until finish");
        let file = buffered.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        let shard = self.layout.shard_dir(&self.id);
        let path = shard.join(self.id.as_str());
        fs::rename(&self.tmp_path, &path)?;
        // From here the file lives under blobs/; the FinishedBlob guard removes it on error.
        let blob = FinishedBlob {
            id: self.id.clone(),
            size: self.crc.len(),
            md5: self.md5.clone().finalize().into(),
            crc64: self.crc.value(),
            path,
            recorded: false,
        };
        sync_dir(&shard)?;
        Ok(blob)
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if let Some(file) = self.file.take() {
            // Not finished: discard what was received. Unwritten buffer contents do not matter.
            drop(file.into_parts());
            let _ = fs::remove_file(&self.tmp_path);
        }
    }
}

/// A durable body that no row references yet.
///
/// Passing it to a `Store` method records it; dropping it instead deletes its file.
#[derive(Debug)]
pub struct FinishedBlob {
    /// The blob's id.
    pub id: BlobId,
    /// Length in bytes.
    pub size: u64,
    /// MD5 of the bytes.
    pub md5: [u8; 16],
    /// CRC-64/XZ (crc64ecma) of the bytes.
    pub crc64: u64,
    path: PathBuf,
    recorded: bool,
}

impl FinishedBlob {
    /// The OSS ETag of a single body: quoted upper-case hex MD5.
    pub fn etag(&self) -> String {
        osspart_protocol::etag::of_md5(&self.md5)
    }

    /// Deletes the blob without recording it (e.g. its Content-MD5 did not match).
    pub fn discard(self) {
        drop(self);
    }

    /// A row now references the blob: keep the file.
    pub(crate) fn mark_recorded(mut self) {
        self.recorded = true;
    }
}

impl Drop for FinishedBlob {
    fn drop(&mut self) {
        if !self.recorded {
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> (tempfile::TempDir, Layout) {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        layout.create_dirs().unwrap();
        (dir, layout)
    }

    fn count_files(dir: &Path) -> usize {
        let mut n = 0;
        for entry in fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                n += count_files(&entry.path());
            } else {
                n += 1;
            }
        }
        n
    }

    #[test]
    fn blob_ids_are_validated() {
        let id = BlobId::random();
        assert_eq!(BlobId::parse(id.as_str()), Some(id));
        assert_eq!(BlobId::parse("../../etc/passwd"), None);
        assert_eq!(BlobId::parse(&"A".repeat(32)), None);
        assert_eq!(BlobId::parse(&"a".repeat(31)), None);
    }

    #[test]
    fn finish_hashes_and_moves_into_blobs() {
        let (_dir, layout) = layout();
        let mut w = BlobWriter::create(&layout).unwrap();
        w.write(b"12345").unwrap();
        w.write(b"6789").unwrap();
        assert_eq!(w.len(), 9);
        let blob = w.finish().unwrap();
        assert_eq!(blob.size, 9);
        assert_eq!(blob.crc64, 0x995D_C9BB_DF19_39FA);
        assert_eq!(hex::encode(blob.md5), "25f9e794323b453885f5181f1b624d0b");
        assert_eq!(blob.etag(), "\"25F9E794323B453885F5181F1B624D0B\"");
        let path = layout.blob_path(&blob.id);
        assert_eq!(fs::read(&path).unwrap(), b"123456789");
        assert_eq!(count_files(&layout.tmp_dir()), 0);
        blob.mark_recorded();
        assert!(path.exists());
    }

    #[test]
    fn dropped_writer_and_unrecorded_blob_leave_nothing() {
        let (_dir, layout) = layout();
        let mut w = BlobWriter::create(&layout).unwrap();
        w.write(&[7u8; 1000]).unwrap();
        assert_eq!(count_files(&layout.tmp_dir()), 1);
        drop(w);
        assert_eq!(count_files(&layout.tmp_dir()), 0);

        let mut w = BlobWriter::create(&layout).unwrap();
        w.write(b"abc").unwrap();
        let blob = w.finish().unwrap();
        assert_eq!(count_files(&layout.blobs_dir()), 1);
        blob.discard();
        assert_eq!(count_files(&layout.blobs_dir()), 0);
        assert_eq!(count_files(&layout.tmp_dir()), 0);
    }
}
