//! Multi-lane MD5: hashes several independent byte streams at once.
//!
//! MD5 is a strictly serial, latency-bound hash, so a single stream cannot use the
//! width of a modern core. This module runs the compression function of several
//! independent streams side by side, either interleaved in general-purpose
//! registers or one stream per 32-bit lane of an AVX2 / AVX-512 vector.
//!
//! Callers own buffering: [`compress_many`] consumes whole 64-byte blocks, and
//! [`finish`] pads the final partial block of one stream.

// The SIMD kernels are `unsafe` target-feature functions, called only after detection.
#![allow(unsafe_code)]

use std::sync::OnceLock;

/// The running state of one MD5 stream between whole 64-byte blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Md5State {
    /// First chaining word.
    pub a: u32,
    /// Second chaining word.
    pub b: u32,
    /// Third chaining word.
    pub c: u32,
    /// Fourth chaining word.
    pub d: u32,
}

impl Md5State {
    /// The standard MD5 initial chaining value (state before any data).
    pub const INIT: Md5State = Md5State {
        a: 0x6745_2301,
        b: 0xefcd_ab89,
        c: 0x98ba_dcfe,
        d: 0x1032_5476,
    };

    /// The four words as the 16-byte digest (little-endian), for a state that has seen its padding.
    #[must_use]
    pub fn to_digest(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        for (dst, word) in out
            .chunks_exact_mut(4)
            .zip([self.a, self.b, self.c, self.d])
        {
            dst.copy_from_slice(&word.to_le_bytes());
        }
        out
    }
}

/// Hashes whole 64-byte blocks of several independent streams.
///
/// Each job is `(state, data)`; `floor(data.len() / 64)` blocks are hashed into
/// `state` and any trailing partial block is ignored (callers keep the remainder
/// and pass multiples of 64; it is never an error and never panics). Lanes may
/// have different lengths. The kernel is chosen once per process from the CPU
/// features (AVX-512 > AVX2 > interleaved scalar); a single job uses the scalar path.
pub fn compress_many(jobs: &mut [(&mut Md5State, &[u8])]) {
    compress_auto(best_kernel(), jobs);
}

/// [`compress_many`]'s job-count policy for a given kernel family (`Avx512`, `Avx2x2` or
/// `ScalarX4`), so the tests cover every family's policy whatever this CPU has.
#[cfg(test)]
fn compress_many_family(family: Kernel, jobs: &mut [(&mut Md5State, &[u8])]) {
    // Every kernel `kernel_for_group` derives from a family needs the same CPU
    // features as the family itself.
    let best = if family.available() {
        family
    } else {
        Kernel::ScalarX4
    };
    compress_auto(best, jobs);
}

/// Splits jobs into groups of `best.lanes()` and runs each with the kernel that suits its size.
fn compress_auto(best: Kernel, jobs: &mut [(&mut Md5State, &[u8])]) {
    if jobs.len() <= 1 {
        run(Kernel::Scalar, jobs, true);
        return;
    }
    let width = best.lanes();
    for group in jobs.chunks_mut(width) {
        run(kernel_for_group(best, group.len()), group, true);
    }
}

/// Which kernel family `compress_many` uses on this machine ("avx512", "avx2" or "scalar-interleaved"), for logs/benchmarks.
///
/// "avx512" runs 9..=16 jobs in 512-bit registers and 2..=8 jobs in 256-bit
/// AVX-512VL registers; "avx2" runs 2..=8 jobs in one 256-bit group and 9..=16
/// in two interleaved groups; a lone job always takes the scalar path.
#[must_use]
pub fn kernel_name() -> &'static str {
    match best_kernel() {
        Kernel::Avx512 | Kernel::Avx512Vl => "avx512",
        Kernel::Avx2 | Kernel::Avx2x2 => "avx2",
        Kernel::Scalar | Kernel::ScalarX2 | Kernel::ScalarX4 => "scalar-interleaved",
    }
}

/// Applies MD5 padding to the final partial block `tail` (normally `< 64` bytes) of a stream of `total_len` bytes and returns the digest.
///
/// `state` must cover exactly the bytes before `tail`. If `tail` is 64 bytes or
/// longer, its whole blocks are hashed first (no panic).
#[must_use]
pub fn finish(state: Md5State, tail: &[u8], total_len: u64) -> [u8; 16] {
    let mut st = [[state.a], [state.b], [state.c], [state.d]];
    let (blocks, rest) = tail.split_at(tail.len() / 64 * 64);
    scalar_lanes::<1>(&mut st, &[blocks]);
    let mut buf = [0u8; 128];
    for (dst, src) in buf.iter_mut().zip(rest) {
        *dst = *src;
    }
    if let Some(x) = buf.get_mut(rest.len()) {
        *x = 0x80;
    }
    let padded = if rest.len() < 56 { 64 } else { 128 };
    if let Some(dst) = buf.get_mut(padded - 8..padded) {
        dst.copy_from_slice(&total_len.wrapping_mul(8).to_le_bytes());
    }
    scalar_lanes::<1>(&mut st, &[buf.get(..padded).unwrap_or(&[])]);
    let [[a], [b], [c], [d]] = st;
    Md5State { a, b, c, d }.to_digest()
}

/// A compression kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kernel {
    /// One stream at a time, plain scalar code.
    Scalar,
    /// Two streams interleaved in general-purpose registers.
    ScalarX2,
    /// Four streams interleaved in general-purpose registers.
    ScalarX4,
    /// Eight lanes in 256-bit AVX2 registers.
    Avx2,
    /// Eight lanes in 256-bit registers with AVX-512VL rotates and ternary logic.
    Avx512Vl,
    /// Sixteen lanes in 512-bit AVX-512F registers.
    Avx512,
    /// Sixteen lanes as two interleaved groups of eight in 256-bit AVX2 registers.
    Avx2x2,
}

impl Kernel {
    /// Every kernel, in order of preference from slowest to fastest.
    #[cfg(test)]
    const ALL: [Kernel; 7] = [
        Kernel::Scalar,
        Kernel::ScalarX2,
        Kernel::ScalarX4,
        Kernel::Avx2,
        Kernel::Avx2x2,
        Kernel::Avx512Vl,
        Kernel::Avx512,
    ];

    /// How many streams the kernel hashes per pass.
    fn lanes(self) -> usize {
        match self {
            Kernel::Scalar => 1,
            Kernel::ScalarX2 => 2,
            Kernel::ScalarX4 => 4,
            Kernel::Avx2 | Kernel::Avx512Vl => 8,
            Kernel::Avx512 | Kernel::Avx2x2 => 16,
        }
    }

