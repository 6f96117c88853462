//! The MD5 of every stored body (its ETag): the one hash the server cannot skip, so its cost
//! per byte is the floor of ingest.
//!
//! MD5 is serial within one body, but the bodies of parallel part uploads are independent:
//! [`BodyMd5::update_batched`] hands a body's full blocks to a [`Batcher`], which hashes the
//! blocks of every body in flight together, one body per vector lane ([`super::md5_lanes`]:
//! AVX-512 or AVX2 where the CPU has them, interleaved scalar code elsewhere). A block that
//! finds no company is hashed alone by the fastest single-stream code: with the `aws-lc-md5`
//! feature (on by default) AWS-LC's hand-written assembly (~1.3 CPU-s/GiB on our 2-core test VM
//! against ~1.7 for the `md-5` crate; AWS-LC is already built for the client's TLS), otherwise
//! the portable scalar code. Every path gives the same digests (tested below).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use super::md5_lanes::{self, Md5State};

/// A running MD5 of a body: the state after its whole 64-byte blocks, the bytes of a block
/// not yet complete, and the length so far.
#[derive(Clone)]
pub struct BodyMd5 {
    state: Md5State,
    tail: [u8; 64],
    tail_len: usize,
    total: u64,
}

impl BodyMd5 {
    /// The MD5 of no bytes yet.
    pub fn new() -> BodyMd5 {
        BodyMd5 {
            state: Md5State::INIT,
            tail: [0; 64],
            tail_len: 0,
            total: 0,
        }
    }

    /// Adds bytes.
    pub fn update(&mut self, mut data: &[u8]) {
        self.total += data.len() as u64;
        if self.tail_len > 0 {
            let n = (64 - self.tail_len).min(data.len());
            let (head, rest) = data.split_at(n);
            if let Some(dst) = self.tail.get_mut(self.tail_len..self.tail_len + n) {
                dst.copy_from_slice(head);
            }
            self.tail_len += n;
            data = rest;
            if self.tail_len < 64 {
                return;
            }
            let block = self.tail;
            compress_alone(&mut self.state, &block);
            self.tail_len = 0;
        }
        let (blocks, rest) = data.split_at(data.len() / 64 * 64);
        compress_alone(&mut self.state, blocks);
        if let Some(dst) = self.tail.get_mut(..rest.len()) {
            dst.copy_from_slice(rest);
        }
        self.tail_len = rest.len();
    }

    /// Adds `data`, hashed together with the blocks other bodies are adding through `batcher`
    /// at the same time; gives `data` back. Blocks that are whole 64-byte multiples at a
    /// 64-byte boundary of the body go through the batcher, anything else is added directly.
    pub fn update_batched<T: AsRef<[u8]>>(&mut self, batcher: &Batcher<T>, data: T) -> T {
        let len = data.as_ref().len();
        if self.tail_len != 0 || len % 64 != 0 || len == 0 {
            self.update(data.as_ref());
            return data;
        }
        let (state, data) = batcher.compress(self.state, data);
        self.state = state;
        self.total += len as u64;
        data
    }

    /// The digest of every byte added.
    pub fn finalize(self) -> [u8; 16] {
        md5_lanes::finish(
            self.state,
            self.tail.get(..self.tail_len).unwrap_or_default(),
            self.total,
        )
    }
}

impl Default for BodyMd5 {
    fn default() -> Self {
        BodyMd5::new()
    }
}

impl std::fmt::Debug for BodyMd5 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodyMd5")
            .field("len", &self.total)
            .finish_non_exhaustive()
    }
}

/// Most blocks hashed in one batch (the widest kernel's lane count).
const MAX_BATCH: usize = 16;

/// Longest a block waits for the blocks of other bodies to join its batch. A body's next
/// block takes longer than this to arrive (1 MiB at 200 MiB/s is 5 ms), and a body keeps
/// receiving while its previous block is hashed, so the wait costs a body no throughput;
/// only its last block's answer can come this much later.
const MAX_WAIT: Duration = Duration::from_millis(2);

