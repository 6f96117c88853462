//! Blob files: the bytes of every PutObject body and every part, in immutable files.
//!
//! Invariant: a file appears under `blobs/` only whole and durable. A body is written to `tmp/`,
//! hashed on the way, fsynced, renamed into `blobs/<2 hex>/<id>` and the directory fsynced;
//! only after that may a row name it. Blob names are random hex ids, never derived from an
//! object key, so no key can ever reach the file system.

use std::fmt;
use std::fs::{self, File};
#[cfg(not(unix))]
use std::io::Write;
use std::path::{Path, PathBuf};

use md5::digest::common::hazmat::{SerializableState, SerializedState};
use md5::{Digest, Md5};
use osspart_protocol::crc64::Crc64;

use super::ownership::{private_dir_builder, private_file_options};
pub use body_md5::{Batcher, BodyMd5};

mod body_md5;
pub mod md5_lanes;
use super::StoreError;

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
/// A file body is gathered into aligned blocks of [`BLOCK_SIZE`]; each full block becomes a
/// [`BlockWrite`] that hashes the block and writes it with one positioned write (direct I/O
/// where the file system takes it, so the bytes are not copied into the page cache). An async
/// caller runs those on a blocking thread, one at a time per body, while the next block fills
/// ([`buffer`](BlobWriter::buffer), [`take_full_block`](BlobWriter::take_full_block),
/// [`hashes_back`](BlobWriter::hashes_back), [`block_written`](BlobWriter::block_written));
/// the digests come back as soon as a block is hashed, so the next block's hashing need not
/// wait for the previous block's write. [`write`](BlobWriter::write) does all of it
/// in place for blocking callers.
///
/// Dropping it without [`finish`](BlobWriter::finish) deletes any temporary file, so a failed
/// or truncated body leaves nothing behind.
pub struct BlobWriter {
    id: BlobId,
    layout: Layout,
    /// Bytes received so far.
    len: u64,
    /// The running digests; away while a [`BlockWrite`] holds them.
    hashes: Option<Hashes>,
    /// Largest body kept in memory (and then in the database).
    inline_max: u64,
    sink: Sink,
}

/// The running digests of one body. They travel with its blocks, so the bytes are hashed in
/// order on the thread that writes them, while they are still in the cache.
struct Hashes {
    md5: BodyMd5,
    crc: Crc64,
    /// The sequential upload's chain this body continues, with the state it started from.
    chain: Option<(Vec<u8>, Md5Chain)>,
}

impl Hashes {
    fn update(&mut self, data: &[u8]) {
        self.md5.update(data);
        self.crc.update(data);
        if let Some((_, chain)) = &mut self.chain {
            chain.update(data);
        }
    }
}

/// Where received bytes go.
enum Sink {
    /// Still small enough to be stored inline (not hashed until the body ends).
    Memory(Vec<u8>),
    /// Spilled to `tmp/`.
    File(TmpFile),
}

/// Bytes of a file body written at once: one positioned write per block, so per-call costs
/// vanish, while a body in flight holds at most two blocks (one filling, one being written).
const BLOCK_SIZE: usize = 1 << 20;

/// Alignment of a block's memory and of direct writes' offsets and lengths.
const BLOCK_ALIGN: usize = 4096;

/// Blocks kept for reuse once their body ends: fresh memory costs a page fault per 4 KiB.
const POOLED_BLOCKS: usize = 16;

static BLOCK_POOL: std::sync::Mutex<Vec<Block>> = std::sync::Mutex::new(Vec::new());

/// Up to [`BLOCK_SIZE`] received bytes in memory aligned to [`BLOCK_ALIGN`].
struct Block {
    mem: Vec<u8>,
    /// Offset of the aligned region in `mem`.
    start: usize,
    /// Bytes filled.
    len: usize,
}

impl Block {
    /// An empty block from the pool, or a new one.
    fn take() -> Block {
        let pooled = BLOCK_POOL.lock().ok().and_then(|mut pool| pool.pop());
        pooled.unwrap_or_else(|| {
            let mem = vec![0u8; BLOCK_SIZE + BLOCK_ALIGN];
            // Should the alignment be unknowable, direct writes of this block are refused by
            // the kernel and fall back to buffered ones.
            let start = mem.as_ptr().align_offset(BLOCK_ALIGN);
            let start = if start < BLOCK_ALIGN { start } else { 0 };
            Block { mem, start, len: 0 }
        })
    }