    /// Whether this CPU can run the kernel.
    fn available(self) -> bool {
        match self {
            Kernel::Scalar | Kernel::ScalarX2 | Kernel::ScalarX4 => true,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 | Kernel::Avx2x2 => {
                std::arch::is_x86_feature_detected!("avx2")
            }
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512Vl | Kernel::Avx512 => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512vl")
            }
            #[cfg(not(target_arch = "x86_64"))]
            Kernel::Avx2 | Kernel::Avx512Vl | Kernel::Avx512 | Kernel::Avx2x2 => false,
        }
    }
}

/// Like [`compress_many`] but forces one kernel for every group (scalar if the CPU lacks it),
/// so the tests cover every kernel this CPU has.
#[cfg(test)]
fn compress_many_with(kernel: Kernel, jobs: &mut [(&mut Md5State, &[u8])]) {
    let k = if kernel.available() {
        kernel
    } else {
        Kernel::Scalar
    };
    run(k, jobs, false);
}

/// The widest kernel this CPU supports, detected once.
fn best_kernel() -> Kernel {
    static BEST: OnceLock<Kernel> = OnceLock::new();
    *BEST.get_or_init(|| {
        [Kernel::Avx512, Kernel::Avx2x2]
            .into_iter()
            .find(|k| k.available())
            .unwrap_or(Kernel::ScalarX4)
    })
}

/// Picks the kernel for a group of `n` (`1..=best.lanes()`) jobs, from measurements on Zen 4.
fn kernel_for_group(best: Kernel, n: usize) -> Kernel {
    match (best, n) {
        (_, 0 | 1) => Kernel::Scalar,
        (Kernel::Avx512, 2..=8) => Kernel::Avx512Vl,
        (Kernel::Avx2x2, 2..=8) => Kernel::Avx2,
        (Kernel::ScalarX4, 2) => Kernel::ScalarX2,
        (k, _) => k,
    }
}

/// The multiple-of-64 prefix of `data`.
fn whole_blocks(data: &[u8]) -> &[u8] {
    data.split_at(data.len() / 64 * 64).0
}