/// Gathers the blocks that threads ingesting different bodies submit at about the same time
/// and hashes them in one multi-lane pass. No thread is dedicated to it: a submitter that
/// finds nobody hashing waits (at most [`MAX_WAIT`]) until a block of every other body
/// being received ([`Batcher::join`]) is waiting too, then hashes everything waiting, its
/// own block among them; each submitter returns as soon as its block is done. A lone body
/// never waits, and its blocks are hashed by the fastest single-stream code.
pub struct Batcher<T> {
    queue: Mutex<Queue<T>>,
    changed: Condvar,
    /// Bodies being received whose blocks come here.
    members: AtomicUsize,
}

struct Queue<T> {
    next_id: u64,
    /// Submitted, not yet hashed, with when.
    waiting: Vec<(u64, Md5State, T, Instant)>,
    /// Hashed, not yet collected by their submitters.
    done: Vec<(u64, Md5State, T)>,
    /// Whether a thread is hashing a batch right now.
    hashing: bool,
}

/// A body's membership of a [`Batcher`], from [`Batcher::join`]; ends when dropped.
pub struct Member<'a>(&'a AtomicUsize);

impl Drop for Member<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for Member<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Member")
    }
}

impl<T: AsRef<[u8]>> Batcher<T> {
    /// A batcher with nothing waiting.
    pub const fn new() -> Batcher<T> {
        Batcher {
            queue: Mutex::new(Queue {
                next_id: 0,
                waiting: Vec::new(),
                done: Vec::new(),
                hashing: false,
            }),
            changed: Condvar::new(),
            members: AtomicUsize::new(0),
        }
    }

    /// Counts a body being received, whose blocks batches should wait for, until the
    /// returned guard is dropped.
    pub fn join(&self) -> Member<'_> {
        self.members.fetch_add(1, Ordering::Relaxed);
        Member(&self.members)
    }

    /// `state` after the whole 64-byte blocks of `data`, hashed with whatever other threads
    /// submit meanwhile; blocks until then and gives `data` back.
    pub fn compress(&self, state: Md5State, data: T) -> (Md5State, T) {
        let lock = || self.queue.lock().unwrap_or_else(|p| p.into_inner());
        let mut queue = lock();
        let id = queue.next_id;
        queue.next_id += 1;
        queue.waiting.push((id, state, data, Instant::now()));
        self.changed.notify_all();
        loop {
            if let Some(at) = queue.done.iter().position(|job| job.0 == id) {
                let (_, state, data) = queue.done.swap_remove(at);
                return (state, data);
            }
            if !queue.hashing {
                if let Some(first) = queue.waiting.first() {
                    let want = self.members.load(Ordering::Relaxed).clamp(1, MAX_BATCH);
                    let waited = first.3.elapsed();
                    if queue.waiting.len() < want && waited < MAX_WAIT {
                        queue = self
                            .changed
                            .wait_timeout(queue, MAX_WAIT - waited)
                            .unwrap_or_else(|p| p.into_inner())
                            .0;
                        continue;
                    }
                    queue.hashing = true;
                    let take = queue.waiting.len().min(MAX_BATCH);
                    let mut batch: Vec<_> = queue
                        .waiting
                        .drain(..take)
                        .map(|(id, state, data, _)| (id, state, data))
                        .collect();
                    drop(queue);
                    hash_batch(&mut batch);
                    queue = lock();
                    queue.done.append(&mut batch);
                    queue.hashing = false;
                    self.changed.notify_all();
                    continue;
                }
            }
            queue = self.changed.wait(queue).unwrap_or_else(|p| p.into_inner());
        }
    }
}

impl<T: AsRef<[u8]>> Default for Batcher<T> {
    fn default() -> Self {
        Batcher::new()
    }
}

impl<T> std::fmt::Debug for Batcher<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Batcher")
    }
}

fn hash_batch<T: AsRef<[u8]>>(batch: &mut [(u64, Md5State, T)]) {
    if let [(_, state, data)] = batch {
        compress_alone(state, data.as_ref());
        return;
    }
    let mut jobs: Vec<(&mut Md5State, &[u8])> = batch
        .iter_mut()
        .map(|(_, state, data)| (state, T::as_ref(data)))
        .collect();
    md5_lanes::compress_many(&mut jobs);
}