    /// Returns the block to the pool (emptied), unless the pool is full.
    fn recycle(mut self) {
        self.len = 0;
        if let Ok(mut pool) = BLOCK_POOL.lock() {
            if pool.len() < POOLED_BLOCKS {
                pool.push(self);
            }
        }
    }

    fn bytes(&self) -> &[u8] {
        self.mem
            .get(self.start..self.start + self.len)
            .unwrap_or_default()
    }

    fn is_full(&self) -> bool {
        self.len >= BLOCK_SIZE
    }

    /// Copies as much of `data` as fits; returns how much that was.
    fn fill(&mut self, data: &[u8]) -> usize {
        let spare = self
            .mem
            .get_mut(self.start + self.len..self.start + BLOCK_SIZE)
            .unwrap_or_default();
        let n = spare.len().min(data.len());
        if let (Some(dst), Some(src)) = (spare.get_mut(..n), data.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.len += n;
        n
    }
}

/// Hashes the full blocks of every body being received at once (see [`Batcher`]).
static MD5_BATCHER: Batcher<Block> = Batcher::new();

impl AsRef<[u8]> for Block {
    fn as_ref(&self) -> &[u8] {
        self.bytes()
    }
}

/// The open temporary file of a body, shared with the block writes in flight.
struct BodyFile {
    /// Opened normally: writes that direct I/O cannot take, the tail, fsync.
    buffered: File,
    /// The same file opened for direct I/O (Linux, when the file system supports it).
    direct: Option<File>,
    /// Set when a direct write was refused; later blocks go through `buffered`.
    direct_refused: std::sync::atomic::AtomicBool,
}

impl BodyFile {
    fn open(path: &Path) -> Result<BodyFile, StoreError> {
        let buffered = private_file_options()
            .write(true)
            .create_new(true)
            .open(path)?;
        Ok(BodyFile {
            buffered,
            direct: open_direct(path),
            direct_refused: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Writes `data` at `offset`: directly when the file, the memory and the extent allow it
    /// (no copy into the page cache; the bytes go to the device now, so the final fsync has
    /// little left to do), else through the page cache.
    fn write_at(&self, data: &[u8], offset: u64) -> Result<(), StoreError> {
        use std::sync::atomic::Ordering;
        let aligned = (data.as_ptr() as usize).is_multiple_of(BLOCK_ALIGN)
            && data.len().is_multiple_of(BLOCK_ALIGN)
            && offset.is_multiple_of(BLOCK_ALIGN as u64);
        if let Some(direct) = self.direct.as_ref() {
            if aligned && !data.is_empty() && !self.direct_refused.load(Ordering::Relaxed) {
                match write_all_at(direct, data, offset) {
                    Ok(()) => return Ok(()),
                    // Not for this file system or this memory after all: the buffered path
                    // rewrites the whole extent.
                    Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {
                        self.direct_refused.store(true, Ordering::Relaxed);
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        write_all_at(&self.buffered, data, offset)?;
        Ok(())
    }

    /// Whether written bytes sit in the page cache (no direct I/O), so background syncs help.
    fn is_buffered(&self) -> bool {
        self.direct.is_none()
            || self
                .direct_refused
                .load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// A second handle on `path` for direct I/O, where the platform and file system offer it.
#[cfg(target_os = "linux")]
fn open_direct(path: &Path) -> Option<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
        .ok()
}

#[cfg(not(target_os = "linux"))]
fn open_direct(_path: &Path) -> Option<File> {
    None
}

#[cfg(unix)]
fn write_all_at(file: &File, data: &[u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, data, offset)
}

#[cfg(not(unix))]
fn write_all_at(file: &File, data: &[u8], offset: u64) -> std::io::Result<()> {
    use std::io::{Seek, SeekFrom};
    let mut file = file;
    file.seek(SeekFrom::Start(offset))?;
    file.write_all(data)
}

/// One full block of a file body on its way to disk: [`run`](BlockWrite::run) it on a
/// thread that may block, then hand its digests to [`BlobWriter::hashes_back`] (as soon as
/// they come) and the result to [`BlobWriter::block_written`].
pub struct BlockWrite {
    file: std::sync::Arc<BodyFile>,
    block: Block,
    offset: u64,
    hashes: Hashes,
}

impl fmt::Debug for BlockWrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockWrite")
            .field("offset", &self.offset)
            .field("len", &self.block.len)
            .finish()
    }
}

impl BlockWrite {
    /// Hashes the block (its MD5 together with the blocks other bodies hash at the same
    /// time), gives the body's digests to `hashed` (so the next block can be hashed while
    /// this one is still being written), then writes the block at its place in the file
    /// (blocking).
    pub fn run(mut self, hashed: impl FnOnce(BodyHashes)) -> Result<WrittenBlock, StoreError> {
        let h = &mut self.hashes;
        h.crc.update(self.block.bytes());
        if let Some((_, chain)) = &mut h.chain {
            chain.update(self.block.bytes());
        }
        self.block = h.md5.update_batched(&MD5_BATCHER, self.block);
        hashed(BodyHashes(self.hashes));
        self.file.write_at(self.block.bytes(), self.offset)?;
        Ok(WrittenBlock { block: self.block })
    }
}

/// A body's running digests, handed out by [`BlockWrite::run`] once its block is hashed; give
/// them back with [`BlobWriter::hashes_back`] before taking the next block.
pub struct BodyHashes(Hashes);

impl fmt::Debug for BodyHashes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyHashes")
            .field("len", &self.0.crc.len())
            .finish()
    }
}

/// A block [`BlockWrite::run`] wrote; give it back to its writer for reuse.
pub struct WrittenBlock {
    block: Block,
}

impl fmt::Debug for WrittenBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WrittenBlock")
            .field("len", &self.block.len)
            .finish()
    }
}

/// A body being written to `tmp/`.
struct TmpFile {
    /// The file, until [`finish`](TmpFile::finish) takes it.
    file: Option<std::sync::Arc<BodyFile>>,
    path: PathBuf,
    /// The block being filled.
    block: Option<Block>,
    /// A written block kept for this body's next one.
    spare: Option<Block>,
    /// Bytes received in memory before the body spilled, still to be copied into blocks,
    /// and how many of them were.
    backlog: Vec<u8>,
    backlog_done: usize,
    /// Bytes handed to block writes so far: the file offset of the block being filled.
    written: u64,
    /// Bytes handed to a background `fdatasync` so far (buffered writes only).
    sync_requested: u64,
    /// The background sync in flight, if any: it pushes received bytes to disk while the
    /// rest of the body arrives, so `finish` waits for little more than the tail. Direct
    /// writes need none: their bytes are on the device already.
    background_sync: Option<std::thread::JoinHandle<std::io::Result<()>>>,
    /// Counts this body among those whose blocks are hashed together.
    _hashing: body_md5::Member<'static>,
}

/// Received bytes that trigger a background sync of what is written so far (buffered writes).
const EARLY_SYNC_EVERY: u64 = 2 * 1024 * 1024;

impl fmt::Debug for BlobWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobWriter")
            .field("id", &self.id)
            .field("len", &self.len)
            .field("inline", &matches!(self.sink, Sink::Memory(_)))
            .finish()
    }
}

/// A temporary file used after it was finished: a bug, reported as a failed write.
fn finished_error() -> StoreError {
    std::io::Error::other("temporary body file used after it was finished").into()
}

/// The digests were asked for while a block write still holds them: a bug in the caller.
fn hashes_away_error() -> StoreError {
    std::io::Error::other("a block write of this body has not been handed back").into()
}

impl TmpFile {
    fn create(layout: &Layout, id: &BlobId, backlog: Vec<u8>) -> Result<TmpFile, StoreError> {
        let path = layout.tmp_dir().join(id.as_str());
        let file = BodyFile::open(&path)?;
        Ok(TmpFile {
            file: Some(std::sync::Arc::new(file)),
            path,
            block: None,
            spare: None,
            backlog,
            backlog_done: 0,
            written: 0,
            sync_requested: 0,
            background_sync: None,
            _hashing: MD5_BATCHER.join(),
        })
    }

