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

use md5::digest::common::hazmat::{SerializableState, SerializedState};
use md5::{Digest, Md5};
use osspart_protocol::crc64::Crc64;

use super::ownership::{private_dir_builder, private_file_options};
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

    /// A fresh id for an inline blob: 64 bits of a clock stamp that only grows (nanoseconds;
    /// strictly increasing within the process) then 64 random bits. Inline blobs have no file,
    /// so nothing needs their ids spread over shard directories; ids in creation order land
    /// next to each other in every index keyed by blob id (`blobs`, `blob_bytes`,
    /// `object_parts_by_blob`), so a group of small PUTs touches a few rightmost b-tree pages
    /// instead of a random leaf per index per object, each a 4 KiB WAL frame.
    pub(crate) fn ordered() -> BlobId {
        use std::sync::atomic::{AtomicU64, Ordering};
        static LAST: AtomicU64 = AtomicU64::new(0);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let prev = LAST.fetch_max(now, Ordering::Relaxed);
        let stamp = if prev >= now {
            LAST.fetch_add(1, Ordering::Relaxed) + 1
        } else {
            now
        };
        BlobId(format!("{stamp:016x}{:016x}", rand::random::<u64>()))
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
        let private = || private_dir_builder();
        private().recursive(true).create(&self.root)?;
        private().recursive(true).create(self.tmp_dir())?;
        let blobs = self.blobs_dir();
        private().recursive(true).create(&blobs)?;
        for shard in 0..=255u8 {
            let dir = blobs.join(hex::encode([shard]));
            if !dir.is_dir() {
                private().create(&dir)?;
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

/// The running MD5 of a sequential upload's bytes so far, in a form that can be stored: the
/// state after part N is kept with part N, so part N+1 continues it and completion finishes it
/// into the whole-object Content-MD5 without reading any byte again.
#[derive(Clone, Default)]
pub struct Md5Chain(Md5);

impl fmt::Debug for Md5Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Md5Chain")
            .field(&hex::encode(self.state()))
            .finish()
    }
}

impl Md5Chain {
    /// The chain before any byte (what part 1 continues).
    pub fn new() -> Md5Chain {
        Md5Chain(Md5::new())
    }

    /// A chain from its stored state; `None` when the bytes are not one.
    pub fn from_state(state: &[u8]) -> Option<Md5Chain> {
        let state = SerializedState::<Md5>::try_from(state).ok()?;
        Md5::deserialize(&state).ok().map(Md5Chain)
    }

    /// The state to store.
    pub fn state(&self) -> Vec<u8> {
        self.0.serialize().to_vec()
    }

    /// Adds bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The MD5 of every byte fed so far (the chain itself continues unchanged).
    pub fn digest(&self) -> [u8; 16] {
        self.0.clone().finalize().into()
    }
}

/// A body hashed as the continuation of an [`Md5Chain`]: the state it started from and the
/// state after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainedMd5 {
    /// The chain's state before this body.
    pub base: Vec<u8>,
    /// The chain's state after this body.
    pub state: Vec<u8>,
}

/// Receives one body, hashing MD5 and CRC-64 as it goes: in memory while it fits the store's
/// inline limit (such a body is kept in the database, see [`super::inline`]), in a file under
/// `tmp/` once it does not.
///
/// Dropping it without [`finish`](BlobWriter::finish) deletes any temporary file, so a failed
/// or truncated body leaves nothing behind.
pub struct BlobWriter {
    id: BlobId,
    layout: Layout,
    md5: Md5,
    crc: Crc64,
    /// The sequential upload's chain this body continues, with the state it started from.
    chain: Option<(Vec<u8>, Md5Chain)>,
    /// Largest body kept in memory (and then in the database).
    inline_max: u64,
    sink: Sink,
}

/// Where received bytes go.
enum Sink {
    /// Still small enough to be stored inline.
    Memory(Vec<u8>),
    /// Spilled to `tmp/`.
    File(TmpFile),
}

/// A body being written to `tmp/`.
struct TmpFile {
    file: Option<BufWriter<File>>,
    path: PathBuf,
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
            .field("inline", &matches!(self.sink, Sink::Memory(_)))
            .finish()
    }
}

/// A temporary file used after it was finished: a bug, reported as a failed write.
fn finished_error() -> StoreError {
    std::io::Error::other("temporary body file used after it was finished").into()
}

impl TmpFile {
    fn create(layout: &Layout, id: &BlobId) -> Result<TmpFile, StoreError> {
        let path = layout.tmp_dir().join(id.as_str());
        let file = private_file_options()
            .write(true)
            .create_new(true)
            .open(&path)?;
        Ok(TmpFile {
            file: Some(BufWriter::with_capacity(WRITE_BUFFER, file)),
            path,
            sync_requested: 0,
            background_sync: None,
        })
    }

    /// The file, until [`finish`](TmpFile::finish) takes it.
    fn open_file(&mut self) -> Result<&mut BufWriter<File>, StoreError> {
        self.file.as_mut().ok_or_else(finished_error)
    }