/// Hashes the whole 64-byte blocks of one stream with the fastest single-stream code.
#[cfg(feature = "aws-lc-md5")]
fn compress_alone(state: &mut Md5State, blocks: &[u8]) {
    // The one measured hot path that needs `unsafe`: AWS-LC's MD5_Update on a context this
    // function owns. `MD5_CTX` is plain data (no pointers, no destructor).
    #![allow(unsafe_code)]
    use aws_lc_sys::{MD5_Update, MD5_CTX};
    let whole = blocks.len() / 64 * 64;
    if whole == 0 {
        return;
    }
    // SAFETY: MD5_CTX is a C struct of integers and arrays, valid when zeroed; with no
    // buffered bytes (`num` 0) and a multiple of 64 bytes, MD5_Update only runs the block
    // function over `blocks` from the chaining value `h` set here.
    let mut ctx: MD5_CTX = unsafe { std::mem::zeroed() };
    ctx.h = [state.a, state.b, state.c, state.d];
    // SAFETY: `blocks` is a live slice of at least `whole` bytes; the context is ours.
    unsafe { MD5_Update(&mut ctx, blocks.as_ptr().cast(), whole) };
    let [a, b, c, d] = ctx.h;
    *state = Md5State { a, b, c, d };
}

/// Hashes the whole 64-byte blocks of one stream with the fastest single-stream code.
#[cfg(not(feature = "aws-lc-md5"))]
fn compress_alone(state: &mut Md5State, blocks: &[u8]) {
    md5_lanes::compress_many(&mut [(state, blocks)]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::{Digest, Md5};
    use std::sync::Arc;

    #[test]
    fn matches_md5_crate_at_every_split() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 31 % 251) as u8).collect();
        for len in [0, 1, 55, 56, 63, 64, 65, 127, 128, 1000, 10_000] {
            let body = data.get(..len).unwrap();
            let want: [u8; 16] = Md5::digest(body).into();
            for split in [0, 1, len / 3, len] {
                let (a, b) = body.split_at(split.min(len));
                let mut h = BodyMd5::new();
                h.update(a);
                h.update(b);
                assert_eq!(h.finalize(), want, "len {len} split {split}");
            }
        }
        let mut h = BodyMd5::new();
        h.update(b"123456789");
        assert_eq!(
            hex::encode(h.finalize()),
            "25f9e794323b453885f5181f1b624d0b"
        );
    }

    #[test]
    fn bodies_hashed_together_get_their_own_digests() {
        const BLOCK: usize = 64 * 1024;
        let batcher: Arc<Batcher<Vec<u8>>> = Arc::new(Batcher::new());
        let bodies: Vec<Vec<u8>> = (0..7u32)
            .map(|b| {
                let len = BLOCK * (1 + b as usize % 3) + (b as usize * 13);
                (0..len as u32)
                    .map(|i| (i.wrapping_mul(2654435761).wrapping_add(b) >> 13) as u8)
                    .collect()
            })
            .collect();
        let threads: Vec<_> = bodies
            .iter()
            .cloned()
            .map(|body| {
                let batcher = batcher.clone();
                std::thread::spawn(move || {
                    let _member = batcher.join();
                    let mut h = BodyMd5::new();
                    for piece in body.chunks(BLOCK) {
                        let back = h.update_batched(&batcher, piece.to_vec());
                        assert_eq!(back, piece);
                    }
                    h.finalize()
                })
            })
            .collect();
        for (body, t) in bodies.iter().zip(threads) {
            let want: [u8; 16] = Md5::digest(body).into();
            assert_eq!(t.join().unwrap(), want);
        }
        // An unaligned start goes the direct way and still agrees.
        let mut h = BodyMd5::new();
        h.update(b"abc");
        h.update_batched(&batcher, vec![7u8; 128]);
        let mut whole = b"abc".to_vec();
        whole.extend([7u8; 128]);
        assert_eq!(h.finalize(), <[u8; 16]>::from(Md5::digest(&whole)));
    }
}