    /// Copies as much of `data` as the block being filled takes (after any backlog);
    /// returns how much that was, 0 only when the block is full.
    fn fill(&mut self, data: &[u8]) -> usize {
        let spare = &mut self.spare;
        let block = self
            .block
            .get_or_insert_with(|| spare.take().unwrap_or_else(Block::take));
        while let Some(rest) = self
            .backlog
            .get(self.backlog_done..)
            .filter(|r| !r.is_empty())
        {
            if block.is_full() {
                return 0;
            }
            self.backlog_done += block.fill(rest);
        }
        block.fill(data)
    }

    fn has_full_block(&self) -> bool {
        self.block.as_ref().is_some_and(Block::is_full)
    }

    /// The full block, if any, with the file and the offset it goes to.
    fn take_full_block(
        &mut self,
    ) -> Result<Option<(std::sync::Arc<BodyFile>, Block, u64)>, StoreError> {
        if !self.has_full_block() {
            return Ok(None);
        }
        let file = self.file.clone().ok_or_else(finished_error)?;
        Ok(self.block.take().map(|block| {
            let offset = self.written;
            self.written += block.len as u64;
            (file, block, offset)
        }))
    }

    /// Takes back a written block; starts a background sync when buffered bytes are due.
    fn block_written(&mut self, mut block: Block) -> Result<(), StoreError> {
        block.len = 0;
        if let Some(extra) = self.spare.replace(block) {
            extra.recycle();
        }
        let Some(file) = self.file.clone() else {
            return Ok(());
        };
        let idle = self
            .background_sync
            .as_ref()
            .is_none_or(|h| h.is_finished());
        if file.is_buffered() && idle && self.written - self.sync_requested >= EARLY_SYNC_EVERY {
            self.join_background_sync()?;
            self.sync_requested = self.written;
            self.background_sync = Some(std::thread::spawn(move || file.buffered.sync_data()));
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

    /// Writes what is left (blocking), fsyncs, renames into `blobs/` and fsyncs the shard
    /// directory; returns the blob's guard.
    fn finish(
        mut self,
        layout: &Layout,
        id: &BlobId,
        hashes: &mut Hashes,
    ) -> Result<BlobGuard, StoreError> {
        // Whatever the caller left unwritten: full blocks, then the tail.
        loop {
            let taken = self.fill(&[]);
            if let Some((file, block, offset)) = self.take_full_block()? {
                hashes.update(block.bytes());
                file.write_at(block.bytes(), offset)?;
                self.block_written(block)?;
            } else if taken == 0 {
                break;
            }
        }
        let file = self.file.take().ok_or_else(finished_error)?;
        if let Some(tail) = self.block.take() {
            let bytes = tail.bytes();
            hashes.update(bytes);
            // The aligned head of the tail can still go direct; the last < 4 KiB cannot.
            let head = bytes.len() - bytes.len() % BLOCK_ALIGN;
            let (direct, rest) = bytes.split_at(head);
            file.write_at(direct, self.written)?;
            write_all_at(&file.buffered, rest, self.written + head as u64)?;
            tail.recycle();
        }
        self.join_background_sync()?;
        file.buffered.sync_all()?;
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
        for block in [self.block.take(), self.spare.take()].into_iter().flatten() {
            block.recycle();
        }
        if self.file.take().is_some() {
            // Not finished: discard what was received. A block write still in flight only
            // writes into the unlinked file.
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
            Some(n) if n > inline_max => Sink::File(TmpFile::create(layout, &id, Vec::new())?),
            Some(n) => Sink::Memory(Vec::with_capacity(n as usize)),
            None => Sink::Memory(Vec::new()),
        };
        Ok(BlobWriter {
            id,
            layout: layout.clone(),
            len: 0,
            hashes: Some(Hashes {
                md5: BodyMd5::new(),
                crc: Crc64::new(),
                chain: None,
            }),
            inline_max,
            sink,
        })
    }

    /// Appends `data` to the body, writing full blocks in place (blocking).
    pub fn write(&mut self, data: &[u8]) -> Result<(), StoreError> {
        let mut rest = data;
        loop {
            let n = self.buffer(rest)?;
            rest = rest.get(n..).unwrap_or_default();
            if let Some(job) = self.take_full_block()? {
                let done = self.run_here(job)?;
                self.block_written(done)?;
            } else if rest.is_empty() {
                return Ok(());
            }
        }
    }

    /// Takes as much of `data` as fits before a block must be written (no I/O); returns how
    /// much that was, 0 only when [`take_full_block`](BlobWriter::take_full_block) has a
    /// block for the caller. A body growing past the inline limit moves to a file here.
    pub fn buffer(&mut self, data: &[u8]) -> Result<usize, StoreError> {
        if let Sink::Memory(buf) = &mut self.sink {
            if self.len + data.len() as u64 > self.inline_max {
                let backlog = std::mem::take(buf);
                self.sink = Sink::File(TmpFile::create(&self.layout, &self.id, backlog)?);
            }
        }
        let n = match &mut self.sink {
            Sink::Memory(buf) => {
                buf.extend_from_slice(data);
                data.len()
            }
            Sink::File(file) => file.fill(data),
        };
        self.len += n as u64;
        Ok(n)
    }

    /// Whether a full block waits to be taken by
    /// [`take_full_block`](BlobWriter::take_full_block).
    pub fn has_full_block(&self) -> bool {
        matches!(&self.sink, Sink::File(f) if f.has_full_block())
    }

    /// The full block to write next, if one is waiting. The previous block's digests
    /// ([`BodyHashes`]) must have been handed back first; its write may still be under way.
    pub fn take_full_block(&mut self) -> Result<Option<BlockWrite>, StoreError> {
        let Sink::File(file) = &mut self.sink else {
            return Ok(None);
        };
        if !file.has_full_block() {
            return Ok(None);
        }
        if self.hashes.is_none() {
            return Err(hashes_away_error());
        }
        let Some((file, block, offset)) = file.take_full_block()? else {
            return Ok(None);
        };
        let hashes = self.hashes.take().ok_or_else(hashes_away_error)?;
        Ok(Some(BlockWrite {
            file,
            block,
            offset,
            hashes,
        }))
    }

    /// Runs `job` on this thread (blocking) and takes its digests back at once; the block
    /// still goes to [`block_written`](BlobWriter::block_written).
    pub fn run_here(&mut self, job: BlockWrite) -> Result<WrittenBlock, StoreError> {
        let mut hashes = None;
        let done = job.run(|h| hashes = Some(h))?;
        self.hashes_back(hashes.ok_or_else(hashes_away_error)?);
        Ok(done)
    }

    /// Takes back the digests a [`BlockWrite`] carried away.
    pub fn hashes_back(&mut self, hashes: BodyHashes) {
        self.hashes = Some(hashes.0);
    }

    /// Takes back a block [`BlockWrite::run`] wrote. Every block taken must come back before
    /// [`finish`](BlobWriter::finish).
    pub fn block_written(&mut self, done: WrittenBlock) -> Result<(), StoreError> {
        match &mut self.sink {
            Sink::File(file) => file.block_written(done.block),
            Sink::Memory(_) => {
                done.block.recycle();
                Ok(())
            }
        }
    }

    /// Whether the digests are away with a block write (tests).
    #[cfg(test)]
    fn digests_away(&self) -> bool {
        self.hashes.is_none()
    }

    /// Makes this body the continuation of `chain` (a part of a sequential upload); call before
    /// the first write.
    pub fn continue_chain(&mut self, chain: Md5Chain) {
        if let Some(hashes) = self.hashes.as_mut() {
            hashes.chain = Some((chain.state(), chain));
        }
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the body so far is held in memory, to be stored inline; then
    /// [`finish`](BlobWriter::finish) does no I/O.
    pub fn is_inline(&self) -> bool {
        matches!(self.sink, Sink::Memory(_))
    }

    /// Ends the body. An inline body is returned as is (the commit that records it makes it
    /// durable); a file gets its last bytes written and is made durable under `blobs/`: fsync
    /// the file, rename it out of `tmp/`, fsync the shard directory. The blob is not yet
    /// referenced by any row; hand it to a `Store` call, which records it (or deletes it if the
    /// call fails). Every [`BlockWrite`] taken must have been handed back.
    pub fn finish(self) -> Result<FinishedBlob, StoreError> {
        let BlobWriter {
            id,
            layout,
            sink,
            hashes,
            len,
            ..
        } = self;
        let mut hashes = hashes.ok_or_else(hashes_away_error)?;
        let (id, body) = match sink {
            Sink::Memory(bytes) => {
                hashes.update(&bytes);
                (BlobId::ordered(), Body::Inline(bytes))
            }
            Sink::File(file) => {
                let body = Body::File(file.finish(&layout, &id, &mut hashes)?);
                (id, body)
            }
        };
        debug_assert_eq!(hashes.crc.len(), len);
        Ok(FinishedBlob {
            id,
            size: len,
            md5: hashes.md5.finalize(),
            crc64: hashes.crc.value(),
            chain: hashes.chain.map(|(base, chain)| ChainedMd5 {
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

    /// Bytes that differ at every block boundary.
    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    fn assert_blob(layout: &Layout, blob: &FinishedBlob, data: &[u8]) {
        use md5::{Digest, Md5};
        assert_eq!(blob.size, data.len() as u64);
        assert_eq!(blob.md5, <[u8; 16]>::from(Md5::digest(data)));
        assert_eq!(blob.crc64, osspart_protocol::crc64::checksum(data));
        assert_eq!(fs::read(layout.blob_path(&blob.id)).unwrap(), data);
    }

    #[test]
    fn bodies_across_blocks_hash_and_land_whole() {
        let (_dir, layout) = layout();
        for len in [
            BLOCK_SIZE - 1,
            BLOCK_SIZE,
            BLOCK_SIZE + 1,
            3 * BLOCK_SIZE + BLOCK_ALIGN + 17,
        ] {
            let data = pattern(len);
            for chunk in [1000, 64 * 1024, 3 * BLOCK_SIZE] {
                // Blocking writes.
                let mut w = BlobWriter::create(&layout, 100, None).unwrap();
                for piece in data.chunks(chunk) {
                    w.write(piece).unwrap();
                }
                let blob = w.finish().unwrap();
                assert_blob(&layout, &blob, &data);

                // The async caller's steps: buffer, then hash one block at a time while up
                // to two earlier ones are still to be handed back as written.
                let mut w = BlobWriter::create(&layout, 100, Some(len as u64)).unwrap();
                let mut in_flight: Option<BlockWrite> = None;
                let mut written = std::collections::VecDeque::new();
                for piece in data.chunks(chunk) {
                    let mut rest = piece;
                    while !rest.is_empty() {
                        let n = w.buffer(rest).unwrap();
                        rest = &rest[n..];
                        if w.has_full_block() {
                            if let Some(job) = in_flight.take() {
                                written.push_back(w.run_here(job).unwrap());
                            }
                            if written.len() > 2 {
                                w.block_written(written.pop_front().unwrap()).unwrap();
                            }
                            in_flight = w.take_full_block().unwrap();
                            assert!(in_flight.is_some());
                            // The digests travel with the block: a second one must wait.
                            assert!(w.digests_away());
                        }
                    }
                }
                if let Some(job) = in_flight.take() {
                    written.push_back(w.run_here(job).unwrap());
                }
                for done in written {
                    w.block_written(done).unwrap();
                }
                let blob = w.finish().unwrap();
                assert_blob(&layout, &blob, &data);
            }
        }
        assert_eq!(count_files(&layout.tmp_dir()), 0);
    }

    #[test]
    fn an_inline_limit_above_a_block_spills_through_blocks() {
        let (_dir, layout) = layout();
        let data = pattern(3 * BLOCK_SIZE + 5);
        let limit = (2 * BLOCK_SIZE + 3) as u64;
        let mut w = BlobWriter::create(&layout, limit, None).unwrap();
        for piece in data.chunks(256 * 1024 + 1) {
            w.write(piece).unwrap();
        }
        assert!(!w.is_inline());
        let blob = w.finish().unwrap();
        assert_blob(&layout, &blob, &data);
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