    /// Appends `data`; `len` is the body's length after it.
    fn write(&mut self, data: &[u8], len: u64) -> Result<(), StoreError> {
        self.open_file()?.write_all(data)?;
        let idle = self
            .background_sync
            .as_ref()
            .is_none_or(|h| h.is_finished());
        if idle && len - self.sync_requested >= EARLY_SYNC_EVERY {
            self.join_background_sync()?;
            let file = self.open_file()?;
            file.flush()?;
            let handle = file.get_ref().try_clone()?;
            self.sync_requested = len;
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

    /// fsync, rename into `blobs/`, fsync the shard directory; returns the blob's path.
    fn finish(mut self, layout: &Layout, id: &BlobId) -> Result<BlobGuard, StoreError> {
        self.join_background_sync()?;
        let buffered = self.file.take().ok_or_else(finished_error)?;
        let file = buffered.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        let shard = layout.shard_dir(id);
        let path = shard.join(id.as_str());
        fs::rename(&self.path, &path)?;
        // From here the file lives under blobs/; the guard removes it on error.
        let guard = BlobGuard { path };
        sync_dir(&shard)?;
        Ok(guard)
    }
}

impl Drop for TmpFile {
    fn drop(&mut self) {
        if let Some(file) = self.file.take() {
            // Not finished: discard what was received. Unwritten buffer contents do not matter.
            drop(file.into_parts());
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Removes a renamed blob file unless disarmed.
struct BlobGuard {
    path: PathBuf,
}

impl BlobWriter {
    /// A writer for a body of `expected` bytes if known: one that cannot fit `inline_max`
    /// goes straight to a file.
    pub(crate) fn create(
        layout: &Layout,
        inline_max: u64,
        expected: Option<u64>,
    ) -> Result<BlobWriter, StoreError> {
        let id = BlobId::random();
        let sink = match expected {
            Some(n) if n > inline_max => Sink::File(TmpFile::create(layout, &id)?),
            Some(n) => Sink::Memory(Vec::with_capacity(n as usize)),
            None => Sink::Memory(Vec::new()),
        };
        Ok(BlobWriter {
            id,
            layout: layout.clone(),
            md5: Md5::new(),
            crc: Crc64::new(),
            chain: None,
            inline_max,
            sink,
        })
    }

    /// Appends `data` to the body.
    pub fn write(&mut self, data: &[u8]) -> Result<(), StoreError> {
        let len = self.len() + data.len() as u64;
        if let Sink::Memory(buf) = &mut self.sink {
            if len > self.inline_max {
                let mut file = TmpFile::create(&self.layout, &self.id)?;
                file.write(buf, buf.len() as u64)?;
                self.sink = Sink::File(file);
            }
        }
        match &mut self.sink {
            Sink::Memory(buf) => buf.extend_from_slice(data),
            Sink::File(file) => file.write(data, len)?,
        }
        self.md5.update(data);
        self.crc.update(data);
        if let Some((_, chain)) = &mut self.chain {
            chain.update(data);
        }
        Ok(())
    }

    /// Makes this body the continuation of `chain` (a part of a sequential upload); call before
    /// the first write.
    pub fn continue_chain(&mut self, chain: Md5Chain) {
        self.chain = Some((chain.state(), chain));
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.crc.len()
    }

    /// Whether nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.crc.is_empty()
    }

    /// Whether the body so far is held in memory, to be stored inline; then
    /// [`finish`](BlobWriter::finish) does no I/O.
    pub fn is_inline(&self) -> bool {
        matches!(self.sink, Sink::Memory(_))
    }

    /// Ends the body. An inline body is returned as is (the commit that records it makes it
    /// durable); a file is made durable under `blobs/`: fsync the file, rename it out of
    /// `tmp/`, fsync the shard directory. The blob is not yet referenced by any row; hand it
    /// to a `Store` call, which records it (or deletes it if the call fails).
    pub fn finish(self) -> Result<FinishedBlob, StoreError> {
        let BlobWriter {
            id,
            layout,
            md5,
            crc,
            sink,
            chain,
            ..
        } = self;
        let (id, body) = match sink {
            Sink::Memory(bytes) => (BlobId::ordered(), Body::Inline(bytes)),
            Sink::File(file) => {
                let body = Body::File(file.finish(&layout, &id)?);
                (id, body)
            }
        };
        Ok(FinishedBlob {
            id,
            size: crc.len(),
            md5: md5.finalize().into(),
            crc64: crc.value(),
            chain: chain.map(|(base, chain)| ChainedMd5 {
                base,
                state: chain.state(),
            }),
            body,
        })
    }
}

/// Where a finished blob's bytes are.
enum Body {
    /// In memory, to be inserted into the database with the blob's row.
    Inline(Vec<u8>),
    /// A durable file under `blobs/`, removed unless recorded.
    File(BlobGuard),
}

/// A durable (file) or ready-to-insert (inline) body that no row references yet.
///
/// Passing it to a `Store` method records it; dropping it instead deletes its file.
pub struct FinishedBlob {
    /// The blob's id.
    pub id: BlobId,
    /// Length in bytes.
    pub size: u64,
    /// MD5 of the bytes.
    pub md5: [u8; 16],
    /// CRC-64/XZ (crc64ecma) of the bytes.
    pub crc64: u64,
    /// The sequential upload's MD5 chain through this body, when it continued one.
    pub chain: Option<ChainedMd5>,
    body: Body,
}

impl fmt::Debug for FinishedBlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FinishedBlob")
            .field("id", &self.id)
            .field("size", &self.size)
            .field("inline", &self.is_inline())
            .finish_non_exhaustive()
    }
}

impl FinishedBlob {
    /// The OSS ETag of a single body: quoted upper-case hex MD5.
    pub fn etag(&self) -> String {
        osspart_protocol::etag::of_md5(&self.md5)
    }

    /// Whether the bytes go into the database rather than a file.
    pub fn is_inline(&self) -> bool {
        matches!(self.body, Body::Inline(_))
    }

    /// The bytes of an inline blob.
    pub(crate) fn inline_bytes(&self) -> Option<&[u8]> {
        match &self.body {
            Body::Inline(bytes) => Some(bytes),
            Body::File(_) => None,
        }
    }

    /// Deletes the blob without recording it (e.g. its Content-MD5 did not match).
    pub fn discard(self) {
        drop(self);
    }

    /// A row now references the blob: keep the file.
    pub(crate) fn mark_recorded(self) {
        if let Body::File(guard) = self.body {
            std::mem::forget(guard);
        }
    }
}

impl Drop for BlobGuard {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// An open blob's bytes: its file, or its inline bytes read from the database.
#[derive(Debug)]
pub enum BlobReader {
    /// A file under `blobs/`.
    File(File),
    /// Bytes stored in the database.
    Inline(std::io::Cursor<Vec<u8>>),
}

impl std::io::Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            BlobReader::File(f) => f.read(buf),
            BlobReader::Inline(c) => c.read(buf),
        }
    }
}