/// Runs `kernel` over all jobs, in groups of its lane count.
fn run(kernel: Kernel, jobs: &mut [(&mut Md5State, &[u8])], lone_scalar: bool) {
    match kernel {
        Kernel::Scalar => {
            for group in jobs.chunks_mut(1) {
                drive::<1, _>(group, false, scalar_lanes::<1>);
            }
        }
        Kernel::ScalarX2 => {
            for group in jobs.chunks_mut(2) {
                drive::<2, _>(group, lone_scalar, scalar_lanes::<2>);
            }
        }
        Kernel::ScalarX4 => {
            for group in jobs.chunks_mut(4) {
                drive::<4, _>(group, lone_scalar, scalar_lanes::<4>);
            }
        }
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 => {
            for group in jobs.chunks_mut(8) {
                drive::<8, _>(group, lone_scalar, |st, lanes| {
                    // SAFETY: `run` is only reached with this kernel after
                    // `Kernel::available` confirmed AVX2 (compress_many via
                    // best_kernel, the test hooks via their own checks).
                    unsafe { x86::avx2_compress(st, lanes) }
                });
            }
        }
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512Vl => {
            for group in jobs.chunks_mut(8) {
                drive::<8, _>(group, lone_scalar, |st, lanes| {
                    // SAFETY: only reached after `Kernel::available` confirmed
                    // AVX-512F and AVX-512VL (which imply AVX2).
                    unsafe { x86::avx512vl_compress(st, lanes) }
                });
            }
        }
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512 => {
            for group in jobs.chunks_mut(16) {
                drive::<16, _>(group, lone_scalar, |st, lanes| {
                    // SAFETY: only reached after `Kernel::available` confirmed
                    // AVX-512F and AVX-512VL.
                    unsafe { x86::avx512_compress(st, lanes) }
                });
            }
        }
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2x2 => {
            for group in jobs.chunks_mut(16) {
                drive::<16, _>(group, lone_scalar, |st, lanes| {
                    // SAFETY: only reached after `Kernel::available` confirmed AVX2.
                    unsafe { x86::avx2x2_compress(st, lanes) }
                });
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        Kernel::Avx2 | Kernel::Avx512Vl | Kernel::Avx512 | Kernel::Avx2x2 => {
            run(Kernel::ScalarX2, jobs, lone_scalar)
        }
    }
}

/// Writes lane `l` of the column-major state block.
fn put_lane<const W: usize>(st: &mut [[u32; W]; 4], l: usize, s: Md5State) {
    for (col, v) in st.iter_mut().zip([s.a, s.b, s.c, s.d]) {
        if let Some(x) = col.get_mut(l) {
            *x = v;
        }
    }
}

/// Reads lane `l` of the column-major state block.
fn get_lane<const W: usize>(st: &[[u32; W]; 4], l: usize) -> Md5State {
    let w = |i: usize| st.get(i).and_then(|c| c.get(l)).copied().unwrap_or(0);
    Md5State {
        a: w(0),
        b: w(1),
        c: w(2),
        d: w(3),
    }
}

/// Feeds up to `W` jobs through a `W`-lane kernel until every job's whole blocks are consumed.
///
/// Each pass runs the kernel for the smallest remaining block count among the
/// active lanes; idle lanes (missing or finished jobs) hash a copy of an active
/// lane's input and their results are discarded. A finished lane's state is
/// written back right after the pass that finished it. With `lone_scalar`, a
/// single remaining active lane is finished with the one-stream scalar code.
fn drive<const W: usize, K>(group: &mut [(&mut Md5State, &[u8])], lone_scalar: bool, mut kernel: K)
where
    K: FnMut(&mut [[u32; W]; 4], &[&[u8]; W]),
{
    let mut st = [[0u32; W]; 4];
    let mut rem: [&[u8]; W] = [&[]; W];
    for (l, ((state, data), r)) in group.iter().zip(rem.iter_mut()).enumerate() {
        put_lane(&mut st, l, **state);
        *r = whole_blocks(data);
    }
    loop {
        let active: [bool; W] = rem.map(|r| r.len() >= 64);
        let Some(blocks) = rem.iter().map(|r| r.len() / 64).filter(|&n| n > 0).min() else {
            break;
        };
        let n_active = active.iter().filter(|&&a| a).count();
        if lone_scalar && W > 1 && n_active == 1 {
            for (l, (r, (state, _))) in rem.iter().zip(group.iter_mut()).enumerate() {
                if r.len() >= 64 {
                    let mut one = [[0u32; 1]; 4];
                    put_lane(&mut one, 0, get_lane(&st, l));
                    scalar_lanes::<1>(&mut one, &[*r]);
                    **state = get_lane(&one, 0);
                }
            }
            break;
        }
        let bytes = blocks * 64;
        let filler: &[u8] = rem
            .iter()
            .find(|r| r.len() >= 64)
            .and_then(|r| r.get(..bytes))
            .unwrap_or(&[]);
        let mut input: [&[u8]; W] = [filler; W];
        for ((inp, r), &act) in input.iter_mut().zip(rem.iter()).zip(active.iter()) {
            if act {
                *inp = r.get(..bytes).unwrap_or(filler);
            }
        }
        kernel(&mut st, &input);
        for (l, ((r, &act), job)) in rem
            .iter_mut()
            .zip(active.iter())
            .zip(group.iter_mut())
            .enumerate()
        {
            if act {
                *r = r.get(bytes..).unwrap_or(&[]);
                *job.0 = get_lane(&st, l);
            }
        }
    }
}

/// Converts a round constant to the signed form the intrinsics take.
#[cfg(target_arch = "x86_64")]
const fn k32(k: u32) -> i32 {
    k as i32
}

/// Expands the 64 MD5 steps: `$st!(func, a, b, c, d, words, msg_index, constant, rotate)`.
macro_rules! md5_steps {
    ($st:ident, $a:ident, $b:ident, $c:ident, $d:ident, $w:ident) => {
        $st!(f, $a, $b, $c, $d, $w, 0, 0xd76aa478, 7);
        $st!(f, $d, $a, $b, $c, $w, 1, 0xe8c7b756, 12);
        $st!(f, $c, $d, $a, $b, $w, 2, 0x242070db, 17);
        $st!(f, $b, $c, $d, $a, $w, 3, 0xc1bdceee, 22);
        $st!(f, $a, $b, $c, $d, $w, 4, 0xf57c0faf, 7);
        $st!(f, $d, $a, $b, $c, $w, 5, 0x4787c62a, 12);
        $st!(f, $c, $d, $a, $b, $w, 6, 0xa8304613, 17);
        $st!(f, $b, $c, $d, $a, $w, 7, 0xfd469501, 22);
        $st!(f, $a, $b, $c, $d, $w, 8, 0x698098d8, 7);
        $st!(f, $d, $a, $b, $c, $w, 9, 0x8b44f7af, 12);
        $st!(f, $c, $d, $a, $b, $w, 10, 0xffff5bb1, 17);
        $st!(f, $b, $c, $d, $a, $w, 11, 0x895cd7be, 22);
        $st!(f, $a, $b, $c, $d, $w, 12, 0x6b901122, 7);
        $st!(f, $d, $a, $b, $c, $w, 13, 0xfd987193, 12);
        $st!(f, $c, $d, $a, $b, $w, 14, 0xa679438e, 17);
        $st!(f, $b, $c, $d, $a, $w, 15, 0x49b40821, 22);
        $st!(g, $a, $b, $c, $d, $w, 1, 0xf61e2562, 5);
        $st!(g, $d, $a, $b, $c, $w, 6, 0xc040b340, 9);
        $st!(g, $c, $d, $a, $b, $w, 11, 0x265e5a51, 14);
        $st!(g, $b, $c, $d, $a, $w, 0, 0xe9b6c7aa, 20);
        $st!(g, $a, $b, $c, $d, $w, 5, 0xd62f105d, 5);
        $st!(g, $d, $a, $b, $c, $w, 10, 0x02441453, 9);
        $st!(g, $c, $d, $a, $b, $w, 15, 0xd8a1e681, 14);
        $st!(g, $b, $c, $d, $a, $w, 4, 0xe7d3fbc8, 20);
        $st!(g, $a, $b, $c, $d, $w, 9, 0x21e1cde6, 5);
        $st!(g, $d, $a, $b, $c, $w, 14, 0xc33707d6, 9);
        $st!(g, $c, $d, $a, $b, $w, 3, 0xf4d50d87, 14);
        $st!(g, $b, $c, $d, $a, $w, 8, 0x455a14ed, 20);
        $st!(g, $a, $b, $c, $d, $w, 13, 0xa9e3e905, 5);
        $st!(g, $d, $a, $b, $c, $w, 2, 0xfcefa3f8, 9);
        $st!(g, $c, $d, $a, $b, $w, 7, 0x676f02d9, 14);
        $st!(g, $b, $c, $d, $a, $w, 12, 0x8d2a4c8a, 20);
        $st!(h, $a, $b, $c, $d, $w, 5, 0xfffa3942, 4);
        $st!(h, $d, $a, $b, $c, $w, 8, 0x8771f681, 11);
        $st!(h, $c, $d, $a, $b, $w, 11, 0x6d9d6122, 16);
        $st!(h, $b, $c, $d, $a, $w, 14, 0xfde5380c, 23);
        $st!(h, $a, $b, $c, $d, $w, 1, 0xa4beea44, 4);
        $st!(h, $d, $a, $b, $c, $w, 4, 0x4bdecfa9, 11);
        $st!(h, $c, $d, $a, $b, $w, 7, 0xf6bb4b60, 16);
        $st!(h, $b, $c, $d, $a, $w, 10, 0xbebfbc70, 23);
        $st!(h, $a, $b, $c, $d, $w, 13, 0x289b7ec6, 4);
        $st!(h, $d, $a, $b, $c, $w, 0, 0xeaa127fa, 11);
        $st!(h, $c, $d, $a, $b, $w, 3, 0xd4ef3085, 16);
        $st!(h, $b, $c, $d, $a, $w, 6, 0x04881d05, 23);
        $st!(h, $a, $b, $c, $d, $w, 9, 0xd9d4d039, 4);
        $st!(h, $d, $a, $b, $c, $w, 12, 0xe6db99e5, 11);
        $st!(h, $c, $d, $a, $b, $w, 15, 0x1fa27cf8, 16);
        $st!(h, $b, $c, $d, $a, $w, 2, 0xc4ac5665, 23);
        $st!(i, $a, $b, $c, $d, $w, 0, 0xf4292244, 6);
        $st!(i, $d, $a, $b, $c, $w, 7, 0x432aff97, 10);
        $st!(i, $c, $d, $a, $b, $w, 14, 0xab9423a7, 15);
        $st!(i, $b, $c, $d, $a, $w, 5, 0xfc93a039, 21);
        $st!(i, $a, $b, $c, $d, $w, 12, 0x655b59c3, 6);
        $st!(i, $d, $a, $b, $c, $w, 3, 0x8f0ccc92, 10);
        $st!(i, $c, $d, $a, $b, $w, 10, 0xffeff47d, 15);
        $st!(i, $b, $c, $d, $a, $w, 1, 0x85845dd1, 21);
        $st!(i, $a, $b, $c, $d, $w, 8, 0x6fa87e4f, 6);
        $st!(i, $d, $a, $b, $c, $w, 15, 0xfe2ce6e0, 10);
        $st!(i, $c, $d, $a, $b, $w, 6, 0xa3014314, 15);
        $st!(i, $b, $c, $d, $a, $w, 13, 0x4e0811a1, 21);
        $st!(i, $a, $b, $c, $d, $w, 4, 0xf7537e82, 6);
        $st!(i, $d, $a, $b, $c, $w, 11, 0xbd3af235, 10);
        $st!(i, $c, $d, $a, $b, $w, 2, 0x2ad7d2bb, 15);
        $st!(i, $b, $c, $d, $a, $w, 9, 0xeb86d391, 21);
    };
}

/// Round functions for scalar lanes, added to the partial sum `t` with the newest word `b` last.
mod sc {
    #[inline(always)]
    pub(super) fn f(t: u32, b: u32, c: u32, d: u32) -> u32 {
        t.wrapping_add(d ^ (b & (c ^ d)))
    }
    #[inline(always)]
    pub(super) fn g(t: u32, b: u32, c: u32, d: u32) -> u32 {
        // (b & d) | (c & !d) has disjoint bits, so it is also a sum; adding
        // the b-free half first keeps b off two of the three operations.
        t.wrapping_add(c & !d).wrapping_add(b & d)
    }
    #[inline(always)]
    pub(super) fn h(t: u32, b: u32, c: u32, d: u32) -> u32 {
        t.wrapping_add(b ^ c ^ d)
    }
    #[inline(always)]
    pub(super) fn i(t: u32, b: u32, c: u32, d: u32) -> u32 {
        t.wrapping_add(c ^ (b | !d))
    }

    /// The plain round functions, fewest instructions (for throughput-bound interleaving).
    pub(super) mod plain {
        #[inline(always)]
        pub(in super::super) fn f(b: u32, c: u32, d: u32) -> u32 {
            d ^ (b & (c ^ d))
        }
        #[inline(always)]
        pub(in super::super) fn g(b: u32, c: u32, d: u32) -> u32 {
            c ^ (d & (b ^ c))
        }
        #[inline(always)]
        pub(in super::super) fn h(b: u32, c: u32, d: u32) -> u32 {
            b ^ c ^ d
        }
        #[inline(always)]
        pub(in super::super) fn i(b: u32, c: u32, d: u32) -> u32 {
            c ^ (b | !d)
        }
    }
}

/// One MD5 step on every scalar lane.
macro_rules! sstep {
    ($f:ident, $a:ident, $b:ident, $c:ident, $d:ident, $w:ident, $i:literal, $k:literal, $s:literal) => {
        if $a.len() <= 2 {
            // Latency-bound: `black_box` keeps LLVM from reassociating the
            // constant after the round function (which would lengthen the
            // b -> b' chain), and the round function joins the sum last.
            for l in 0..$a.len() {
                let t = core::hint::black_box($a[l].wrapping_add($k).wrapping_add($w[l][$i]));
                $a[l] = sc::$f(t, $b[l], $c[l], $d[l])
                    .rotate_left($s)
                    .wrapping_add($b[l]);
            }
        } else {
            // Throughput-bound with more lanes: fewest instructions wins.
            for l in 0..$a.len() {
                let t = $a[l].wrapping_add($k).wrapping_add($w[l][$i]);
                $a[l] = t
                    .wrapping_add(sc::plain::$f($b[l], $c[l], $d[l]))
                    .rotate_left($s)
                    .wrapping_add($b[l]);
            }
        }
    };
}

/// Portable kernel: `N` streams interleaved step by step in general-purpose registers.
///
/// Hashes `min(len / 64)` blocks of every lane.
// Indexing: every `[l]` runs over `0..N` on arrays of length `N`, and the
// message indices are literals below 16 on `[u32; 16]`.
#[allow(clippy::indexing_slicing)]
#[inline(never)]
fn scalar_lanes<const N: usize>(st: &mut [[u32; N]; 4], lanes: &[&[u8]; N]) {
    let nblocks = lanes.iter().map(|l| l.len() / 64).min().unwrap_or(0);
    let mut blocks = lanes.map(|l| l.chunks_exact(64));
    let [mut a, mut b, mut c, mut d] = *st;
    for _ in 0..nblocks {
        let mut w = [[0u32; 16]; N];
        for (wl, it) in w.iter_mut().zip(blocks.iter_mut()) {
            if let Some(block) = it.next() {
                for (x, ch) in wl.iter_mut().zip(block.chunks_exact(4)) {
                    if let Ok(b4) = <[u8; 4]>::try_from(ch) {
                        *x = u32::from_le_bytes(b4);
                    }
                }
            }
        }
        let (aa, bb, cc, dd) = (a, b, c, d);
        md5_steps!(sstep, a, b, c, d, w);
        for l in 0..N {
            a[l] = a[l].wrapping_add(aa[l]);
            b[l] = b[l].wrapping_add(bb[l]);
            c[l] = c[l].wrapping_add(cc[l]);
            d[l] = d[l].wrapping_add(dd[l]);
        }
    }
    *st = [a, b, c, d];
}

/// One MD5 step on a vector of lanes, using the `add`/`rol`/`splat`/`f..i` of the calling module.
#[cfg(target_arch = "x86_64")]
macro_rules! vstep {
    ($f:ident, $a:ident, $b:ident, $c:ident, $d:ident, $w:ident, $i:literal, $k:literal, $s:literal) => {
        let t = opaque(add($a, add($w[$i], splat(k32($k)))));
        $a = add(rol::<$s, { 32 - $s }>($f(t, $b, $c, $d)), $b);
    };
}

/// The block loop shared by the vector kernels.
#[cfg(target_arch = "x86_64")]
macro_rules! vector_body {
    ($st:ident, $lanes:ident, $load:ident, $store:ident, $block:ident) => {{
        let nblocks = $lanes.iter().map(|l| l.len() / 64).min().unwrap_or(0);
        let [s0, s1, s2, s3] = &mut *$st;
        let (mut a, mut b, mut c, mut d) = ($load(s0), $load(s1), $load(s2), $load(s3));
        for blk in 0..nblocks {
            // SAFETY: blk < nblocks = min(len / 64), so every lane has the
            // 64 bytes at blk * 64.
            let w = unsafe { $block($lanes, blk * 64) };
            let (aa, bb, cc, dd) = (a, b, c, d);
            md5_steps!(vstep, a, b, c, d, w);
            a = add(a, aa);
            b = add(b, bb);
            c = add(c, cc);
            d = add(d, dd);
        }
        $store(s0, a);
        $store(s1, b);
        $store(s2, c);
        $store(s3, d);
    }};
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use core::arch::x86_64::*;

    /// How far ahead of the current block each lane's data is prefetched
    /// (a hint only: prefetching past the end of a slice cannot fault).
    const PREFETCH: usize = 1024;

    /// 8x8 transpose of 32-bit elements: row `l` = lane `l`'s eight words, out `j` = word `j` of all lanes.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn transpose8(r: [__m256i; 8]) -> [__m256i; 8] {
        let [r0, r1, r2, r3, r4, r5, r6, r7] = r;
        let t0 = _mm256_unpacklo_epi32(r0, r1);
        let t1 = _mm256_unpackhi_epi32(r0, r1);
        let t2 = _mm256_unpacklo_epi32(r2, r3);
        let t3 = _mm256_unpackhi_epi32(r2, r3);
        let t4 = _mm256_unpacklo_epi32(r4, r5);
        let t5 = _mm256_unpackhi_epi32(r4, r5);
        let t6 = _mm256_unpacklo_epi32(r6, r7);
        let t7 = _mm256_unpackhi_epi32(r6, r7);
        let u0 = _mm256_unpacklo_epi64(t0, t2);
        let u1 = _mm256_unpackhi_epi64(t0, t2);
        let u2 = _mm256_unpacklo_epi64(t1, t3);
        let u3 = _mm256_unpackhi_epi64(t1, t3);
        let u4 = _mm256_unpacklo_epi64(t4, t6);
        let u5 = _mm256_unpackhi_epi64(t4, t6);
        let u6 = _mm256_unpacklo_epi64(t5, t7);
        let u7 = _mm256_unpackhi_epi64(t5, t7);
        [
            _mm256_permute2x128_si256::<0x20>(u0, u4),
            _mm256_permute2x128_si256::<0x20>(u1, u5),
            _mm256_permute2x128_si256::<0x20>(u2, u6),
            _mm256_permute2x128_si256::<0x20>(u3, u7),
            _mm256_permute2x128_si256::<0x31>(u0, u4),
            _mm256_permute2x128_si256::<0x31>(u1, u5),
            _mm256_permute2x128_si256::<0x31>(u2, u6),
            _mm256_permute2x128_si256::<0x31>(u3, u7),
        ]
    }

    /// Loads the 64-byte block at `off` of eight lanes, transposed to one vector per message word.
    ///
    /// # Safety
    /// Every lane must hold at least `off + 64` bytes.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn block8(lanes: &[&[u8]; 8], off: usize) -> [__m256i; 16] {
        let mut lo = [_mm256_setzero_si256(); 8];
        let mut hi = [_mm256_setzero_si256(); 8];
        for ((l, h), lane) in lo.iter_mut().zip(hi.iter_mut()).zip(lanes.iter()) {
            // SAFETY: the caller guarantees `off + 64 <= lane.len()`, so both
            // unaligned 32-byte loads stay inside the slice.
            unsafe {
                let p = lane.as_ptr().add(off);
                _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(PREFETCH).cast());
                *l = _mm256_loadu_si256(p.cast());
                *h = _mm256_loadu_si256(p.add(32).cast());
            }
        }
        let [w0, w1, w2, w3, w4, w5, w6, w7] = transpose8(lo);
        let [w8, w9, w10, w11, w12, w13, w14, w15] = transpose8(hi);
        [
            w0, w1, w2, w3, w4, w5, w6, w7, w8, w9, w10, w11, w12, w13, w14, w15,
        ]
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn load8(s: &[u32; 8]) -> __m256i {
        // SAFETY: `s` is 32 readable bytes; the load is unaligned.
        unsafe { _mm256_loadu_si256(s.as_ptr().cast()) }
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn store8(s: &mut [u32; 8], v: __m256i) {
        // SAFETY: `s` is 32 writable bytes; the store is unaligned.
        unsafe { _mm256_storeu_si256(s.as_mut_ptr().cast(), v) }
    }

    /// AVX2 kernel: 8 lanes, rotates by shift/shift/or, round functions from and/or/xor/andnot.
    pub(super) mod avx2 {
        use super::super::k32;
        use core::arch::x86_64::*;
        type V = __m256i;
        /// Returns `x` unchanged but hides its origin from LLVM, so the
        /// message-plus-constant sum is not reassociated into the b chain.
        #[inline]
        #[target_feature(enable = "avx2")]
        pub(super) fn opaque(mut x: V) -> V {
            // SAFETY: an empty asm template with one register operand: it
            // reads and writes nothing but that register and leaves it as is.
            unsafe {
                core::arch::asm!("/* {0} */", inout(ymm_reg) x, options(pure, nomem, nostack, preserves_flags));
            }
            x
        }
        #[inline]
        #[target_feature(enable = "avx2")]
        pub(super) fn add(a: V, b: V) -> V {
            _mm256_add_epi32(a, b)
        }
        #[inline]
        #[target_feature(enable = "avx2")]
        pub(super) fn splat(k: i32) -> V {
            _mm256_set1_epi32(k)
        }
        #[inline]
        #[target_feature(enable = "avx2")]
        pub(super) fn rol<const L: i32, const R: i32>(x: V) -> V {
            _mm256_or_si256(_mm256_slli_epi32::<L>(x), _mm256_srli_epi32::<R>(x))
        }
        #[inline]
        #[target_feature(enable = "avx2")]
        pub(super) fn f(t: V, b: V, c: V, d: V) -> V {
            add(
                t,
                _mm256_xor_si256(d, _mm256_and_si256(b, _mm256_xor_si256(c, d))),
            )
        }
        #[inline]
        #[target_feature(enable = "avx2")]
        pub(super) fn g(t: V, b: V, c: V, d: V) -> V {
            // (b & d) | (c & !d) has disjoint bits, so it is also a sum.
            add(
                opaque(add(t, _mm256_andnot_si256(d, c))),
                _mm256_and_si256(b, d),
            )
        }
        #[inline]
        #[target_feature(enable = "avx2")]
        pub(super) fn h(t: V, b: V, c: V, d: V) -> V {
            add(t, _mm256_xor_si256(b, _mm256_xor_si256(c, d)))
        }
        #[inline]
        #[target_feature(enable = "avx2")]
        pub(super) fn i(t: V, b: V, c: V, d: V) -> V {
            add(
                t,
                _mm256_xor_si256(
                    c,
                    _mm256_or_si256(b, _mm256_xor_si256(d, _mm256_set1_epi32(-1))),
                ),
            )
        }
        #[inline]
        #[target_feature(enable = "avx2")]
        pub(super) fn compress(st: &mut [[u32; 8]; 4], lanes: &[&[u8]; 8]) {
            use super::{block8, load8, store8};
            vector_body!(st, lanes, load8, store8, block8);
        }
    }

    /// AVX-512VL kernel: 8 lanes in 256-bit registers, native rotates and ternary logic.
    pub(super) mod avx512vl {
        use super::super::k32;
        use core::arch::x86_64::*;
        type V = __m256i;
        /// Returns `x` unchanged but hides its origin from LLVM, so the
        /// message-plus-constant sum is not reassociated into the b chain.
        #[inline]
        #[target_feature(enable = "avx2,avx512f,avx512vl")]
        pub(super) fn opaque(mut x: V) -> V {
            // SAFETY: an empty asm template with one register operand: it
            // reads and writes nothing but that register and leaves it as is.
            unsafe {
                core::arch::asm!("/* {0} */", inout(ymm_reg) x, options(pure, nomem, nostack, preserves_flags));
            }
            x
        }
        #[inline]
        #[target_feature(enable = "avx2,avx512f,avx512vl")]
        pub(super) fn add(a: V, b: V) -> V {
            _mm256_add_epi32(a, b)
        }
        #[inline]
        #[target_feature(enable = "avx2,avx512f,avx512vl")]
        pub(super) fn splat(k: i32) -> V {
            _mm256_set1_epi32(k)
        }
        #[inline]
        #[target_feature(enable = "avx2,avx512f,avx512vl")]
        pub(super) fn rol<const L: i32, const R: i32>(x: V) -> V {
            _mm256_rol_epi32::<L>(x)
        }
        #[inline]
        #[target_feature(enable = "avx2,avx512f,avx512vl")]
        pub(super) fn f(t: V, b: V, c: V, d: V) -> V {
            add(t, _mm256_ternarylogic_epi32::<0xca>(b, c, d))
        }
        #[inline]
        #[target_feature(enable = "avx2,avx512f,avx512vl")]
        pub(super) fn g(t: V, b: V, c: V, d: V) -> V {
            add(t, _mm256_ternarylogic_epi32::<0xe4>(b, c, d))
        }
        #[inline]
        #[target_feature(enable = "avx2,avx512f,avx512vl")]
        pub(super) fn h(t: V, b: V, c: V, d: V) -> V {
            add(t, _mm256_ternarylogic_epi32::<0x96>(b, c, d))
        }
        #[inline]
        #[target_feature(enable = "avx2,avx512f,avx512vl")]
        pub(super) fn i(t: V, b: V, c: V, d: V) -> V {
            add(t, _mm256_ternarylogic_epi32::<0x39>(b, c, d))
        }
        #[inline]
        #[target_feature(enable = "avx2,avx512f,avx512vl")]
        pub(super) fn compress(st: &mut [[u32; 8]; 4], lanes: &[&[u8]; 8]) {
            use super::{block8, load8, store8};
            vector_body!(st, lanes, load8, store8, block8);
        }
    }

    /// AVX-512 kernel: 16 lanes in 512-bit registers.
    mod avx512 {
        use super::super::k32;
        use core::arch::x86_64::*;
        type V = __m512i;
        /// Returns `x` unchanged but hides its origin from LLVM, so the
        /// message-plus-constant sum is not reassociated into the b chain.
        #[inline]
        #[target_feature(enable = "avx512f")]
        pub(super) fn opaque(mut x: V) -> V {
            // SAFETY: an empty asm template with one register operand: it
            // reads and writes nothing but that register and leaves it as is.
            unsafe {
                core::arch::asm!("/* {0} */", inout(zmm_reg) x, options(pure, nomem, nostack, preserves_flags));
            }
            x
        }
        #[inline]
        #[target_feature(enable = "avx512f")]
        pub(super) fn add(a: V, b: V) -> V {
            _mm512_add_epi32(a, b)
        }
        #[inline]
        #[target_feature(enable = "avx512f")]
        pub(super) fn splat(k: i32) -> V {
            _mm512_set1_epi32(k)
        }
        #[inline]
        #[target_feature(enable = "avx512f")]
        pub(super) fn rol<const L: i32, const R: i32>(x: V) -> V {
            _mm512_rol_epi32::<L>(x)
        }
        #[inline]
        #[target_feature(enable = "avx512f")]
        pub(super) fn f(t: V, b: V, c: V, d: V) -> V {
            add(t, _mm512_ternarylogic_epi32::<0xca>(b, c, d))
        }
        #[inline]
        #[target_feature(enable = "avx512f")]
        pub(super) fn g(t: V, b: V, c: V, d: V) -> V {
            add(t, _mm512_ternarylogic_epi32::<0xe4>(b, c, d))
        }
        #[inline]
        #[target_feature(enable = "avx512f")]
        pub(super) fn h(t: V, b: V, c: V, d: V) -> V {
            add(t, _mm512_ternarylogic_epi32::<0x96>(b, c, d))
        }
        #[inline]
        #[target_feature(enable = "avx512f")]
        pub(super) fn i(t: V, b: V, c: V, d: V) -> V {
            add(t, _mm512_ternarylogic_epi32::<0x39>(b, c, d))
        }

        /// Loads the 64-byte block at `off` of sixteen lanes, transposed to one vector per message word.
        ///
        /// # Safety
        /// Every lane must hold at least `off + 64` bytes.
        #[inline]
        #[target_feature(enable = "avx512f")]
        unsafe fn block16(lanes: &[&[u8]; 16], off: usize) -> [V; 16] {
            let mut r = [_mm512_setzero_si512(); 16];
            for (v, lane) in r.iter_mut().zip(lanes.iter()) {
                // SAFETY: the caller guarantees `off + 64 <= lane.len()`, so
                // the unaligned 64-byte load stays inside the slice.
                unsafe {
                    let p = lane.as_ptr().add(off);
                    _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(super::PREFETCH).cast());
                    *v = _mm512_loadu_si512(p.cast());
                }
            }
            let [r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11, r12, r13, r14, r15] = r;
            // Within each 128-bit chunk: 2x2 then 4x4 transpose of 32-bit words.
            let t0 = _mm512_unpacklo_epi32(r0, r1);
            let t1 = _mm512_unpackhi_epi32(r0, r1);
            let t2 = _mm512_unpacklo_epi32(r2, r3);
            let t3 = _mm512_unpackhi_epi32(r2, r3);
            let t4 = _mm512_unpacklo_epi32(r4, r5);
            let t5 = _mm512_unpackhi_epi32(r4, r5);
            let t6 = _mm512_unpacklo_epi32(r6, r7);
            let t7 = _mm512_unpackhi_epi32(r6, r7);
            let t8 = _mm512_unpacklo_epi32(r8, r9);
            let t9 = _mm512_unpackhi_epi32(r8, r9);
            let t10 = _mm512_unpacklo_epi32(r10, r11);
            let t11 = _mm512_unpackhi_epi32(r10, r11);
            let t12 = _mm512_unpacklo_epi32(r12, r13);
            let t13 = _mm512_unpackhi_epi32(r12, r13);
            let t14 = _mm512_unpacklo_epi32(r14, r15);
            let t15 = _mm512_unpackhi_epi32(r14, r15);
            // q[k][g]: lanes 4g..4g+4 of words k, k+4, k+8, k+12 (one per 128-bit chunk).
            let q = [
                [
                    _mm512_unpacklo_epi64(t0, t2),
                    _mm512_unpacklo_epi64(t4, t6),
                    _mm512_unpacklo_epi64(t8, t10),
                    _mm512_unpacklo_epi64(t12, t14),
                ],
                [
                    _mm512_unpackhi_epi64(t0, t2),
                    _mm512_unpackhi_epi64(t4, t6),
                    _mm512_unpackhi_epi64(t8, t10),
                    _mm512_unpackhi_epi64(t12, t14),
                ],
                [
                    _mm512_unpacklo_epi64(t1, t3),
                    _mm512_unpacklo_epi64(t5, t7),
                    _mm512_unpacklo_epi64(t9, t11),
                    _mm512_unpacklo_epi64(t13, t15),
                ],
                [
                    _mm512_unpackhi_epi64(t1, t3),
                    _mm512_unpackhi_epi64(t5, t7),
                    _mm512_unpackhi_epi64(t9, t11),
                    _mm512_unpackhi_epi64(t13, t15),
                ],
            ];
            // 4x4 transpose of 128-bit chunks per word group.
            let mut w = [_mm512_setzero_si512(); 16];
            for (k, [a, b, c, d]) in q.into_iter().enumerate() {
                let x = _mm512_shuffle_i32x4::<0x44>(a, b);
                let y = _mm512_shuffle_i32x4::<0x44>(c, d);
                let x2 = _mm512_shuffle_i32x4::<0xee>(a, b);
                let y2 = _mm512_shuffle_i32x4::<0xee>(c, d);
                let outs = [
                    _mm512_shuffle_i32x4::<0x88>(x, y),
                    _mm512_shuffle_i32x4::<0xdd>(x, y),
                    _mm512_shuffle_i32x4::<0x88>(x2, y2),
                    _mm512_shuffle_i32x4::<0xdd>(x2, y2),
                ];
                for (j, v) in outs.into_iter().enumerate() {
                    if let Some(slot) = w.get_mut(k + 4 * j) {
                        *slot = v;
                    }
                }
            }
            w
        }

        #[inline]
        #[target_feature(enable = "avx512f")]
        fn load16(s: &[u32; 16]) -> V {
            // SAFETY: `s` is 64 readable bytes; the load is unaligned.
            unsafe { _mm512_loadu_si512(s.as_ptr().cast()) }
        }

        #[inline]
        #[target_feature(enable = "avx512f")]
        fn store16(s: &mut [u32; 16], v: V) {
            // SAFETY: `s` is 64 writable bytes; the store is unaligned.
            unsafe { _mm512_storeu_si512(s.as_mut_ptr().cast(), v) }
        }

        #[inline]
        #[target_feature(enable = "avx512f")]
        pub(super) fn compress(st: &mut [[u32; 16]; 4], lanes: &[&[u8]; 16]) {
            vector_body!(st, lanes, load16, store16, block16);
        }
    }

    /// Two independent 8-lane groups interleaved in one loop (16 lanes): each
    /// group's step chain is latency-bound, so a second chain fills idle ports.
    macro_rules! pair_module {
        ($name:ident, $base:ident, $feat:literal) => {
            mod $name {
                use super::super::k32;
                use super::$base as base;
                use core::arch::x86_64::*;
                type V = [__m256i; 2];
                #[inline]
                #[target_feature(enable = $feat)]
                fn add(a: V, b: V) -> V {
                    let ([a0, a1], [b0, b1]) = (a, b);
                    [base::add(a0, b0), base::add(a1, b1)]
                }
                #[inline]
                #[target_feature(enable = $feat)]
                fn splat(k: i32) -> V {
                    [base::splat(k), base::splat(k)]
                }
                #[inline]
                #[target_feature(enable = $feat)]
                fn opaque(x: V) -> V {
                    let [x0, x1] = x;
                    [base::opaque(x0), base::opaque(x1)]
                }
                #[inline]
                #[target_feature(enable = $feat)]
                fn rol<const L: i32, const R: i32>(x: V) -> V {
                    let [x0, x1] = x;
                    [base::rol::<L, R>(x0), base::rol::<L, R>(x1)]
                }
                #[inline]
                #[target_feature(enable = $feat)]
                fn f(t: V, b: V, c: V, d: V) -> V {
                    let ([t0, t1], [b0, b1], [c0, c1], [d0, d1]) = (t, b, c, d);
                    [base::f(t0, b0, c0, d0), base::f(t1, b1, c1, d1)]
                }
                #[inline]
                #[target_feature(enable = $feat)]
                fn g(t: V, b: V, c: V, d: V) -> V {
                    let ([t0, t1], [b0, b1], [c0, c1], [d0, d1]) = (t, b, c, d);
                    [base::g(t0, b0, c0, d0), base::g(t1, b1, c1, d1)]
                }
                #[inline]
                #[target_feature(enable = $feat)]
                fn h(t: V, b: V, c: V, d: V) -> V {
                    let ([t0, t1], [b0, b1], [c0, c1], [d0, d1]) = (t, b, c, d);
                    [base::h(t0, b0, c0, d0), base::h(t1, b1, c1, d1)]
                }
                #[inline]
                #[target_feature(enable = $feat)]
                fn i(t: V, b: V, c: V, d: V) -> V {
                    let ([t0, t1], [b0, b1], [c0, c1], [d0, d1]) = (t, b, c, d);
                    [base::i(t0, b0, c0, d0), base::i(t1, b1, c1, d1)]
                }
                #[inline]
                #[target_feature(enable = $feat)]
                fn load(s: &[u32; 16]) -> V {
                    let (lo, hi) = super::split16(s);
                    [super::load8(lo), super::load8(hi)]
                }
                #[inline]
                #[target_feature(enable = $feat)]
                fn store(s: &mut [u32; 16], v: V) {
                    let [v0, v1] = v;
                    let (mut lo, mut hi) = ([0u32; 8], [0u32; 8]);
                    super::store8(&mut lo, v0);
                    super::store8(&mut hi, v1);
                    for (dst, src) in s.iter_mut().zip(lo.iter().chain(hi.iter())) {
                        *dst = *src;
                    }
                }
                /// # Safety
                /// Every lane must hold at least `off + 64` bytes.
                #[inline]
                #[target_feature(enable = $feat)]
                unsafe fn block(lanes: &[&[u8]; 16], off: usize) -> [V; 16] {
                    let (lo, hi) = super::split16(lanes);
                    // SAFETY: forwarded from the caller: every lane has `off + 64` bytes.
                    let (w0, w1) = unsafe { (super::block8(lo, off), super::block8(hi, off)) };
                    let mut out = [[_mm256_setzero_si256(); 2]; 16];
                    for ((o, x), y) in out.iter_mut().zip(w0).zip(w1) {
                        *o = [x, y];
                    }
                    out
                }
                #[inline]
                #[target_feature(enable = $feat)]
                pub(super) fn compress(st: &mut [[u32; 16]; 4], lanes: &[&[u8]; 16]) {
                    vector_body!(st, lanes, load, store, block);
                }
            }
        };
    }
    pair_module!(avx2x2, avx2, "avx2");

    /// Splits a 16-element array into its two 8-element halves.
    fn split16<T>(a: &[T; 16]) -> (&[T; 8], &[T; 8]) {
        let [lo @ .., _, _, _, _, _, _, _, _] = a;
        let [_, _, _, _, _, _, _, _, hi @ ..] = a;
        (lo, hi)
    }

    /// Hashes `min(len / 64)` blocks of sixteen lanes as two interleaved AVX2 groups.
    #[target_feature(enable = "avx2")]
    pub(super) fn avx2x2_compress(st: &mut [[u32; 16]; 4], lanes: &[&[u8]; 16]) {
        avx2x2::compress(st, lanes);
    }

    /// Hashes `min(len / 64)` blocks of eight lanes with AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) fn avx2_compress(st: &mut [[u32; 8]; 4], lanes: &[&[u8]; 8]) {
        avx2::compress(st, lanes);
    }

    /// Hashes `min(len / 64)` blocks of eight lanes with AVX-512VL in 256-bit registers.
    #[target_feature(enable = "avx2,avx512f,avx512vl")]
    pub(super) fn avx512vl_compress(st: &mut [[u32; 8]; 4], lanes: &[&[u8]; 8]) {
        avx512vl::compress(st, lanes);
    }

    /// Hashes `min(len / 64)` blocks of sixteen lanes with AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) fn avx512_compress(st: &mut [[u32; 16]; 4], lanes: &[&[u8]; 16]) {
        avx512::compress(st, lanes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::{Digest, Md5};

    /// Families that `compress_many_family` can be forced to, whatever this CPU has.
    const FAMILIES: [Kernel; 3] = [Kernel::Avx512, Kernel::Avx2x2, Kernel::ScalarX4];

    fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    fn reference(data: &[u8]) -> [u8; 16] {
        Md5::digest(data).into()
    }

    /// Every message hashed by `hash` over its whole blocks, then finished.
    fn digests(msgs: &[Vec<u8>], hash: impl Fn(&mut [(&mut Md5State, &[u8])])) -> Vec<[u8; 16]> {
        let mut states = vec![Md5State::INIT; msgs.len()];
        let mut jobs: Vec<(&mut Md5State, &[u8])> = states
            .iter_mut()
            .zip(msgs)
            .map(|(s, m)| (s, &m[..m.len() / 64 * 64]))
            .collect();
        hash(&mut jobs);
        drop(jobs);
        states
            .iter()
            .zip(msgs)
            .map(|(s, m)| finish(*s, &m[m.len() / 64 * 64..], m.len() as u64))
            .collect()
    }

    fn every_way_agrees(msgs: &[Vec<u8>]) {
        let want: Vec<[u8; 16]> = msgs.iter().map(|m| reference(m)).collect();
        assert_eq!(
            digests(msgs, compress_many),
            want,
            "auto, {} lanes",
            msgs.len()
        );
        for k in Kernel::ALL.into_iter().filter(|k| k.available()) {
            let got = digests(msgs, |jobs| compress_many_with(k, jobs));
            assert_eq!(got, want, "kernel {k:?}, {} lanes", msgs.len());
        }
        for family in FAMILIES {
            let got = digests(msgs, |jobs| compress_many_family(family, jobs));
            assert_eq!(got, want, "family {family:?}, {} lanes", msgs.len());
        }
    }

    #[test]
    fn known_vectors_and_padding_boundaries() {
        let got = digests(&[b"123456789".to_vec(), Vec::new()], compress_many);
        assert_eq!(hex::encode(got[0]), "25f9e794323b453885f5181f1b624d0b");
        assert_eq!(hex::encode(got[1]), "d41d8cd98f00b204e9800998ecf8427e");
        let msgs: Vec<Vec<u8>> = (0..200).map(|n| random_bytes(n as u64, n)).collect();
        for (m, d) in msgs.iter().zip(digests(&msgs, compress_many)) {
            assert_eq!(d, reference(m), "length {}", m.len());
        }
    }

    #[test]
    fn every_kernel_agrees_on_unequal_lanes() {
        // Small enough for debug builds; the lengths differ so lanes finish at different times.
        let lengths = [0, 64, 128, 64 * 100, 64 * 257, 64 * 260, 64 * 5, 7];
        for lanes in 1..=17usize {
            let msgs: Vec<Vec<u8>> = (0..lanes)
                .map(|l| {
                    let len = lengths[(l * 3 + lanes) % lengths.len()] + (l * 11) % 64;
                    random_bytes((lanes * 100 + l) as u64, len)
                })
                .collect();
            every_way_agrees(&msgs);
        }
        let equal: Vec<Vec<u8>> = (0..33).map(|l| random_bytes(l, 64 * 37 + 13)).collect();
        for lanes in [2, 8, 9, 16, 33] {
            every_way_agrees(&equal[..lanes]);
        }
    }

    #[test]
    fn hashing_in_steps_is_hashing_at_once() {
        const STEP: usize = 64 << 10;
        let msgs: Vec<Vec<u8>> = (0..5).map(|l| random_bytes(l + 9, 3 * STEP)).collect();
        let mut states = vec![Md5State::INIT; msgs.len()];
        for at in (0..3 * STEP).step_by(STEP) {
            let mut jobs: Vec<(&mut Md5State, &[u8])> = states
                .iter_mut()
                .zip(&msgs)
                .map(|(s, m)| (s, &m[at..at + STEP]))
                .collect();
            compress_many(&mut jobs);
        }
        for (s, m) in states.iter().zip(&msgs) {
            assert_eq!(finish(*s, &[], m.len() as u64), reference(m));
        }
    }
}