impl std::io::Seek for BlobReader {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        match self {
            BlobReader::File(f) => f.seek(pos),
            BlobReader::Inline(c) => c.seek(pos),
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
    fn inline_blob_ids_are_valid_and_sort_in_creation_order() {
        let ids: Vec<BlobId> = (0..1000).map(|_| BlobId::ordered()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        assert!(ids
            .iter()
            .all(|id| BlobId::parse(id.as_str()).as_ref() == Some(id)));
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        layout.create_dirs().unwrap();
        let mut w = BlobWriter::create(&layout, 64, None).unwrap();
        w.write(b"small").unwrap();
        let blob = w.finish().unwrap();
        assert!(blob.is_inline() && blob.id > ids[999]);
    }

    #[test]
    fn finish_hashes_and_moves_into_blobs() {
        let (_dir, layout) = layout();
        let mut w = BlobWriter::create(&layout, 0, None).unwrap();
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
        let mut w = BlobWriter::create(&layout, 0, None).unwrap();
        w.write(&[7u8; 1000]).unwrap();
        assert_eq!(count_files(&layout.tmp_dir()), 1);
        drop(w);
        assert_eq!(count_files(&layout.tmp_dir()), 0);

        let mut w = BlobWriter::create(&layout, 0, None).unwrap();
        w.write(b"abc").unwrap();
        let blob = w.finish().unwrap();
        assert_eq!(count_files(&layout.blobs_dir()), 1);
        blob.discard();
        assert_eq!(count_files(&layout.blobs_dir()), 0);
        assert_eq!(count_files(&layout.tmp_dir()), 0);
    }

    #[test]
    fn small_bodies_stay_in_memory_and_large_ones_spill() {
        let (_dir, layout) = layout();
        let mut w = BlobWriter::create(&layout, 8, None).unwrap();
        w.write(b"1234").unwrap();
        w.write(b"5678").unwrap();
        assert!(w.is_inline());
        assert_eq!(count_files(&layout.tmp_dir()), 0);
        let blob = w.finish().unwrap();
        assert_eq!(blob.inline_bytes(), Some(&b"12345678"[..]));
        assert_eq!(count_files(&layout.blobs_dir()), 0);

        let mut w = BlobWriter::create(&layout, 8, None).unwrap();
        w.write(b"12345").unwrap();
        w.write(b"6789").unwrap();
        assert!(!w.is_inline(), "spilled past the limit");
        let blob = w.finish().unwrap();
        assert_eq!(blob.crc64, 0x995D_C9BB_DF19_39FA);
        assert_eq!(blob.inline_bytes(), None);
        assert_eq!(fs::read(layout.blob_path(&blob.id)).unwrap(), b"123456789");
        drop(blob);
        assert_eq!(count_files(&layout.blobs_dir()), 0);

        // A declared length beyond the limit goes to a file from the start.
        let w = BlobWriter::create(&layout, 8, Some(9)).unwrap();
        assert!(!w.is_inline());
        assert_eq!(count_files(&layout.tmp_dir()), 1);
        drop(w);
        assert_eq!(count_files(&layout.tmp_dir()), 0);
    }
}
